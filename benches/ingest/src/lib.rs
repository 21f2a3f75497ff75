//! The load driver of the ingestion benchmark (benches/ingest/run.sh, BENCHMARKS.md).
//!
//! Every envelope is encoded and signed before any timing ([`dataset`]); the runs ([`load`]) only
//! hand ready batches to a [`target`], which counts an event only when the endpoint answered that it
//! stored it, and fails on anything else.

pub mod dataset;
pub mod load;
pub mod otlp;
pub mod target;
