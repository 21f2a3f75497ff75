//! The dead-letter path: every event a batch cannot write, with its reason, as one JSON-lines file per
//! batch under `{prefix}/dt=…/hr=…/` by processing time, staged and committed with the batch like any
//! output's file, so that nothing is lost and nothing is dead-lettered twice.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use murron_wire::hours::{hour_of_micros, hour_partition};
use serde_json::json;

use crate::config::pipeline::DeadLetter as DeadLetterConfig;
use crate::output::{Staging, join};
use crate::storage::{ObjectStore, StoreError};

/// One event that will not be written, and why.
#[derive(Debug)]
pub struct DeadLetter<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub kafka_offset: i64,
    pub kafka_timestamp_ms: Option<i64>,
    /// The stable reason code (docs/PROTOCOL.md).
    pub reason: &'a str,
    pub detail: &'a str,
    /// The record value as it came.
    pub value: &'a [u8],
}

impl DeadLetter<'_> {
    /// Appends the letter as one JSON line.
    fn push_line(&self, out: &mut Vec<u8>, now_us: i64) {
        let line = json!({
            "reason": self.reason,
            "detail": self.detail,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.kafka_offset,
            "kafka_timestamp_ms": self.kafka_timestamp_ms,
            "dead_lettered_at_us": now_us,
            "value_base64": base64::engine::general_purpose::STANDARD.encode(self.value),
        });
        // Serializing a json! value cannot fail.
        if serde_json::to_writer(&mut *out, &line).is_ok() {
            out.push(b'\n');
        }
    }
}

/// Where a pipeline's dead letters go.
#[derive(Debug)]
pub struct DeadLetters {
    store: ObjectStore,
    prefix: String,
}

impl DeadLetters {
    pub async fn open(config: &DeadLetterConfig) -> Result<Self, StoreError> {
        Ok(Self {
            store: ObjectStore::open(&config.store).await?,
            prefix: config.prefix.trim_end_matches('/').to_owned(),
        })
    }

    /// The store: Kafka outputs stage their blobs in it too.
    pub fn store(&self) -> &ObjectStore {
        &self.store
    }

    /// Stages `letters` as the batch's dead-letter file, if there are any.
    pub async fn stage(
        &self,
        letters: &[DeadLetter<'_>],
        batch_id: &str,
        staging: &mut Staging,
    ) -> Result<(), StoreError> {
        if letters.is_empty() {
            return Ok(());
        }
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let mut lines = Vec::new();
        for letter in letters {
            letter.push_line(&mut lines, now_us);
        }
        let staging_key = staging.dead_letter_key();
        let final_key = join(
            &self.prefix,
            &format!("{}/{batch_id}.jsonl", hour_partition(hour_of_micros(now_us))),
        );
        let name = self.store.describe();
        staging
            .put(&self.store, name, staging_key, final_key, lines, letters.len())
            .await
    }
}
