//! `/subjects`: list, register, look up, read and delete subject versions.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, Caller, Q, check_subject, ok, parse_body, parse_version};
use crate::compatibility;
use crate::registrations::Job;
use crate::schema::{self, Reference};
use crate::store::{SubjectVersion, VersionSel};

/// The body of a registration or lookup, as Confluent clients send it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SchemaRequest {
    pub schema: String,
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Vec<Reference>,
    /// IMPORT mode only.
    pub id: Option<i32>,
    /// IMPORT mode only.
    pub version: Option<i32>,
}

/// Parses and normalizes a request's schema, resolving its references through the store.
pub(super) async fn normalize(s: &AppState, req: &SchemaRequest) -> Result<schema::Normalized, ApiError> {
    let referenced =
        s.store.referenced_texts(&req.references).await?.ok_or_else(|| {
            ApiError::invalid_schema("A schema reference names a subject version that does not exist")
        })?;
    Ok(schema::normalize(
        req.schema_type.as_deref(),
        &req.schema,
        req.references.clone(),
        &referenced,
    )?)
}

/// A subject version as Confluent answers it: `references` only when there are some.
pub(super) fn version_json(v: &SubjectVersion) -> Value {
    let mut body = json!({ "subject": v.subject, "version": v.version, "id": v.id, "schema": v.schema });
    if !v.references.is_empty() {
        body["references"] = json!(v.references);
    }
    body
}

pub(super) async fn list(State(s): State<AppState>, caller: Caller, Q(f): Q) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let all = s
        .store
        .subjects(f.subject_prefix.as_deref().unwrap_or(""), f.deleted, f.deleted_only)
        .await?;
    let start = match f.offset {
        Some(n) if n < 0 => return Err(ApiError::unprocessable("offset must be 0 or more")),
        n => usize::try_from(n.unwrap_or(0)).unwrap_or(usize::MAX).min(all.len()),
    };
    let end = match f.limit {
        Some(limit) if limit >= 0 => start.saturating_add(limit as usize).min(all.len()),
        _ => all.len(),
    };
    Ok(ok(json!(all[start..end])))
}

pub(super) async fn versions(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let versions = s.store.versions(&subject, f.deleted).await?;
    if versions.is_empty() {
        return Err(ApiError::subject_not_found(&subject));
    }
    Ok(ok(json!(versions)))
}

pub(super) async fn register(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    // Only checked: `normalize` must be a boolean if given.
    Q(_): Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_subject(&subject)?;
    caller.require_write(&subject)?;
    let req: SchemaRequest = parse_body(&body)?;
    let (level, mode) = s.effective(&subject).await?;
    let import = match mode.as_str() {
        "READONLY" => {
            return Err(ApiError::not_permitted(format!(
                "Subject '{subject}' is in read-only mode"
            )));
        }
        "IMPORT" => Some((req.id, req.version)),
        _ if req.id.is_some() || req.version.is_some() => {
            return Err(ApiError::not_permitted(
                "A schema id or version can only be given in IMPORT mode",
            ));
        }
        _ => None,
    };
    let normalized = normalize(&s, &req).await?;
    // IMPORT keeps what another registry decided: no compatibility check.
    let level = if import.is_some() {
        compatibility::CompatibilityLevel::None
    } else {
        level
    };
    let job = Job {
        schema: normalized,
        import,
        level,
        actor: caller.actor().to_string(),
    };
    let registered = s.registrations.register(&s.store, &s.caches, &subject, job).await?;
    s.caches.invalidate(&subject);
    if registered.created {
        tracing::info!(%subject, id = registered.id, version = registered.version, actor = caller.actor(), "schema registered");
    }
    Ok(ok(json!({ "id": registered.id })))
}

pub(super) async fn lookup(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let req: SchemaRequest = parse_body(&body)?;
    let normalized = normalize(&s, &req).await?;
    if let Some(v) = s.store.lookup(&subject, &normalized.fingerprint, f.deleted).await? {
        return Ok(ok(version_json(&v)));
    }
    Err(missing(
        &s,
        &subject,
        f.deleted,
        ApiError::schema_not_found("under this subject"),
    )
    .await)
}

/// The error for something not found under `subject`: 40401 when the subject itself is absent (or
/// soft-deleted and deleted ones were not asked for), else `inside`.
async fn missing(s: &AppState, subject: &str, include_deleted: bool, inside: ApiError) -> ApiError {
    match s.store.subject_deleted(subject).await {
        Err(e) => e.into(),
        Ok(None) => ApiError::subject_not_found(subject),
        Ok(Some(true)) if !include_deleted => ApiError::subject_not_found(subject),
        Ok(Some(_)) => inside,
    }
}

/// Finds a version, telling "no such subject" from "no such version".
pub(super) async fn find_version(
    s: &AppState,
    subject: &str,
    raw: &str,
    include_deleted: bool,
) -> Result<SubjectVersion, ApiError> {
    let sel = parse_version(raw)?;
    if sel == VersionSel::Latest && !include_deleted {
        if let Some(v) = s.caches.latest(subject) {
            return Ok((*v).clone());
        }
        let read_at = s.caches.generation();
        if let Some(v) = s.store.version(subject, sel, false).await? {
            return Ok((*s.caches.put_latest(v, read_at)).clone());
        }
    } else if let Some(v) = s.store.version(subject, sel, include_deleted).await? {
        return Ok(v);
    }
    Err(missing(s, subject, include_deleted, ApiError::version_not_found(subject, raw)).await)
}

pub(super) async fn version(
    State(s): State<AppState>,
    caller: Caller,
    Path((subject, version)): Path<(String, String)>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    Ok(ok(version_json(
        &find_version(&s, &subject, &version, f.deleted).await?,
    )))
}

pub(super) async fn version_schema(
    State(s): State<AppState>,
    caller: Caller,
    Path((subject, version)): Path<(String, String)>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    Ok(super::schemas::raw_schema(
        find_version(&s, &subject, &version, f.deleted).await?.schema,
    ))
}

pub(super) async fn referenced_by(
    State(s): State<AppState>,
    caller: Caller,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let v = find_version(&s, &subject, &version, true).await?;
    Ok(ok(json!(s.store.referenced_by(&subject, v.version).await?)))
}

pub(super) async fn delete_subject(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_write(&subject)?;
    if s.effective(&subject).await?.1 == "READONLY" {
        return Err(ApiError::not_permitted(format!(
            "Subject '{subject}' is in read-only mode"
        )));
    }
    let deleted = s
        .store
        .delete_subject(&subject, f.permanent, caller.actor())
        .await
        .map_err(|e| super::error::delete_error(e, &subject, None))?;
    s.caches.invalidate(&subject);
    Ok(ok(json!(deleted)))
}

pub(super) async fn delete_version(
    State(s): State<AppState>,
    caller: Caller,
    Path((subject, version)): Path<(String, String)>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_write(&subject)?;
    let sel = parse_version(&version)?;
    if s.effective(&subject).await?.1 == "READONLY" {
        return Err(ApiError::not_permitted(format!(
            "Subject '{subject}' is in read-only mode"
        )));
    }
    let deleted = s
        .store
        .delete_version(&subject, sel, f.permanent, caller.actor())
        .await
        .map_err(|e| super::error::delete_error(e, &subject, Some(&version)))?;
    s.caches.invalidate(&subject);
    Ok(ok(json!(deleted)))
}
