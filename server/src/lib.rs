//! murron-server, the ingestion edge (docs/INGESTION.md): producers publish signed envelopes over gRPC
//! ([`grpc`]) or HTTP ([`http`]); [`publish`] checks each one as the sink would, routes it by type to
//! its pipeline's topic and answers ACCEPTED only once Kafka ([`output`]) acknowledged it.
//!
//! ```text
//! grpc ─┐                 ┌ check (sink's reason codes), route, auth scope, rate limit
//!       ├─> publish ──────┤
//! http ─┘                 └ output: in-flight budget -> Kafka (idempotent, acks=all) -> statuses
//! ```
//!
//! The server keeps no state of its own: replicas behind any load balancer are interchangeable.
//!
//! [`tail`] is the adaptor (`murron-server tail`): it sends the lines of a file or stdin as events,
//! through a server or straight to Kafka, with murron-producer.

pub mod auth;
pub mod config;
pub mod grpc;
pub mod http;
pub mod limit;
pub mod metrics;
pub mod output;
pub mod publish;
pub mod readiness;
pub mod tail;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use config::{Config, ConfigError};
use murron_tls::{Certificates, Listener, Protocol};
use output::{Output, OutputError};
use readiness::{NotReady, Readiness};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("HTTP server: {0}")]
    Http(std::io::Error),
    #[error(transparent)]
    Tls(#[from] murron_tls::TlsError),
}

/// Where a started server listens.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
}

/// How long the producer may take to deliver what is queued at shutdown.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(30);

/// Serves until `shutdown` resolves, then drains: readiness goes false, the listeners stop taking new
/// calls, calls in progress finish (each bounded by the ack timeout), and the producer is flushed.
/// `on_bound` is told the listening addresses once both are bound.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(Bound) + Send,
) -> Result<(), ServeError> {
    config.validate()?;
    let readiness = Readiness::default();
    let handle = metrics::install();
    // The certificate before Kafka: a bad one stops the start at once (after the metrics recorder,
    // which records which certificate is served).
    let certs = match &config.tls {
        Some(tls) => Some(Certificates::load(tls).await?),
        None => None,
    };
    let topics: Vec<&str> = config.pipelines.iter().map(|p| p.topic.as_str()).collect();
    let output = Output::connect(&config.kafka, &config.server, &topics, readiness.clone()).await?;
    let publisher = publish::Publisher::new(&config, output.clone(), readiness.clone())?;

    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })
    };
    let grpc_listener = Listener::new(bind(config.server.grpc_listen).await?, certs.as_ref(), Protocol::Grpc)?;
    let http_listener = Listener::new(bind(config.server.http_listen).await?, certs.as_ref(), Protocol::Http1)?;
    let bound = Bound {
        grpc: grpc_listener.local_addr(),
        http: http_listener.local_addr(),
    };
    let scheme = http_listener.scheme();

    // One signal, many listeners: the watch channel flips once.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ack_timeout = Duration::from_millis(config.server.ack_timeout_ms);
    let watchdog = tokio::spawn(output.clone().watch(ack_timeout, stop_rx.clone()));
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let service =
        grpc::IngestService::new(publisher.clone(), stop_rx.clone()).into_server(config.server.max_batch_bytes);
    // Fixed windows large enough for several whole batches per connection: a batch then arrives in
    // one go instead of waiting for window updates, which cost a scheduling round each on a busy host.
    let window = u32::try_from(config.server.max_batch_bytes.clamp(1 << 20, 16 << 20)).unwrap_or(16 << 20);
    let grpc = tonic::transport::Server::builder()
        .initial_stream_window_size(window)
        .initial_connection_window_size(window.saturating_mul(4))
        .concurrency_limit_per_connection(64)
        .add_service(service)
        // Both listeners set TCP_NODELAY: answers are small writes, which Nagle would hold for the
        // peer's delayed ACK.
        .serve_with_incoming_shutdown(grpc_listener.into_incoming(), stopped(stop_rx.clone()));
    let app = http::router(publisher.clone(), handle, config.server.max_batch_bytes);
    let http = axum::serve(http_listener, app).with_graceful_shutdown(stopped(stop_rx.clone()));

    let grpc = tokio::spawn(grpc);
    let http = tokio::spawn(async move { http.await.map_err(ServeError::Http) });
    readiness.set(NotReady::Starting, false);
    tracing::info!(
        grpc = %bound.grpc,
        http = %bound.http,
        tls = certs.is_some(),
        "murron-server ready; HTTP at {scheme}://{}",
        bound.http
    );
    on_bound(bound);

    shutdown.await;
    tracing::info!("shutting down: draining calls in progress");
    readiness.set(NotReady::Starting, true);
    let _ = stop_tx.send(true);
    let grpc_result = grpc.await;
    let http_result = http.await;
    let _ = watchdog.await;
    if let Err(e) = output.flush(SHUTDOWN_FLUSH).await {
        tracing::warn!(error = %e, "producer flush at shutdown");
    }
    tracing::info!("stopped");
    match grpc_result {
        Ok(r) => r?,
        Err(e) => tracing::error!(error = %e, "gRPC server task"),
    }
    match http_result {
        Ok(r) => r?,
        Err(e) => tracing::error!(error = %e, "HTTP server task"),
    }
    Ok(())
}
