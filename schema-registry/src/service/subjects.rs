//! Subjects and their versions: normalizing submitted schemas, registering them in the subject's
//! mode, finding versions (the latest through the cache), deleting, and the dry runs behind
//! `/compatibility`.

use super::compat::check_against;
use super::registrations::Job;
use super::{AskedVersion, Registry, ServiceError, Submitted};
use crate::store::{LiveVersion, Registered, StoredText, SubjectVersion, VersionSel};
use murron_schema_types::compatibility::CompatibilityLevel;
use murron_schema_types::schema::{self, Normalized};

impl Registry {
    /// Parses and normalizes a submitted schema, resolving its references through the store.
    pub async fn normalize(&self, new: Submitted<'_>) -> Result<Normalized, ServiceError> {
        let referenced = self
            .store
            .referenced(new.references)
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
        let settings = self.effective(subject).await?;
        let import = match settings.mode.as_str() {
            "READONLY" => return Err(ServiceError::read_only(subject)),
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
            settings.level
        };
        let job = Job {
            schema: normalized,
            import,
            level,
            policy: settings.policy,
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
        if self.effective(subject).await?.mode == "READONLY" {
            return Err(ServiceError::read_only(subject));
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
        if self.effective(subject).await?.mode == "READONLY" {
            return Err(ServiceError::read_only(subject));
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

    /// Would `new` be accepted under `subject` now? The inner `Err` holds the reasons it would not.
    pub async fn check_against_live(
        &self,
        subject: &str,
        new: Submitted<'_>,
    ) -> Result<Result<(), Vec<String>>, ServiceError> {
        let new = self.normalize(new).await?;
        let settings = self.effective(subject).await?;
        let live = self
            .store
            .live_versions(subject, |id| self.caches.is_parsed(id))
            .await?;
        Ok(check_against(
            &self.caches,
            subject,
            (settings.level, settings.policy),
            &new.schema,
            &live,
        ))
    }

    /// Would `new` be accepted under `subject` if `version` were its only live version? The inner
    /// `Err` holds the reasons it would not.
    pub async fn check_against_version(
        &self,
        subject: &str,
        version: AskedVersion<'_>,
        new: Submitted<'_>,
    ) -> Result<Result<(), Vec<String>>, ServiceError> {
        let target = self.find_version(subject, version, false).await?;
        let new = self.normalize(new).await?;
        let settings = self.effective(subject).await?;
        let referenced = self.store.referenced(&target.references).await?.unwrap_or_default();
        let text = StoredText {
            schema_type: target.schema_type,
            schema: target.schema,
            referenced,
        };
        let live = [LiveVersion {
            version: target.version,
            id: target.id,
            text: Some(text),
        }];
        Ok(check_against(
            &self.caches,
            subject,
            (settings.level, settings.policy),
            &new.schema,
            &live,
        ))
    }
}
