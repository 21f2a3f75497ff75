//! The checks every event passes before it is written, live from Kafka or backfilled from the
//! archive: decode the envelope, keep only the configured types, verify the signature, resolve the
//! payload schema by id (cached), check the schema belongs to the envelope's type, validate the datum.

use std::collections::HashMap;
use std::sync::Arc;

use super::schemas::{KnownSchema, Lookup, SchemaCache};
use crate::admin::{NotReady, Readiness};
use crate::config::Pipeline;
use crate::retry::backoff_delay;
use murron_payload::Variant;
use murron_wire::envelope::{self, KeyRing};

/// What a check decided about a record.
#[derive(Debug)]
pub enum Verdict {
    /// Valid, with its payload schema id and which of the schema's message types it holds.
    Valid(u32, Variant),
    /// Invalid: the stable reason code and a human detail.
    Dead(&'static str, String),
    /// Not this pipeline's type.
    Skip,
}

/// Checks records for one pipeline.
#[derive(Debug)]
pub struct Checker {
    filter_type: Vec<String>,
    /// Archive mode: an envelope that decodes is kept as it is, whatever else is wrong with it.
    raw: bool,
    keys: KeyRing,
    schemas: SchemaCache,
    /// The schemas of the events checked valid, for the writer.
    pub used_schemas: HashMap<u32, Arc<KnownSchema>>,
    readiness: Readiness,
    max_event_bytes: usize,
    max_clock_skew_micros: i64,
    /// The latest timestamp accepted, as of the last clock reading: the clock is read again only
    /// for an event stamped beyond it, not for every event.
    latest_timestamp: i64,
}

/// 2000-01-01T00:00:00Z in microseconds: an earlier timestamp is a broken clock or a bug.
const EARLIEST_TIMESTAMP_MICROS: i64 = 946_684_800_000_000;

impl Checker {
    pub fn new(pipeline: &Pipeline, keys: KeyRing, schemas: SchemaCache, readiness: Readiness) -> Self {
        Self {
            filter_type: pipeline.filter_type.clone(),
            raw: pipeline.archive_to.is_some(),
            keys,
            schemas,
            used_schemas: HashMap::new(),
            readiness,
            max_event_bytes: pipeline.max_event_bytes,
            max_clock_skew_micros: i64::try_from(pipeline.max_clock_skew_secs.saturating_mul(1_000_000))
                .unwrap_or(i64::MAX),
            latest_timestamp: i64::MIN,
        }
    }

    /// Checks one record value (Confluent-framed envelope). Waits out a registry outage: an outage
    /// is ours, never the event's fault.
    pub async fn check(&mut self, value: &[u8]) -> Verdict {
        let env = match envelope::decode(value) {
            Ok((_, env)) => env,
            Err(e) => return Verdict::Dead(e.reason(), e.to_string()),
        };
        if !self.filter_type.is_empty() && !self.filter_type.iter().any(|t| t == env.event_type) {
            return Verdict::Skip;
        }
        // The type names a folder of every file output and of the archive.
        if let Some(why) = unsafe_as_folder(env.event_type) {
            return Verdict::Dead("invalid_stream", format!("type {:?} {why}", env.event_type));
        }
        if self.raw {
            return Verdict::Valid(0, Variant(0));
        }
        if value.len() > self.max_event_bytes {
            return Verdict::Dead(
                "oversized",
                format!(
                    "the record is {} bytes, more than pipeline.max_event_bytes ({})",
                    value.len(),
                    self.max_event_bytes
                ),
            );
        }
        if let Err(e) = self.keys.verify(&env) {
            return Verdict::Dead(e.reason(), e.to_string());
        }
        if env.timestamp > self.latest_timestamp {
            self.latest_timestamp = now_micros().saturating_add(self.max_clock_skew_micros);
        }
        if !(EARLIEST_TIMESTAMP_MICROS..=self.latest_timestamp).contains(&env.timestamp) {
            return Verdict::Dead(
                "bad_timestamp",
                format!(
                    "timestamp {} µs is before 2000 or more than pipeline.max_clock_skew_secs ahead of this worker's clock",
                    env.timestamp
                ),
            );
        }
        // Stream identity the state database must store: a NUL cannot be in PostgreSQL text (the
        // type was checked above), and offsets count up from 0 (the received ranges are half-open,
        // so i64::MAX has no end).
        if env.host.contains('\0') {
            return Verdict::Dead("invalid_stream", "host contains a NUL character".into());
        }
        if !(0..i64::MAX).contains(&env.offset) {
            return Verdict::Dead("invalid_stream", format!("offset {} is outside 0..2^63-1", env.offset));
        }
        let (schema_id, datum) = match murron_wire::framing::split_wire_format(env.message) {
            Ok(x) => x,
            Err(e) => return Verdict::Dead("invalid_payload", format!("payload wire format: {e}")),
        };
        let lookup = match self.schemas.cached(schema_id) {
            Some(l) => l,
            None => {
                let schemas = &mut self.schemas;
                let readiness = &self.readiness;
                let mut attempt = 0u32;
                loop {
                    match schemas.fetch(schema_id).await {
                        Ok(l) => {
                            readiness.set(NotReady::Registry, false);
                            break l;
                        }
                        Err(e) => {
                            // Our outage, not a bad event: wait, never dead-letter.
                            readiness.set(NotReady::Registry, true);
                            attempt += 1;
                            metrics::counter!("murron_sink_retries_total", "op" => "registry").increment(1);
                            tracing::warn!(schema_id, attempt, error = %e, "schema registry unavailable; waiting");
                            tokio::time::sleep(backoff_delay(attempt)).await;
                        }
                    }
                }
            }
        };
        let schema = match lookup {
            Lookup::Found(s) => s,
            Lookup::Unknown => {
                return Verdict::Dead(
                    "unknown_schema",
                    format!("schema id {schema_id} is not in the registry"),
                );
            }
            Lookup::Unusable(reason) => return Verdict::Dead("unusable_schema", reason),
        };
        if !schema.subjects.iter().any(|s| s == env.event_type) {
            return Verdict::Dead(
                "wrong_type",
                format!(
                    "schema id {schema_id} is registered under {:?}, not the envelope's type {:?}",
                    schema.subjects, env.event_type
                ),
            );
        }
        let variant = match schema.schema.validate(datum) {
            Ok(v) => v,
            Err(e) => return Verdict::Dead("invalid_payload", format!("{}: {e}", e.reason())),
        };
        self.used_schemas.entry(schema_id).or_insert_with(|| schema.clone());
        Verdict::Valid(schema_id, variant)
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Why a type cannot be one segment of an object key, if it cannot.
fn unsafe_as_folder(event_type: &str) -> Option<&'static str> {
    if event_type.is_empty() || event_type == "." || event_type == ".." {
        Some("cannot name a folder")
    } else if event_type.contains(['/', '\\', '\0']) {
        Some("contains '/', '\\' or NUL")
    } else if event_type.len() > 255 {
        Some("is longer than 255 bytes")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::unsafe_as_folder;

    #[test]
    fn types_that_cannot_name_a_folder_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b"] {
            assert!(unsafe_as_folder(bad).is_some(), "{bad:?}");
        }
        assert!(unsafe_as_folder(&"t".repeat(256)).is_some());
        for good in ["billing.member_active", "client.api_call", "a..b", "x-y_z"] {
            assert_eq!(unsafe_as_folder(good), None, "{good:?}");
        }
    }
}
