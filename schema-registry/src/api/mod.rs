//! The HTTP API: Confluent Schema Registry's REST endpoints over the [`Store`], plus health checks.
//!
//! Request bodies are parsed here rather than by axum's `Json` extractor, so that every malformed
//! body gets a Confluent-shaped error whatever content type the client sent.

mod error;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

pub use error::{ApiError, CONTENT_TYPE};

use crate::schema::{self, SUPPORTED_TYPES};
use crate::store::{Store, VersionSel};
use error::json_response;

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
}

/// The whole API.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route("/subjects/{subject}/versions/{version}", get(get_version))
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route("/schemas/ids/{id}", get(get_schema_by_id))
        .route("/schemas/ids/{id}/schema", get(get_raw_schema_by_id))
        .route("/schemas/types", get(schema_types))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::not_found_route() })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

fn ok(body: serde_json::Value) -> Response {
    json_response(StatusCode::OK, &body)
}

/// Parses a JSON request body into `T`, answering 400 (syntax) or 422 (shape) like Confluent.
fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::invalid_schema(format!("Invalid request body: {e}"))
        }
        _ => ApiError::bad_request(format!("Malformed JSON request body: {e}")),
    })
}

fn parse_version(raw: &str) -> Result<VersionSel, ApiError> {
    match raw {
        "latest" | "-1" => Ok(VersionSel::Latest),
        _ => match raw.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(VersionSel::Number(n)),
            _ => Err(ApiError::invalid_version(raw)),
        },
    }
}

async fn list_subjects(State(s): State<AppState>) -> Result<Response, ApiError> {
    Ok(ok(json!(s.store.subjects().await?)))
}

async fn list_versions(
    State(s): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Response, ApiError> {
    let versions = s.store.versions(&subject).await?;
    if versions.is_empty() {
        return Err(ApiError::subject_not_found(&subject));
    }
    Ok(ok(json!(versions)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterRequest {
    schema: String,
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<serde_json::Value>,
}

async fn register(
    State(s): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: RegisterRequest = parse_body(&body)?;
    if !req.references.is_empty() {
        return Err(ApiError::invalid_schema(
            "Schema references are not supported yet",
        ));
    }
    if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
        return Err(ApiError::invalid_schema(
            "Subject names are 1 to 255 characters without control characters",
        ));
    }
    let normalized = schema::normalize(req.schema_type.as_deref(), &req.schema)?;
    let (id, version) = s.store.register(&subject, &normalized).await?;
    tracing::info!(%subject, id, version, "schema registered");
    Ok(ok(json!({ "id": id })))
}

async fn get_version(
    State(s): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let sv = find_version(&s, &subject, &version).await?;
    Ok(ok(
        json!({ "subject": sv.subject, "version": sv.version, "id": sv.id, "schema": sv.schema }),
    ))
}

async fn get_version_schema(
    State(s): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let sv = find_version(&s, &subject, &version).await?;
    Ok(raw_schema(sv.schema))
}

async fn find_version(
    s: &AppState,
    subject: &str,
    version: &str,
) -> Result<crate::store::SubjectVersion, ApiError> {
    let sel = parse_version(version)?;
    if let Some(sv) = s.store.version(subject, sel).await? {
        return Ok(sv);
    }
    if s.store.versions(subject).await?.is_empty() {
        Err(ApiError::subject_not_found(subject))
    } else {
        Err(ApiError::version_not_found(subject, version))
    }
}

async fn get_schema_by_id(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let schema = schema_by_id(&s, &id).await?;
    Ok(ok(json!({ "schema": schema })))
}

async fn get_raw_schema_by_id(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(raw_schema(schema_by_id(&s, &id).await?))
}

async fn schema_by_id(s: &AppState, raw_id: &str) -> Result<String, ApiError> {
    let id: i32 = raw_id
        .parse()
        .map_err(|_| ApiError::schema_not_found(raw_id))?;
    s.store
        .schema_by_id(id)
        .await?
        .ok_or_else(|| ApiError::schema_not_found(raw_id))
}

/// A schema served as its own JSON document.
fn raw_schema(text: String) -> Response {
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(CONTENT_TYPE),
    );
    resp
}

async fn schema_types() -> Response {
    ok(json!(SUPPORTED_TYPES))
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.store.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}
