//! A record ready for Kafka: encoded and signed once, then resent as the same bytes until it is
//! acknowledged or refused, so every copy carries the same UID.

use std::sync::Arc;

use bytes::Bytes;

/// One signed event, as Kafka stores it. Cloning shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The topic, fixed when the record was made; `None` when murron-server routes it.
    pub topic: Option<Arc<str>>,
    /// `"{host}:{pid}"`.
    pub key: Bytes,
    /// The Confluent-framed, signed envelope.
    pub value: Bytes,
    /// The stream `(event_type, host, pid)` and the record's offset in it.
    pub event_type: Arc<str>,
    pub host: Arc<str>,
    pub pid: i32,
    pub offset: i64,
}

/// How one delivery attempt of a record ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (Kafka acknowledged it, with acks from all in-sync replicas).
    Acked,
    /// Not stored this time; the same bytes are sent again later. The reason labels metrics.
    Retry { reason: String },
    /// Never to be stored as it is: reported, never retried. `reason` is a dead-letter reason code
    /// (docs/PROTOCOL.md) or a Kafka error's.
    Refused { reason: String, detail: String },
}

/// A record that was refused: the stream, the offset and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub event_type: Arc<str>,
    pub offset: i64,
    pub reason: String,
    pub detail: String,
}

/// What happened since the previous report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Records acknowledged since the previous report.
    pub acked: u64,
    /// Records refused since the previous report; none of them will be sent again.
    pub refused: Vec<Refused>,
    /// Records neither acknowledged nor refused yet.
    pub pending: u64,
}
