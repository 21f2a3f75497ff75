//! Murron sink worker. The modules follow the data flow: a [`pipeline`] reads Kafka records (its
//! source), decodes and verifies their envelopes ([`murron_wire`]), resolves their payload schemas
//! through the registry's HTTP API ([`registry`]) and validates them ([`murron_payload`]), tracks every
//! stream's offsets, and writes each batch exactly once to its [`output`]s, in a [`format`], through
//! [`storage`], committed in the [`state`] database. [`archive`] keeps raw envelopes, [`reliability`]
//! finds gaps and serves the monitor, [`backfill`] repairs gaps from the archive. [`generate`] (the
//! `gen` command) produces signed events; [`inspect`] reads a topic back; [`iceberg_rest`] serves the
//! Iceberg tables read-only. [`config`] is the typed configuration, a leaf that imports none of them.

pub mod admin;
pub mod archive;
pub mod backfill;
pub mod config;
pub mod format;
pub mod generate;
pub mod iceberg_rest;
pub mod inspect;
pub mod output;
pub mod parallel;
pub mod pipeline;
pub mod reliability;
pub mod state;
pub mod storage;
