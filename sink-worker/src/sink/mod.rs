//! Outputs: where converted events are written. Files go to a folder or bucket through
//! [`crate::storage`]; [`warehouse`] is the PostgreSQL table per event type; [`kafka_topic`] is
//! another Kafka topic.

pub mod kafka_topic;
