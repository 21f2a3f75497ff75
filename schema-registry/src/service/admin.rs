//! What Murron adds to Confluent's registry: API tokens (who may change what) and subject metadata.

use super::tokens::{check_new_token, new_token, token_hash};
use super::{Registry, ServiceError};
use crate::store::Metadata;

impl Registry {
    /// Makes a token named `name` with `role` (and, for owners, the `subjects` patterns it owns);
    /// answers the token itself, which is never shown again.
    pub async fn create_token(
        &self,
        name: &str,
        role: &str,
        subjects: &[String],
        actor: &str,
    ) -> Result<String, ServiceError> {
        check_new_token(name, role, subjects).map_err(ServiceError::Invalid)?;
        let token = new_token().map_err(|e| {
            tracing::error!(error = %e, "no randomness for a token");
            ServiceError::NoRandomness
        })?;
        if !self
            .store
            .create_token(name, &token_hash(&token), role, subjects, actor)
            .await?
        {
            return Err(ServiceError::TokenExists(name.to_string()));
        }
        Ok(token)
    }

    /// Revokes the live token named `name`.
    pub async fn revoke_token(&self, name: &str, actor: &str) -> Result<(), ServiceError> {
        if !self.store.revoke_token(name, actor).await? {
            return Err(ServiceError::TokenNotFound(name.to_string()));
        }
        Ok(())
    }

    /// The metadata of an existing subject (empty if none was set).
    pub async fn metadata(&self, subject: &str) -> Result<Metadata, ServiceError> {
        if self.store.subject_deleted(subject).await?.is_none() {
            return Err(ServiceError::SubjectNotFound(subject.to_string()));
        }
        Ok(self.store.metadata(subject).await?.unwrap_or_default())
    }

    /// Sets the metadata of `subject`; its classification maps field names to strings.
    pub async fn set_metadata(&self, subject: &str, m: &Metadata, actor: &str) -> Result<(), ServiceError> {
        if m.classification.values().any(|v| !v.is_string()) {
            return Err(ServiceError::Invalid(
                "classification maps field names to strings, e.g. {\"user_id\": \"PII\"}".into(),
            ));
        }
        Ok(self.store.set_metadata(subject, m, actor).await?)
    }
}
