//! The one place Kafka clients are configured: every consumer, producer and admin client of the
//! sink worker is built here from [`KafkaConfig`], so settings cannot drift between commands.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::KafkaConfig;

/// Base client settings: bootstrap servers plus the operator's pass-through properties.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers);
    for (k, v) in &config.properties {
        c.set(k, v);
    }
    c
}

/// Settings for a producer that never duplicates or reorders on retry.
pub fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = client_config(config);
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
    let admin: AdminClient<DefaultClientContext> = client_config(config).create()?;
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
