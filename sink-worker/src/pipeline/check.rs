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
    /// The payload's schema (this id) cannot be looked up now: the registry is unreachable or failing.
    /// The record is neither written nor dead-lettered; it waits until the schema resolves.
    Unresolved(u32),
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

    /// The schema cache, for lookups retried outside [`Self::check_now`].
    pub fn schemas(&mut self) -> &mut SchemaCache {
        &mut self.schemas
    }

    /// Checks one record value (Confluent-framed envelope), waiting out a registry outage: an outage
    /// is ours, never the event's fault. For a caller with nothing else to do meanwhile (a backfill).
    pub async fn check(&mut self, value: &[u8]) -> Verdict {
        let mut attempt = 0u32;
        loop {
            let verdict = self.check_now(value).await;
            let Verdict::Unresolved(schema_id) = verdict else {
                if attempt > 0 {
                    self.readiness.set(NotReady::Registry, false);
                }
                return verdict;
            };
            self.readiness.set(NotReady::Registry, true);
            attempt += 1;
            tracing::warn!(schema_id, attempt, "waiting for the schema registry");
            tokio::time::sleep(backoff_delay(attempt)).await;
            // `check_now` does not ask while the registry is failing; this is the retry.
            let _ = self.schemas.fetch(schema_id).await;
        }
    }

    /// Checks one record value without waiting out an outage: a record whose schema cannot be looked
    /// up now is [`Verdict::Unresolved`], for the caller to hold back while it goes on with others.
    /// While the registry is failing, a schema not cached is not asked for here at all (the caller
    /// retries with [`SchemaCache::lookup`]), so a registry that hangs holds up the caller once per
    /// outage, not once per record.
    pub async fn check_now(&mut self, value: &[u8]) -> Verdict {
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
            None if self.schemas.failing() => return Verdict::Unresolved(schema_id),
            None => match self.schemas.fetch(schema_id).await {
                Ok(l) => l,
                Err(_) => return Verdict::Unresolved(schema_id),
            },
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
