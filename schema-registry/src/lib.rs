//! Murron schema registry: Confluent Schema Registry's REST API over PostgreSQL.
//!
//! Three layers, each importing only the ones below it:
//! - [`api`]: HTTP. Parses requests, checks who is calling, calls the service, and maps its errors
//!   to Confluent's status codes and error codes.
//! - [`service`]: the registry's decisions: modes and levels, registrations batched per subject,
//!   the compatibility check against live versions, tokens and metadata rules.
//! - [`store`]: all SQL; state lives in PostgreSQL, so replicas are stateless.
//!
//! Beside them, leaves that import no layer: [`schema`] parses and normalizes schema text,
//! [`compatibility`] decides whether one schema can read another's data (pure, no I/O), [`cache`]
//! keeps what this replica has read or parsed. [`server`] wires everything up; [`config`] and
//! [`db`] are the typed configuration and the one way to open the database.

pub mod api;
pub mod cache;
pub mod compatibility;
pub mod config;
pub mod db;
pub mod schema;
pub mod server;
pub mod service;
pub mod store;
