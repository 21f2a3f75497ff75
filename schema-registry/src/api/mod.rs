//! The HTTP API: Confluent Schema Registry's REST endpoints, Murron's additions under `/murron`,
//! health checks, metrics and the OpenAPI document.
//!
//! Handlers parse the request, check the caller, call one [`Registry`] method (or, for a plain
//! read, one [`Registry::store`] query) and shape the answer; decisions belong to
//! [`crate::service`], whose errors [`ApiError`] maps to Confluent's codes.
//!
//! Request bodies are parsed here rather than by axum's `Json` extractor, so that every malformed
//! body gets a Confluent-shaped error whatever content type the client sent.

pub mod auth;
mod compat;
mod error;
mod murron;
mod schemas;
mod settings;
mod subjects;

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;

pub use error::{ApiError, CONTENT_TYPE};

use crate::config::AuthConfig;
use crate::service::tokens::token_hash;
use crate::service::{AskedVersion, Registry, TextFormat};
use crate::store::VersionSel;
use error::json_response;

/// The OpenAPI 3 document of this API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: Registry,
    pub auth: AuthConfig,
    pub admin_token_hash: Option<[u8; 32]>,
    pub metrics: Option<PrometheusHandle>,
}

impl AppState {
    pub fn new(registry: Registry, auth: AuthConfig, metrics: Option<PrometheusHandle>) -> Self {
        let admin_token_hash = auth.admin_token.as_deref().map(token_hash);
        Self {
            registry,
            auth,
            admin_token_hash,
            metrics,
        }
    }
}

/// The whole API.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .merge(subject_routes())
        .merge(schema_routes())
        .merge(settings_routes())
        .merge(murron_routes())
        .merge(operations_routes())
        .fallback(|| async { ApiError::not_found_route() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn(guard))
        .layer(middleware::from_fn(track_metrics))
        .with_state(state)
}

/// `/subjects` and `/compatibility`: Confluent's subject and version endpoints.
fn subject_routes() -> Router<AppState> {
    Router::new()
        .route("/subjects", get(subjects::list))
        .route(
            "/subjects/{subject}",
            post(subjects::lookup).delete(subjects::delete_subject),
        )
        .route(
            "/subjects/{subject}/versions",
            get(subjects::versions).post(subjects::register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(subjects::version).delete(subjects::delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(subjects::version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(subjects::referenced_by),
        )
        .route("/compatibility/subjects/{subject}/versions", post(compat::against_all))
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compat::against_version),
        )
}

/// `/schemas`: schemas by global id, and the supported types.
fn schema_routes() -> Router<AppState> {
    Router::new()
        .route("/schemas/ids/{id}", get(schemas::by_id))
        .route("/schemas/ids/{id}/schema", get(schemas::raw_by_id))
        .route("/schemas/ids/{id}/subjects", get(schemas::subjects_of))
        .route("/schemas/ids/{id}/versions", get(schemas::versions_of))
        .route("/schemas/types", get(schemas::types))
}

/// `/config` and `/mode`, globally and per subject.
fn settings_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/config",
            get(settings::get_global_config)
                .put(settings::put_global_config)
                .delete(settings::delete_global_config),
        )
        .route(
            "/config/{subject}",
            get(settings::get_config)
                .put(settings::put_config)
                .delete(settings::delete_config),
        )
        .route(
            "/mode",
            get(settings::get_global_mode)
                .put(settings::put_global_mode)
                .delete(settings::delete_global_mode),
        )
        .route(
            "/mode/{subject}",
            get(settings::get_mode)
                .put(settings::put_mode)
                .delete(settings::delete_mode),
        )
}

/// `/murron`: tokens, subject metadata, the audit log.
fn murron_routes() -> Router<AppState> {
    Router::new()
        .route("/murron/tokens", get(murron::list_tokens).post(murron::create_token))
        .route("/murron/tokens/{name}", axum::routing::delete(murron::revoke_token))
        .route(
            "/murron/subjects/{subject}/metadata",
            get(murron::get_metadata).put(murron::put_metadata),
        )
        .route("/murron/audit", get(murron::audit))
        .route("/murron/whoami", get(murron::whoami))
}

/// The root, health checks, metrics and the OpenAPI document.
fn operations_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { ok(serde_json::json!({})) }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
}

/// Keeps every answer Confluent-shaped: a subject name with NUL (which no subject can have, and
/// PostgreSQL cannot store) is "not found", and axum's plain-text 413 becomes a JSON error.
async fn guard(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let subject_path = [
        "/subjects/",
        "/config/",
        "/mode/",
        "/compatibility/subjects/",
        "/murron/subjects/",
    ]
    .iter()
    .any(|p| path.starts_with(p));
    if subject_path && path.contains("%00") {
        return ApiError::subject_not_found("(name with NUL)").into_response();
    }
    let resp = next.run(req).await;
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json(&resp) {
        return ApiError::too_large().into_response();
    }
    resp
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}

/// Counts requests and times them by route and status (`murron_registry_http_*`).
async fn track_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("murron_registry_http_requests_total", &labels).increment(1);
    metrics::histogram!("murron_registry_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    resp
}

async fn metrics(State(s): State<AppState>) -> Response {
    match &s.metrics {
        Some(handle) => (
            [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled in this process").into_response(),
    }
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.registry.store.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

fn ok(body: serde_json::Value) -> Response {
    json_response(StatusCode::OK, &body)
}

/// Parses a JSON request body into `T`: 400 when it is not JSON, 422 when it has the wrong shape.
fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    let parsed = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::unprocessable(format!("Invalid request body: {e}")),
        _ => ApiError::bad_request(format!("Malformed JSON request body: {e}")),
    })?;
    // Every body is a JSON object; serde would also take a struct's fields as an array.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::unprocessable("Invalid request body: expected a JSON object"));
    }
    Ok(parsed)
}

/// A version in a path: `latest`, `-1` or a version number from 1 to 2^31-1.
fn asked_version(raw: &str) -> Result<AskedVersion<'_>, ApiError> {
    let sel = match raw {
        "latest" | "-1" => VersionSel::Latest,
        _ => match raw.parse::<i32>() {
            Ok(n) if n >= 1 => VersionSel::Number(n),
            _ => return Err(ApiError::invalid_version(raw)),
        },
    };
    Ok(AskedVersion { sel, named: raw })
}

/// Subject names: 1 to 255 characters, no control characters.
fn check_subject(subject: &str) -> Result<(), ApiError> {
    if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "Subject names are 1 to 255 characters without control characters",
        ));
    }
    Ok(())
}

/// Query flags shared by several endpoints. Unknown parameters are ignored, as Confluent does.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Flags {
    #[serde(default, deserialize_with = "lenient_bool")]
    deleted: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    deleted_only: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    permanent: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    verbose: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    default_to_global: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    force: bool,
    /// Checked, then unused: every schema is normalized (stored in canonical form) anyway.
    #[serde(default, rename = "normalize", deserialize_with = "lenient_bool")]
    _normalize: bool,
    /// `serialized` asks for a Protobuf schema as a base64 `FileDescriptorProto`.
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    subject_prefix: Option<String>,
    #[serde(default)]
    offset: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
}

/// `true`/`false` in any case, as Confluent's server reads them (Python clients send `True`).
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let raw = String::deserialize(d)?;
    match raw.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(serde::de::Error::custom(format!("expected true or false, got {raw:?}"))),
    }
}

impl Flags {
    fn format(&self) -> TextFormat {
        TextFormat::from_request(self.format.as_deref())
    }
}

/// Query flags as an extractor whose rejection is a Confluent-shaped 422.
struct Q(Flags);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Q {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<Flags>::from_request_parts(parts, state)
            .await
            .map(|q| Q(q.0))
            .map_err(|e| ApiError::unprocessable(format!("Invalid query parameters: {}", e.body_text())))
    }
}
