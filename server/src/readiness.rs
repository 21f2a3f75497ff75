//! Whether the server should take publishes: `/readyz`, and the fast UNAVAILABLE answer while not.
//! Each part of the server sets and clears its own reason, so one recovering never hides another
//! (the pattern of the sink's admin port, copied: the server does not depend on the sink).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

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

impl NotReady {
    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// Shared readiness: ready when no [`NotReady`] reason holds. Starts not ready ([`NotReady::Starting`]).
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicU32>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(AtomicU32::new(NotReady::Starting.bit())))
    }
}

impl Readiness {
    /// Records whether `reason` holds now.
    pub fn set(&self, reason: NotReady, holds: bool) {
        if holds {
            self.0.fetch_or(reason.bit(), Ordering::Relaxed);
        } else {
            self.0.fetch_and(!reason.bit(), Ordering::Relaxed);
        }
    }

    /// Whether the process can still do its work at all (`/healthz`).
    pub fn is_alive(&self) -> bool {
        !self.holds(NotReady::KafkaFatal)
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }

    /// Whether `reason` holds now.
    pub fn holds(&self, reason: NotReady) -> bool {
        self.0.load(Ordering::Relaxed) & reason.bit() != 0
    }
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
        assert!(r.is_alive());
        r.set(NotReady::KafkaFatal, true);
        assert!(!r.is_alive() && !r.is_ready());
    }
}
