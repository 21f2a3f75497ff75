//! Reliability: which per-stream offsets arrived, which are missing, which came twice
//! (docs/RELIABILITY.md). [`gaps`] is the pure model; [`monitor`] keeps it current in the state
//! database, serves it over HTTP ([`api`], with [`auth`]) and files backfills; [`history`] is what its
//! sweeps record of each hour's score over time.

pub mod api;
pub mod auth;
pub mod gaps;
pub mod history;
pub mod monitor;
