//! The producer's one error type: what failed, and whether the same call may succeed later.

use crate::record::FlushReport;

/// Why a producer call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    /// The buffer is full (`try_send`): wait, or use `send`, which waits for room.
    #[error("the producer's buffer is full")]
    Full,
    /// The producer was closed.
    #[error("the producer is closed")]
    Closed,
    /// One event, or one batch, is larger than the whole buffer: it could never be sent.
    #[error("{size} bytes (and {events} events) do not fit a buffer of {max_bytes} bytes and {max_events} events")]
    TooLarge {
        size: usize,
        events: usize,
        max_bytes: usize,
        max_events: usize,
    },
    /// The signing key is not in the key ring.
    #[error("signing: {0}")]
    Sign(#[from] murron_wire::envelope::SignatureError),
    /// The builder's settings are incomplete or contradictory.
    #[error("configuration: {0}")]
    Config(String),
    /// An event's type or tags cannot be written (a type that is not usable as a folder, a reserved tag).
    #[error("invalid event: {0}")]
    Invalid(String),
    #[error("schema registry: {0}")]
    Registry(#[from] murron_connect::registry::RegistryError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Unreachable(#[from] murron_connect::kafka::Unreachable),
    /// The spool directory could not be read or written.
    #[error("spool: {0}")]
    Spool(#[from] std::io::Error),
    /// Another process holds the spool directory.
    #[error("spool directory {0} is in use by another producer")]
    SpoolLocked(String),
    /// `close` gave up with events neither acknowledged nor refused, and no spool keeps them.
    #[error("{} events were not delivered before the producer closed", .0.pending)]
    Unsent(Box<FlushReport>),
}

impl ProducerError {
    /// True when the same call may succeed later (a full buffer, an unreachable service).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Full | Self::Unreachable(_) | Self::Spool(_) => true,
            Self::Registry(e) => e.is_retryable(),
            Self::Kafka(_) => true,
            Self::Closed
            | Self::TooLarge { .. }
            | Self::Sign(_)
            | Self::Config(_)
            | Self::Invalid(_)
            | Self::SpoolLocked(_)
            | Self::Unsent(_) => false,
        }
    }
}
