//! Whether the server should take publishes: `/readyz`, and the fast UNAVAILABLE answer while not.
//! Each part of the server sets and clears its own reason, so one recovering never hides another
//! (murron_connect::readiness, which the sink uses too).

use murron_connect::readiness::Reason;

/// Why the server is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// Not serving yet, or shutting down.
    Starting,
    /// librdkafka reports every broker down.
    KafkaDown,
    /// Deliveries are pending and none has completed for longer than the ack timeout.
    KafkaStale,
    /// The idempotent producer hit a fatal error: it refuses every record from now on. `/healthz`
    /// fails too, so the process is restarted with a new producer.
    KafkaFatal,
}

impl Reason for NotReady {
    const STARTING: Self = NotReady::Starting;
    const ALL: &'static [Self] = &[
        NotReady::Starting,
        NotReady::KafkaDown,
        NotReady::KafkaStale,
        NotReady::KafkaFatal,
    ];
    fn index(self) -> u32 {
        self as u32
    }
    fn name(self) -> &'static str {
        match self {
            NotReady::Starting => "starting",
            NotReady::KafkaDown => "kafka_down",
            NotReady::KafkaStale => "kafka_stale",
            NotReady::KafkaFatal => "kafka_fatal",
        }
    }
}

/// Shared readiness: ready when no [`NotReady`] reason holds. Starts not ready ([`NotReady::Starting`]).
pub type Readiness = murron_connect::readiness::Readiness<NotReady>;

/// Whether the process can still do its work at all (`/healthz`).
pub fn is_alive(readiness: &Readiness) -> bool {
    !readiness.holds(NotReady::KafkaFatal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_reason_has_cleared() {
        let r = Readiness::default();
        assert!(!r.is_ready());
        r.set(NotReady::KafkaDown, true);
        r.set(NotReady::Starting, false);
        assert!(!r.is_ready() && r.holds(NotReady::KafkaDown));
        r.set(NotReady::KafkaDown, false);
        assert!(r.is_ready());
    }

    #[test]
    fn only_a_fatal_producer_error_fails_liveness() {
        let r = Readiness::default();
        r.set(NotReady::KafkaDown, true);
        assert!(is_alive(&r));
        r.set(NotReady::KafkaFatal, true);
        assert!(!is_alive(&r) && !r.is_ready());
    }
}
