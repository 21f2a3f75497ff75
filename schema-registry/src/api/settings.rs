//! `/config` and `/mode`: compatibility levels, policies and modes, globally and per subject.
//! Note Confluent's asymmetry: PUT takes `compatibility`, GET answers `compatibilityLevel`; both
//! spell the policy `compatibilityPolicy`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::{ApiError, AppState, Q, check_subject, ok, parse_body};
use crate::service::GLOBAL;
use murron_schema_types::compatibility::{CompatibilityLevel, CompatibilityPolicy};

/// Either field may come alone, as in Confluent's config update.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigBody {
    compatibility: Option<String>,
    compatibility_policy: Option<String>,
}

/// A config answer: what is set, as Confluent leaves unset fields out.
fn config_json(level: Option<String>, policy: Option<String>) -> serde_json::Value {
    let mut body = json!({});
    if let Some(level) = level {
        body["compatibilityLevel"] = json!(level);
    }
    if let Some(policy) = policy {
        body["compatibilityPolicy"] = json!(policy);
    }
    body
}

#[derive(Deserialize)]
struct ModeBody {
    mode: String,
}

pub(super) async fn get_global_config(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let (level, policy) = s.registry.global_compatibility().await?;
    Ok(ok(config_json(Some(level), policy)))
}

pub(super) async fn get_config(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let (level, policy) = s.registry.subject_compatibility(&subject, f.default_to_global).await?;
    Ok(ok(config_json(level, policy)))
}

async fn put_level(s: &AppState, caller: &Caller, scope: &str, body: &Bytes) -> Result<Response, ApiError> {
    let req: ConfigBody = parse_body(body)?;
    if req.compatibility.is_none() && req.compatibility_policy.is_none() {
        return Err(ApiError::unprocessable(
            "Invalid request body: give compatibility, compatibilityPolicy or both",
        ));
    }
    // Both are checked before either is set, so a bad value changes nothing.
    let level = req.compatibility.as_deref().map(CompatibilityLevel::parse);
    if let (Some(None), Some(named)) = (level, &req.compatibility) {
        return Err(ApiError::invalid_compatibility(named));
    }
    let policy = req.compatibility_policy.as_deref().map(CompatibilityPolicy::parse);
    if let (Some(None), Some(named)) = (policy, &req.compatibility_policy) {
        return Err(ApiError::invalid_policy(named));
    }
    let mut answer = json!({});
    if let Some(named) = &req.compatibility {
        let level = s.registry.set_compatibility(scope, named, caller.actor()).await?;
        answer["compatibility"] = json!(level.as_str());
    }
    if let Some(named) = &req.compatibility_policy {
        let policy = s.registry.set_policy(scope, named, caller.actor()).await?;
        answer["compatibilityPolicy"] = json!(policy.as_str());
    }
    Ok(ok(answer))
}

pub(super) async fn put_global_config(
    State(s): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    put_level(&s, &caller, GLOBAL, &body).await
}

pub(super) async fn put_config(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_subject(&subject)?;
    caller.require_write(&subject)?;
    put_level(&s, &caller, &subject, &body).await
}

pub(super) async fn delete_global_config(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let previous = s.registry.unset_compatibility(GLOBAL, caller.actor()).await?;
    Ok(ok(json!({ "compatibilityLevel": previous })))
}

pub(super) async fn delete_config(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_write(&subject)?;
    // Confluent answers 40401 here (40408 is for GET).
    let previous = s.registry.unset_compatibility(&subject, caller.actor()).await?;
    Ok(ok(json!({ "compatibilityLevel": previous })))
}

pub(super) async fn get_global_mode(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let mode = s.registry.global_mode().await?;
    Ok(ok(json!({ "mode": mode })))
}

pub(super) async fn get_mode(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let mode = s.registry.subject_mode(&subject, f.default_to_global).await?;
    Ok(ok(json!({ "mode": mode })))
}

async fn put_mode_at(
    s: &AppState,
    caller: &Caller,
    scope: &str,
    body: &Bytes,
    force: bool,
) -> Result<Response, ApiError> {
    let req: ModeBody = parse_body(body)?;
    let mode = s.registry.set_mode(scope, &req.mode, force, caller.actor()).await?;
    Ok(ok(json!({ "mode": mode })))
}

pub(super) async fn put_global_mode(
    State(s): State<AppState>,
    caller: Caller,
    Q(f): Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    put_mode_at(&s, &caller, GLOBAL, &body, f.force).await
}

pub(super) async fn put_mode(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_subject(&subject)?;
    caller.require_write(&subject)?;
    put_mode_at(&s, &caller, &subject, &body, f.force).await
}

pub(super) async fn delete_global_mode(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let previous = s.registry.unset_mode(GLOBAL, caller.actor()).await?;
    Ok(ok(json!({ "mode": previous })))
}

pub(super) async fn delete_mode(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_write(&subject)?;
    // Confluent answers 40401 here (40409 is for GET).
    let previous = s.registry.unset_mode(&subject, caller.actor()).await?;
    Ok(ok(json!({ "mode": previous })))
}
