//! The checks of an envelope that need no registry, with their stable reason codes (docs/PROTOCOL.md
//! "Decoding rules", docs/SINK.md "Per record"). The sink runs them before it writes an event, and
//! murron-server runs the same ones at the edge, so a refusal there carries the code the sink's
//! dead-letter path would have given the same bytes.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::envelope::{self, Envelope, KeyRing};
use crate::framing;

/// Why an event is refused: a stable reason code and a human detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub detail: String,
}

impl Refusal {
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// 2000-01-01T00:00:00Z in microseconds: an earlier timestamp is a broken clock or a bug.
pub const EARLIEST_TIMESTAMP_MICROS: i64 = 946_684_800_000_000;

/// Decodes a Kafka record value into its envelope, refusing what does not decode.
pub fn decode(value: &[u8]) -> Result<Envelope<'_>, Refusal> {
    envelope::decode(value)
        .map(|(_, env)| env)
        .map_err(|e| Refusal::new(e.reason(), e.to_string()))
}

/// Refuses a type that cannot be one segment of an object key: the type names a folder of every
/// file output and of the raw archive.
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
    Err(Refusal::new("invalid_stream", format!("type {event_type:?} {why}")))
}

/// The checks after decoding: size, signature, timestamp, stream identity and payload framing.
#[derive(Debug, Clone)]
pub struct EnvelopeChecks {
    keys: KeyRing,
    max_event_bytes: usize,
    max_clock_skew_micros: i64,
    /// The latest timestamp accepted, as of the last clock reading: the clock is read again only
    /// for an event stamped beyond it, not for every event.
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

    /// Checks a decoded envelope whose record value is `value_len` bytes long; returns the payload's
    /// schema id and datum (the payload without its Confluent header).
    pub fn verify<'a>(&mut self, value_len: usize, env: &Envelope<'a>) -> Result<(u32, &'a [u8]), Refusal> {
        if value_len > self.max_event_bytes {
            return Err(Refusal::new(
                "oversized",
                format!(
                    "the record is {value_len} bytes, more than the largest event allowed ({} bytes)",
                    self.max_event_bytes
                ),
            ));
        }
        self.keys
            .verify(env)
            .map_err(|e| Refusal::new(e.reason(), e.to_string()))?;
        if env.timestamp > self.latest_timestamp {
            self.latest_timestamp = now_micros().saturating_add(self.max_clock_skew_micros);
        }
        if !(EARLIEST_TIMESTAMP_MICROS..=self.latest_timestamp).contains(&env.timestamp) {
            return Err(Refusal::new(
                "bad_timestamp",
                format!(
                    "timestamp {} µs is before 2000 or more than the allowed clock skew ahead of this clock",
                    env.timestamp
                ),
            ));
        }
        // Stream identity the state database must store: a NUL cannot be in PostgreSQL text, and
        // offsets count up from 0 (the received ranges are half-open, so i64::MAX has no end).
        if env.host.contains('\0') {
            return Err(Refusal::new("invalid_stream", "host contains a NUL character"));
        }
        if !(0..i64::MAX).contains(&env.offset) {
            return Err(Refusal::new(
                "invalid_stream",
                format!("offset {} is outside 0..2^63-1", env.offset),
            ));
        }
        framing::split_wire_format(env.message)
            .map_err(|e| Refusal::new("invalid_payload", format!("payload wire format: {e}")))
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::NewEnvelope;

    fn ring() -> KeyRing {
        KeyRing::new([("default".to_string(), b"secret".to_vec())])
    }

    fn record(timestamp: i64, host: &str, offset: i64, message: &[u8], keys: &KeyRing) -> Vec<u8> {
        let env = NewEnvelope {
            timestamp,
            host,
            event_type: "billing.member_active",
            offset,
            pid: 7,
            message,
            tags: &[],
        };
        let mut out = Vec::new();
        env.encode_signed(1, keys, &mut out).unwrap();
        out
    }

    fn payload() -> Vec<u8> {
        let mut p = Vec::new();
        framing::put_header(&mut p, 42);
        p.extend_from_slice(b"datum");
        p
    }

    const NOW: i64 = 1_780_000_000_000_000;

    fn verdict(value: &[u8], checks: &mut EnvelopeChecks) -> Result<(u32, Vec<u8>), Refusal> {
        let env = decode(value)?;
        check_type(env.event_type)?;
        checks.verify(value.len(), &env).map(|(id, d)| (id, d.to_vec()))
    }

    #[test]
    fn a_valid_envelope_yields_its_payload_schema_and_datum() {
        let mut checks = EnvelopeChecks::new(ring(), 1 << 20, 86_400);
        let value = record(NOW, "h", 0, &payload(), &ring());
        assert_eq!(verdict(&value, &mut checks), Ok((42, b"datum".to_vec())));
    }

    #[test]
    fn each_failure_has_the_sinks_reason_code() {
        let mut checks = EnvelopeChecks::new(ring(), 1 << 20, 86_400);
        let other = KeyRing::new([("default".to_string(), b"other".to_vec())]);
        let good = record(NOW, "h", 0, &payload(), &ring());
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("bad_magic", {
                let mut v = good.clone();
                v[0] = 9;
                v
            }),
            ("truncated", good[..good.len() - 3].to_vec()),
            ("trailing_bytes", [good.as_slice(), b"x"].concat()),
            ("bad_signature", record(NOW, "h", 0, &payload(), &other)),
            ("bad_timestamp", record(1_000, "h", 0, &payload(), &ring())),
            ("bad_timestamp", record(i64::MAX - 1, "h", 0, &payload(), &ring())),
            ("invalid_stream", record(NOW, "h\0", 0, &payload(), &ring())),
            ("invalid_stream", record(NOW, "h", -1, &payload(), &ring())),
            ("invalid_payload", record(NOW, "h", 0, b"no header", &ring())),
        ];
        for (reason, value) in cases {
            let got = verdict(&value, &mut checks).expect_err(reason);
            assert_eq!(got.reason, reason, "{}", got.detail);
        }
        let mut small = EnvelopeChecks::new(ring(), 10, 86_400);
        assert_eq!(verdict(&good, &mut small).unwrap_err().reason, "oversized");
    }

    #[test]
    fn an_unknown_key_id_is_refused_as_such() {
        let mut checks = EnvelopeChecks::new(ring(), 1 << 20, 86_400);
        let env = NewEnvelope {
            timestamp: NOW,
            host: "h",
            event_type: "t",
            offset: 0,
            pid: 1,
            message: &payload(),
            tags: &[("murron.key", "2027")],
        };
        let keys = KeyRing::new([("2027".to_string(), b"k".to_vec())]);
        let mut value = Vec::new();
        env.encode_signed(1, &keys, &mut value).unwrap();
        assert_eq!(verdict(&value, &mut checks).unwrap_err().reason, "unknown_key");
    }

    #[test]
    fn types_that_cannot_name_a_folder_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b"] {
            assert_eq!(check_type(bad).unwrap_err().reason, "invalid_stream", "{bad:?}");
        }
        assert!(check_type(&"t".repeat(256)).is_err());
        for good in ["billing.member_active", "client.api_call", "a..b", "x-y_z"] {
            assert_eq!(check_type(good), Ok(()), "{good:?}");
        }
    }
}
