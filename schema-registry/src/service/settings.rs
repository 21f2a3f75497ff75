//! Compatibility levels and modes, globally and per subject, and which of them apply to a subject.

use super::{GLOBAL, Registry, ServiceError};
use murron_schema_types::compatibility::CompatibilityLevel;

// The constants and helpers are associated items, not free ones: a free item here that the methods
// used would make `service` and `service::settings` import each other.
impl Registry {
    /// The modes a subject or the registry can be in.
    const MODES: &[&str] = &["READWRITE", "READONLY", "IMPORT"];
    /// The mode when none is set.
    const DEFAULT_MODE: &str = "READWRITE";

    fn default_level() -> String {
        CompatibilityLevel::default().as_str().to_string()
    }

    /// The compatibility level and mode that apply to `subject`: its own, else the global ones, else
    /// BACKWARD and READWRITE.
    pub async fn effective(&self, subject: &str) -> Result<(CompatibilityLevel, String), ServiceError> {
        let (level, mode) = self.store.effective_settings(subject).await?;
        let level = level.as_deref().and_then(CompatibilityLevel::parse).unwrap_or_default();
        Ok((level, mode.unwrap_or_else(|| Self::DEFAULT_MODE.into())))
    }

    /// The global compatibility level.
    pub async fn global_compatibility(&self) -> Result<String, ServiceError> {
        Ok(self.store.settings(GLOBAL).await?.0.unwrap_or_else(Self::default_level))
    }

    /// The level set on `subject`, else the global one if `default_to_global`.
    pub async fn subject_compatibility(&self, subject: &str, default_to_global: bool) -> Result<String, ServiceError> {
        match self.store.settings(subject).await?.0 {
            Some(level) => Ok(level),
            None if default_to_global => self.global_compatibility().await,
            None => Err(ServiceError::NoSubjectCompatibility(subject.to_string())),
        }
    }

    /// Sets the level of `scope` ([`GLOBAL`] or a subject) from its Confluent name.
    pub async fn set_compatibility(
        &self,
        scope: &str,
        level: &str,
        actor: &str,
    ) -> Result<CompatibilityLevel, ServiceError> {
        let parsed =
            CompatibilityLevel::parse(level).ok_or_else(|| ServiceError::InvalidCompatibility(level.to_string()))?;
        self.store
            .set_compatibility(scope, Some(parsed.as_str()), actor)
            .await?;
        Ok(parsed)
    }

    /// Unsets the level of `scope`; answers the level it had (the default if none). A subject
    /// without a level of its own is "not found".
    pub async fn unset_compatibility(&self, scope: &str, actor: &str) -> Result<String, ServiceError> {
        if scope != GLOBAL && self.store.settings(scope).await?.0.is_none() {
            return Err(ServiceError::SubjectNotFound(scope.to_string()));
        }
        let previous = self.store.set_compatibility(scope, None, actor).await?;
        Ok(previous.unwrap_or_else(Self::default_level))
    }

    /// The global mode.
    pub async fn global_mode(&self) -> Result<String, ServiceError> {
        Ok(self
            .store
            .settings(GLOBAL)
            .await?
            .1
            .unwrap_or_else(|| Self::DEFAULT_MODE.into()))
    }

    /// The mode set on `subject`, else the global one if `default_to_global`.
    pub async fn subject_mode(&self, subject: &str, default_to_global: bool) -> Result<String, ServiceError> {
        match self.store.settings(subject).await?.1 {
            Some(mode) => Ok(mode),
            None if default_to_global => self.global_mode().await,
            None => Err(ServiceError::NoSubjectMode(subject.to_string())),
        }
    }

    /// Sets the mode of `scope` ([`GLOBAL`] or a subject), named in any case; answers it uppercase.
    pub async fn set_mode(&self, scope: &str, mode: &str, force: bool, actor: &str) -> Result<String, ServiceError> {
        let upper = mode.to_ascii_uppercase();
        if !Self::MODES.contains(&upper.as_str()) {
            return Err(ServiceError::InvalidMode(mode.to_string()));
        }
        // IMPORT keeps ids from another registry: it may only start where no schema could collide.
        if upper == "IMPORT" && !force && self.store.has_versions((!scope.is_empty()).then_some(scope)).await? {
            return Err(ServiceError::NotPermitted(
                "Cannot import since found existing subjects; set force=true to switch to IMPORT mode anyway".into(),
            ));
        }
        self.store.set_mode(scope, Some(&upper), actor).await?;
        Ok(upper)
    }

    /// Unsets the mode of `scope`; answers the mode it had (READWRITE if none). A subject without a
    /// mode of its own is "not found".
    pub async fn unset_mode(&self, scope: &str, actor: &str) -> Result<String, ServiceError> {
        if scope != GLOBAL && self.store.settings(scope).await?.1.is_none() {
            return Err(ServiceError::SubjectNotFound(scope.to_string()));
        }
        let previous = self.store.set_mode(scope, None, actor).await?;
        Ok(previous.unwrap_or_else(|| Self::DEFAULT_MODE.into()))
    }
}
