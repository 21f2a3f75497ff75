//! `/schemas`: schemas by their global id.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::auth::Caller;
use super::error::with_content_type;
use super::{ApiError, AppState, Q, ok};
use murron_schema_types::schema::SchemaType;

/// A schema served as its own JSON document.
pub(super) fn raw_schema(text: String) -> Response {
    with_content_type(StatusCode::OK, text)
}

pub(super) async fn by_id(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let schema = s.registry.schema(&id).await?;
    let mut body = json!({ "schema": schema.schema });
    if !schema.references.is_empty() {
        body["references"] = json!(schema.references);
    }
    Ok(ok(body))
}

pub(super) async fn raw_by_id(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    Ok(raw_schema(s.registry.schema(&id).await?.schema.clone()))
}

pub(super) async fn subjects_of(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let mut subjects: Vec<String> = s
        .registry
        .usages(&id, f.deleted)
        .await?
        .into_iter()
        .map(|(subject, _)| subject)
        .collect();
    subjects.dedup();
    Ok(ok(json!(subjects)))
}

pub(super) async fn versions_of(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let usages = s.registry.usages(&id, f.deleted).await?;
    Ok(ok(json!(
        usages
            .iter()
            .map(|(subject, version)| json!({ "subject": subject, "version": version }))
            .collect::<Vec<_>>()
    )))
}

pub(super) async fn types(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    Ok(ok(json!(SchemaType::ALL.map(|t| t.as_str()))))
}
