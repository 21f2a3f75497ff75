//! The Murron producer: signed events to Kafka, directly or through murron-server.
//!
//! **The guarantee.**
//! 1. Each stream `(type, host, pid)` gets offsets 0, 1, 2, … with no hole and no repeat, also across
//!    a restart when a spool is set (docs/PROTOCOL.md).
//! 2. An event is encoded and signed once, when it is sent; every retry resends the same bytes, so
//!    every copy has the same UID.
//! 3. Delivery is at least once: a record is resent until Kafka (or the server) acknowledges it, and
//!    the sink's deduplication by UID makes that exactly once. Refused records are reported by
//!    [`Producer::flush`] and never resent.
//! 4. The buffer is bounded in events and bytes: `send` waits for room, `try_send` fails.
//!
//! ```no_run
//! # async fn demo() -> Result<(), murron_producer::ProducerError> {
//! use std::time::Duration;
//! use murron_producer::{KafkaConfig, KeyRing, Producer, RegistryConfig, SchemaRef, Topics};
//!
//! let producer = Producer::builder()
//!     .registry(RegistryConfig { url: "http://127.0.0.1:8081".into(), ..Default::default() })
//!     .keys(KeyRing::new([("2026-11".to_string(), b"secret".to_vec())]))
//!     .key_id("2026-11")
//!     .kafka(KafkaConfig { brokers: "127.0.0.1:9092".into(), properties: Default::default() },
//!            Topics::Fixed("events".into()))
//!     .build()
//!     .await?;
//! let billing = producer.event_type("billing.member_active", SchemaRef::Latest).await?;
//! producer.send(&billing, b"\x06w-1").await?; // the Avro datum; the producer adds the header
//! let report = producer.close(Duration::from_secs(30)).await?;
//! assert!(report.refused.is_empty());
//! # Ok(()) }
//! ```
//!
//! **The registry.** [`RegistryConfig`] takes `http://` or `https://` URLs. Over HTTPS the server's
//! certificate is checked against the system's roots, or only against the CA certificates of
//! `ca_file` (a PEM file) when it is set. Credentials are a bearer `token`, or basic auth with
//! `username` and `password` (Confluent's `basic.auth.user.info`; Murron's registry takes a token as
//! the password). They never appear in Debug output or logs, and the URL must not hold them. An
//! untrusted certificate fails as [`ProducerError::Registry`] with
//! `RegistryError::Tls`, and refused credentials as its `Api { status: 401 | 403 }`. Neither is
//! retryable (`is_retryable` is false).
//!
//! ```no_run
//! # use murron_producer::RegistryConfig;
//! let registry = RegistryConfig {
//!     url: "https://registry.example:8081".into(),
//!     username: Some("orders-service".into()),
//!     password: std::env::var("REGISTRY_TOKEN").ok(),
//!     ca_file: Some("/etc/murron/registry-ca.pem".into()),
//!     ..Default::default()
//! };
//! ```
//!
//! **murron-server** (feature `grpc`, `transport::grpc::ServerConfig`) is `http://host:9480`, or
//! `https://host:9480` when the server has `[tls]`: its certificate is then checked against the
//! system's roots, or only against the CA certificates of `ca_file` (a PEM file) when it is set, as
//! for the registry. `token` is sent as `authorization: Bearer …` and shown as `<redacted>` in Debug.
//! An untrusted certificate fails `build()` with [`ProducerError::Config`] ("murron-server's
//! certificate is not trusted … set ca_file …"), not retryable; a handshake that fails when the
//! transport reconnects later refuses the batch with the reason `tls` instead of retrying it forever.
//!
//! Layers: [`encode`] builds records (pure), [`Sender`] delivers records through a [`Transport`]
//! with retries and an optional [`spool`], and [`Producer`] is the API over both.

pub mod encode;
mod error;
mod metrics;
mod producer;
mod record;
mod route;
pub mod sender;
pub mod spool;
pub mod transport;

pub use encode::{Encoder, Event, Identity};
pub use error::ProducerError;
pub use murron_connect::kafka::KafkaConfig;
pub use murron_connect::registry::RegistryConfig;
pub use murron_wire::envelope::KeyRing;
pub use producer::{EventType, Pid, Producer, ProducerBuilder, SchemaRef, Ticket};
pub use record::{FlushReport, Outcome, Record, Refused};
pub use route::Topics;
pub use sender::{BufferLimits, Sender};
pub use spool::{Fsync, SpoolConfig};
pub use transport::{Delivery, Transport};
