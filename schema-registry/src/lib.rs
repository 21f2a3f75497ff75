//! Murron schema registry: Confluent Schema Registry's REST API over PostgreSQL.
//!
//! Three layers, each importing only the ones below it:
//! - [`api`]: HTTP. Parses requests, checks who is calling, calls the service, and maps its errors
//!   to Confluent's status codes and error codes.
//! - [`service`]: the registry's decisions: modes and levels, registrations batched per subject,
//!   the compatibility check against live versions, tokens and metadata rules.
//! - [`store`]: all SQL; state lives in PostgreSQL, so replicas are stateless.
//!
//! Beside them, leaves that import no layer: the schema types themselves are the
//! `murron-schema-types` crate (parsing, normalization, compatibility; pure, no I/O), and [`cache`]
//! keeps what this replica has read or parsed. [`server`] wires everything up; [`config`] and
//! [`db`] are the typed configuration and the one way to open the database.

pub mod api;
pub mod cache;
pub mod config;
pub mod db;
pub mod server;
pub mod service;
pub mod store;
