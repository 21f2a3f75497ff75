//! The server's metric names and the Prometheus recorder behind `/metrics`. Counters are added per
//! batch, never per event.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Events received, by input (`grpc`, `http`).
pub const RECEIVED: &str = "murron_ingest_received_total";
/// Events stored in Kafka, by topic and pipeline.
pub const ACCEPTED: &str = "murron_ingest_accepted_total";
/// Events refused for good, by reason (the sink's dead-letter codes, `unrouted_type`, `forbidden_type`).
pub const REFUSED: &str = "murron_ingest_refused_total";
/// Events answered RETRY, by reason (`rate_limited`, `kafka_timeout`, `kafka_error`, `overloaded`).
pub const RETRY: &str = "murron_ingest_retry_total";
/// Whole batches pushed back, by kind (`not_ready`, `in_flight_budget`, `rate_limited`).
pub const BACKPRESSURE: &str = "murron_ingest_backpressure_total";
/// Record bytes accepted but not yet acknowledged by Kafka.
pub const IN_FLIGHT_BYTES: &str = "murron_ingest_in_flight_bytes";
/// Seconds from a batch's arrival to its answer.
pub const ACK_SECONDS: &str = "murron_ingest_ack_seconds";

/// The process-wide recorder, installed on first call; `None` when another recorder was installed.
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
            ];
            let builder = PrometheusBuilder::new().set_buckets_for_metric(Matcher::Full(ACK_SECONDS.into()), &buckets);
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics will answer 404");
                    None
                }
            }
        })
        .clone()
}
