//! `/config` and `/mode`: compatibility levels and modes, globally and per subject.
//! Note Confluent's asymmetry: PUT takes `compatibility`, GET answers `compatibilityLevel`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState, Caller, Q, check_subject, ok, parse_body};
use crate::compatibility::CompatibilityLevel;

const MODES: &[&str] = &["READWRITE", "READONLY", "IMPORT"];
const GLOBAL: &str = "";

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: String,
}

#[derive(Deserialize)]
struct ModeBody {
    mode: String,
}

fn default_level() -> String {
    CompatibilityLevel::default().as_str().to_string()
}

pub(super) async fn get_global_config(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let level = s.store.settings(GLOBAL).await?.0.unwrap_or_else(default_level);
    Ok(ok(json!({ "compatibilityLevel": level })))
}

pub(super) async fn get_config(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    match s.store.settings(&subject).await?.0 {
        Some(level) => Ok(ok(json!({ "compatibilityLevel": level }))),
        None if f.default_to_global => get_global_config(State(s), caller).await,
        None => Err(ApiError::no_subject_compatibility(&subject)),
    }
}

async fn put_level(s: &AppState, caller: &Caller, scope: &str, body: &Bytes) -> Result<Response, ApiError> {
    let req: ConfigBody = parse_body(body)?;
    let level = CompatibilityLevel::parse(&req.compatibility)
        .ok_or_else(|| ApiError::invalid_compatibility(&req.compatibility))?;
    s.store
        .set_compatibility(scope, Some(level.as_str()), caller.actor())
        .await?;
    Ok(ok(json!({ "compatibility": level.as_str() })))
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
    let previous = s.store.set_compatibility(GLOBAL, None, caller.actor()).await?;
    Ok(ok(
        json!({ "compatibilityLevel": previous.unwrap_or_else(default_level) }),
    ))
}

pub(super) async fn delete_config(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_write(&subject)?;
    // Confluent answers 40401 here (40408 is for GET).
    if s.store.settings(&subject).await?.0.is_none() {
        return Err(ApiError::subject_not_found(&subject));
    }
    let previous = s.store.set_compatibility(&subject, None, caller.actor()).await?;
    Ok(ok(
        json!({ "compatibilityLevel": previous.unwrap_or_else(default_level) }),
    ))
}

pub(super) async fn get_global_mode(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let mode = s.store.settings(GLOBAL).await?.1.unwrap_or_else(|| "READWRITE".into());
    Ok(ok(json!({ "mode": mode })))
}

pub(super) async fn get_mode(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    match s.store.settings(&subject).await?.1 {
        Some(mode) => Ok(ok(json!({ "mode": mode }))),
        None if f.default_to_global => get_global_mode(State(s), caller).await,
        None => Err(ApiError::no_subject_mode(&subject)),
    }
}

async fn put_mode_at(
    s: &AppState,
    caller: &Caller,
    scope: &str,
    body: &Bytes,
    force: bool,
) -> Result<Response, ApiError> {
    let req: ModeBody = parse_body(body)?;
    let mode = req.mode.to_ascii_uppercase();
    if !MODES.contains(&mode.as_str()) {
        return Err(ApiError::invalid_mode(&req.mode));
    }
    // IMPORT keeps ids from another registry: it may only start where no schema could collide.
    if mode == "IMPORT" && !force && s.store.has_versions((!scope.is_empty()).then_some(scope)).await? {
        return Err(ApiError::not_permitted(
            "Cannot import since found existing subjects; set force=true to switch to IMPORT mode anyway",
        ));
    }
    s.store.set_mode(scope, Some(&mode), caller.actor()).await?;
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
    let previous = s.store.set_mode(GLOBAL, None, caller.actor()).await?;
    Ok(ok(json!({ "mode": previous.unwrap_or_else(|| "READWRITE".into()) })))
}

pub(super) async fn delete_mode(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_write(&subject)?;
    // Confluent answers 40401 here (40409 is for GET).
    if s.store.settings(&subject).await?.1.is_none() {
        return Err(ApiError::subject_not_found(&subject));
    }
    let previous = s.store.set_mode(&subject, None, caller.actor()).await?;
    Ok(ok(json!({ "mode": previous.unwrap_or_else(|| "READWRITE".into()) })))
}
