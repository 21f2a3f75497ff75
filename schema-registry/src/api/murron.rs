//! `/murron`: what Murron adds to Confluent's API: tokens, subject metadata, the audit log.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::error::json_response;
use super::{ApiError, AppState, Caller, check_subject, new_token, ok, parse_body, token_hash};
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
    if req.name.is_empty() || req.name.len() > 128 || req.name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "token names are 1 to 128 characters without control characters",
        ));
    }
    if let Some(bad) = req
        .subjects
        .iter()
        .find(|p| p.is_empty() || p.len() > 255 || p.chars().any(char::is_control))
    {
        return Err(ApiError::unprocessable(format!(
            "subject pattern {bad:?}: patterns are 1 to 255 characters without control characters"
        )));
    }
    match req.role.as_str() {
        "admin" | "reader" if !req.subjects.is_empty() => {
            return Err(ApiError::unprocessable("only owner tokens take subject patterns"));
        }
        "owner" if req.subjects.is_empty() => {
            return Err(ApiError::unprocessable(
                "an owner token needs at least one subject pattern, e.g. \"billing.*\"",
            ));
        }
        "admin" | "owner" | "reader" => {}
        other => {
            return Err(ApiError::unprocessable(format!(
                "unknown role {other:?}: use admin, owner or reader"
            )));
        }
    }
    let token = new_token().map_err(|e| {
        tracing::error!(error = %e, "no randomness for a token");
        ApiError::unprocessable("cannot generate a token now")
    })?;
    if !s
        .store
        .create_token(&req.name, &token_hash(&token), &req.role, &req.subjects, caller.actor())
        .await?
    {
        return Err(ApiError::conflict(format!(
            "a token named {:?} exists already",
            req.name
        )));
    }
    // The only time the token is shown.
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "name": req.name, "role": req.role, "subjects": req.subjects, "token": token }),
    ))
}

pub(super) async fn list_tokens(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_admin()?;
    Ok(ok(json!(s.store.tokens().await?)))
}

pub(super) async fn revoke_token(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    if !s.store.revoke_token(&name, caller.actor()).await? {
        return Err(ApiError::not_found(format!("no live token named {name:?}")));
    }
    Ok(ok(json!({ "revoked": name })))
}

pub(super) async fn get_metadata(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    if s.store.subject_deleted(&subject).await?.is_none() {
        return Err(ApiError::subject_not_found(&subject));
    }
    let m = s.store.metadata(&subject).await?.unwrap_or_default();
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
    if m.classification.values().any(|v| !v.is_string()) {
        return Err(ApiError::unprocessable(
            "classification maps field names to strings, e.g. {\"user_id\": \"PII\"}",
        ));
    }
    s.store.set_metadata(&subject, &m, caller.actor()).await?;
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
        s.store.audit_log(q.subject.as_deref(), q.before, limit).await?
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
