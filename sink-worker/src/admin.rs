//! The admin port of `run`: `/healthz` (the process is alive), `/readyz` (consuming and able to
//! commit) and Prometheus `/metrics`.

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use murron_connect::readiness::Reason;
use murron_tls::{Protocol, TlsConfig};

use crate::config::AdminConfig;

/// Why a process is not ready (murron_connect::readiness: each part of the process sets and clears
/// its own reason, so one dependency recovering never hides another that is still failing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// Not consuming yet, or shutting down.
    Starting,
    /// The schema registry cannot resolve a schema the worker needs.
    Registry,
    /// The state database does not answer.
    StateDatabase,
    /// Writing or publishing the outputs fails.
    Outputs,
}

impl Reason for NotReady {
    const STARTING: Self = NotReady::Starting;
    const ALL: &'static [Self] = &[
        NotReady::Starting,
        NotReady::Registry,
        NotReady::StateDatabase,
        NotReady::Outputs,
    ];
    fn index(self) -> u32 {
        self as u32
    }
    fn name(self) -> &'static str {
        match self {
            NotReady::Starting => "starting",
            NotReady::Registry => "registry",
            NotReady::StateDatabase => "state_database",
            NotReady::Outputs => "outputs",
        }
    }
}

/// Shared readiness: ready when no [`NotReady`] reason holds. Starts not ready ([`NotReady::Starting`]).
pub type Readiness = murron_connect::readiness::Readiness<NotReady>;

/// Installs the process-wide Prometheus recorder with a `pipeline` label on every series, so the
/// processes of many event types can share one dashboard whatever the scrape configuration. The first
/// call installs; later calls (and [`metrics_handle`]) return the same recorder.
pub fn install_metrics(pipeline: &str) -> Option<PrometheusHandle> {
    recorder(Some(pipeline))
}

/// The process-wide Prometheus recorder, installed on first use (without a pipeline label when
/// [`install_metrics`] did not come first).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    recorder(None)
}

fn recorder(pipeline: Option<&str>) -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            if let Some(name) = pipeline {
                builder = builder.add_global_label("pipeline", name);
            }
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics will answer 404");
                    None
                }
            }
        })
        .clone()
}

#[derive(Clone)]
struct AdminState {
    readiness: Readiness,
    metrics: Option<PrometheusHandle>,
}

/// Binds the admin port and serves it in the background; returns the bound address.
/// With `tls`, the port serves HTTPS (probes then need `scheme: HTTPS`).
pub async fn spawn(config: &AdminConfig, tls: Option<&TlsConfig>, readiness: Readiness) -> std::io::Result<SocketAddr> {
    let state = AdminState {
        readiness,
        metrics: metrics_handle(),
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(s): State<AdminState>| async move {
                let status = match s.readiness.is_ready() {
                    true => StatusCode::OK,
                    false => StatusCode::SERVICE_UNAVAILABLE,
                };
                (status, s.readiness.describe())
            }),
        )
        .route(
            "/metrics",
            get(|State(s): State<AdminState>| async move {
                match s.metrics {
                    Some(h) => (StatusCode::OK, h.render()),
                    None => (StatusCode::NOT_FOUND, "metrics recorder not installed".to_owned()),
                }
            }),
        )
        .with_state(state);
    let listener = murron_tls::bind(config.listen, tls, Protocol::Http1)
        .await
        .map_err(std::io::Error::other)?;
    let addr = listener.local_addr();
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    Ok(addr)
}
