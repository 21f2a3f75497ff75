//! Straight to Kafka: an idempotent producer with acks from all in-sync replicas, records keyed
//! `"{host}:{pid}"` to the topic fixed when their type was opened.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use murron_connect::kafka::{self, KafkaConfig};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::{CheckFuture, Delivery, DeliveryFuture, Transport};
use crate::error::ProducerError;
use crate::record::{Outcome, Record};
use crate::sender::BufferLimits;

/// Records per `deliver` call, and calls in flight: librdkafka batches the network side itself.
const MAX_BATCH: usize = 1_000;
const MAX_IN_FLIGHT: usize = 64;

/// The Kafka transport. After a fatal idempotence error it builds a new client: the records of
/// the failed batch are retried through it, the same bytes.
#[derive(Clone)]
pub struct KafkaTransport {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ClientConfig,
    producer: RwLock<FutureProducer>,
}

impl std::fmt::Debug for KafkaTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTransport")
            .field("brokers", &self.inner.settings.get("bootstrap.servers"))
            .finish_non_exhaustive()
    }
}

/// The producer settings: murron-connect's (idempotence, linger, lz4; the operator's properties
/// win), plus what at-least-once within our own buffer bound needs, unless set.
pub fn settings(config: &KafkaConfig, limits: BufferLimits) -> ClientConfig {
    let mut c = kafka::producer_config(config);
    let kbytes = (limits.max_bytes / 1024).max(1).to_string();
    let messages = limits.max_events.to_string();
    for (k, v) in [
        ("acks", "all"),
        ("max.in.flight.requests.per.connection", "5"),
        // librdkafka never holds more than the producer's own buffer.
        ("queue.buffering.max.kbytes", kbytes.as_str()),
        ("queue.buffering.max.messages", messages.as_str()),
        // A record that times out comes back as a retry, and the same bytes are produced again.
        ("message.timeout.ms", "120000"),
    ] {
        if c.get(k).is_none() {
            c.set(k, v);
        }
    }
    c
}

impl KafkaTransport {
    /// Creates the client and checks that Kafka answers a metadata request.
    pub async fn connect(config: &KafkaConfig, limits: BufferLimits) -> Result<Self, ProducerError> {
        let settings = settings(config, limits);
        let producer: FutureProducer = settings.create()?;
        let probe = producer.clone();
        kafka::check_reachable(config, move |timeout| probe.client().fetch_metadata(None, timeout)).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                producer: RwLock::new(producer),
            }),
        })
    }
}

impl Inner {
    fn producer(&self) -> FutureProducer {
        self.producer.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces a client that hit a fatal error; keeps the old one if a new one cannot be made.
    fn renew(&self, failed: &FutureProducer) {
        let mut current = self.producer.write().unwrap_or_else(PoisonError::into_inner);
        // Another batch may have renewed it already.
        if current.client().fatal_error().is_none() && !std::ptr::eq(current.client(), failed.client()) {
            return;
        }
        match self.settings.create::<FutureProducer>() {
            Ok(p) => {
                tracing::warn!("kafka producer hit a fatal error; a new one resends the pending records");
                *current = p;
            }
            Err(e) => tracing::error!(error = %e, "kafka producer could not be rebuilt after a fatal error"),
        }
    }
}

/// A delivery error as an outcome: refused when the same bytes can never be stored, else a retry.
fn outcome(e: &KafkaError) -> Outcome {
    let code = match e {
        KafkaError::MessageProduction(code) => Some(*code),
        _ => e.rdkafka_error_code(),
    };
    let refused = |reason: &str| Outcome::Refused {
        reason: reason.to_string(),
        detail: e.to_string(),
    };
    match code {
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
            refused("message_too_large")
        }
        Some(RDKafkaErrorCode::TopicAuthorizationFailed) => refused("topic_authorization_failed"),
        // librdkafka's own verdict that the topic does not exist; the broker's
        // UnknownTopicOrPartition is also seen while a topic is being created or moved: a retry.
        Some(RDKafkaErrorCode::UnknownTopic) => refused("unknown_topic"),
        Some(RDKafkaErrorCode::InvalidRecord | RDKafkaErrorCode::InvalidMessage) => refused("invalid_record"),
        Some(RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::RequestTimedOut) => Outcome::Retry {
            reason: "kafka_timeout".into(),
        },
        _ => Outcome::Retry {
            reason: "kafka_error".into(),
        },
    }
}

fn is_fatal(e: &KafkaError) -> bool {
    matches!(e, KafkaError::MessageProduction(RDKafkaErrorCode::Fatal))
        || e.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal)
}

impl Transport for KafkaTransport {
    fn check_topic(&self, topic: &str) -> CheckFuture {
        let (producer, topic) = (self.inner.producer(), topic.to_string());
        Box::pin(async move {
            let lookup = tokio::task::spawn_blocking(move || {
                let metadata = producer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(10))
                    .map_err(|e| format!("metadata of topic {topic:?}: {e}"))?;
                match metadata.topics().iter().find(|t| t.name() == topic) {
                    Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
                    Some(t) => Err(match t.error() {
                        Some(e) => format!("topic {topic:?}: {}", RDKafkaErrorCode::from(e)),
                        None => format!("topic {topic:?} has no partitions"),
                    }),
                    None => Err(format!("topic {topic:?} does not exist")),
                }
            });
            lookup.await.unwrap_or_else(|e| Err(e.to_string()))
        })
    }

    fn deliver(&self, batch: Vec<Record>) -> DeliveryFuture {
        let inner = self.inner.clone();
        Box::pin(async move {
            let producer = inner.producer();
            let mut waiting = Vec::with_capacity(batch.len());
            for r in &batch {
                let Some(topic) = r.topic.as_deref() else {
                    waiting.push(Err(Outcome::Refused {
                        reason: "unrouted_type".into(),
                        detail: format!("no topic for type {:?}", r.event_type),
                    }));
                    continue;
                };
                let mut record = FutureRecord::to(topic).key(&r.key[..]).payload(&r.value[..]);
                loop {
                    match producer.send_result(record) {
                        Ok(delivery) => break waiting.push(Ok(delivery)),
                        // The buffer bounds librdkafka's queue too, but resends and other
                        // producers' records can fill it for a moment.
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            record = back;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err((e, _)) => break waiting.push(Err(outcome(&e))),
                    }
                }
            }
            let mut fatal = producer.client().fatal_error().is_some();
            let mut outcomes = Vec::with_capacity(batch.len());
            for w in waiting {
                outcomes.push(match w {
                    Err(o) => o,
                    Ok(delivery) => match delivery.await {
                        Ok(Ok(_)) => Outcome::Acked,
                        Ok(Err((e, _))) => {
                            fatal |= is_fatal(&e);
                            outcome(&e)
                        }
                        Err(_) => Outcome::Retry {
                            reason: "kafka_canceled".into(),
                        },
                    },
                });
            }
            if fatal {
                inner.renew(&producer);
            }
            Delivery {
                outcomes,
                retry_after: None,
            }
        })
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn max_in_flight(&self) -> usize {
        MAX_IN_FLIGHT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_add_acks_all_and_the_buffer_bound_but_the_operator_wins() {
        let config = KafkaConfig {
            brokers: "127.0.0.1:1".into(),
            properties: [("message.timeout.ms".to_string(), "5000".to_string())].into(),
        };
        let limits = BufferLimits {
            max_events: 10,
            max_bytes: 1 << 20,
        };
        let c = settings(&config, limits);
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("queue.buffering.max.kbytes"), Some("1024"));
        assert_eq!(c.get("queue.buffering.max.messages"), Some("10"));
        assert_eq!(c.get("message.timeout.ms"), Some("5000"));
    }

    #[test]
    fn permanent_kafka_errors_are_refusals_and_the_rest_retries() {
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(matches!(outcome(&e), Outcome::Refused { reason, .. } if reason == "message_too_large"));
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert_eq!(
            outcome(&e),
            Outcome::Retry {
                reason: "kafka_timeout".into()
            }
        );
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert_eq!(
            outcome(&e),
            Outcome::Retry {
                reason: "kafka_error".into()
            }
        );
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::AllBrokersDown);
        assert_eq!(
            outcome(&e),
            Outcome::Retry {
                reason: "kafka_error".into()
            }
        );
    }
}
