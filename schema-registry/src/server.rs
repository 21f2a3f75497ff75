//! Serving the API: bind, optionally migrate, and run until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use murron_tls::{Certificates, Listener, Protocol};
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::cache::{self, Caches};
use crate::config::Config;
use crate::db;
use crate::service::Registry;
use crate::store::Store;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] murron_tls::TlsError),
}

/// Serves until a shutdown signal; `on_bound` receives the bound address (useful with port 0).
pub async fn serve(config: &Config, on_bound: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    // The certificate first: a bad one stops the start before anything else is touched. The metrics
    // recorder before it, to record which certificate is served.
    let metrics = metrics_handle();
    let certs = match &config.tls {
        Some(tls) => Some(Certificates::load(tls).await?),
        None => None,
    };
    let pool = db::connect(&config.database)?;
    if config.database.migrate_on_start {
        db::migrate(&pool).await?;
    }
    let caches = Arc::new(Caches::default());
    tokio::spawn(cache::listen_for_changes(pool.clone(), caches.clone()));
    if config.auth.enabled && config.auth.admin_token.is_none() {
        tracing::warn!(
            "auth is enabled without auth.admin_token: only tokens already in the database can make changes"
        );
    }
    let registry = Registry::new(Store::new(pool), caches);
    let state = AppState::new(registry, config.auth.clone(), metrics);
    let app = api::router(state, config.server.max_body_bytes);
    let addr = config.server.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let listener = Listener::new(listener, certs.as_ref(), Protocol::Http1)?;
    let bound = listener.local_addr();
    tracing::info!(%bound, url = %format!("{}://{bound}", listener.scheme()), "schema registry listening");
    on_bound(bound);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("schema registry stopped");
    Ok(())
}

/// The process-wide Prometheus recorder, installed on first use (a process has one recorder).
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed; /metrics will answer 404");
                None
            }
        })
        .clone()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
