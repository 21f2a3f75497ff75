//! In-process caches in front of PostgreSQL.
//!
//! Schemas by id never change, so they are kept for the life of the process. A subject's latest
//! version can change on any replica: every change sends a `NOTIFY` naming the subject, and a
//! listener drops that subject's entry. Notifications are lost while the listener reconnects, so a
//! reconnect drops every entry; the listener only ever makes the cache forget, never learn.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};

use crate::store::{CHANGES_CHANNEL, StoredSchema, SubjectVersion};
use murron_schema_types::compatibility::CompatibilityLevel;
use murron_schema_types::compatibility::avro::{Digest, Schema as AvroSchema};
use murron_schema_types::schema::ParsedSchema;

/// Subjects with fewer live versions are checked pairwise without a digest.
const DIGEST_MIN_VERSIONS: usize = 16;

/// The caches shared by the service's operations on this replica.
#[derive(Debug, Default)]
pub struct Caches {
    schemas: RwLock<HashMap<i32, Arc<StoredSchema>>>,
    /// Parsed schemas by id, for compatibility checks: parsing 100 versions per registration would
    /// cost more than the check itself.
    parsed: RwLock<HashMap<i32, ParsedSchema>>,
    latest: RwLock<HashMap<String, Arc<SubjectVersion>>>,
    /// Digests of subjects' live versions for transitive checks. A digest checks which versions it
    /// covers on every use, so it needs no invalidation.
    digests: Mutex<HashMap<String, Arc<Mutex<Digest>>>>,
    /// Bumped by every invalidation. A value read from the database is cached only if no
    /// invalidation happened since the read began, so a stale read never outlives a change.
    generation: AtomicU64,
}

impl Caches {
    pub fn schema(&self, id: i32) -> Option<Arc<StoredSchema>> {
        self.schemas.read().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }

    pub fn put_schema(&self, schema: StoredSchema) -> Arc<StoredSchema> {
        let schema = Arc::new(schema);
        self.schemas
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(schema.id, schema.clone());
        schema
    }

    /// True when the schema with this id is parsed and cached.
    pub fn is_parsed(&self, id: i32) -> bool {
        self.parsed.read().unwrap_or_else(|p| p.into_inner()).contains_key(&id)
    }

    /// Caches a schema parsed elsewhere (ids never change, so a first value stays).
    pub fn put_parsed(&self, id: i32, schema: ParsedSchema) {
        self.parsed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_insert(schema);
    }

    /// The parsed schema with this id, parsing it with `parse` on first use.
    pub fn parsed<E>(&self, id: i32, parse: impl FnOnce() -> Result<ParsedSchema, E>) -> Result<ParsedSchema, E> {
        if let Some(hit) = self.parsed.read().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(hit.clone());
        }
        let schema = parse()?;
        self.parsed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, schema.clone());
        Ok(schema)
    }

    /// `Ok(true)` when the digest of `subject` proves `new` compatible at the transitive `level` with
    /// the live versions `keys` (version, schema id; oldest first). `Ok(false)` means "not proven":
    /// the exact check decides. `schema(i)` gives `keys[i]` parsed as Avro (an error when it is of
    /// another type); only versions the digest does not cover yet are asked for. Subjects with few
    /// versions skip the digest: checking them is cheap.
    pub fn proves_compatible<E>(
        &self,
        subject: &str,
        level: CompatibilityLevel,
        new: &ParsedSchema,
        keys: &[(i32, i32)],
        mut schema: impl FnMut(usize) -> Result<Arc<AvroSchema>, E>,
    ) -> Result<bool, E> {
        if !level.is_transitive() || keys.len() < DIGEST_MIN_VERSIONS {
            return Ok(false);
        }
        // The digest is Avro's: other schema types get the exact check.
        let ParsedSchema::Avro(new) = new else {
            return Ok(false);
        };
        let digest = self
            .digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(subject.to_string())
            .or_default()
            .clone();
        let mut digest = digest.lock().unwrap_or_else(|p| p.into_inner());
        digest.cover(keys, &mut schema)?;
        let proven = digest.proves(level, new);
        let path = if proven { "digest" } else { "exact" };
        metrics::counter!("murron_registry_transitive_checks_total", "path" => path).increment(1);
        Ok(proven)
    }

    pub fn latest(&self, subject: &str) -> Option<Arc<SubjectVersion>> {
        self.latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(subject)
            .cloned()
    }

    /// The generation to pass to [`Caches::put_latest`]; take it before reading the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn put_latest(&self, v: SubjectVersion, read_at: u64) -> Arc<SubjectVersion> {
        let v = Arc::new(v);
        let mut map = self.latest.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) == read_at {
            map.insert(v.subject.clone(), v.clone());
        }
        v
    }

    /// Forgets what is known of `subject` ('' forgets nothing: global settings are not cached).
    pub fn invalidate(&self, subject: &str) {
        if !subject.is_empty() {
            let mut map = self.latest.write().unwrap_or_else(|p| p.into_inner());
            self.generation.fetch_add(1, Ordering::AcqRel);
            map.remove(subject);
        }
    }

    pub fn invalidate_all(&self) {
        let mut map = self.latest.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }
}

/// Listens for changes made by any replica and invalidates the cache; runs until the process ends.
pub async fn listen_for_changes(pool: PgPool, caches: Arc<Caches>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(CHANGES_CHANNEL).await {
                    tracing::warn!(error = %e, "cannot LISTEN for registry changes; retrying");
                } else {
                    // Anything may have changed while we were not listening.
                    caches.invalidate_all();
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => caches.invalidate(n.payload()),
                            Ok(None) => {
                                // The connection dropped and sqlx reconnected: notifications may be lost.
                                caches.invalidate_all();
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "change listener failed; reconnecting");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect the change listener; retrying"),
        }
        caches.invalidate_all();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(subject: &str, version: i32) -> SubjectVersion {
        SubjectVersion {
            subject: subject.into(),
            version,
            id: version,
            schema_type: murron_schema_types::schema::SchemaType::Avro,
            schema: "\"string\"".into(),
            references: vec![],
            deleted: false,
        }
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_cached() {
        let c = Caches::default();
        let read_at = c.generation();
        c.invalidate("s"); // another replica changed the subject while we were reading
        c.put_latest(sv("s", 1), read_at);
        assert!(c.latest("s").is_none());
        let read_at = c.generation();
        c.put_latest(sv("s", 2), read_at);
        assert_eq!(c.latest("s").map(|v| v.version), Some(2));
    }

    #[test]
    fn invalidating_one_subject_keeps_the_others() {
        let c = Caches::default();
        c.put_latest(sv("a", 1), c.generation());
        c.put_latest(sv("b", 1), c.generation());
        c.invalidate("a");
        assert!(c.latest("a").is_none());
        assert!(c.latest("b").is_some());
        c.invalidate_all();
        assert!(c.latest("b").is_none());
    }
}
