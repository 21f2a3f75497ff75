//! The envelope checks that need no registry, with the sink's dead-letter reason codes.
//!
//! A stand-in with the exact signatures of `murron_wire::check`, which is being added on main: when
//! it lands, this file goes and `crate::check` becomes `murron_wire::check`. The order and codes are
//! those of the sink's `pipeline/check.rs`.

use murron_wire::envelope::{self, Envelope, KeyRing};

/// A refused event: the stable reason code and a human detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub detail: String,
}

/// Decodes a record value (Confluent-framed envelope); refusals carry `DecodeError::reason`.
pub fn decode(value: &[u8]) -> Result<Envelope<'_>, Refusal> {
    envelope::decode(value).map(|(_, env)| env).map_err(|e| Refusal {
        reason: e.reason(),
        detail: e.to_string(),
    })
}

/// The type names a folder of every file output: `invalid_stream` when it cannot.
pub fn check_type(event_type: &str) -> Result<(), Refusal> {
    let why = if event_type.is_empty() || event_type == "." || event_type == ".." {
        "cannot name a folder"
    } else if event_type.contains(['/', '\\', '\0']) {
        "contains '/', '\\' or NUL"
    } else if event_type.len() > 255 {
        "is longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(Refusal {
        reason: "invalid_stream",
        detail: format!("type {event_type:?} {why}"),
    })
}

/// 2000-01-01T00:00:00Z in microseconds: an earlier timestamp is a broken clock or a bug.
const EARLIEST_TIMESTAMP_MICROS: i64 = 946_684_800_000_000;

/// Size, signature, timestamp, stream identity and payload framing.
#[derive(Debug, Clone)]
pub struct EnvelopeChecks {
    keys: KeyRing,
    max_event_bytes: usize,
    max_clock_skew_micros: i64,
    /// The latest timestamp accepted as of the last clock reading: the clock is read again only for
    /// an event stamped beyond it.
    latest_timestamp: i64,
}

impl EnvelopeChecks {
    pub fn new(keys: KeyRing, max_event_bytes: usize, max_clock_skew_secs: u64) -> Self {
        Self {
            keys,
            max_event_bytes,
            max_clock_skew_micros: i64::try_from(max_clock_skew_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            latest_timestamp: i64::MIN,
        }
    }

    /// Checks a decoded envelope whose record value is `value_len` bytes; returns the payload's schema
    /// id and datum.
    pub fn verify<'a>(&mut self, value_len: usize, env: &Envelope<'a>) -> Result<(u32, &'a [u8]), Refusal> {
        if value_len > self.max_event_bytes {
            return Err(Refusal {
                reason: "oversized",
                detail: format!(
                    "the record is {value_len} bytes, more than max_event_bytes ({})",
                    self.max_event_bytes
                ),
            });
        }
        self.keys.verify(env).map_err(|e| Refusal {
            reason: e.reason(),
            detail: e.to_string(),
        })?;
        if env.timestamp > self.latest_timestamp {
            self.latest_timestamp = now_micros().saturating_add(self.max_clock_skew_micros);
        }
        if !(EARLIEST_TIMESTAMP_MICROS..=self.latest_timestamp).contains(&env.timestamp) {
            return Err(Refusal {
                reason: "bad_timestamp",
                detail: format!(
                    "timestamp {} µs is before 2000 or more than max_clock_skew_secs ahead of this clock",
                    env.timestamp
                ),
            });
        }
        if env.host.contains('\0') {
            return Err(Refusal {
                reason: "invalid_stream",
                detail: "host contains a NUL character".into(),
            });
        }
        if !(0..i64::MAX).contains(&env.offset) {
            return Err(Refusal {
                reason: "invalid_stream",
                detail: format!("offset {} is outside 0..2^63-1", env.offset),
            });
        }
        murron_wire::framing::split_wire_format(env.message).map_err(|e| Refusal {
            reason: "invalid_payload",
            detail: format!("payload wire format: {e}"),
        })
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
