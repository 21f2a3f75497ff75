//! The schema types the registry serves, pure code (no I/O): parsing, normalizing and fingerprinting
//! schema text ([`schema`]), and deciding whether one schema can read another's data at each of
//! Confluent's compatibility levels ([`compatibility`]). Each type has a module of its own in both
//! (Avro today), dispatched on [`schema::SchemaType`]. The registry builds on it; the fuzz targets
//! exercise it without the registry's database and HTTP stack.

pub mod compatibility;
pub mod schema;
