//! Subjects and their versions: normalizing submitted schemas, registering them in the subject's
//! mode, finding versions (the latest through the cache), deleting.

use super::registrations::Job;
use super::{Registry, ServiceError};
use crate::compatibility::CompatibilityLevel;
use crate::schema::{self, Normalized, Reference};
use crate::store::{Registered, SubjectVersion, VersionSel};

/// Schema text as a client submitted it, with the references it names.
#[derive(Debug, Clone, Copy)]
pub struct Submitted<'a> {
    /// `None` means AVRO, as in Confluent's API.
    pub schema_type: Option<&'a str>,
    pub text: &'a str,
    pub references: &'a [Reference],
}

/// A version selector with the caller's own spelling of it (`latest`, `-1`, `3`), which error
/// messages repeat.
#[derive(Debug, Clone, Copy)]
pub struct AskedVersion<'a> {
    pub sel: VersionSel,
    pub named: &'a str,
}

fn read_only(subject: &str) -> ServiceError {
    ServiceError::NotPermitted(format!("Subject '{subject}' is in read-only mode"))
}

impl Registry {
    /// Parses and normalizes a submitted schema, resolving its references through the store.
    pub async fn normalize(&self, new: Submitted<'_>) -> Result<Normalized, ServiceError> {
        let referenced = self
            .store
            .referenced_texts(new.references)
            .await?
            .ok_or(ServiceError::MissingReference)?;
        Ok(schema::normalize(
            new.schema_type,
            new.text,
            new.references.to_vec(),
            &referenced,
        )?)
    }

    /// Registers `new` under `subject` as `actor`, in the subject's mode: refused in READONLY; in
    /// IMPORT with the given `(id, version)` and no compatibility check; elsewhere, where giving an
    /// id or version is refused, checked at the subject's level.
    pub async fn register(
        &self,
        subject: &str,
        new: Submitted<'_>,
        import_ids: (Option<i32>, Option<i32>),
        actor: &str,
    ) -> Result<Registered, ServiceError> {
        let (level, mode) = self.effective(subject).await?;
        let import = match mode.as_str() {
            "READONLY" => return Err(read_only(subject)),
            "IMPORT" => Some(import_ids),
            _ if import_ids.0.is_some() || import_ids.1.is_some() => {
                return Err(ServiceError::NotPermitted(
                    "A schema id or version can only be given in IMPORT mode".into(),
                ));
            }
            _ => None,
        };
        let normalized = self.normalize(new).await?;
        // IMPORT keeps what another registry decided: no compatibility check.
        let level = if import.is_some() {
            CompatibilityLevel::None
        } else {
            level
        };
        let job = Job {
            schema: normalized,
            import,
            level,
            actor: actor.to_string(),
        };
        let registered = self
            .registrations
            .register(&self.store, &self.caches, subject, job)
            .await?;
        self.caches.invalidate(subject);
        if registered.created {
            tracing::info!(%subject, id = registered.id, version = registered.version, actor, "schema registered");
        }
        Ok(registered)
    }

    /// The version of `subject` whose schema is `new`.
    pub async fn lookup(
        &self,
        subject: &str,
        new: Submitted<'_>,
        include_deleted: bool,
    ) -> Result<SubjectVersion, ServiceError> {
        let normalized = self.normalize(new).await?;
        if let Some(v) = self
            .store
            .lookup(subject, &normalized.fingerprint, include_deleted)
            .await?
        {
            return Ok(v);
        }
        Err(self
            .missing(
                subject,
                include_deleted,
                ServiceError::SchemaNotFound("under this subject".into()),
            )
            .await)
    }

    /// The error for something not found under `subject`: subject not found when the subject itself
    /// is absent (or soft-deleted and deleted ones were not asked for), else `inside`.
    async fn missing(&self, subject: &str, include_deleted: bool, inside: ServiceError) -> ServiceError {
        match self.store.subject_deleted(subject).await {
            Err(e) => e.into(),
            Ok(None) => ServiceError::SubjectNotFound(subject.to_string()),
            Ok(Some(true)) if !include_deleted => ServiceError::SubjectNotFound(subject.to_string()),
            Ok(Some(_)) => inside,
        }
    }

    /// Finds a version, telling "no such subject" from "no such version". The live latest version
    /// comes from the cache when it can.
    pub async fn find_version(
        &self,
        subject: &str,
        version: AskedVersion<'_>,
        include_deleted: bool,
    ) -> Result<SubjectVersion, ServiceError> {
        let sel = version.sel;
        if sel == VersionSel::Latest && !include_deleted {
            if let Some(v) = self.caches.latest(subject) {
                return Ok((*v).clone());
            }
            let read_at = self.caches.generation();
            if let Some(v) = self.store.version(subject, sel, false).await? {
                return Ok((*self.caches.put_latest(v, read_at)).clone());
            }
        } else if let Some(v) = self.store.version(subject, sel, include_deleted).await? {
            return Ok(v);
        }
        let not_found = ServiceError::VersionNotFound {
            subject: subject.to_string(),
            version: version.named.to_string(),
        };
        Err(self.missing(subject, include_deleted, not_found).await)
    }

    /// Deletes `subject` (soft, or `permanent`), unless it is read-only; answers the versions deleted.
    pub async fn delete_subject(&self, subject: &str, permanent: bool, actor: &str) -> Result<Vec<i32>, ServiceError> {
        if self.effective(subject).await?.1 == "READONLY" {
            return Err(read_only(subject));
        }
        let deleted = self
            .store
            .delete_subject(subject, permanent, actor)
            .await
            .map_err(|source| ServiceError::Delete {
                source,
                subject: subject.to_string(),
                version: None,
            })?;
        self.caches.invalidate(subject);
        Ok(deleted)
    }

    /// Deletes one version of `subject` (soft, or `permanent`), unless it is read-only; answers the
    /// version deleted.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: AskedVersion<'_>,
        permanent: bool,
        actor: &str,
    ) -> Result<i32, ServiceError> {
        if self.effective(subject).await?.1 == "READONLY" {
            return Err(read_only(subject));
        }
        let deleted = self
            .store
            .delete_version(subject, version.sel, permanent, actor)
            .await
            .map_err(|source| ServiceError::Delete {
                source,
                subject: subject.to_string(),
                version: Some(version.named.to_string()),
            })?;
        self.caches.invalidate(subject);
        Ok(deleted)
    }
}
