//! The HTTP input and the admin routes, on one port:
//! - `POST /v1/publish`: a `PublishRequest` (`application/x-protobuf`) or `{"events": ["<base64>", …]}`
//!   (`application/json`), answered in the request's format with a status per event;
//! - `/healthz` (the process can work: fails after a fatal producer error), `/readyz` (it takes
//!   publishes), `/metrics` (Prometheus).
//!
//! Codes: 200 when the batch was processed, refusals included; 400 for a body that does not parse or
//! a batch out of bounds; 401 without a valid token; 413 above `max_batch_bytes`; 415 for another
//! content type; 429 + `Retry-After` when every event is over its rate limit; 503 + `Retry-After`
//! where gRPC would say UNAVAILABLE or RESOURCE_EXHAUSTED.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use bytes::Bytes;
use metrics_exporter_prometheus::PrometheusHandle;
use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::config::Input;
use crate::grpc::to_response;
use crate::publish::{Answer, Publisher, Rejected, Status};

#[derive(Clone)]
struct HttpState {
    publisher: Arc<Publisher>,
    metrics: Option<PrometheusHandle>,
    max_batch_bytes: usize,
}

/// The routes, with the body limit.
pub fn router(publisher: Arc<Publisher>, metrics: Option<PrometheusHandle>, max_batch_bytes: usize) -> Router {
    Router::new()
        .route("/v1/publish", post(publish))
        .route(
            "/healthz",
            get(|State(s): State<HttpState>| async move {
                if crate::readiness::is_alive(s.publisher.readiness()) {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "Kafka producer failed for good")
                }
            }),
        )
        .route(
            "/readyz",
            get(|State(s): State<HttpState>| async move {
                let readiness = s.publisher.readiness();
                let status = match readiness.is_ready() {
                    true => StatusCode::OK,
                    false => StatusCode::SERVICE_UNAVAILABLE,
                };
                (status, readiness.describe())
            }),
        )
        .route(
            "/metrics",
            get(|State(s): State<HttpState>| async move {
                match s.metrics {
                    Some(h) => (StatusCode::OK, h.render()),
                    None => (StatusCode::NOT_FOUND, "metrics recorder not installed".to_owned()),
                }
            }),
        )
        // The publish route reads its body itself, after the token check, with this limit.
        .layer(DefaultBodyLimit::disable())
        .with_state(HttpState {
            publisher,
            metrics,
            max_batch_bytes,
        })
}

/// The JSON request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRequest {
    #[serde(default)]
    batch_id: u64,
    events: Vec<String>,
}

/// The JSON answer.
#[derive(Debug, Serialize)]
pub struct JsonAnswer {
    pub batch_id: u64,
    pub accepted: usize,
    pub status: Vec<&'static str>,
    pub refusals: Vec<JsonRefusal>,
    pub retry_after_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct JsonRefusal {
    pub index: u32,
    pub reason: &'static str,
    pub detail: String,
}

impl JsonAnswer {
    fn new(batch_id: u64, a: Answer) -> Self {
        Self {
            batch_id,
            accepted: a.accepted,
            status: a
                .status
                .iter()
                .map(|s| match s {
                    Status::Accepted => "accepted",
                    Status::Refused => "refused",
                    Status::Retry => "retry",
                })
                .collect(),
            refusals: a
                .notes
                .into_iter()
                .map(|n| JsonRefusal {
                    index: n.index,
                    reason: n.reason,
                    detail: n.detail,
                })
                .collect(),
            retry_after_ms: u64::try_from(a.retry_after.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// `Retry-After` in whole seconds, rounded up.
fn retry_after(code: StatusCode, after: Duration, body: Response) -> Response {
    let mut response = body;
    *response.status_mut() = code;
    let secs = after.as_millis().div_ceil(1000).max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The HTTP code of a batch's outcome: what gRPC's whole-call codes become.
pub fn http_code(outcome: &Result<Answer, Rejected>) -> StatusCode {
    match outcome {
        Err(Rejected::InvalidBatch(_)) => StatusCode::BAD_REQUEST,
        Err(Rejected::Unavailable { .. } | Rejected::Overloaded { .. }) => StatusCode::SERVICE_UNAVAILABLE,
        Ok(a) if a.all_rate_limited() => StatusCode::TOO_MANY_REQUESTS,
        Ok(a) if a.all_retry() => StatusCode::SERVICE_UNAVAILABLE,
        Ok(_) => StatusCode::OK,
    }
}

async fn publish(State(s): State<HttpState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let format = match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(t) if t.starts_with("application/x-protobuf") || t.starts_with("application/protobuf") => Format::Protobuf,
        Some(t) if t.starts_with("application/json") => Format::Json,
        other => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content type {other:?}: send application/x-protobuf or application/json"),
            );
        }
    };
    let auth = headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    let caller = match s.publisher.auth().authenticate(auth) {
        Ok(c) => c,
        Err(e) => {
            let mut r = error(StatusCode::UNAUTHORIZED, e.to_string());
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    };
    // Read only once the caller is known.
    let body = match axum::body::to_bytes(body, s.max_batch_bytes).await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is larger than server.max_batch_bytes ({}) or broken: {e}",
                    s.max_batch_bytes
                ),
            );
        }
    };
    let (batch_id, events) = match format {
        // Zero-copy: the events are slices of the body.
        Format::Protobuf => match murron_ingest_proto::PublishRequest::decode(body) {
            Ok(r) => (r.batch_id, r.events),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a PublishRequest: {e}")),
        },
        Format::Json => match serde_json::from_slice::<JsonRequest>(&body) {
            Ok(r) => {
                let mut events = Vec::with_capacity(r.events.len());
                for (i, e) in r.events.iter().enumerate() {
                    match base64::engine::general_purpose::STANDARD.decode(e) {
                        Ok(b) => events.push(Bytes::from(b)),
                        Err(err) => {
                            return error(StatusCode::BAD_REQUEST, format!("events[{i}] is not base64: {err}"));
                        }
                    }
                }
                (r.batch_id, events)
            }
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a publish request: {e}")),
        },
    };
    let outcome = s.publisher.publish(Input::Http, caller, &events).await;
    let code = http_code(&outcome);
    let answer = match outcome {
        Ok(a) => a,
        Err(r @ Rejected::InvalidBatch(_)) => return error(code, r.to_string()),
        Err(r) => {
            let after = r.retry_after().unwrap_or(Duration::from_secs(1));
            return retry_after(code, after, error(code, r.to_string()));
        }
    };
    let after = answer.retry_after;
    let body = match format {
        Format::Protobuf => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            to_response(batch_id, answer).encode_to_vec(),
        )
            .into_response(),
        Format::Json => Json(JsonAnswer::new(batch_id, answer)).into_response(),
    };
    if code == StatusCode::OK {
        body
    } else {
        retry_after(code, after, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::Note;

    fn answer(status: &[Status], reasons: &[&'static str]) -> Answer {
        Answer {
            status: status.to_vec(),
            notes: reasons
                .iter()
                .enumerate()
                .map(|(i, r)| Note {
                    index: i as u32,
                    reason: r,
                    detail: String::new(),
                })
                .collect(),
            accepted: status.iter().filter(|s| **s == Status::Accepted).count(),
            retry_after: Duration::from_millis(1500),
        }
    }

    #[test]
    fn outcomes_map_to_http_codes() {
        use Status::*;
        let cases = [
            (Err(Rejected::InvalidBatch("x".into())), StatusCode::BAD_REQUEST),
            (
                Err(Rejected::Unavailable {
                    retry_after: Duration::from_secs(1),
                }),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Err(Rejected::Overloaded {
                    retry_after: Duration::from_secs(1),
                    in_flight_bytes: 1,
                }),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (Ok(answer(&[Retry], &["rate_limited"])), StatusCode::TOO_MANY_REQUESTS),
            (
                Ok(answer(&[Retry], &["kafka_timeout"])),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (Ok(answer(&[Refused, Accepted], &["bad_signature"])), StatusCode::OK),
        ];
        for (outcome, code) in cases {
            assert_eq!(http_code(&outcome), code, "{outcome:?}");
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let r = retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(1500),
            StatusCode::OK.into_response(),
        );
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn the_json_answer_names_statuses_and_refusals() {
        let a = JsonAnswer::new(3, answer(&[Status::Refused, Status::Accepted], &["bad_signature"]));
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"batch_id": 3, "accepted": 1, "status": ["refused", "accepted"],
                "refusals": [{"index": 0, "reason": "bad_signature", "detail": ""}], "retry_after_ms": 1500})
        );
    }
}
