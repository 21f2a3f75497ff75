//! Reliability: which per-stream offsets arrived, which are missing, which came twice
//! (docs/RELIABILITY.md). [`gaps`] is the pure model; [`monitor`] keeps it current in the state
//! database, serves it over HTTP ([`api`], with [`auth`]) and files backfills.

pub mod api;
pub mod auth;
pub mod gaps;
pub mod monitor;
