//! `/subjects`: list, register, look up, read and delete subject versions.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::{ApiError, AppState, Q, asked_version, check_subject, ok, parse_body};
use crate::service::{Submitted, TextFormat};
use crate::store::SubjectVersion;
use murron_schema_types::schema::Reference;

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

impl SchemaRequest {
    /// The schema as the service takes it.
    pub(super) fn submitted(&self) -> Submitted<'_> {
        Submitted {
            schema_type: self.schema_type.as_deref(),
            text: &self.schema,
            references: &self.references,
        }
    }
}

/// A subject version as Confluent answers it, with its schema as `text`: `schemaType` only when it
/// is not AVRO, `references` only when there are some.
pub(super) fn version_json(v: &SubjectVersion, text: String) -> Value {
    let mut body = json!({ "subject": v.subject, "version": v.version, "id": v.id });
    super::schemas::put_schema(&mut body, v.schema_type, text, &v.references);
    body
}

pub(super) async fn list(State(s): State<AppState>, caller: Caller, Q(f): Q) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let all = s
        .registry
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
    let versions = s.registry.store.versions(&subject, f.deleted).await?;
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
    let registered = s
        .registry
        .register(&subject, req.submitted(), (req.id, req.version), caller.actor())
        .await?;
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
    let v = s.registry.lookup(&subject, req.submitted(), f.deleted).await?;
    let text = v.schema.clone();
    Ok(ok(version_json(&v, text)))
}

/// The text of a version's schema in the format asked for.
async fn text_in(s: &AppState, v: &SubjectVersion, format: TextFormat) -> Result<String, ApiError> {
    Ok(s.registry
        .text_in(format, v.id, v.schema_type, &v.schema, &v.references)
        .await?)
}

/// Finds a version named in a path.
async fn find_version(
    s: &AppState,
    subject: &str,
    raw: &str,
    include_deleted: bool,
) -> Result<SubjectVersion, ApiError> {
    let version = asked_version(raw)?;
    Ok(s.registry.find_version(subject, version, include_deleted).await?)
}

pub(super) async fn version(
    State(s): State<AppState>,
    caller: Caller,
    Path((subject, version)): Path<(String, String)>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let v = find_version(&s, &subject, &version, f.deleted).await?;
    let text = text_in(&s, &v, f.format()).await?;
    Ok(ok(version_json(&v, text)))
}

pub(super) async fn version_schema(
    State(s): State<AppState>,
    caller: Caller,
    Path((subject, version)): Path<(String, String)>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let v = find_version(&s, &subject, &version, f.deleted).await?;
    Ok(super::schemas::raw_schema(
        v.schema_type,
        text_in(&s, &v, f.format()).await?,
    ))
}

pub(super) async fn referenced_by(
    State(s): State<AppState>,
    caller: Caller,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let v = find_version(&s, &subject, &version, true).await?;
    Ok(ok(json!(s.registry.store.referenced_by(&subject, v.version).await?)))
}

pub(super) async fn delete_subject(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_write(&subject)?;
    let deleted = s.registry.delete_subject(&subject, f.permanent, caller.actor()).await?;
    Ok(ok(json!(deleted)))
}

pub(super) async fn delete_version(
    State(s): State<AppState>,
    caller: Caller,
    Path((subject, version)): Path<(String, String)>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_write(&subject)?;
    let version = asked_version(&version)?;
    let deleted = s
        .registry
        .delete_version(&subject, version, f.permanent, caller.actor())
        .await?;
    Ok(ok(json!(deleted)))
}
