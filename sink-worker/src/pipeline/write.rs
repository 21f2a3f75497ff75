//! Writing one batch exactly once (docs/EXACTLY_ONCE.md):
//!
//! 1. In one state-database transaction, claim every partition's commit point (fencing), and lock
//!    and read the received offsets of every stream in the batch to drop duplicates.
//! 2. Convert the kept events, and let every output stage them (upload files and blobs to staging keys,
//!    insert warehouse rows), with the dead letters, all inside that transaction.
//! 3. Record the staged objects in the manifest, add the received offsets, advance the commit points:
//!    commit.
//! 4. Publish: every output makes its committed entries visible (promote a file to its final key,
//!    produce a blob) and marks them published. A crash here is finished by whoever starts next
//!    ([`Writer::publish`] with [`Publish::All`]), since the manifest says what is left.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use murron_wire::envelope;

use super::batch::Batch;
use super::convert::{self, RowMeta};
use super::dead_letters::{DeadLetter, DeadLetters};
use super::schemas::KnownSchema;
use super::track::{self, Streams};
use crate::config::KafkaConfig;
use crate::config::outputs::Format;
use crate::config::pipeline::Pipeline;
use crate::format::{FormatError, file_format};
use crate::output::{
    self, Converted, Group, Output, OutputError, Prepared, Refused, Row, Staging, iceberg, staging_prefix,
};
use crate::state::{Commit, State, StateError};
use crate::storage::{ObjectStore, StoreError};

/// Why a batch was not written. Everything but `Lost` and `Fatal` is retried with the same batch.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Another worker moved these partitions' commit points: drop them from the batch.
    #[error("partitions taken over by another worker: {0:?}")]
    Lost(Vec<super::batch::PartitionKey>),
    /// Retrying cannot help; the worker stops without committing.
    #[error("{0}")]
    Fatal(String),
}

impl WriteError {
    pub fn is_retryable(&self) -> bool {
        match self {
            WriteError::State(_) => true,
            WriteError::Store(e) => e.is_retryable(),
            WriteError::Output(e) => e.is_retryable(),
            WriteError::Lost(_) | WriteError::Fatal(_) => false,
        }
    }
}

/// Counts of one written batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub events: u64,
    pub duplicates: u64,
    pub sampled_out: u64,
    pub dead: u64,
    pub files: u64,
}

/// Which committed output [`Writer::publish`] moves to its final place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Everything of the pipeline: at start-up and after a rebalance, when another worker may have
    /// stopped between its commit and its publish.
    All,
    /// Only what this writer committed (its batch ids are in the staging keys): after each of its
    /// own batches, so that workers sharing a pipeline do not each copy every worker's files.
    Own,
}

/// Writes batches of one pipeline.
pub struct Writer {
    state: State,
    pipeline: String,
    sample_rate: u32,
    outputs: Vec<Arc<dyn Output>>,
    /// The file formats the outputs need, each encoded once per group.
    formats: Vec<Format>,
    dead_letters: DeadLetters,
    instance: String,
    sequence: u64,
    /// Archive mode: every decodable envelope is kept as it is; no stream tracking or deduplication.
    raw: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Opens every output and the dead-letter store.
    pub async fn open(pipeline: &Pipeline, kafka: &KafkaConfig, state: State) -> Result<Self, WriteError> {
        let dead_letters = DeadLetters::open(&pipeline.dead_letter_or_default()).await?;
        let outputs = output::open(pipeline, kafka, dead_letters.store(), state.pool()).await?;
        let mut formats: Vec<Format> = outputs.iter().filter_map(|o| o.format()).collect();
        formats.sort_by_key(|f| file_format(*f).extension());
        formats.dedup();
        let mut rand = [0u8; 4];
        getrandom::fill(&mut rand).map_err(|e| WriteError::Fatal(format!("no randomness: {e}")))?;
        Ok(Self {
            state,
            pipeline: pipeline.name.clone(),
            sample_rate: pipeline.sample_rate,
            outputs,
            formats,
            dead_letters,
            instance: hex::encode(rand),
            sequence: 0,
            raw: pipeline.archive_to.is_some(),
        })
    }

    /// Publishes committed but unpublished entries of the pipeline's manifest, oldest first: all of
    /// them, including any a stopped worker left behind, or only this writer's own. Idempotent, so
    /// several workers may run it.
    pub async fn publish(&self, scope: Publish) -> Result<u64, WriteError> {
        let own = format!("-{}-", self.instance);
        let pending = self
            .state
            .unpublished(match scope {
                Publish::All => None,
                Publish::Own => Some(&own),
            })
            .await?;
        let mut done = 0;
        for f in &pending {
            // Outputs in one store share its name, and publishing there is the same promotion (through
            // the first such output's client: before, the dead-letter store's).
            if let Some(output) = self.outputs.iter().find(|o| o.name() == f.store) {
                output.publish(f).await?;
            } else if f.store == self.dead_letters.store().describe() {
                self.dead_letters.store().promote(&f.staging_key, &f.final_key).await?;
            } else {
                tracing::warn!(store = %f.store, key = %f.final_key, "committed output this pipeline no longer has; left unpublished");
                continue;
            }
            self.state.mark_published(&[f.id]).await?;
            done += 1;
        }
        Ok(done)
    }

    /// Deletes staged objects of batches that never committed (a worker died before its commit):
    /// those under this pipeline's staging prefix older than `min_age`. Call it after [`Self::publish`],
    /// which moves or deletes every committed one, so what is left and old is an orphan.
    pub async fn remove_orphans(&self, min_age: Duration) -> Result<u64, WriteError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let cutoff = now_ms.saturating_sub(min_age.as_millis() as u64);
        let stores = self.outputs.iter().filter_map(|o| o.store());
        let mut seen = HashSet::new();
        let mut removed = 0;
        for store in std::iter::once(self.dead_letters.store()).chain(stores) {
            if seen.insert(store.describe()) {
                removed += remove_orphans(store, &self.pipeline, cutoff, &self.state).await?;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed staged objects of batches that never committed");
        }
        Ok(removed)
    }

    /// A name unique to this batch that sorts by time. `publish(Publish::Own)` finds this writer's
    /// files by the `-{instance}-` in it.
    fn batch_id(&mut self) -> String {
        self.sequence += 1;
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!("{ms:013}-{}-{:06}", self.instance, self.sequence)
    }

    /// Writes `batch` exactly once; see the module docs.
    pub async fn write(
        &mut self,
        batch: &Batch,
        schemas: &HashMap<u32, Arc<KnownSchema>>,
    ) -> Result<Written, WriteError> {
        let started = Instant::now();
        let batch_id = self.batch_id();
        let mut commit = self.state.begin().await?;
        claim(&mut commit, batch).await?;
        let rows = decode_rows(batch)?;
        let streams = Streams::of(&rows, self.raw);
        let received = if self.raw {
            HashMap::new()
        } else {
            commit.received(&streams.keys).await?
        };
        let selection = track::select(&rows, &streams, &received, batch.from_kafka, self.sample_rate);

        let mut stage_started = Instant::now();
        let mut unconvertible = Vec::new();
        let converted = if self.raw {
            Vec::new()
        } else {
            self.convert(&rows, &selection.groups, schemas, &mut unconvertible)?
        };
        stage_done("convert", &mut stage_started);

        let sources: Vec<(String, i32, i64)> = batch
            .segments
            .iter()
            .map(|(k, seg)| (k.0.to_string(), k.1, seg.end))
            .collect();
        let starts: Vec<i64> = batch.segments.values().map(|seg| seg.start).collect();
        let prepared = Prepared {
            batch_id: &batch_id,
            rows: &rows,
            groups: &selection.groups,
            converted: &converted,
            from_kafka: batch.from_kafka,
            sources: &sources,
            starts: &starts,
        };
        let mut staging = Staging::new(&self.pipeline, &batch_id);
        for output in &self.outputs {
            output.stage(&prepared, commit.conn(), &mut staging).await?;
        }
        let refused = std::mem::take(&mut staging.refused);
        let letters = dead_letters(batch, &rows, &unconvertible, &refused);
        self.dead_letters.stage(&letters, &batch_id, &mut staging).await?;
        stage_done("outputs", &mut stage_started);

        commit.record_files(&staging.files).await?;
        commit.add_received(&selection.updates).await?;
        if batch.from_kafka {
            for (key, seg) in &batch.segments {
                commit.advance(&key.0, key.1, seg.end).await?;
            }
        }
        commit.commit().await?;
        stage_done("commit", &mut stage_started);

        // Committed: the batch is durable. Publishing (Runner::publish) makes it visible.
        let written = Written {
            events: if self.raw {
                selection.groups.iter().map(|g| g.rows.len() as u64).sum()
            } else {
                converted.iter().map(|c| c.batch.num_rows() as u64).sum()
            },
            duplicates: selection.duplicates,
            sampled_out: selection.sampled_out,
            dead: letters.len() as u64,
            files: staging.files.len() as u64,
        };
        metrics::histogram!("murron_sink_flush_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("murron_sink_duplicates_total").increment(written.duplicates);
        metrics::counter!("murron_sink_sampled_out_total").increment(written.sampled_out);
        Ok(written)
    }

    /// Converts each group once and encodes it once in every format the outputs need. A group that
    /// cannot be converted or encoded (arrow-avro and the Parquet writer do not support every
    /// construct; the Parquet writer panics on unions) becomes dead letters (`unconvertible`) in every
    /// output, so that one schema cannot stop the pipeline.
    fn convert(
        &self,
        rows: &[Row<'_>],
        groups: &[Group<'_>],
        schemas: &HashMap<u32, Arc<KnownSchema>>,
        unconvertible: &mut Vec<(usize, String)>,
    ) -> Result<Vec<Converted>, WriteError> {
        let mut converted = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let Some(schema) = schemas.get(&group.schema_id) else {
                return Err(WriteError::Fatal(format!(
                    "schema {} missing from the cache",
                    group.schema_id
                )));
            };
            let metas: Vec<RowMeta<'_>> = group
                .rows
                .iter()
                .map(|&i| {
                    let row = &rows[i];
                    RowMeta {
                        envelope: row.envelope,
                        datum: murron_wire::framing::split_wire_format(row.envelope.message)
                            .map_or(&[][..], |(_, d)| d),
                        kafka_topic: row.topic,
                        kafka_partition: row.partition,
                        kafka_offset: row.kafka_offset,
                    }
                })
                .collect();
            let encoded = tokio::task::block_in_place(|| {
                let batch =
                    convert::to_record_batch(&schema.schema, group.variant, &metas).map_err(|e| e.to_string())?;
                let mut files = HashMap::new();
                for format in &self.formats {
                    let encoder = file_format(*format);
                    let body = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encoder.encode(&batch)))
                        .map_err(|_| format!("the {} encoder cannot write this schema", encoder.extension()))?
                        .map_err(|e: FormatError| format!("{}: {e}", encoder.extension()))?;
                    files.insert(*format, body);
                }
                Ok::<_, String>(Converted { group: g, batch, files })
            });
            match encoded {
                Ok(c) => converted.push(c),
                Err(e) => {
                    tracing::warn!(schema_id = group.schema_id, error = %e, "events cannot be converted; dead-lettering them");
                    unconvertible.extend(group.rows.iter().map(|&i| (i, e.clone())));
                }
            }
        }
        Ok(converted)
    }
}

/// Claims every Kafka partition of the batch at its segment's start: fails with the partitions whose
/// commit point another worker moved.
async fn claim(commit: &mut Commit, batch: &Batch) -> Result<(), WriteError> {
    let mut lost = Vec::new();
    for (key, seg) in &batch.segments {
        if batch.from_kafka && !commit.claim(&key.0, key.1, seg.start).await? {
            lost.push(key.clone());
        }
    }
    if lost.is_empty() {
        Ok(())
    } else {
        Err(WriteError::Lost(lost))
    }
}

/// Decodes the batch's valid events again (zero-copy), in Kafka order.
fn decode_rows(batch: &Batch) -> Result<Vec<Row<'_>>, WriteError> {
    let mut rows = Vec::with_capacity(batch.records);
    for (key, seg) in &batch.segments {
        for e in &seg.valid {
            let (_, envelope) = envelope::decode(&e.value).map_err(|_| {
                WriteError::Fatal(format!(
                    "record {}:{}@{} no longer decodes",
                    key.0, key.1, e.kafka_offset
                ))
            })?;
            rows.push(Row {
                topic: &key.0,
                partition: key.1,
                kafka_offset: e.kafka_offset,
                schema_id: e.schema_id,
                variant: e.variant,
                envelope,
                value: &e.value,
            });
        }
    }
    Ok(rows)
}

/// The batch's dead letters: events that failed a check, then valid ones that could not be converted
/// (`unconvertible`) or that an output refused.
fn dead_letters<'a>(
    batch: &'a Batch,
    rows: &'a [Row<'a>],
    unconvertible: &'a [(usize, String)],
    refused: &'a [Refused],
) -> Vec<DeadLetter<'a>> {
    let mut letters = Vec::new();
    for (key, seg) in &batch.segments {
        letters.extend(seg.dead.iter().map(|d| DeadLetter {
            topic: &key.0,
            partition: key.1,
            kafka_offset: d.kafka_offset,
            kafka_timestamp_ms: d.kafka_timestamp_ms,
            reason: d.reason,
            detail: &d.detail,
            value: &d.value,
        }));
    }
    let failed = unconvertible
        .iter()
        .map(|(i, detail)| (*i, "unconvertible", detail.as_str()));
    let refused = refused.iter().map(|r| (r.row, r.reason, r.detail.as_str()));
    for (i, reason, detail) in failed.chain(refused) {
        metrics::counter!("murron_sink_invalid_total", "reason" => reason).increment(1);
        let row = &rows[i];
        letters.push(DeadLetter {
            topic: row.topic,
            partition: row.partition,
            kafka_offset: row.kafka_offset,
            kafka_timestamp_ms: None,
            reason,
            detail,
            value: row.value,
        });
    }
    letters
}

/// Records how long a stage of writing a batch took, and starts the next stage's clock. Stages:
/// `convert` (decode and encode every file), `outputs` (stage files, blobs and warehouse rows, and the
/// dead letters), `commit` (the state database's transaction) and `publish` (see [`Writer::publish`]).
pub fn stage_done(stage: &'static str, started: &mut Instant) {
    let now = Instant::now();
    metrics::histogram!("murron_sink_flush_stage_seconds", "stage" => stage).record((now - *started).as_secs_f64());
    *started = now;
}

/// Deletes objects under the pipeline's staging prefix whose batch id (it starts with the batch's Unix
/// time in milliseconds) is older than `cutoff_ms`. An Iceberg intent also names files outside the
/// staging area: those of a batch that never committed are deleted with it, while a committed one's
/// (checked in the manifest, as a guard against deleting table data) is only finished.
async fn remove_orphans(store: &ObjectStore, pipeline: &str, cutoff_ms: u64, state: &State) -> Result<u64, WriteError> {
    let prefix = staging_prefix(pipeline);
    let mut removed = 0;
    for obj in store.list(&prefix).await? {
        let batch_ms = obj.key[prefix.len()..]
            .split(['-', '/'])
            .next()
            .and_then(|ms| ms.parse::<u64>().ok());
        if batch_ms.is_none_or(|ms| ms >= cutoff_ms) {
            continue;
        }
        if obj.key.ends_with(&format!(".{}", iceberg::intent::EXTENSION)) {
            if state.recorded(&obj.key).await? {
                iceberg::intent::finish(store, &obj.key).await?;
            } else {
                removed += iceberg::intent::discard(store, &obj.key).await?;
            }
        } else {
            store.delete(&obj.key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_old_staged_objects_of_this_pipeline_are_removed_as_orphans() {
        use crate::config::storage::{LocalConfig, StoreConfig};
        let root = std::env::temp_dir().join(format!("murron-orphans-{}", std::process::id()));
        let store = ObjectStore::open(&StoreConfig::Local(LocalConfig { path: root.clone() }))
            .await
            .unwrap();
        for key in [
            "_murron/staging/p/0000000001000-aa-000001/1.parquet",
            "_murron/staging/p/0000000009000-aa-000002/1.parquet",
            "_murron/staging/other/0000000001000-aa-000001/1.parquet",
            "events/t/dt=1970-01-01/hr=00/0000000001000-aa-000001-1.parquet",
        ] {
            store.put(key, b"x".to_vec()).await.unwrap();
        }
        // No Iceberg intent among them, so the state database is never asked.
        let state = State::new(sqlx::PgPool::connect_lazy("postgres://nowhere/none").unwrap(), "p");
        assert_eq!(remove_orphans(&store, "p", 5000, &state).await.unwrap(), 1);
        let left: Vec<String> = store.list("").await.unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(
            left,
            [
                "_murron/staging/other/0000000001000-aa-000001/1.parquet",
                "_murron/staging/p/0000000009000-aa-000002/1.parquet",
                "events/t/dt=1970-01-01/hr=00/0000000001000-aa-000001-1.parquet",
            ]
        );
        let _ = std::fs::remove_dir_all(root);
    }
}
