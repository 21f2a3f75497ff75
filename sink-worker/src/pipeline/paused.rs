//! Partitions held back while the registry cannot resolve the schema of their next record
//! (docs/SINK.md, "Registry outages"). The run loop pauses such a partition in the consumer and seeks
//! it back to that record, so nothing after it is read, reordered or committed, while the other
//! partitions, and every record of a cached schema, flow on. Each missing schema is looked up again
//! in a task of its own (a hanging registry holds up nobody) with the project's one backoff; once the
//! registry answers, found or not, the partitions waiting for it resume from the held record.

use std::collections::HashMap;
use std::time::Instant;

use murron_connect::registry::RegistryError;
use murron_connect::retry::backoff_delay;
use tokio::task::JoinHandle;

use super::batch::PartitionKey;
use super::schemas::{Lookup, SchemaCache};

/// The partitions held back, and the lookups that will let them go.
#[derive(Debug, Default)]
pub struct Paused {
    /// Each held partition and the schema id its next record needs.
    partitions: HashMap<PartitionKey, u32>,
    /// Per schema id waited for: when to ask next, or the lookup in flight.
    lookups: HashMap<u32, Retry>,
}

#[derive(Debug)]
struct Retry {
    /// Failed lookups so far.
    attempt: u32,
    next_at: Instant,
    running: Option<JoinHandle<Result<Lookup, RegistryError>>>,
}

impl Paused {
    /// Whether no partition is held; the run loop checks this per record, so it must stay a field read.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    pub fn holds(&self, key: &PartitionKey) -> bool {
        self.partitions.contains_key(key)
    }

    /// Holds `key` until `schema_id` resolves; the lookup that just failed counts as the first attempt.
    pub fn hold(&mut self, key: PartitionKey, schema_id: u32) {
        gauge(&key, 1.0);
        self.partitions.insert(key, schema_id);
        self.lookups.entry(schema_id).or_insert_with(|| Retry {
            attempt: 1,
            next_at: Instant::now() + backoff_delay(1),
            running: None,
        });
    }

    /// Forgets `key` (revoked, or taken over by another worker); whether it was held.
    pub fn release(&mut self, key: &PartitionKey) -> bool {
        let held = self.partitions.remove(key).is_some();
        if held {
            gauge(key, 0.0);
        }
        held
    }

    /// Moves the lookups on: takes the answers of those that finished (into `schemas`), starts those
    /// due, and returns the partitions whose schema the registry answered, to resume.
    pub async fn poll(&mut self, schemas: &mut SchemaCache) -> Vec<PartitionKey> {
        let wanted: Vec<u32> = self.partitions.values().copied().collect();
        self.lookups.retain(|id, retry| {
            let keep = wanted.contains(id);
            if !keep && let Some(task) = &retry.running {
                task.abort();
            }
            keep
        });
        let now = Instant::now();
        let mut answered = Vec::new();
        for (&id, retry) in &mut self.lookups {
            if let Some(task) = retry.running.take_if(|t| t.is_finished()) {
                // Finished, so this does not wait. A panicked lookup is an outage like any other.
                let answer = task.await.unwrap_or_else(|e| {
                    Err(RegistryError::Protocol(format!(
                        "the lookup of schema {id} failed: {e}"
                    )))
                });
                if schemas.remember(id, answer).is_ok() {
                    answered.push(id);
                    continue;
                }
                retry.attempt += 1;
                retry.next_at = now + backoff_delay(retry.attempt);
            }
            if retry.running.is_none() && retry.next_at <= now {
                retry.running = Some(tokio::spawn(schemas.lookup(id)));
            }
        }
        self.lookups.retain(|id, _| !answered.contains(id));
        let ready: Vec<PartitionKey> = self
            .partitions
            .iter()
            .filter(|(_, id)| answered.contains(id))
            .map(|(key, _)| key.clone())
            .collect();
        for key in &ready {
            self.release(key);
        }
        ready
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        for task in self.lookups.values().filter_map(|r| r.running.as_ref()) {
            task.abort();
        }
    }
}

/// `murron_sink_partition_paused{topic, partition, reason}`: 1 while the partition is held back.
fn gauge(key: &PartitionKey, value: f64) {
    metrics::gauge!(
        "murron_sink_partition_paused",
        "topic" => key.0.to_string(),
        "partition" => key.1.to_string(),
        "reason" => "registry"
    )
    .set(value);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use murron_connect::registry::{RegistryClient, RegistryConfig};

    fn cache(url: &str) -> SchemaCache {
        let config = RegistryConfig {
            url: url.to_owned(),
            timeout_ms: 500,
            ..RegistryConfig::default()
        };
        SchemaCache::new(RegistryClient::new(&config).expect("client"))
    }

    fn key(partition: i32) -> PartitionKey {
        (Arc::from("t"), partition)
    }

    #[tokio::test]
    async fn a_partition_stays_held_while_its_schema_cannot_be_looked_up() {
        // Nothing listens on port 1: every lookup is an outage.
        let mut schemas = cache("http://127.0.0.1:1");
        let mut paused = Paused::default();
        paused.hold(key(0), 7);
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        while Instant::now() < deadline {
            assert!(paused.poll(&mut schemas).await.is_empty());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(paused.holds(&key(0)));
        assert!(paused.lookups[&7].attempt > 1, "the lookup was retried");
        assert!(schemas.failing());
    }

    #[tokio::test]
    async fn a_released_partition_stops_its_lookups() {
        let mut schemas = cache("http://127.0.0.1:1");
        let mut paused = Paused::default();
        paused.hold(key(0), 7);
        paused.hold(key(1), 7);
        assert!(paused.release(&key(0)));
        assert!(!paused.release(&key(0)), "released once");
        paused.poll(&mut schemas).await;
        assert!(paused.lookups.contains_key(&7), "partition 1 still waits for schema 7");
        paused.release(&key(1));
        paused.poll(&mut schemas).await;
        assert!(paused.is_empty() && paused.lookups.is_empty());
    }

    #[tokio::test]
    async fn an_answer_of_the_registry_resumes_every_partition_waiting_for_it() {
        // A registry that answers every request with 404: the schema is unknown (a dead letter
        // later), which is an answer, not an outage.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = r#"{"error_code":40403,"message":"Schema not found"}"#;
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        let mut schemas = cache(&url);
        let mut paused = Paused::default();
        paused.hold(key(0), 7);
        paused.hold(key(1), 7);
        paused.hold(key(2), 8);
        let mut resumed = Vec::new();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while resumed.len() < 3 && Instant::now() < deadline {
            resumed.extend(paused.poll(&mut schemas).await);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        resumed.sort();
        assert_eq!(resumed, [key(0), key(1), key(2)]);
        assert!(paused.is_empty());
        assert!(matches!(schemas.cached(7), Some(Lookup::Unknown)));
        assert!(!schemas.failing());
    }
}
