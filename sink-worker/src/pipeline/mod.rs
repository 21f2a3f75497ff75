//! `run`: a pipeline (the "DAB" of the talk, configured by [`crate::config::pipeline`]) consumes from
//! Kafka, checks every event ([`check`]), tracks each stream's offsets and writes each batch exactly
//! once to its outputs ([`write`]). The consume-check-buffer loop is [`run`]; a backfill feeds the same
//! checks and writer from the raw archive.

mod batch;
mod check;
pub mod convert;
mod dead_letters;
mod run;
mod schemas;
mod track;
mod write;

pub(crate) use batch::{Batch, Event};
pub(crate) use check::{Checker, Verdict};
pub use run::{RunError, run};
pub(crate) use schemas::SchemaCache;
pub(crate) use write::{Publish, WriteError, Writer, Written};
