//! What Murron adds to Confluent's registry: API tokens (who may change what) and subject metadata.
//!
//! A token is shown once, when it is made; only its SHA-256 is stored and compared. Roles: `admin`
//! may do anything; `owner` may change the subjects matching its patterns; `reader` may read.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{Registry, ServiceError};
use crate::store::Metadata;

/// SHA-256 of a token: what is stored and compared.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token: 256 bits, URL-safe base64, prefixed so leaked tokens are recognisable.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "mrn_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Checks a new token's name, role and subject patterns.
fn check_new_token(name: &str, role: &str, subjects: &[String]) -> Result<(), ServiceError> {
    let invalid = |m: String| Err(ServiceError::Invalid(m));
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return invalid("token names are 1 to 128 characters without control characters".into());
    }
    if let Some(bad) = subjects
        .iter()
        .find(|p| p.is_empty() || p.len() > 255 || p.chars().any(char::is_control))
    {
        return invalid(format!(
            "subject pattern {bad:?}: patterns are 1 to 255 characters without control characters"
        ));
    }
    match role {
        "admin" | "reader" if !subjects.is_empty() => invalid("only owner tokens take subject patterns".into()),
        "owner" if subjects.is_empty() => {
            invalid("an owner token needs at least one subject pattern, e.g. \"billing.*\"".into())
        }
        "admin" | "owner" | "reader" => Ok(()),
        other => invalid(format!("unknown role {other:?}: use admin, owner or reader")),
    }
}

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
        check_new_token(name, role, subjects)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("mrn_") && a.len() > 40);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
