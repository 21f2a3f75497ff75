//! `/schemas`: schemas by their global id.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Caller;
use super::error::with_content_type;
use super::{ApiError, AppState, Q, ok};
use crate::service::TextFormat;
use murron_schema_types::schema::{Reference, SchemaType};

/// A schema served as its own document: JSON for Avro and JSON Schema; for Protobuf, `.proto` text
/// or base64 as `text/plain` (Confluent labels it JSON, which it is not; clients read the body as a
/// string either way).
pub(super) fn raw_schema(schema_type: SchemaType, text: String) -> Response {
    if schema_type == SchemaType::Protobuf {
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
    }
    with_content_type(StatusCode::OK, text)
}

/// Adds a schema to an answer as Confluent does: `schemaType` only when it is not AVRO (clients
/// read a missing type as AVRO), `references` only when there are some.
pub(super) fn put_schema(body: &mut Value, schema_type: SchemaType, text: String, references: &[Reference]) {
    if schema_type != SchemaType::Avro {
        body["schemaType"] = json!(schema_type.as_str());
    }
    body["schema"] = json!(text);
    if !references.is_empty() {
        body["references"] = json!(references);
    }
}

/// The type and text of schema `id`, in the format asked for.
async fn text_of(s: &AppState, id: &str, format: TextFormat) -> Result<(SchemaType, String), ApiError> {
    let schema = s.registry.schema(id).await?;
    let text = s
        .registry
        .text_in(
            format,
            schema.id,
            schema.schema_type,
            &schema.schema,
            &schema.references,
        )
        .await?;
    Ok((schema.schema_type, text))
}

pub(super) async fn by_id(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let schema = s.registry.schema(&id).await?;
    let (schema_type, text) = text_of(&s, &id, f.format()).await?;
    let mut body = json!({});
    put_schema(&mut body, schema_type, text, &schema.references);
    Ok(ok(body))
}

pub(super) async fn raw_by_id(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Q(f): Q,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let (schema_type, text) = text_of(&s, &id, f.format()).await?;
    Ok(raw_schema(schema_type, text))
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
