//! The monitor's HTTP API (`openapi-monitor.json` describes it), the dashboard page and Prometheus
//! metrics. Times are RFC 3339 in UTC; ranges are whole hours, `from` inclusive and `to` exclusive.
//! What it reads is in `state::reports` and `state::backfills`. Every `/api` request passes
//! [`super::auth`] first; the page, probes, metrics and the OpenAPI document hold no data of their
//! own and stay open.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Caller, Denied};
use super::gaps::rep_score;
use super::monitor::Monitor;
use crate::admin::metrics_handle;
use crate::backfill;
use crate::state::backfills::{self, BackfillRow, NewBackfill, StreamRef};
use crate::state::history;
use crate::state::reports::{self, GapFilter};
use murron_wire::hours::{Round, hour_timestamp, now_hour, parse_hour};

const OPENAPI: &str = include_str!("../../openapi-monitor.json");
const DASHBOARD: &str = include_str!("dashboard.html");
/// Gaps listed at most per request; `truncated` says when there were more.
const MAX_GAPS: i64 = 10_000;
/// Recorded history rows answered at most per request; `truncated` says when there were more.
const MAX_HISTORY_ROWS: i64 = 20_000;
/// The widest range one request may ask for: 31 days.
const MAX_HOURS: i64 = 31 * 24;

/// The router of the monitor's port.
pub fn router(monitor: Monitor) -> Router {
    Router::new()
        .route("/", get(|| async { Html(DASHBOARD) }))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(m): State<Monitor>| async move {
                match crate::state::answers(m.pool()).await {
                    Ok(()) => (StatusCode::OK, "ready".to_owned()),
                    Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}")),
                }
            }),
        )
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route(
            "/metrics",
            get(|| async {
                match metrics_handle() {
                    Some(h) => (StatusCode::OK, h.render()),
                    None => (StatusCode::NOT_FOUND, "metrics recorder not installed".to_owned()),
                }
            }),
        )
        .route("/api/reliability", get(reliability))
        .route("/api/reliability/history", get(history))
        .route("/api/gaps", get(gaps))
        .route("/api/backfills", get(list_backfills).post(create_backfill))
        .route("/api/backfills/{id}", get(get_backfill))
        .layer(middleware::from_fn_with_state(monitor.clone(), authorize))
        .with_state(monitor)
}

/// Lets an `/api` request through with its [`Caller`] when its token allows the method; answers
/// 401 or 403 otherwise. Routes outside `/api` pass untouched.
async fn authorize(State(m): State<Monitor>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !(path == "/api" || path.starts_with("/api/")) {
        return next.run(req).await;
    }
    match m.access().check(req.method(), req.headers()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(denied) => {
            if req.method() == axum::http::Method::GET {
                tracing::debug!(method = %req.method(), path, reason = %denied, "monitor API request refused");
            } else {
                tracing::info!(method = %req.method(), path, reason = %denied, "monitor API request refused");
            }
            refused(denied)
        }
    }
}

/// A 401 with its `WWW-Authenticate` challenge, or a 403; the body is `{"error": "..."}`.
fn refused(denied: Denied) -> Response {
    let challenge = denied.challenge();
    let mut resp = ApiError(denied.status(), denied.to_string()).into_response();
    if let Some(value) = challenge {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    resp
}

/// An error answer: `{"error": "..."}` with a precise status.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "monitor API request failed");
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("state database unavailable: {e}"),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    from: Option<String>,
    to: Option<String>,
    host: Option<String>,
    pid: Option<i32>,
}

impl RangeQuery {
    fn hours(&self) -> Result<(i64, i64), ApiError> {
        hour_range(self.from.as_deref(), self.to.as_deref())
    }
}

/// The hour range of a query's `from` and `to`; the last 24 hours by default.
fn hour_range(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), ApiError> {
    let to = match to {
        Some(t) => parse_hour(t, Round::Up).map_err(|e| bad(format!("to: {e}")))?,
        None => now_hour() + 1,
    };
    let from = match from {
        Some(f) => parse_hour(f, Round::Down).map_err(|e| bad(format!("from: {e}")))?,
        None => to - 24,
    };
    if from >= to {
        return Err(bad("from must be before to"));
    }
    if to - from > MAX_HOURS {
        return Err(bad(format!("at most {MAX_HOURS} hours per request")));
    }
    Ok((from, to))
}

fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| bad(e.body_text()))
}

/// Counts of one group of events.
#[derive(Debug, Default, Clone, Serialize)]
struct Counts {
    received: u64,
    missing: u64,
    pending: u64,
    duplicates: u64,
    /// Expected events: received + missing + pending.
    total: u64,
    /// `((total - missing) / total) * 100`; null when nothing was expected.
    rep_score: Option<f64>,
}

impl Counts {
    fn finish(mut self) -> Self {
        self.total = self.received + self.missing + self.pending;
        self.rep_score = rep_score(self.total, self.missing);
        self
    }
}

async fn reliability(
    State(m): State<Monitor>,
    q: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let (from, to) = q.hours()?;
    let received = reports::received(m.pool(), m.pipeline(), q.event_type.as_deref(), from, to)
        .await
        .map_err(internal)?;
    // A gap's events received since the last sweep are not missing any more.
    let gaps = reports::missing(
        m.pool(),
        m.pipeline(),
        q.event_type.as_deref(),
        from,
        to,
        m.grace_secs() as f64,
    )
    .await
    .map_err(internal)?;
    let mut overall = Counts::default();
    let mut types: BTreeMap<String, Counts> = BTreeMap::new();
    let mut hours: BTreeMap<(String, i64), Counts> = BTreeMap::new();
    let mut streams: BTreeMap<(String, String, i32), Counts> = BTreeMap::new();
    let mut add = |t: &str, hour: i64, host: &str, pid: i32, f: &dyn Fn(&mut Counts)| {
        f(&mut overall);
        f(types.entry(t.to_owned()).or_default());
        f(hours.entry((t.to_owned(), hour)).or_default());
        f(streams.entry((t.to_owned(), host.to_owned(), pid)).or_default());
    };
    for r in &received {
        add(&r.event_type, r.hour, &r.host, r.pid, &|c| {
            c.received += r.received as u64;
            c.duplicates += r.duplicates as u64;
        });
    }
    for g in &gaps {
        add(&g.event_type, g.hour, &g.host, g.pid, &|c| {
            if g.pending {
                c.pending += g.missing as u64;
            } else {
                c.missing += g.missing as u64;
            }
        });
    }
    Ok(Json(json!({
        "pipeline": m.pipeline(),
        "from": hour_timestamp(from),
        "to": hour_timestamp(to),
        "grace_seconds": m.grace_secs(),
        "overall": overall.finish(),
        "types": types.into_iter().map(|(t, c)| json!({"type": t, "counts": c.finish()})).collect::<Vec<_>>(),
        "hours": hours.into_iter().map(|((t, h), c)| json!({"type": t, "hour": hour_timestamp(h), "counts": c.finish()})).collect::<Vec<_>>(),
        "streams": streams.into_iter().map(|((t, host, pid), c)| json!({"type": t, "host": host, "pid": pid, "counts": c.finish()})).collect::<Vec<_>>(),
    })))
}

async fn gaps(
    State(m): State<Monitor>,
    q: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let (from, to) = q.hours()?;
    let filter = GapFilter {
        event_type: q.event_type.as_deref(),
        host: q.host.as_deref(),
        pid: q.pid,
        from,
        to,
    };
    let rows = reports::gaps(m.pool(), m.pipeline(), &filter, m.grace_secs() as f64, MAX_GAPS + 1)
        .await
        .map_err(internal)?;
    let truncated = rows.len() as i64 > MAX_GAPS;
    let gaps: Vec<_> = rows
        .into_iter()
        .map(|g| {
            json!({
                "type": g.event_type, "host": g.host, "pid": g.pid,
                "first_offset": g.first_offset, "last_offset": g.last_offset, "count": g.last_offset - g.first_offset + 1,
                "hour": hour_timestamp(g.hour), "first_seen": g.first_seen,
                "status": g.status, "backfill_id": g.backfill_id, "reason": g.reason,
            })
        })
        .take(MAX_GAPS as usize)
        .collect();
    Ok(Json(
        json!({ "pipeline": m.pipeline(), "gaps": gaps, "truncated": truncated }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// `GET /api/reliability/history`: per type and hour, the scores the sweeps recorded over time.
async fn history(
    State(m): State<Monitor>,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    if q.event_type.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(bad("type, when given, must not be empty"));
    }
    let (from, to) = hour_range(q.from.as_deref(), q.to.as_deref())?;
    let event_type = q.event_type.as_deref();
    let mut rows = history::recorded_rows(m.pool(), m.pipeline(), event_type, from, to, MAX_HISTORY_ROWS + 1)
        .await
        .map_err(internal)?;
    let truncated = rows.len() as i64 > MAX_HISTORY_ROWS;
    if truncated {
        // The last hour may be cut short: leave it out whole rather than show half its story.
        if let Some((t, h)) = rows.last().map(|r| (r.counts.event_type.clone(), r.counts.hour)) {
            rows.retain(|r| r.counts.hour != h || r.counts.event_type != t);
        }
    }
    let backfills = history::finished_backfills(m.pool(), m.pipeline(), event_type, from, to)
        .await
        .map_err(internal)?;
    Ok(Json(json!({
        "pipeline": m.pipeline(),
        "from": hour_timestamp(from),
        "to": hour_timestamp(to),
        "history_days": m.history_days(),
        "hours": super::history::series(rows, &backfills),
        "truncated": truncated,
    })))
}

/// The body of `POST /api/backfills`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackfillRequest {
    #[serde(rename = "type")]
    event_type: String,
    from: String,
    to: String,
    #[serde(default)]
    streams: Option<Vec<StreamRef>>,
}

async fn create_backfill(
    State(m): State<Monitor>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<BackfillRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<BackfillRow>), Response> {
    let Json(req) = body.map_err(|e| ApiError(e.status(), e.body_text()).into_response())?;
    if req.event_type.trim().is_empty() || req.event_type.contains('\0') {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "type must be a non-empty event type".into(),
        )
        .into_response());
    }
    if let Err(denied) = caller.require_type(&req.event_type) {
        tracing::info!(by = caller.name(), event_type = %req.event_type, reason = %denied, "backfill request refused");
        return Err(refused(denied));
    }
    create_backfill_of(&m, &caller, req)
        .await
        .map_err(IntoResponse::into_response)
}

/// Files the backfill `req` asks for, once `caller` may.
async fn create_backfill_of(
    m: &Monitor,
    caller: &Caller,
    req: BackfillRequest,
) -> Result<(StatusCode, Json<BackfillRow>), ApiError> {
    let unprocessable = |e: String| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e);
    let from = parse_hour(&req.from, Round::Down).map_err(|e| unprocessable(format!("from: {e}")))?;
    let to = parse_hour(&req.to, Round::Up).map_err(|e| unprocessable(format!("to: {e}")))?;
    if from >= to {
        return Err(unprocessable("from must be before to".into()));
    }
    if to - from > MAX_HOURS {
        return Err(unprocessable(format!("at most {MAX_HOURS} hours per backfill")));
    }
    if req.streams.as_ref().is_some_and(|s| s.is_empty()) {
        return Err(unprocessable(
            "streams, when given, must name at least one stream".into(),
        ));
    }
    let id = backfill::file(
        m.pool(),
        m.pipeline(),
        &NewBackfill {
            event_type: req.event_type,
            from_hour: from,
            to_hour: to,
            streams: req.streams,
            origin: "api",
        },
    )
    .await
    .map_err(internal)?;
    metrics::counter!("murron_backfills_filed_total", "origin" => "api").increment(1);
    tracing::info!(id, by = caller.name(), "backfill filed through the API");
    let row = backfills::get(m.pool(), id)
        .await
        .map_err(internal)?
        .ok_or_else(|| internal("the new backfill vanished"))?;
    Ok((StatusCode::CREATED, Json(row)))
}

async fn list_backfills(State(m): State<Monitor>) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = backfills::list(m.pool(), m.pipeline(), 100).await.map_err(internal)?;
    Ok(Json(json!({ "backfills": rows })))
}

async fn get_backfill(
    State(m): State<Monitor>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<BackfillRow>, ApiError> {
    let Path(id) = id.map_err(|e| bad(format!("backfill id: {}", e.body_text())))?;
    match backfills::get(m.pool(), id).await.map_err(internal)? {
        Some(row) if row.pipeline == m.pipeline() => Ok(Json(row)),
        _ => Err(ApiError(StatusCode::NOT_FOUND, format!("backfill {id} does not exist"))),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn not_ready_while_the_state_database_is_unreachable() {
        // Nothing listens on port 1: what a stopped PostgreSQL looks like to the pool.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(500))
            .connect_lazy("postgres://murron:murron@127.0.0.1:1/murron")
            .expect("lazy pool");
        let reason = crate::state::answers(&pool).await.expect_err("no database, not ready");
        assert!(reason.starts_with("state database"), "{reason}");
    }
}
