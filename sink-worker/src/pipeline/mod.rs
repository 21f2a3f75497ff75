//! `run`: a pipeline (the "DAB" of the talk, configured by [`crate::config::pipeline`]) is a source
//! ([`source`]: Kafka; a backfill reads the raw archive instead), the checks every event passes
//! ([`check`]), stream tracking ([`track`]) and the exactly-once write to every output ([`write`]).
//! The consume-check-buffer loop that ties them together is [`run()`].

mod batch;
mod check;
pub mod convert;
mod dead_letters;
mod paused;
mod run;
mod schemas;
pub mod source;
mod track;
mod write;

pub(crate) use batch::{Batch, Event};
pub(crate) use check::{Checker, Verdict};
pub use run::{RunError, run};
pub(crate) use schemas::{Lookup, SchemaCache, payload_references};
pub(crate) use write::{Publish, WriteError, Writer, Written};
