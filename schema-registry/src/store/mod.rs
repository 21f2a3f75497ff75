//! PostgreSQL storage of schemas, subjects and versions. All registry state lives here, so
//! replicas are stateless and any number of them can serve one database.

use sqlx::postgres::PgPool;

use crate::schema::Normalized;

/// A storage failure (answered with 50001). Retryable: the database may be back later.
#[derive(Debug, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(#[from] sqlx::Error);

/// A schema bound to a subject version.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema: String,
}

/// Which version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSel {
    Latest,
    Number(i32),
}

/// Registry storage over one PostgreSQL pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Registers `schema` under `subject`. Idempotent: a schema already live under the subject
    /// returns its existing id and version. Returns `(id, version)`.
    ///
    /// Concurrency: the subject's row is locked for the transaction, so concurrent registrations to
    /// one subject get consecutive versions, while different subjects proceed in parallel. Schema
    /// ids come from an identity column, and a unique fingerprint makes concurrent inserts of the
    /// same schema converge on one id.
    pub async fn register(
        &self,
        subject: &str,
        schema: &Normalized,
    ) -> Result<(i32, i32), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO subjects (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT 1 FROM subjects WHERE name = $1 FOR UPDATE")
            .bind(subject)
            .execute(&mut *tx)
            .await?;

        let id = match self.schema_id(&mut tx, schema).await? {
            Some(id) => id,
            None => {
                // Another transaction may insert the same schema meanwhile: the unique fingerprint
                // makes this insert wait for it and then do nothing, and the re-read finds its id.
                let inserted: Option<i32> = sqlx::query_scalar(
                    "INSERT INTO schemas (schema_type, fingerprint, schema) VALUES ('AVRO', $1, $2)
                     ON CONFLICT (fingerprint) DO NOTHING RETURNING id",
                )
                .bind(&schema.fingerprint[..])
                .bind(&schema.text)
                .fetch_optional(&mut *tx)
                .await?;
                match inserted {
                    Some(id) => id,
                    None => self
                        .schema_id(&mut tx, schema)
                        .await?
                        .ok_or(sqlx::Error::RowNotFound)?,
                }
            }
        };

        let existing: Option<i32> = sqlx::query_scalar(
            "SELECT version FROM subject_versions WHERE subject = $1 AND schema_id = $2 AND NOT deleted
             ORDER BY version LIMIT 1",
        )
        .bind(subject)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let version = match existing {
            Some(version) => version,
            None => {
                let version: i32 = sqlx::query_scalar(
                    "INSERT INTO subject_versions (subject, version, schema_id)
                     SELECT $1, COALESCE(MAX(version), 0) + 1, $2 FROM subject_versions WHERE subject = $1
                     RETURNING version",
                )
                .bind(subject)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("UPDATE subjects SET deleted = false WHERE name = $1")
                    .bind(subject)
                    .execute(&mut *tx)
                    .await?;
                version
            }
        };
        tx.commit().await?;
        Ok((id, version))
    }

    /// The id of an already stored schema. Looked up before inserting, so that ids are not burnt
    /// by conflicting inserts and stay dense.
    async fn schema_id(
        &self,
        tx: &mut sqlx::PgConnection,
        schema: &Normalized,
    ) -> Result<Option<i32>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM schemas WHERE fingerprint = $1")
                .bind(&schema.fingerprint[..])
                .fetch_optional(tx)
                .await?,
        )
    }

    /// The schema text with this id.
    pub async fn schema_by_id(&self, id: i32) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT schema FROM schemas WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Live subjects, sorted.
    pub async fn subjects(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM subjects s WHERE NOT deleted
               AND EXISTS (SELECT 1 FROM subject_versions v WHERE v.subject = s.name AND NOT v.deleted)
             ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Live version numbers of `subject`, ascending; empty when the subject does not exist.
    pub async fn versions(&self, subject: &str) -> Result<Vec<i32>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT v.version FROM subject_versions v JOIN subjects s ON s.name = v.subject
             WHERE v.subject = $1 AND NOT v.deleted AND NOT s.deleted ORDER BY v.version",
        )
        .bind(subject)
        .fetch_all(&self.pool)
        .await?)
    }

    /// One live version of `subject`.
    pub async fn version(
        &self,
        subject: &str,
        sel: VersionSel,
    ) -> Result<Option<SubjectVersion>, StoreError> {
        let number = match sel {
            VersionSel::Latest => None,
            VersionSel::Number(n) => Some(n),
        };
        Ok(sqlx::query_as(
            "SELECT v.subject, v.version, v.schema_id AS id, sc.schema
             FROM subject_versions v JOIN schemas sc ON sc.id = v.schema_id JOIN subjects s ON s.name = v.subject
             WHERE v.subject = $1 AND NOT v.deleted AND NOT s.deleted AND ($2::int IS NULL OR v.version = $2)
             ORDER BY v.version DESC LIMIT 1",
        )
        .bind(subject)
        .bind(number)
        .fetch_optional(&self.pool)
        .await?)
    }
}
