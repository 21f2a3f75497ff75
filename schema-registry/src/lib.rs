//! Murron schema registry: Confluent Schema Registry's REST API over PostgreSQL.
//!
//! Requests enter through [`api`], schema text is parsed and normalized by [`schema`], and all
//! state lives in PostgreSQL behind [`store`], so replicas are stateless. [`server`] wires them up.

pub mod api;
pub mod cache;
pub mod compatibility;
pub mod config;
pub mod db;
pub mod registrations;
pub mod schema;
pub mod server;
pub mod store;
