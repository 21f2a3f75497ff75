//! The Murron ingestion API, generated from `schemas/murron/ingest/v1/ingest.proto`.
//!
//! Producers (murron-producer's gRPC transport, any grpcio client) call `Ingest.Publish` with
//! batches of signed envelopes; murron-server implements it (feature `server`). Every event's
//! bytes are a Kafka record value exactly as docs/PROTOCOL.md defines it.

#[allow(missing_debug_implementations, clippy::all, clippy::pedantic)]
mod generated {
    tonic::include_proto!("murron.ingest.v1");
}

pub use generated::*;
