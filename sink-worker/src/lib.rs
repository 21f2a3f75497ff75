//! Murron sink worker. The modules follow the data flow: Kafka records are decoded and verified
//! ([`envelope`]), their payload schemas resolved through the registry's HTTP API ([`registry`]),
//! and per-stream offsets tracked ([`reliability`]). `generate` (the `gen` command) produces signed events; `inspect` reads
//! a topic and reports what is in it. Sink pipelines, the monitor and backfill arrive in later issues.

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
pub mod validate;
