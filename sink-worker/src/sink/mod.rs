//! Outputs: where converted events are written. [`object_store`] is the local folder or S3 bucket that
//! files go to; [`warehouse`] is the PostgreSQL table per event type.

pub mod kafka_topic;
pub mod object_store;
pub mod warehouse;
