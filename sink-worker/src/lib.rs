//! Murron sink worker. The modules follow the data flow: Kafka records ([`source`]) are decoded and
//! verified ([`envelope`]), their payload schemas resolved through the registry's HTTP API
//! ([`registry`]) and validated ([`validate`]), and written exactly once by a [`pipeline`] to its
//! outputs ([`sink`]; files go to a local folder or an S3 bucket through [`storage`]), with
//! per-stream offsets tracked in the [`state`] database. [`archive`] keeps raw envelopes,
//! [`reliability`] finds gaps and serves the monitor, [`backfill`] repairs gaps from the archive.
//! [`generate`] (the `gen` command) produces signed events; [`inspect`] reads a topic back.

pub mod admin;
pub mod archive;
pub mod backfill;
pub mod config;
pub mod envelope;
pub mod generate;
pub mod hours;
pub mod inspect;
pub mod kafka;
pub mod pipeline;
pub mod registry;
pub mod reliability;
pub mod sink;
pub mod source;
pub mod state;
pub mod storage;
pub mod validate;
