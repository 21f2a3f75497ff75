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
    /// Records for it would wait in the client until they time out: say so at start-up instead.
    #[error("topic {0:?} of a pipeline does not exist in Kafka; create it first")]
    MissingTopic(String),
}

/// librdkafka's client-level errors, turned into readiness.
#[derive(Debug, Clone)]
pub struct KafkaContext {
    readiness: Readiness,
}

impl ClientContext for KafkaContext {
    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AllBrokersDown) => self.readiness.set(NotReady::KafkaDown, true),
            Some(RDKafkaErrorCode::Fatal) => {
                self.readiness.set(NotReady::KafkaFatal, true);
                tracing::error!(%error, reason, "fatal Kafka producer error: failing /healthz so the process restarts");
                return;
            }
            _ => {}
        }
        tracing::warn!(%error, reason, "librdkafka");
    }
}

/// Budget held for a batch: released when dropped.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

/// The in-flight byte budget, counted in KiB permits.
#[derive(Debug, Clone)]
pub struct Budget {
    permits: Arc<Semaphore>,
    total: usize,
}

impl Budget {
    pub fn new(bytes: usize) -> Self {
        let total = bytes.div_ceil(PERMIT_BYTES).max(1);
        Self {
            permits: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Takes budget for `bytes`, waiting at most `wait`; `None` when it stays full. A batch larger
    /// than the whole budget takes all of it.
    pub async fn reserve(&self, bytes: usize, wait: Duration) -> Option<Reservation> {
        let permits = bytes.div_ceil(PERMIT_BYTES).clamp(1, self.total);
        let permits = u32::try_from(permits).unwrap_or(u32::MAX);
        let acquire = self.permits.clone().acquire_many_owned(permits);
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(permit)) => Some(Reservation { _permit: permit }),
            // Closed never happens (the semaphore is never closed); a timeout is a full budget.
            Ok(Err(_)) | Err(_) => None,
        }
    }

    /// Bytes reserved now (whole KiB per batch).
    pub fn in_flight_bytes(&self) -> usize {
        (self.total - self.permits.available_permits()) * PERMIT_BYTES
    }
}

/// The Kafka producer and the in-flight budget.
#[derive(Clone)]
pub struct Output {
    producer: FutureProducer<KafkaContext>,
    budget: Budget,
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
/// lz4), then the server's (linger 1 ms, acks from all replicas, librdkafka's queue no larger than the
/// budget, a message timeout past the ack timeout). Pass-through properties win over both.
pub fn producer_config(config: &KafkaConfig, server: &ServerConfig) -> ClientConfig {
    let mut c = kafka::producer_config(config);
    // Every answer waits for Kafka, so the linger is in every publish's latency; a busy server's
    // batches fill librdkafka's without it (BENCHMARKS.md, ingestion edge: 1 ms against 5 ms).
    if !config.properties.contains_key("linger.ms") {
        c.set("linger.ms", "1");
    }
    let kbytes = (server.max_in_flight_bytes / 1024).clamp(1, 2_097_151).to_string();
    let timeout = server.ack_timeout_ms.saturating_add(5_000).to_string();
    for (k, v) in [
        ("enable.idempotence", "true"),
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
    /// Builds the producer, waits until Kafka answers a metadata request and checks that every topic
    /// in `topics` exists.
    pub async fn connect(
        config: &KafkaConfig,
        server: &ServerConfig,
        topics: &[&str],
        readiness: Readiness,
    ) -> Result<Self, OutputError> {
        let context = KafkaContext {
            readiness: readiness.clone(),
        };
        let producer: FutureProducer<KafkaContext> = producer_config(config, server).create_with_context(context)?;
        let probe = producer.clone();
        let metadata =
            kafka::check_reachable(config, move |timeout| probe.client().fetch_metadata(None, timeout)).await?;
        if let Some(missing) = topics
            .iter()
            .find(|t| !metadata.topics().iter().any(|m| m.name() == **t && m.error().is_none()))
        {
            return Err(OutputError::MissingTopic((*missing).to_owned()));
        }
        Ok(Self {
            producer,
            budget: Budget::new(server.max_in_flight_bytes),
            readiness,
            completed: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Takes budget for `bytes` of record values, waiting a little; `None` when the budget stays full.
    pub async fn reserve(&self, bytes: usize) -> Option<Reservation> {
        self.budget.reserve(bytes, BUDGET_WAIT).await
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
        self.budget.in_flight_bytes()
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

    #[tokio::test]
    async fn the_budget_pushes_back_until_reserved_bytes_are_released() {
        let budget = Budget::new(4 * 1024);
        let wait = Duration::from_millis(20);
        let first = budget.reserve(3 * 1024, wait).await.expect("room for 3 KiB");
        assert_eq!(budget.in_flight_bytes(), 3 * 1024);
        assert!(budget.reserve(2 * 1024, wait).await.is_none(), "only 1 KiB left");
        let small = budget.reserve(100, wait).await.expect("a partial KiB takes one permit");
        drop(first);
        drop(small);
        assert_eq!(budget.in_flight_bytes(), 0);
        // Larger than the whole budget: it takes all of it rather than waiting forever.
        let all = budget.reserve(1 << 20, wait).await.expect("the whole budget");
        assert!(budget.reserve(1, wait).await.is_none());
        drop(all);
    }

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
        assert_eq!(c.get("linger.ms"), Some("1"));
        kafka.properties.insert("linger.ms".into(), "20".into());
        assert_eq!(producer_config(&kafka, &server).get("linger.ms"), Some("20"));
    }
}
