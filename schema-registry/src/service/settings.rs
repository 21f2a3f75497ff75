//! Compatibility levels, policies and modes, globally and per subject, and which of them apply to a
//! subject.

use super::{Effective, GLOBAL, Registry, ServiceError};
use murron_schema_types::compatibility::{CompatibilityLevel, CompatibilityPolicy};

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

    /// The settings that apply to `subject`: its own, else the global ones, else BACKWARD, STRICT
    /// and READWRITE.
    pub async fn effective(&self, subject: &str) -> Result<Effective, ServiceError> {
        let set = self.store.effective_settings(subject).await?;
        Ok(Effective {
            level: set
                .compatibility
                .as_deref()
                .and_then(CompatibilityLevel::parse)
                .unwrap_or_default(),
            policy: set
                .policy
                .as_deref()
                .and_then(CompatibilityPolicy::parse)
                .unwrap_or_default(),
            mode: set.mode.unwrap_or_else(|| Self::DEFAULT_MODE.into()),
        })
    }

    /// The global compatibility level and the global policy, if one is set.
    pub async fn global_compatibility(&self) -> Result<(String, Option<String>), ServiceError> {
        let set = self.store.settings(GLOBAL).await?;
        Ok((set.compatibility.unwrap_or_else(Self::default_level), set.policy))
    }

    /// The level and policy set on `subject`, each else the global one if `default_to_global` (the
    /// level then always has a value). A subject with neither of its own and no default asked for
    /// has no subject-level compatibility.
    pub async fn subject_compatibility(
        &self,
        subject: &str,
        default_to_global: bool,
    ) -> Result<(Option<String>, Option<String>), ServiceError> {
        let set = self.store.settings(subject).await?;
        if default_to_global {
            let (global_level, global_policy) = self.global_compatibility().await?;
            return Ok((
                Some(set.compatibility.unwrap_or(global_level)),
                set.policy.or(global_policy),
            ));
        }
        if set.compatibility.is_none() && set.policy.is_none() {
            return Err(ServiceError::NoSubjectCompatibility(subject.to_string()));
        }
        Ok((set.compatibility, set.policy))
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

    /// Sets the compatibility policy of `scope` ([`GLOBAL`] or a subject), named in any case.
    pub async fn set_policy(
        &self,
        scope: &str,
        policy: &str,
        actor: &str,
    ) -> Result<CompatibilityPolicy, ServiceError> {
        let parsed =
            CompatibilityPolicy::parse(policy).ok_or_else(|| ServiceError::InvalidPolicy(policy.to_string()))?;
        self.store.set_policy(scope, Some(parsed.as_str()), actor).await?;
        Ok(parsed)
    }

    /// Unsets the level and policy of `scope`; answers the level it had (the default if none). A
    /// subject with neither of its own is "not found".
    pub async fn unset_compatibility(&self, scope: &str, actor: &str) -> Result<String, ServiceError> {
        let set = self.store.settings(scope).await?;
        if scope != GLOBAL && set.compatibility.is_none() && set.policy.is_none() {
            return Err(ServiceError::SubjectNotFound(scope.to_string()));
        }
        if set.policy.is_some() {
            self.store.set_policy(scope, None, actor).await?;
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
            .mode
            .unwrap_or_else(|| Self::DEFAULT_MODE.into()))
    }

    /// The mode set on `subject`, else the global one if `default_to_global`.
    pub async fn subject_mode(&self, subject: &str, default_to_global: bool) -> Result<String, ServiceError> {
        match self.store.settings(subject).await?.mode {
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
        if scope != GLOBAL && self.store.settings(scope).await?.mode.is_none() {
            return Err(ServiceError::SubjectNotFound(scope.to_string()));
        }
        let previous = self.store.set_mode(scope, None, actor).await?;
        Ok(previous.unwrap_or_else(|| Self::DEFAULT_MODE.into()))
    }
}
