//! The checks every event passes before it is written, live from Kafka or backfilled from the
//! archive: decode the envelope, keep only the configured types, verify the signature, resolve the
//! payload schema by id (cached), check the schema belongs to the envelope's type, validate the datum.

use std::collections::HashMap;
use std::sync::Arc;

use super::schemas::{KnownSchema, Lookup, SchemaCache};
use crate::admin::{NotReady, Readiness};
use crate::config::Pipeline;
use murron_connect::retry::backoff_delay;
use murron_payload::Variant;
use murron_wire::check::{self, EnvelopeChecks};
use murron_wire::envelope::KeyRing;

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
    envelope_checks: EnvelopeChecks,
    schemas: SchemaCache,
    /// The schemas of the events checked valid, for the writer.
    pub used_schemas: HashMap<u32, Arc<KnownSchema>>,
    readiness: Readiness,
}

impl Checker {
    pub fn new(pipeline: &Pipeline, keys: KeyRing, schemas: SchemaCache, readiness: Readiness) -> Self {
        Self {
            filter_type: pipeline.filter_type.clone(),
            raw: pipeline.archive_to.is_some(),
            envelope_checks: EnvelopeChecks::new(keys, pipeline.max_event_bytes, pipeline.max_clock_skew_secs),
            schemas,
            used_schemas: HashMap::new(),
            readiness,
        }
    }

    /// Checks one record value (Confluent-framed envelope). Waits out a registry outage: an outage
    /// is ours, never the event's fault.
    pub async fn check(&mut self, value: &[u8]) -> Verdict {
        let env = match check::decode(value) {
            Ok(env) => env,
            Err(r) => return Verdict::Dead(r.reason, r.detail),
        };
        if !self.filter_type.is_empty() && !self.filter_type.iter().any(|t| t == env.event_type) {
            return Verdict::Skip;
        }
        if let Err(r) = check::check_type(env.event_type) {
            return Verdict::Dead(r.reason, r.detail);
        }
        if self.raw {
            return Verdict::Valid(0, Variant(0));
        }
        let (schema_id, datum) = match self.envelope_checks.verify(value.len(), &env) {
            Ok(x) => x,
            Err(r) => return Verdict::Dead(r.reason, r.detail),
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
                            if e.is_configuration() {
                                // Trust or credentials changed under a running worker: only an
                                // operator can fix it, so say so loudly while waiting.
                                tracing::error!(schema_id, attempt, error = %e, "schema registry refuses our TLS trust or credentials; fix the registry settings; waiting");
                            } else {
                                tracing::warn!(schema_id, attempt, error = %e, "schema registry unavailable; waiting");
                            }
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
