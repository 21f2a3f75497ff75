//! The one place Kafka clients are configured: every consumer, producer and admin client of the
//! sink worker, the producer library and murron-server is built here from [`KafkaConfig`], so settings cannot drift between commands.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How to reach Kafka.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated host:port list.
    pub brokers: String,
    /// Extra librdkafka properties (security.protocol, sasl.*, ...), passed through unchanged.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            properties: BTreeMap::new(),
        }
    }
}

/// Properties librdkafka applies to consumers only (its CONFIGURATION.md, column C/P = "C").
/// A producer or admin client given one ignores it and logs a CONFWARN at every start, which for a
/// Kafka output is every published batch.
const CONSUMER_ONLY: &[&str] = &[
    "group.id",
    "group.instance.id",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "group.protocol.type",
    "group.protocol",
    "group.remote.assignor",
    "coordinator.query.interval.ms",
    "max.poll.interval.ms",
    "enable.auto.commit",
    "auto.commit.enable",
    "auto.commit.interval.ms",
    "enable.auto.offset.store",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "fetch.error.backoff.ms",
    "isolation.level",
    "enable.partition.eof",
    "check.crcs",
    "auto.offset.reset",
    "offset.store.method",
    "offset.store.path",
    "offset.store.sync.interval.ms",
    "consume.callback.max.messages",
];

/// Properties librdkafka applies to producers only ("P"); a consumer warns about each likewise.
const PRODUCER_ONLY: &[&str] = &[
    "transactional.id",
    "transaction.timeout.ms",
    "enable.idempotence",
    "enable.gapless.guarantee",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.ms",
    "linger.ms",
    "message.send.max.retries",
    "retries",
    "queue.buffering.backpressure.threshold",
    "compression.codec",
    "compression.type",
    "compression.level",
    "batch.num.messages",
    "batch.size",
    "delivery.report.only.error",
    "sticky.partitioning.linger.ms",
    "request.required.acks",
    "acks",
    "request.timeout.ms",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "queuing.strategy",
    "produce.offset.report",
    "partitioner",
];

/// Bootstrap servers plus the operator's pass-through properties, less those in `not_for`, which
/// this kind of client would only warn about. `kafka.properties` is shared by every client.
fn base_config(config: &KafkaConfig, not_for: &[&[&str]]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers);
    for (k, v) in &config.properties {
        if !not_for.iter().any(|list| list.contains(&k.as_str())) {
            c.set(k, v);
        }
    }
    c
}

/// Settings for a consumer: the pass-through properties that apply to consumers.
pub fn consumer_config(config: &KafkaConfig) -> ClientConfig {
    base_config(config, &[PRODUCER_ONLY])
}

/// Settings for an admin client, which librdkafka runs as a producer that sends no records.
fn admin_config(config: &KafkaConfig) -> ClientConfig {
    base_config(config, &[CONSUMER_ONLY, PRODUCER_ONLY])
}

/// Settings for a producer that never duplicates or reorders on retry.
pub fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = base_config(config, &[CONSUMER_ONLY]);
    // Pass-through properties win over these defaults.
    for (k, v) in [
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("compression.type", "lz4"),
    ] {
        if c.get(k).is_none() {
            c.set(k, v);
        }
    }
    c
}

/// Kafka did not answer a metadata request: a wrong address, TLS setting or password.
#[derive(Debug, thiserror::Error)]
#[error(
    "Kafka at {brokers} did not answer a metadata request within 30 s; check kafka.brokers and, \
     for TLS or SASL, kafka.properties (security.protocol, sasl.*, ssl.ca.location)"
)]
pub struct Unreachable {
    pub brokers: String,
    pub source: KafkaError,
}

/// Runs `fetch` (a metadata request) off the async threads, so that an unreachable cluster or refused
/// credentials are an error at start-up instead of records that wait in the client until they time out.
/// Returns the metadata fetched.
pub async fn check_reachable<F>(config: &KafkaConfig, fetch: F) -> Result<rdkafka::metadata::Metadata, Unreachable>
where
    F: FnOnce(Duration) -> Result<rdkafka::metadata::Metadata, KafkaError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || fetch(Duration::from_secs(30)))
        .await
        .unwrap_or(Err(KafkaError::Canceled))
        .map_err(|source| Unreachable {
            brokers: config.brokers.clone(),
            source,
        })
}

/// Creates `topic` with `partitions` partitions unless it exists already.
pub async fn ensure_topic(config: &KafkaConfig, topic: &str, partitions: i32) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = admin_config(config).create()?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics([&new], &opts).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use rdkafka::client::ClientContext;
    use rdkafka::config::RDKafkaLogLevel;
    use rdkafka::consumer::{BaseConsumer, ConsumerContext};
    use rdkafka::producer::{BaseProducer, DeliveryResult, ProducerContext};

    use super::*;

    /// Keeps librdkafka's configuration warnings.
    #[derive(Clone, Default)]
    struct Warnings(Arc<Mutex<Vec<String>>>);

    impl ClientContext for Warnings {
        fn log(&self, _: RDKafkaLogLevel, fac: &str, message: &str) {
            if fac == "CONFWARN" {
                self.0.lock().expect("lock").push(message.to_owned());
            }
        }
    }
    impl ConsumerContext for Warnings {}
    impl ProducerContext for Warnings {
        type DeliveryOpaque = ();
        fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
    }

    impl Warnings {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut self.0.lock().expect("lock"))
        }
    }

    const POLL: Duration = Duration::from_millis(200);

    fn shared_properties() -> KafkaConfig {
        KafkaConfig {
            // Nothing listens here; creating a client does not connect.
            brokers: "127.0.0.1:1".into(),
            properties: [
                ("session.timeout.ms", "6000"),
                ("heartbeat.interval.ms", "1000"),
                ("fetch.wait.max.ms", "100"),
                ("linger.ms", "20"),
                ("compression.type", "snappy"),
                ("socket.keepalive.enable", "true"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        }
    }

    #[test]
    fn each_client_gets_the_shared_properties_that_apply_to_it_and_warns_about_none() {
        let config = shared_properties();
        let warnings = Warnings::default();
        // The control: every shared property given to a producer draws librdkafka's warning.
        let mut unfiltered = base_config(&config, &[]);
        // rdkafka takes the client's log level from the `log` crate, which has no logger in tests.
        let p: BaseProducer<Warnings> = unfiltered
            .set_log_level(RDKafkaLogLevel::Warning)
            .create_with_context(warnings.clone())
            .expect("producer");
        // rdkafka queues librdkafka's log lines; a poll hands them to the context.
        p.poll(POLL);
        let control = warnings.take();
        assert!(control.iter().any(|w| w.contains("session.timeout.ms")), "{control:?}");

        let mut producer = producer_config(&config);
        producer.set_log_level(RDKafkaLogLevel::Warning);
        let p: BaseProducer<Warnings> = producer.create_with_context(warnings.clone()).expect("producer");
        p.poll(POLL);
        let mut consumer = consumer_config(&config);
        consumer.set_log_level(RDKafkaLogLevel::Warning);
        let c: BaseConsumer<Warnings> = consumer
            .clone()
            .set("group.id", "g")
            .create_with_context(warnings.clone())
            .expect("consumer");
        // Served until POLL is over: a poll returns early with the refused connection's error.
        let until = std::time::Instant::now() + POLL;
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            let _ = c.poll(left);
        }
        let mut admin = admin_config(&config);
        admin.set_log_level(RDKafkaLogLevel::Warning);
        let a: BaseProducer<Warnings> = admin.create_with_context(warnings.clone()).expect("admin");
        a.poll(POLL);
        assert_eq!(warnings.take(), Vec::<String>::new());

        // What applies is passed through, and wins over Murron's defaults.
        assert_eq!(producer.get("linger.ms"), Some("20"));
        assert_eq!(producer.get("compression.type"), Some("snappy"));
        assert_eq!(producer.get("session.timeout.ms"), None);
        assert_eq!(consumer.get("session.timeout.ms"), Some("6000"));
        assert_eq!(consumer.get("linger.ms"), None);
        for c in [&producer, &consumer, &admin] {
            assert_eq!(c.get("socket.keepalive.enable"), Some("true"));
            assert_eq!(c.get("bootstrap.servers"), Some("127.0.0.1:1"));
        }
        assert_eq!(admin.get("fetch.wait.max.ms"), None);
        assert_eq!(admin.get("linger.ms"), None);
    }
}
