//! Storage for what Murron adds to Confluent's API: subject metadata, API tokens and the audit log.
//! The types it reads and writes are defined in [`super`], so this module is only `Store`'s queries.

use serde_json::json;
use sqlx::Row;

use super::{AuditEntry, Metadata, Store, StoreError, TokenRow, audit, token_row};

impl Store {
    /// The metadata of `subject`, if any was set.
    pub async fn metadata(&self, subject: &str) -> Result<Option<Metadata>, StoreError> {
        let row =
            sqlx::query("SELECT owner_team, description, classification FROM subject_metadata WHERE subject = $1")
                .bind(subject)
                .fetch_optional(self.pool())
                .await?;
        Ok(row
            .map(|r| -> Result<_, sqlx::Error> {
                let classification: serde_json::Value = r.try_get("classification")?;
                Ok(Metadata {
                    owner_team: r.try_get("owner_team")?,
                    description: r.try_get("description")?,
                    classification: classification.as_object().cloned().unwrap_or_default(),
                })
            })
            .transpose()?)
    }

    /// Replaces the metadata of `subject`.
    pub async fn set_metadata(&self, subject: &str, m: &Metadata, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO subject_metadata (subject, owner_team, description, classification) VALUES ($1, $2, $3, $4)
             ON CONFLICT (subject) DO UPDATE SET owner_team = $2, description = $3, classification = $4, updated_at = now()",
        )
        .bind(subject)
        .bind(&m.owner_team)
        .bind(&m.description)
        .bind(serde_json::Value::Object(m.classification.clone()))
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, actor, "set_metadata", Some(subject), json!(m)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new token by its hash; false when the name is taken.
    pub async fn create_token(
        &self,
        name: &str,
        hash: &[u8; 32],
        role: &str,
        patterns: &[String],
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, role, subject_patterns, created_by) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&hash[..])
        .bind(role)
        .bind(patterns)
        .bind(actor)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            audit(
                &mut tx,
                actor,
                "create_token",
                None,
                json!({ "name": name, "role": role, "subjects": patterns }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Revokes a token; false when there is no live token of that name.
    pub async fn revoke_token(&self, name: &str, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let revoked = sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if revoked {
            audit(&mut tx, actor, "revoke_token", None, json!({ "name": name })).await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, role, subject_patterns, created_by, revoked_at IS NOT NULL AS revoked
             FROM api_tokens ORDER BY created_at DESC, name",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(token_row).collect::<Result<_, sqlx::Error>>()?)
    }

    /// The live token with this hash.
    pub async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRow>, StoreError> {
        let row = sqlx::query(
            "SELECT name, role, subject_patterns, created_by, false AS revoked
             FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(&hash[..])
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(token_row).transpose()?)
    }

    /// Audit records, newest first: of one subject if given, older than `before_id` if given.
    pub async fn audit_log(
        &self,
        subject: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS at, actor, action, subject, details
             FROM audit_log WHERE ($1::text IS NULL OR subject = $1) AND ($2::bigint IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(subject)
        .bind(before_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    details: r.try_get("details")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }
}
