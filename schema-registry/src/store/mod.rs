//! PostgreSQL storage of everything the registry knows. All state lives here, so replicas are
//! stateless and any number of them can serve one database.
//!
//! Every change runs in one transaction that also writes its audit record and a `NOTIFY` on
//! [`CHANGES_CHANNEL`] naming the subject, so other replicas drop their cached view of it.

mod admin;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::json;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Row};

use murron_schema_types::schema::{Normalized, Reference, Referenced, SchemaType};

/// The channel on which changes are announced; the payload is the subject ('' for global settings).
pub const CHANGES_CHANNEL: &str = "murron_registry_changes";

/// A storage failure (answered with 50001). Retryable: the database may be back later.
#[derive(Debug, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(#[from] sqlx::Error);

impl StoreError {
    /// Text PostgreSQL cannot store (a NUL character, SQLSTATE 22021), which a request sent.
    pub fn is_unstorable_text(&self) -> bool {
        self.0
            .as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|code| code == "22021")
    }
}

/// A schema as stored under its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSchema {
    pub id: i32,
    pub schema_type: SchemaType,
    pub schema: String,
    pub references: Vec<Reference>,
}

/// A schema bound to a subject version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema_type: SchemaType,
    pub schema: String,
    pub references: Vec<Reference>,
    pub deleted: bool,
}

/// A live version as compatibility checks need it: its number and schema id, and the schema's text
/// (with its references' texts) unless the caller has that schema parsed already.
#[derive(Debug, Clone)]
pub struct LiveVersion {
    pub version: i32,
    pub id: i32,
    pub text: Option<StoredText>,
}

/// A stored schema's text and the schemas it references, transitively.
#[derive(Debug, Clone)]
pub struct StoredText {
    pub schema_type: SchemaType,
    pub schema: String,
    pub referenced: Vec<Referenced>,
}

/// The settings made at one scope, or in effect for a subject; each `None` when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub compatibility: Option<String>,
    pub policy: Option<String>,
    pub mode: Option<String>,
}

/// Who owns a subject and what its data is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Metadata {
    pub owner_team: Option<String>,
    pub description: Option<String>,
    /// Field name to data class, for example `{"user_id": "PII"}`.
    #[serde(default)]
    pub classification: serde_json::Map<String, serde_json::Value>,
}

/// A stored API token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRow {
    pub name: String,
    pub role: String,
    pub subject_patterns: Vec<String>,
    pub created_by: String,
    pub revoked: bool,
}

/// One audit record.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339 time of the change.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub details: serde_json::Value,
}

/// Which version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSel {
    Latest,
    Number(i32),
}

/// Why a registration did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The compatibility check refused it; the messages say why.
    #[error("schema is incompatible")]
    Incompatible(Vec<String>),
    /// An import asked for an id or version that is taken by something else.
    #[error("{0}")]
    ImportConflict(String),
}

impl From<sqlx::Error> for RegisterError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError(e))
    }
}

/// Why a delete did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("subject not found")]
    SubjectNotFound,
    #[error("version not found")]
    VersionNotFound,
    /// Soft delete of what is already soft-deleted.
    #[error("already soft-deleted")]
    AlreadySoftDeleted,
    /// Permanent delete of what was not soft-deleted first.
    #[error("not soft-deleted first")]
    NotSoftDeleted,
    /// Delete of a subject or version other schemas reference; holds the referencing schema ids.
    #[error("referenced by schemas {0:?}")]
    Referenced(Vec<i32>),
}

impl From<sqlx::Error> for DeleteError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError(e))
    }
}

/// One registration of a batch, after parsing. All items of a batch are for one subject.
#[derive(Debug)]
pub struct NewRegistration<'a> {
    pub schema: &'a Normalized,
    /// IMPORT mode: keep this id and version.
    pub import: Option<(Option<i32>, Option<i32>)>,
    pub actor: &'a str,
}

/// The outcome of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    pub id: i32,
    pub version: i32,
    /// False when the schema was already live under the subject (idempotent registration).
    pub created: bool,
}

/// Registry storage over one PostgreSQL pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    /// The live (version, schema id) pairs of subjects this replica registered to, with the
    /// subject's generation they were read at (migration `subject_generation`): a registration
    /// that finds the same generation under the subject's lock reuses them instead of reading
    /// every version again.
    live: Arc<Mutex<HashMap<String, LiveAt>>>,
}

/// A subject's live (version, schema id) pairs, oldest first, as read at a generation.
type LiveAt = (i64, Vec<(i32, i32)>);

fn refs_from_json(v: serde_json::Value) -> Vec<Reference> {
    serde_json::from_value(v).unwrap_or_default()
}

/// A stored type name as a [`SchemaType`]; the store writes only names it knows.
fn schema_type(name: &str) -> Result<SchemaType, sqlx::Error> {
    SchemaType::from_request(Some(name)).map_err(|e| sqlx::Error::Decode(e.into()))
}

fn subject_version(row: &PgRow) -> Result<SubjectVersion, sqlx::Error> {
    Ok(SubjectVersion {
        subject: row.try_get("subject")?,
        version: row.try_get("version")?,
        id: row.try_get("id")?,
        schema_type: schema_type(row.try_get("schema_type")?)?,
        schema: row.try_get("schema")?,
        references: refs_from_json(row.try_get("refs")?),
        deleted: row.try_get("deleted")?,
    })
}

const VERSION_COLUMNS: &str = "v.subject, v.version, v.schema_id AS id, sc.schema_type, sc.schema, sc.refs, v.deleted";

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            live: Arc::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Registers a batch of schemas under one subject, in order, in one transaction.
    ///
    /// Each item is idempotent: a schema already live under the subject (or added earlier in the
    /// batch) answers its id and version without a check. Otherwise `check(i, live)` is called with
    /// the subject's live versions, oldest first, including those the batch added before item `i`,
    /// and `on_added(i, id)` after item `i` is written. Everything happens under the subject's row
    /// lock, so concurrent registrations to one subject are checked against each other, while other
    /// subjects proceed in parallel. Batching concurrent registrations of one subject shares one
    /// lock, one read and one commit among them.
    ///
    /// Returns one result per item; `Err` only when the transaction itself failed (then nothing of
    /// the batch was written).
    pub async fn register_batch(
        &self,
        subject: &str,
        items: &[NewRegistration<'_>],
        is_parsed: impl Fn(i32) -> bool,
        mut check: impl FnMut(usize, &[LiveVersion]) -> Result<(), Vec<String>>,
        mut on_added: impl FnMut(usize, i32),
    ) -> Result<Vec<Result<Registered, RegisterError>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Creates the subject's row if needed and locks it, in one round trip: an upsert that
        // updates takes the row lock. Everything below runs under it.
        let generation: i64 = sqlx::query_scalar(
            "INSERT INTO subjects (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
             RETURNING generation",
        )
        .bind(subject)
        .fetch_one(&mut *tx)
        .await?;
        let fingerprints: Vec<&[u8]> = items.iter().map(|item| &item.schema.fingerprint[..]).collect();
        let known: Vec<(Vec<u8>, i32)> =
            sqlx::query_as("SELECT fingerprint, id FROM schemas WHERE fingerprint = ANY($1)")
                .bind(&fingerprints)
                .fetch_all(&mut *tx)
                .await?;
        let mut known: HashMap<Vec<u8>, i32> = known.into_iter().collect();
        let remembered = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(subject)
            .filter(|(at, _)| *at == generation)
            .map(|(_, pairs)| pairs.clone());
        let pairs: Vec<(i32, i32)> = match remembered {
            Some(pairs) => pairs,
            None => sqlx::query_as(
                "SELECT version, schema_id FROM subject_versions WHERE subject = $1 AND NOT deleted ORDER BY version",
            )
            .bind(subject)
            .fetch_all(&mut *tx)
            .await?,
        };
        let mut live = load_live(&mut tx, &pairs, &is_parsed).await?;
        let mut added = false;

        let mut results = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let known_id = known.get(&item.schema.fingerprint[..]).copied();
            if let Some(id) = known_id
                && let Some(v) = live.iter().find(|v| v.id == id)
            {
                results.push(Ok(Registered {
                    id,
                    version: v.version,
                    created: false,
                }));
                continue;
            }
            if let Err(reasons) = check(i, &live) {
                results.push(Err(RegisterError::Incompatible(reasons)));
                continue;
            }
            match add_version(&mut tx, subject, item, known_id).await {
                Ok(Ok((id, version))) => {
                    added = true;
                    on_added(i, id);
                    known.insert(item.schema.fingerprint.to_vec(), id);
                    // In version order, as read from the database: IMPORT may add a lower version.
                    let at = live.partition_point(|l| l.version < version);
                    live.insert(
                        at,
                        LiveVersion {
                            version,
                            id,
                            text: None,
                        },
                    );
                    results.push(Ok(Registered {
                        id,
                        version,
                        created: true,
                    }));
                }
                Ok(Err(refused)) => results.push(Err(refused)),
                Err(e) => return Err(e.into()),
            }
        }
        // Our own versions moved the generation on (the trigger runs under our lock).
        let generation = if added {
            sqlx::query_scalar("SELECT generation FROM subjects WHERE name = $1")
                .bind(subject)
                .fetch_one(&mut *tx)
                .await?
        } else {
            generation
        };
        tx.commit().await?;
        let pairs = live.iter().map(|l| (l.version, l.id)).collect();
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(subject.to_string(), (generation, pairs));
        Ok(results)
    }

    /// The version of `subject` that holds this schema, if any.
    pub async fn lookup(
        &self,
        subject: &str,
        fingerprint: &[u8; 32],
        include_deleted: bool,
    ) -> Result<Option<SubjectVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM subject_versions v JOIN schemas sc ON sc.id = v.schema_id
             WHERE v.subject = $1 AND sc.fingerprint = $2 AND ($3 OR NOT v.deleted) ORDER BY v.version LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(subject)
            .bind(&fingerprint[..])
            .bind(include_deleted)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(subject_version).transpose()?)
    }

    /// The schema with this id.
    pub async fn schema_by_id(&self, id: i32) -> Result<Option<StoredSchema>, StoreError> {
        let row = sqlx::query("SELECT id, schema_type, schema, refs FROM schemas WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| -> Result<_, sqlx::Error> {
                Ok(StoredSchema {
                    id: r.try_get("id")?,
                    schema_type: schema_type(r.try_get("schema_type")?)?,
                    schema: r.try_get("schema")?,
                    references: refs_from_json(r.try_get("refs")?),
                })
            })
            .transpose()?)
    }

    /// The schemas `refs` name, and theirs, transitively; `None` when a reference does not resolve.
    pub async fn referenced(&self, refs: &[Reference]) -> Result<Option<Vec<Referenced>>, StoreError> {
        if refs.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let mut conn = self.pool.acquire().await?;
        Ok(referenced(&mut conn, refs).await?)
    }

    /// Subjects, sorted. A subject is live while it has a live version, soft-deleted while all its
    /// versions are.
    pub async fn subjects(
        &self,
        prefix: &str,
        include_deleted: bool,
        deleted_only: bool,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT subject FROM subject_versions WHERE starts_with(subject, $1)
             GROUP BY subject
             HAVING CASE WHEN $3 THEN bool_and(deleted) WHEN $2 THEN true ELSE NOT bool_and(deleted) END
             ORDER BY subject",
        )
        .bind(prefix)
        .bind(include_deleted)
        .bind(deleted_only)
        .fetch_all(&self.pool)
        .await?)
    }

    /// `None` when the subject has no versions at all, else whether every version is soft-deleted.
    pub async fn subject_deleted(&self, subject: &str) -> Result<Option<bool>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT bool_and(deleted) FROM subject_versions WHERE subject = $1")
                .bind(subject)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Version numbers of `subject`, ascending.
    pub async fn versions(&self, subject: &str, include_deleted: bool) -> Result<Vec<i32>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT version FROM subject_versions WHERE subject = $1 AND ($2 OR NOT deleted) ORDER BY version",
        )
        .bind(subject)
        .bind(include_deleted)
        .fetch_all(&self.pool)
        .await?)
    }

    /// One version of `subject`; `Latest` is the newest live one.
    pub async fn version(
        &self,
        subject: &str,
        sel: VersionSel,
        include_deleted: bool,
    ) -> Result<Option<SubjectVersion>, StoreError> {
        let number = match sel {
            VersionSel::Latest => None,
            VersionSel::Number(n) => Some(n),
        };
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM subject_versions v JOIN schemas sc ON sc.id = v.schema_id
             WHERE v.subject = $1 AND ($2::int IS NULL OR v.version = $2) AND ($3 OR NOT v.deleted)
             ORDER BY v.version DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(subject)
            .bind(number)
            .bind(include_deleted)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(subject_version).transpose()?)
    }

    /// Live versions of `subject`, oldest first (what compatibility is checked against).
    pub async fn live_versions(
        &self,
        subject: &str,
        is_parsed: impl Fn(i32) -> bool,
    ) -> Result<Vec<LiveVersion>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let live: Vec<(i32, i32)> = sqlx::query_as(
            "SELECT version, schema_id FROM subject_versions WHERE subject = $1 AND NOT deleted ORDER BY version",
        )
        .bind(subject)
        .fetch_all(&mut *conn)
        .await?;
        Ok(load_live(&mut conn, &live, &is_parsed).await?)
    }

    /// Subjects (and versions) that use schema `id`.
    pub async fn usages(&self, id: i32, include_deleted: bool) -> Result<Vec<(String, i32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT subject, version FROM subject_versions WHERE schema_id = $1 AND ($2 OR NOT deleted)
             ORDER BY subject, version",
        )
        .bind(id)
        .bind(include_deleted)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get("subject")?, r.try_get("version")?)))
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Ids of the schemas that reference `subject` version `version`.
    pub async fn referenced_by(&self, subject: &str, version: i32) -> Result<Vec<i32>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(referencing_ids(&mut conn, subject, version).await?)
    }

    /// Deletes every version of `subject`: soft, or permanently after a soft delete. Returns the
    /// versions deleted.
    pub async fn delete_subject(&self, subject: &str, permanent: bool, actor: &str) -> Result<Vec<i32>, DeleteError> {
        let mut tx = self.pool.begin().await?;
        // The subject's row first, as registrations and version deletes take it: changing versions
        // also takes it (the generation trigger), so any other order could deadlock with them.
        sqlx::query("SELECT 1 FROM subjects WHERE name = $1 FOR UPDATE")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        let rows =
            sqlx::query("SELECT version, deleted FROM subject_versions WHERE subject = $1 ORDER BY version FOR UPDATE")
                .bind(subject)
                .fetch_all(&mut *tx)
                .await?;
        if rows.is_empty() {
            return Err(DeleteError::SubjectNotFound);
        }
        let mut all = Vec::with_capacity(rows.len());
        let mut live = Vec::new();
        for r in &rows {
            let v: i32 = r.try_get("version")?;
            all.push(v);
            if !r.try_get::<bool, _>("deleted")? {
                live.push(v);
            }
        }
        // As Confluent: a subject that other schemas reference cannot be deleted at all, soft or not.
        let referencing: Vec<i32> =
            sqlx::query_scalar("SELECT DISTINCT schema_id FROM schema_references r WHERE subject = $1 AND EXISTS (SELECT 1 FROM subject_versions v WHERE v.schema_id = r.schema_id) ORDER BY schema_id")
                .bind(subject)
                .fetch_all(&mut *tx)
                .await?;
        if !referencing.is_empty() {
            return Err(DeleteError::Referenced(referencing));
        }
        let deleted = if permanent {
            if !live.is_empty() {
                return Err(DeleteError::NotSoftDeleted);
            }
            sqlx::query("DELETE FROM subjects WHERE name = $1")
                .bind(subject)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM registry_settings WHERE scope = $1")
                .bind(subject)
                .execute(&mut *tx)
                .await?;
            all
        } else {
            if live.is_empty() {
                return Err(DeleteError::AlreadySoftDeleted);
            }
            sqlx::query("UPDATE subject_versions SET deleted = true WHERE subject = $1 AND NOT deleted")
                .bind(subject)
                .execute(&mut *tx)
                .await?;
            live
        };
        let action = if permanent {
            "delete_subject_permanent"
        } else {
            "delete_subject"
        };
        audit(&mut tx, actor, action, Some(subject), json!({ "versions": deleted })).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Deletes one version: soft, or permanently after a soft delete. `Latest` is the newest live
    /// version. Returns the version number.
    pub async fn delete_version(
        &self,
        subject: &str,
        sel: VersionSel,
        permanent: bool,
        actor: &str,
    ) -> Result<i32, DeleteError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1 FROM subjects WHERE name = $1 FOR UPDATE")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        let any: Option<bool> = sqlx::query_scalar("SELECT bool_and(deleted) FROM subject_versions WHERE subject = $1")
            .bind(subject)
            .fetch_one(&mut *tx)
            .await?;
        if any.is_none() {
            return Err(DeleteError::SubjectNotFound);
        }
        let row: Option<(i32, bool)> = match sel {
            VersionSel::Latest => {
                sqlx::query_as("SELECT version, deleted FROM subject_versions WHERE subject = $1 AND NOT deleted ORDER BY version DESC LIMIT 1")
                    .bind(subject)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            VersionSel::Number(n) => {
                sqlx::query_as("SELECT version, deleted FROM subject_versions WHERE subject = $1 AND version = $2")
                    .bind(subject)
                    .bind(n)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        let Some((version, deleted)) = row else {
            return Err(DeleteError::VersionNotFound);
        };
        // As Confluent: a referenced version cannot be deleted at all, soft or not.
        let referencing = referencing_ids(&mut tx, subject, version).await?;
        if !referencing.is_empty() {
            return Err(DeleteError::Referenced(referencing));
        }
        if permanent {
            if !deleted {
                return Err(DeleteError::NotSoftDeleted);
            }
            sqlx::query("DELETE FROM subject_versions WHERE subject = $1 AND version = $2")
                .bind(subject)
                .bind(version)
                .execute(&mut *tx)
                .await?;
        } else {
            if deleted {
                return Err(DeleteError::AlreadySoftDeleted);
            }
            sqlx::query("UPDATE subject_versions SET deleted = true WHERE subject = $1 AND version = $2")
                .bind(subject)
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
        let action = if permanent {
            "delete_version_permanent"
        } else {
            "delete_version"
        };
        audit(&mut tx, actor, action, Some(subject), json!({ "version": version })).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// The settings that apply to `subject`: each its own, else the global one (`None` when neither
    /// is set), in one round trip.
    pub async fn effective_settings(&self, subject: &str) -> Result<Settings, StoreError> {
        let (compatibility, policy, mode) = sqlx::query_as(
            "SELECT (SELECT compatibility FROM registry_settings WHERE scope IN ($1, '') AND compatibility IS NOT NULL
                     ORDER BY scope DESC LIMIT 1),
                    (SELECT compatibility_policy FROM registry_settings
                     WHERE scope IN ($1, '') AND compatibility_policy IS NOT NULL ORDER BY scope DESC LIMIT 1),
                    (SELECT mode FROM registry_settings WHERE scope IN ($1, '') AND mode IS NOT NULL
                     ORDER BY scope DESC LIMIT 1)",
        )
        .bind(subject)
        .fetch_one(&self.pool)
        .await?;
        Ok(Settings {
            compatibility,
            policy,
            mode,
        })
    }

    /// The settings made at `scope` ('' is global).
    pub async fn settings(&self, scope: &str) -> Result<Settings, StoreError> {
        let row: Option<(Option<String>, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT compatibility, compatibility_policy, mode FROM registry_settings WHERE scope = $1")
                .bind(scope)
                .fetch_optional(&self.pool)
                .await?;
        let (compatibility, policy, mode) = row.unwrap_or_default();
        Ok(Settings {
            compatibility,
            policy,
            mode,
        })
    }

    /// Sets (`Some`) or clears (`None`) the compatibility level at `scope`; returns the previous one.
    pub async fn set_compatibility(
        &self,
        scope: &str,
        level: Option<&str>,
        actor: &str,
    ) -> Result<Option<String>, StoreError> {
        self.set_setting(scope, "compatibility", level, actor).await
    }

    /// Sets (`Some`) or clears (`None`) the compatibility policy at `scope`; returns the previous one.
    pub async fn set_policy(
        &self,
        scope: &str,
        policy: Option<&str>,
        actor: &str,
    ) -> Result<Option<String>, StoreError> {
        self.set_setting(scope, "compatibility_policy", policy, actor).await
    }

    /// Sets (`Some`) or clears (`None`) the mode at `scope`; returns the previous one.
    pub async fn set_mode(&self, scope: &str, mode: Option<&str>, actor: &str) -> Result<Option<String>, StoreError> {
        self.set_setting(scope, "mode", mode, actor).await
    }

    async fn set_setting(
        &self,
        scope: &str,
        column: &'static str,
        value: Option<&str>,
        actor: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO registry_settings (scope) VALUES ($1) ON CONFLICT (scope) DO NOTHING")
            .bind(scope)
            .execute(&mut *tx)
            .await?;
        // `column` is one of three constants, never input.
        let previous: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {column} FROM registry_settings WHERE scope = $1 FOR UPDATE"
        )))
        .bind(scope)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE registry_settings SET {column} = $2, updated_at = now() WHERE scope = $1"
        )))
        .bind(scope)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        let subject = (!scope.is_empty()).then_some(scope);
        let action = match value {
            Some(_) => format!("set_{column}"),
            None => format!("delete_{column}"),
        };
        audit(
            &mut tx,
            actor,
            &action,
            subject,
            json!({ "value": value, "previous": previous }),
        )
        .await?;
        tx.commit().await?;
        Ok(previous)
    }

    /// True when any subject has a version (IMPORT mode may only start on an empty registry or subject).
    pub async fn has_versions(&self, subject: Option<&str>) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM subject_versions WHERE $1::text IS NULL OR subject = $1)")
                .bind(subject)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// Writes one new version (and its schema, unless stored already), audits and announces it.
/// `Ok(Err(_))` is a refusal that leaves the transaction usable (an import that collides).
async fn add_version(
    conn: &mut PgConnection,
    subject: &str,
    item: &NewRegistration<'_>,
    known_id: Option<i32>,
) -> Result<Result<(i32, i32), RegisterError>, sqlx::Error> {
    let schema = item.schema;
    if item.import.is_none() && schema.references.is_empty() {
        // The common case, in one round trip: store the schema unless it exists, add the next
        // version, audit it and announce it.
        // A concurrent transaction inserting the same schema makes ON CONFLICT DO NOTHING return no
        // row while this statement's snapshot cannot see theirs yet; the next statement can.
        for _ in 0..3 {
            let added: Option<(i32, i32)> = sqlx::query_as(
                "WITH new_schema AS (
                 INSERT INTO schemas (schema_type, fingerprint, schema) VALUES ($6, $2, $3)
                 ON CONFLICT (fingerprint) DO NOTHING RETURNING id
             ), schema_id AS (
                 SELECT id FROM new_schema UNION ALL SELECT id FROM schemas WHERE fingerprint = $2 LIMIT 1
             ), added AS (
                 INSERT INTO subject_versions (subject, version, schema_id)
                 SELECT $1, COALESCE((SELECT MAX(version) FROM subject_versions WHERE subject = $1), 0) + 1, id
                 FROM schema_id
                 RETURNING version, schema_id
             ), logged AS (
                 INSERT INTO audit_log (actor, action, subject, details)
                 SELECT $4, 'register', $1, jsonb_build_object('id', schema_id, 'version', version) FROM added
             )
             SELECT version, schema_id FROM added, pg_notify($5, $1)",
            )
            .bind(subject)
            .bind(&schema.fingerprint[..])
            .bind(&schema.text)
            .bind(item.actor)
            .bind(CHANGES_CHANNEL)
            .bind(schema.schema.schema_type().as_str())
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((version, id)) = added {
                return Ok(Ok((id, version)));
            }
        }
        return Err(sqlx::Error::RowNotFound);
    }

    let (import_id, import_version) = item.import.unwrap_or((None, None));
    let id = match (known_id, import_id) {
        (Some(known), Some(wanted)) if known != wanted => {
            return Ok(Err(RegisterError::ImportConflict(format!(
                "the schema is already registered with id {known}, not {wanted}"
            ))));
        }
        (Some(known), _) => known,
        (None, wanted) => match insert_schema(conn, schema, wanted).await {
            Ok(id) => id,
            Err(RegisterError::Store(StoreError(e))) => return Err(e),
            Err(refused) => return Ok(Err(refused)),
        },
    };
    if let Some(v) = import_version {
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM subject_versions WHERE subject = $1 AND version = $2)")
                .bind(subject)
                .bind(v)
                .fetch_one(&mut *conn)
                .await?;
        if taken {
            return Ok(Err(RegisterError::ImportConflict(format!(
                "version {v} of {subject} exists already"
            ))));
        }
    }
    // Version 0 asks for the next one; numbers are never reused, so deleted versions count.
    let version: i32 = sqlx::query_scalar(
        "INSERT INTO subject_versions (subject, version, schema_id)
         SELECT $1, CASE WHEN $2 > 0 THEN $2 ELSE COALESCE(MAX(version), 0) + 1 END, $3
         FROM subject_versions WHERE subject = $1
         RETURNING version",
    )
    .bind(subject)
    .bind(import_version.unwrap_or(0))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    audit(
        conn,
        item.actor,
        "register",
        Some(subject),
        json!({ "id": id, "version": version }),
    )
    .await?;
    Ok(Ok((id, version)))
}

async fn schema_id_by_fingerprint(conn: &mut PgConnection, fingerprint: &[u8; 32]) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM schemas WHERE fingerprint = $1")
        .bind(&fingerprint[..])
        .fetch_optional(conn)
        .await
}

/// Inserts a schema and its references, returning its id. Looks the fingerprint up first so that
/// ids are not burnt by conflicting inserts; the unique fingerprint makes a concurrent insert of the
/// same schema wait and then find the winner's id.
async fn insert_schema(
    conn: &mut PgConnection,
    schema: &Normalized,
    wanted_id: Option<i32>,
) -> Result<i32, RegisterError> {
    if let Some(wanted) = wanted_id {
        let taken: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM schemas WHERE id = $1)")
            .bind(wanted)
            .fetch_one(&mut *conn)
            .await?;
        if taken {
            return Err(RegisterError::ImportConflict(format!(
                "id {wanted} is taken by another schema"
            )));
        }
    }
    let refs = serde_json::to_value(&schema.references).unwrap_or_else(|_| json!([]));
    let inserted: Option<i32> = sqlx::query_scalar(
        "INSERT INTO schemas (id, schema_type, fingerprint, schema, refs)
         VALUES (COALESCE($1, nextval(pg_get_serial_sequence('schemas', 'id'))::int), $5, $2, $3, $4)
         ON CONFLICT (fingerprint) DO NOTHING RETURNING id",
    )
    .bind(wanted_id)
    .bind(&schema.fingerprint[..])
    .bind(&schema.text)
    .bind(&refs)
    .bind(schema.schema.schema_type().as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let id = match inserted {
        Some(id) => id,
        None => schema_id_by_fingerprint(conn, &schema.fingerprint)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?,
    };
    if inserted.is_some() {
        for r in &schema.references {
            sqlx::query("INSERT INTO schema_references (schema_id, name, subject, version) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(&r.name)
                .bind(&r.subject)
                .bind(r.version)
                .execute(&mut *conn)
                .await?;
        }
        if wanted_id.is_some() {
            // Imported ids must never be handed out again by the sequence.
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('schemas', 'id'), GREATEST((SELECT MAX(id) FROM schemas), 1))",
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(id)
}

/// Builds [`LiveVersion`]s from `(version, schema id)` pairs, fetching in one query the texts of
/// the schemas the caller has not parsed yet. Hot path of registration: with a warm cache this
/// reads nothing.
async fn load_live(
    conn: &mut PgConnection,
    live: &[(i32, i32)],
    is_parsed: &impl Fn(i32) -> bool,
) -> Result<Vec<LiveVersion>, sqlx::Error> {
    let missing: Vec<i32> = live.iter().map(|(_, id)| *id).filter(|id| !is_parsed(*id)).collect();
    let mut texts: HashMap<i32, StoredText> = HashMap::new();
    if !missing.is_empty() {
        let rows: Vec<(i32, String, String, serde_json::Value)> =
            sqlx::query_as("SELECT id, schema_type, schema, refs FROM schemas WHERE id = ANY($1)")
                .bind(&missing)
                .fetch_all(&mut *conn)
                .await?;
        for (id, type_name, schema, refs) in rows {
            let referenced = referenced(conn, &refs_from_json(refs)).await?.unwrap_or_default();
            let schema_type = schema_type(&type_name)?;
            texts.insert(
                id,
                StoredText {
                    schema_type,
                    schema,
                    referenced,
                },
            );
        }
    }
    Ok(live
        .iter()
        .map(|&(version, id)| LiveVersion {
            version,
            id,
            text: texts.get(&id).cloned(),
        })
        .collect())
}

/// The schemas `refs` name, and the schemas those reference, transitively: each once, under the
/// name its first referrer uses, direct references first. `None` when one does not resolve.
async fn referenced(conn: &mut PgConnection, refs: &[Reference]) -> Result<Option<Vec<Referenced>>, sqlx::Error> {
    let mut out = Vec::with_capacity(refs.len());
    let mut seen: HashSet<(String, i32)> = HashSet::new();
    let mut queue: VecDeque<Reference> = refs.iter().cloned().collect();
    while let Some(r) = queue.pop_front() {
        if !seen.insert((r.subject.clone(), r.version)) {
            continue;
        }
        let row: Option<(String, String, serde_json::Value)> = sqlx::query_as(
            "SELECT sc.schema_type, sc.schema, sc.refs FROM subject_versions v JOIN schemas sc ON sc.id = v.schema_id
             WHERE v.subject = $1 AND v.version = $2",
        )
        .bind(&r.subject)
        .bind(r.version)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((type_name, text, nested)) = row else {
            return Ok(None);
        };
        queue.extend(refs_from_json(nested));
        out.push(Referenced {
            name: r.name,
            schema_type: schema_type(&type_name)?,
            text,
        });
    }
    Ok(Some(out))
}

/// Ids of schemas, still used by some subject version, that reference `subject` version `version`.
async fn referencing_ids(conn: &mut PgConnection, subject: &str, version: i32) -> Result<Vec<i32>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT schema_id FROM schema_references r WHERE subject = $1 AND version = $2 AND EXISTS (SELECT 1 FROM subject_versions v WHERE v.schema_id = r.schema_id) ORDER BY schema_id",
    )
    .bind(subject)
    .bind(version)
    .fetch_all(conn)
    .await
}

/// Records a change and announces it to the other replicas (delivered when the transaction commits),
/// in one round trip.
async fn audit(
    conn: &mut PgConnection,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH logged AS (INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, $2, $3, $4))
         SELECT pg_notify($5, $6)",
    )
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(&details)
    .bind(CHANGES_CHANNEL)
    .bind(subject.unwrap_or(""))
    .execute(conn)
    .await?;
    Ok(())
}

fn token_row(r: &PgRow) -> Result<TokenRow, sqlx::Error> {
    Ok(TokenRow {
        name: r.try_get("name")?,
        role: r.try_get("role")?,
        subject_patterns: r.try_get("subject_patterns")?,
        created_by: r.try_get("created_by")?,
        revoked: r.try_get("revoked")?,
    })
}
