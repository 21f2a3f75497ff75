//! Murron sink worker. The modules follow the data flow: Kafka records ([`source`]) are decoded and
//! verified ([`envelope`]), their payload schemas resolved through the registry's HTTP API
//! ([`registry`]) and validated ([`validate`]), and written exactly once by a [`pipeline`] to its
//! outputs ([`sink`]), with per-stream offsets tracked in the [`state`] database. [`archive`] keeps raw
//! envelopes, [`reliability`] finds gaps and serves the monitor, [`backfill`] repairs gaps from the
//! archive. [`generate`] (the `gen` command) produces signed events; [`inspect`] reads a topic back.

pub mod admin;
pub mod archive;
pub mod backfill;
pub mod config;
pub mod format;
pub mod generate;
pub mod inspect;
pub mod kafka;
pub mod output;
pub mod parallel;
pub mod pipeline;
pub mod registry;
pub mod reliability;
pub mod retry;
pub mod source;
pub mod state;
pub mod storage;
