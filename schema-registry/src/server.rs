//! Serving the API: bind, optionally migrate, and run until SIGINT or SIGTERM.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::db;
use crate::store::Store;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves until a shutdown signal; `on_bound` receives the bound address (useful with port 0).
pub async fn serve(config: &Config, on_bound: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let pool = db::connect(&config.database)?;
    if config.database.migrate_on_start {
        db::migrate(&pool).await?;
    }
    let app = api::router(
        AppState {
            store: Store::new(pool),
        },
        config.server.max_body_bytes,
    );
    let addr = config.server.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener.local_addr()?;
    tracing::info!(%bound, "schema registry listening");
    on_bound(bound);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("schema registry stopped");
    Ok(())
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
