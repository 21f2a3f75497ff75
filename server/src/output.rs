//! The Kafka side: one idempotent producer (acks from all in-sync replicas), the in-flight byte
//! budget that bounds memory, and readiness from what librdkafka reports.
//!
//! No loss: an event is answered ACCEPTED only once its delivery future resolved `Ok`. Budget permits
//! are held until every delivery of the batch resolved, answered or not, so while Kafka is down the
//! memory stays capped and new batches are pushed back at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use murron_connect::kafka::{self, KafkaConfig};

use crate::config::ServerConfig;
use crate::readiness::{NotReady, Readiness};

/// Budget permits are KiB of record values.
const PERMIT_BYTES: usize = 1024;
/// How long a batch may wait for budget before it is pushed back.
const BUDGET_WAIT: Duration = Duration::from_millis(50);

/// Why the output could not start.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Unreachable(#[from] kafka::Unreachable),
}

/// librdkafka's client-level errors, turned into readiness.
#[derive(Debug, Clone)]
pub struct KafkaContext {
    readiness: Readiness,
}

impl ClientContext for KafkaContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.readiness.set(NotReady::KafkaDown, true);
        }
        tracing::warn!(%error, reason, "librdkafka");
    }
}

/// Budget held for a batch: released when dropped.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

/// The Kafka producer and the in-flight budget.
#[derive(Clone)]
pub struct Output {
    producer: FutureProducer<KafkaContext>,
    budget: Arc<Semaphore>,
    budget_permits: usize,
    readiness: Readiness,
    /// Batches whose deliveries all resolved: the stale-delivery watchdog watches it move.
    completed: Arc<AtomicU64>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("in_flight_bytes", &self.in_flight_bytes())
            .finish_non_exhaustive()
    }
}

/// The producer's settings: the project's producer defaults (`kafka::producer_config`: idempotent,
/// lz4, linger 5 ms), then the server's (acks from all replicas, librdkafka's queue no larger than the
/// budget, a message timeout past the ack timeout). Pass-through properties win over both.
pub fn producer_config(config: &KafkaConfig, server: &ServerConfig) -> ClientConfig {
    let mut c = kafka::producer_config(config);
    let kbytes = (server.max_in_flight_bytes / 1024).clamp(1, 2_097_151).to_string();
    let timeout = server.ack_timeout_ms.saturating_add(5_000).to_string();
    for (k, v) in [
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("compression.type", "lz4"),
        ("acks", "all"),
        ("max.in.flight.requests.per.connection", "5"),
        ("queue.buffering.max.kbytes", kbytes.as_str()),
        // The byte budget is the bound; librdkafka's default count (100,000) would be hit first.
        ("queue.buffering.max.messages", "2000000"),
        ("message.timeout.ms", timeout.as_str()),
    ] {
        if c.get(k).is_none() {
            c.set(k, v);
        }
    }
    c
}

impl Output {
    /// Builds the producer and waits until Kafka answers a metadata request.
    pub async fn connect(
        config: &KafkaConfig,
        server: &ServerConfig,
        readiness: Readiness,
    ) -> Result<Self, OutputError> {
        let context = KafkaContext {
            readiness: readiness.clone(),
        };
        let producer: FutureProducer<KafkaContext> = producer_config(config, server).create_with_context(context)?;
        let probe = producer.clone();
        kafka::check_reachable(config, move |timeout| probe.client().fetch_metadata(None, timeout)).await?;
        let budget_permits = server.max_in_flight_bytes.div_ceil(PERMIT_BYTES).max(1);
        Ok(Self {
            producer,
            budget: Arc::new(Semaphore::new(budget_permits)),
            budget_permits,
            readiness,
            completed: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Takes budget for `bytes` of record values, waiting a little; `None` when the budget stays full.
    pub async fn reserve(&self, bytes: usize) -> Option<Reservation> {
        let permits = bytes.div_ceil(PERMIT_BYTES).clamp(1, self.budget_permits);
        let permits = u32::try_from(permits).unwrap_or(u32::MAX);
        let acquire = self.budget.clone().acquire_many_owned(permits);
        match tokio::time::timeout(BUDGET_WAIT, acquire).await {
            Ok(Ok(permit)) => Some(Reservation { _permit: permit }),
            // Closed never happens (the semaphore is never closed); a timeout is a full budget.
            Ok(Err(_)) | Err(_) => None,
        }
    }

    /// Queues one record. Hot path: librdkafka copies key and value, so both may be borrowed.
    pub fn send(&self, topic: &str, key: &[u8], value: &[u8]) -> Result<DeliveryFuture, KafkaError> {
        self.producer
            .send_result(FutureRecord::to(topic).key(key).payload(value))
            .map_err(|(e, _)| e)
    }

    /// Records that a batch's deliveries all resolved; a success also shows Kafka is back.
    pub fn batch_resolved(&self, any_delivered: bool) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        if any_delivered {
            self.readiness.set(NotReady::KafkaDown, false);
        }
    }

    /// Record bytes (rounded up to KiB per batch) waiting for Kafka.
    pub fn in_flight_bytes(&self) -> usize {
        (self.budget_permits - self.budget.available_permits()) * PERMIT_BYTES
    }

    /// Watches Kafka until `stop`: clears [`NotReady::KafkaDown`] once a metadata request succeeds,
    /// and sets [`NotReady::KafkaStale`] while deliveries are pending and none resolved for
    /// `ack_timeout`. Also publishes the in-flight gauge.
    pub async fn watch(self, ack_timeout: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        const TICK: Duration = Duration::from_millis(250);
        let mut last_seen = self.completed.load(Ordering::Relaxed);
        let mut quiet_since = tokio::time::Instant::now();
        let mut probing: Option<tokio::task::JoinHandle<bool>> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => return,
            }
            let in_flight = self.in_flight_bytes();
            metrics::gauge!(crate::metrics::IN_FLIGHT_BYTES).set(in_flight as f64);
            let done = self.completed.load(Ordering::Relaxed);
            if in_flight == 0 || done != last_seen {
                last_seen = done;
                quiet_since = tokio::time::Instant::now();
            }
            self.readiness
                .set(NotReady::KafkaStale, quiet_since.elapsed() > ack_timeout);
            if let Some(p) = probing.take_if(|p| p.is_finished())
                && p.await.unwrap_or(false)
            {
                self.readiness.set(NotReady::KafkaDown, false);
            }
            if probing.is_none() && self.readiness.holds(NotReady::KafkaDown) {
                let probe = self.producer.clone();
                probing = Some(tokio::task::spawn_blocking(move || {
                    probe.client().fetch_metadata(None, Duration::from_secs(2)).is_ok()
                }));
            }
        }
    }

    /// Waits for everything queued to be delivered, at most `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .unwrap_or(Err(KafkaError::Canceled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_through_properties_win_and_the_queue_follows_the_budget() {
        let mut kafka = KafkaConfig::default();
        kafka.properties.insert("compression.type".into(), "none".into());
        let server = ServerConfig {
            max_in_flight_bytes: 64 << 20,
            ack_timeout_ms: 3_000,
            ..ServerConfig::default()
        };
        let c = producer_config(&kafka, &server);
        assert_eq!(c.get("compression.type"), Some("none"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("queue.buffering.max.kbytes"), Some("65536"));
        assert_eq!(c.get("message.timeout.ms"), Some("8000"));
    }
}
