//! `/murron`: what Murron adds to Confluent's API: tokens, subject metadata, the audit log.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::error::json_response;
use super::{ApiError, AppState, check_subject, ok, parse_body};
use crate::store::Metadata;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: String,
    #[serde(default)]
    subjects: Vec<String>,
}

pub(super) async fn create_token(State(s): State<AppState>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let req: NewToken = parse_body(&body)?;
    let token = s
        .registry
        .create_token(&req.name, &req.role, &req.subjects, caller.actor())
        .await?;
    // The only time the token is shown.
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "name": req.name, "role": req.role, "subjects": req.subjects, "token": token }),
    ))
}

pub(super) async fn list_tokens(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_admin()?;
    Ok(ok(json!(s.registry.store.tokens().await?)))
}

pub(super) async fn revoke_token(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    s.registry.revoke_token(&name, caller.actor()).await?;
    Ok(ok(json!({ "revoked": name })))
}

pub(super) async fn get_metadata(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let m = s.registry.metadata(&subject).await?;
    Ok(ok(
        json!({ "subject": subject, "owner_team": m.owner_team, "description": m.description, "classification": m.classification }),
    ))
}

pub(super) async fn put_metadata(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_subject(&subject)?;
    caller.require_write(&subject)?;
    let m: Metadata = parse_body(&body)?;
    s.registry.set_metadata(&subject, &m, caller.actor()).await?;
    Ok(ok(
        json!({ "subject": subject, "owner_team": m.owner_team, "description": m.description, "classification": m.classification }),
    ))
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    subject: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

pub(super) async fn audit(
    State(s): State<AppState>,
    caller: Caller,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let q = query
        .map_err(|e| ApiError::unprocessable(format!("Invalid query parameters: {}", e.body_text())))?
        .0;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(ok(json!(
        s.registry
            .store
            .audit_log(q.subject.as_deref(), q.before, limit)
            .await?
    )))
}

pub(super) async fn whoami(caller: Caller) -> Response {
    let role = match &caller {
        Caller::Unchecked => "unchecked",
        Caller::Anonymous => "anonymous",
        Caller::Admin { .. } => "admin",
        Caller::Owner { .. } => "owner",
        Caller::Reader { .. } => "reader",
    };
    let subjects = match &caller {
        Caller::Owner { patterns, .. } => patterns.clone(),
        _ => Vec::new(),
    };
    ok(json!({ "name": caller.actor(), "role": role, "subjects": subjects }))
}
