//! `/compatibility`: would a schema be accepted, and if not, why.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::auth::Caller;
use super::subjects::SchemaRequest;
use super::{ApiError, AppState, Q, asked_version, ok, parse_body};

fn answer(result: Result<(), Vec<String>>, verbose: bool) -> Response {
    let mut body = json!({ "is_compatible": result.is_ok() });
    if verbose {
        body["messages"] = json!(result.err().unwrap_or_default());
    }
    ok(body)
}

pub(super) async fn against_all(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let req: SchemaRequest = parse_body(&body)?;
    let result = s.registry.check_against_live(&subject, req.submitted()).await?;
    Ok(answer(result, f.verbose))
}

pub(super) async fn against_version(
    State(s): State<AppState>,
    caller: Caller,
    Path((subject, version)): Path<(String, String)>,
    Q(f): Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let req: SchemaRequest = parse_body(&body)?;
    let version = asked_version(&version)?;
    let result = s
        .registry
        .check_against_version(&subject, version, req.submitted())
        .await?;
    Ok(answer(result, f.verbose))
}
