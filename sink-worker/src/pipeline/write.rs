//! Writing one batch exactly once (docs/EXACTLY_ONCE.md):
//!
//! 1. In one state-database transaction, claim every partition's commit point (fencing), and lock
//!    and read the received offsets of every stream in the batch to drop duplicates.
//! 2. Convert the kept events, upload every file and the dead letters to a staging key, and insert the
//!    warehouse rows, all inside that transaction.
//! 3. Record the files in the manifest, add the received offsets, advance the commit points: commit.
//! 4. Promote each staged file to its final key and mark it published. A crash here is finished by
//!    whoever starts next ([`Writer::recover`]), since the manifest says what is left.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::json;

use super::batch::{Batch, DeadEvent, PartitionKey};
use super::convert::{self, RowMeta};
use super::schemas::KnownSchema;
use crate::config::KafkaConfig;
use crate::config::outputs::Format;
use crate::config::pipeline::{Output, Pipeline};
use crate::format::{FormatError, file_format};
use crate::sink::kafka_topic::{self, RouteError, TopicRoute};
use crate::state::warehouse::{Warehouse, WarehouseError};
use crate::state::{NewFile, State, StateError, StreamHourUpdate};
use crate::storage::{ObjectStore, StoreError};
use murron_wire::envelope;
use murron_wire::hours::hour_partition;
use murron_wire::ocf::{self, Codec};
use murron_wire::ranges::OffsetRanges;
use murron_wire::stream::StreamKey;

/// Why a batch was not written. Everything but `Fatal` is retried with the same batch.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    #[error("warehouse: {0}")]
    Warehouse(#[from] WarehouseError),
    #[error("kafka output: {0}")]
    Route(#[from] RouteError),
    /// Another worker moved these partitions' commit points: drop them from the batch.
    #[error("partitions taken over by another worker: {0:?}")]
    Lost(Vec<PartitionKey>),
    /// Retrying cannot help; the worker stops without committing.
    #[error("{0}")]
    Fatal(String),
}

impl WriteError {
    pub fn is_retryable(&self) -> bool {
        match self {
            WriteError::State(_) => true,
            WriteError::Store(e) => e.is_retryable(),
            WriteError::Warehouse(e) => e.is_retryable(),
            WriteError::Route(e) => e.is_retryable(),
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

enum Sink {
    Files {
        store: ObjectStore,
        prefix: String,
        format: Format,
    },
    Warehouse(Warehouse),
    Topic(TopicRoute),
    /// The raw archive: envelopes as they came, in Avro container files (`sink-worker archive`).
    Archive {
        store: ObjectStore,
        prefix: String,
        codec: Codec,
    },
}

/// Writes batches of one pipeline.
pub struct Writer {
    state: State,
    pipeline: String,
    sample_rate: u32,
    sinks: Vec<Sink>,
    dead_letter: (ObjectStore, String),
    /// Stores by name, to finish promotions recorded in the manifest.
    stores: HashMap<String, ObjectStore>,
    /// Kafka outputs by name; their blobs are staged in the dead-letter store.
    routes: HashMap<String, TopicRoute>,
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
    /// Opens every output's store.
    pub async fn open(pipeline: &Pipeline, kafka: &KafkaConfig, state: State) -> Result<Self, WriteError> {
        let mut sinks = Vec::new();
        let mut stores = HashMap::new();
        let mut routes = HashMap::new();
        for output in &pipeline.outputs {
            let (prefix, format) = match output {
                Output::Local(f) => (f.prefix.clone(), f.format),
                Output::S3(f) => (f.prefix.clone(), f.format),
                Output::Postgres(config) => {
                    sinks.push(Sink::Warehouse(Warehouse::new(config.clone())));
                    continue;
                }
                Output::Kafka(config) => {
                    let route = TopicRoute::new(kafka, config, &pipeline.name, &pipeline.group());
                    let probe = route.clone();
                    tokio::task::spawn_blocking(move || probe.check())
                        .await
                        .map_err(|e| WriteError::Fatal(format!("topic check panicked: {e}")))??;
                    routes.insert(route.describe(), route.clone());
                    sinks.push(Sink::Topic(route));
                    continue;
                }
            };
            let config = output
                .store_config()
                .ok_or_else(|| WriteError::Fatal("no store".into()))?;
            let store = ObjectStore::open(&config).await?;
            stores.insert(store.describe(), store.clone());
            sinks.push(Sink::Files { store, prefix, format });
        }
        if let Some(target) = &pipeline.archive_to {
            let store = ObjectStore::open(&target.store).await?;
            stores.insert(store.describe(), store.clone());
            sinks.push(Sink::Archive {
                store,
                prefix: target.prefix.clone(),
                codec: target.codec,
            });
        }
        let dl = pipeline.dead_letter_or_default();
        let dl_store = ObjectStore::open(&dl.store).await?;
        stores.insert(dl_store.describe(), dl_store.clone());
        let mut rand = [0u8; 4];
        getrandom::fill(&mut rand).map_err(|e| WriteError::Fatal(format!("no randomness: {e}")))?;
        Ok(Self {
            state,
            pipeline: pipeline.name.clone(),
            sample_rate: pipeline.sample_rate,
            sinks,
            dead_letter: (dl_store, dl.prefix.trim_end_matches('/').to_owned()),
            stores,
            routes,
            instance: hex::encode(rand),
            sequence: 0,
            raw: pipeline.archive_to.is_some(),
        })
    }

    /// Publishes committed but unpublished files and Kafka blobs of the pipeline, oldest first: all
    /// of them, including any a stopped worker left behind, or only this writer's own. Idempotent, so
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
            if let Some(store) = self.stores.get(&f.store) {
                store.promote(&f.staging_key, &f.final_key).await?;
            } else if let Some(route) = self.routes.get(&f.store) {
                let staging = &self.dead_letter.0;
                // A missing blob is an error, not an empty publish: if Kafka already has it (deleted
                // after a publish whose mark did not reach the database), `publish` sees that
                // through the routing group before it reads a record, so pass an empty blob only then.
                let blob = match staging.get(&f.staging_key).await {
                    Ok(b) => Some(b),
                    Err(StoreError::NotFound { .. }) => None,
                    Err(e) => return Err(e.into()),
                };
                let sources = if f.final_key == kafka_topic::BACKFILL_SOURCES {
                    route.backfill_marker(f.id)
                } else {
                    kafka_topic::parse_sources(&f.final_key)?
                };
                let (route, id) = (route.clone(), f.id);
                let produced = tokio::task::spawn_blocking(move || route.publish(id, blob.as_deref(), &sources))
                    .await
                    .map_err(|e| WriteError::Fatal(format!("kafka publisher panicked: {e}")))??;
                if produced {
                    metrics::counter!("murron_sink_written_events_total", "output" => f.store.clone())
                        .increment(f.events.max(0) as u64);
                }
                staging.delete(&f.staging_key).await?;
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
    pub async fn remove_orphans(&self, min_age: std::time::Duration) -> Result<u64, WriteError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let cutoff = now_ms.saturating_sub(min_age.as_millis() as u64);
        let mut seen = std::collections::HashSet::new();
        let mut removed = 0;
        for store in self.stores.values() {
            if seen.insert(store.describe()) {
                removed += remove_orphans(store, &self.pipeline, cutoff).await?;
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
        let mut lost = Vec::new();
        for (key, seg) in &batch.segments {
            if batch.from_kafka && !commit.claim(&key.0, key.1, seg.start).await? {
                lost.push(key.clone());
            }
        }
        if !lost.is_empty() {
            return Err(WriteError::Lost(lost));
        }

        // Decode the envelopes again (zero-copy) and find each stream's already received offsets.
        let mut rows: Vec<(&PartitionKey, i64, u32, envelope::Envelope<'_>, &[u8])> = Vec::with_capacity(batch.records);
        let mut dead: Vec<(&PartitionKey, &DeadEvent)> = Vec::new();
        // Valid events an output cannot take: (partition, offset, value, reason, detail).
        let mut unconvertible: Vec<(&PartitionKey, i64, &[u8], &'static str, String)> = Vec::new();
        for (key, seg) in &batch.segments {
            for e in &seg.valid {
                let (_, env) = envelope::decode(&e.value).map_err(|_| {
                    WriteError::Fatal(format!(
                        "record {}:{}@{} no longer decodes",
                        key.0, key.1, e.kafka_offset
                    ))
                })?;
                rows.push((key, e.kafka_offset, e.schema_id, env, &e.value));
            }
            dead.extend(seg.dead.iter().map(|d| (key, d)));
        }
        // The batch's streams, each copied into an owned key once; events find theirs by borrowed key.
        // `stream_of[i]` is the index of row i's stream in `stream_keys`.
        let mut stream_index: foldhash::HashMap<(&str, &str, i32), usize> = foldhash::HashMap::default();
        let mut stream_keys: Vec<StreamKey> = Vec::new();
        let mut stream_of: Vec<usize> = Vec::new();
        if !self.raw {
            stream_of.reserve(rows.len());
            for (_, _, _, e, _) in &rows {
                let s = *stream_index.entry((e.event_type, e.host, e.pid)).or_insert_with(|| {
                    stream_keys.push((e.event_type.to_owned(), e.host.to_owned(), e.pid));
                    stream_keys.len() - 1
                });
                stream_of.push(s);
            }
        }
        let received = if self.raw {
            HashMap::new()
        } else {
            commit.received(&stream_keys).await?
        };
        let mut tracked: Vec<Tracked<'_>> = stream_keys
            .iter()
            .map(|k| Tracked {
                received: received.get(k),
                fresh: OffsetRanges::default(),
                hours: foldhash::HashMap::default(),
            })
            .collect();

        let mut written = Written::default();
        // (type, schema id, hour) -> rows, in Kafka order. Found by hash per row, sorted once below.
        let mut group_of: foldhash::HashMap<GroupKey<'_>, usize> = foldhash::HashMap::default();
        let mut groups: Vec<(GroupKey<'_>, Vec<usize>)> = Vec::new();
        for (i, (_, _, schema_id, env, _)) in rows.iter().enumerate() {
            let hour = murron_wire::hours::hour_of_micros(env.timestamp);
            if let Some(&s) = stream_of.get(i) {
                let stream = &mut tracked[s];
                let new = !stream.received.is_some_and(|r| r.contains(env.offset)) && stream.fresh.insert(env.offset);
                let entry = stream.hours.entry(hour).or_default();
                if !new {
                    // A backfill re-reading what arrived live is not a duplicate delivery.
                    if batch.from_kafka {
                        entry.1 += 1;
                    }
                    written.duplicates += 1;
                    continue;
                }
                entry.0.insert(env.offset);
                if !murron_wire::stream::sample_keeps(env.event_type, env.host, env.pid, env.offset, self.sample_rate) {
                    written.sampled_out += 1;
                    continue;
                }
            }
            let g = *group_of.entry((env.event_type, *schema_id, hour)).or_insert_with(|| {
                groups.push(((env.event_type, *schema_id, hour), Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i);
        }
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));

        // Convert and encode each group once, for every output. A group that cannot be converted or
        // encoded in some output's format (arrow-avro and the Parquet writer do not support every
        // construct; the Parquet writer panics on unions) becomes dead letters in every output.
        let formats: Vec<Format> = {
            let mut f: Vec<Format> = self
                .sinks
                .iter()
                .filter_map(|s| match s {
                    Sink::Files { format, .. } => Some(*format),
                    _ => None,
                })
                .collect();
            f.sort_by_key(|f| file_format(*f).extension());
            f.dedup();
            f
        };
        let mut converted = Vec::new();
        let mut stage_started = Instant::now();
        for ((event_type, schema_id, hour), idx) in groups.iter().filter(|_| !self.raw) {
            let Some(schema) = schemas.get(schema_id) else {
                return Err(WriteError::Fatal(format!("schema {schema_id} missing from the cache")));
            };
            let metas: Vec<RowMeta<'_>> = idx
                .iter()
                .map(|&i| {
                    let (key, kafka_offset, _, env, _) = &rows[i];
                    RowMeta {
                        envelope: *env,
                        datum: murron_wire::framing::split_wire_format(env.message).map_or(&[][..], |(_, d)| d),
                        kafka_topic: &key.0,
                        kafka_partition: key.1,
                        kafka_offset: *kafka_offset,
                    }
                })
                .collect();
            let encoded = tokio::task::block_in_place(|| {
                let rb = convert::to_record_batch(&schema.schema, &metas).map_err(|e| e.to_string())?;
                let mut bodies = HashMap::new();
                for format in &formats {
                    let body =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| file_format(*format).encode(&rb)))
                            .map_err(|_| {
                                format!(
                                    "the {} encoder cannot write this schema",
                                    file_format(*format).extension()
                                )
                            })?
                            .map_err(|e: FormatError| format!("{}: {e}", file_format(*format).extension()))?;
                    bodies.insert(*format, body);
                }
                Ok::<_, String>((rb, bodies))
            });
            match encoded {
                Ok((rb, bodies)) => converted.push((*event_type, *schema_id, *hour, rb, idx, bodies)),
                Err(e) => {
                    // Valid Avro that cannot become Arrow (an unsupported construct): dead letters,
                    // so one schema cannot stop the pipeline.
                    tracing::warn!(schema_id, error = %e, "events cannot be converted; dead-lettering them");
                    for &i in idx {
                        let (key, kafka_offset, _, _, value) = &rows[i];
                        unconvertible.push((*key, *kafka_offset, *value, "unconvertible", e.clone()));
                    }
                }
            }
        }

        stage_done("convert", &mut stage_started);
        let mut files = Vec::new();
        let mut file_no = 0usize;
        for sink in &self.sinks {
            match sink {
                Sink::Files { store, prefix, format } => {
                    for (event_type, schema_id, hour, rb, _, bodies) in &converted {
                        let body = bodies.get(format).cloned().ok_or_else(|| {
                            WriteError::Fatal(format!(
                                "no {} encoding of {event_type}",
                                file_format(*format).extension()
                            ))
                        })?;
                        file_no += 1;
                        let staging = format!(
                            "_murron/staging/{}/{batch_id}/{file_no}.{}",
                            self.pipeline,
                            file_format(*format).extension()
                        );
                        let final_key = join(
                            prefix,
                            &format!(
                                "{event_type}/{}/{batch_id}-{schema_id}.{}",
                                hour_partition(*hour),
                                file_format(*format).extension()
                            ),
                        );
                        files.push(stage(store, staging, final_key, body, rb.num_rows()).await?);
                    }
                }
                Sink::Archive { store, prefix, codec } => {
                    for ((event_type, _, hour), idx) in &groups {
                        let datums = idx.iter().map(|&i| rows[i].4.get(5..).unwrap_or_default());
                        let mut sync = [0u8; 16];
                        getrandom::fill(&mut sync).map_err(|e| WriteError::Fatal(format!("no randomness: {e}")))?;
                        let body = ocf::write(*codec, sync, datums).map_err(|e| WriteError::Fatal(e.to_string()))?;
                        file_no += 1;
                        let staging = format!("_murron/staging/{}/{batch_id}/{file_no}.avro", self.pipeline);
                        let final_key = join(
                            prefix,
                            &format!("{event_type}/{}/{batch_id}.avro", hour_partition(*hour)),
                        );
                        written.events += idx.len() as u64;
                        files.push(stage(store, staging, final_key, body, idx.len()).await?);
                    }
                }
                Sink::Topic(route) => {
                    let mut blob = Vec::new();
                    let mut events = 0i64;
                    // Kafka order, so each stream keeps its order under its key.
                    let mut kept: Vec<usize> = converted.iter().flat_map(|c| c.4.iter().copied()).collect();
                    kept.sort_unstable();
                    for i in kept {
                        let (_, _, _, env, value) = &rows[i];
                        push_record_for(&mut blob, env, value);
                        events += 1;
                    }
                    if events > 0 {
                        file_no += 1;
                        let staging = format!("_murron/staging/{}/{batch_id}/{file_no}.kafka", self.pipeline);
                        let sources = if batch.from_kafka {
                            let ends: Vec<kafka_topic::SourceEnd> = batch
                                .segments
                                .iter()
                                .map(|(k, seg)| (k.0.to_string(), k.1, seg.end))
                                .collect();
                            kafka_topic::sources_text(&ends)
                        } else {
                            kafka_topic::BACKFILL_SOURCES.to_owned()
                        };
                        let (store, _) = &self.dead_letter;
                        let bytes = blob.len() as i64;
                        store.put(&staging, blob).await?;
                        files.push(NewFile {
                            store: route.describe(),
                            staging_key: staging,
                            final_key: sources,
                            events,
                            bytes,
                        });
                    }
                }
                Sink::Warehouse(wh) => {
                    for (event_type, _, _, rb, idx, _) in &converted {
                        wh.ensure_table(commit.conn(), event_type, &rb.schema()).await?;
                        let (n, refused) = insert_isolating(wh, commit.conn(), event_type, rb).await?;
                        metrics::counter!("murron_sink_written_events_total", "output" => "postgres").increment(n);
                        for (row, detail) in refused {
                            let (key, kafka_offset, _, _, value) = &rows[idx[row]];
                            unconvertible.push((*key, *kafka_offset, *value, "unstorable", detail));
                        }
                    }
                }
            }
        }

        // Dead letters: JSON lines under dlq/dt=…/hr=… by processing time.
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let mut lines = Vec::new();
        for (key, d) in &dead {
            push_dead_line(
                &mut lines,
                &key.0,
                key.1,
                d.kafka_offset,
                d.kafka_timestamp_ms,
                d.reason,
                &d.detail,
                &d.value,
                now_us,
            );
        }
        for (key, offset, value, reason, detail) in &unconvertible {
            metrics::counter!("murron_sink_invalid_total", "reason" => *reason).increment(1);
            push_dead_line(&mut lines, &key.0, key.1, *offset, None, reason, detail, value, now_us);
        }
        written.dead = (dead.len() + unconvertible.len()) as u64;
        if !lines.is_empty() {
            let (store, prefix) = &self.dead_letter;
            let staging = format!("_murron/staging/{}/{batch_id}/dlq.jsonl", self.pipeline);
            let final_key = join(
                prefix,
                &format!(
                    "{}/{batch_id}.jsonl",
                    hour_partition(murron_wire::hours::hour_of_micros(now_us))
                ),
            );
            let bytes = lines.len() as i64;
            store.put(&staging, lines).await?;
            files.push(NewFile {
                store: store.describe(),
                staging_key: staging,
                final_key,
                events: written.dead as i64,
                bytes,
            });
        }

        stage_done("outputs", &mut stage_started);
        commit.record_files(&files).await?;
        let updates: Vec<StreamHourUpdate> = stream_keys
            .iter()
            .zip(tracked)
            .flat_map(|(stream, t)| {
                t.hours
                    .into_iter()
                    .map(|(hour, (received, duplicates))| StreamHourUpdate {
                        stream: stream.clone(),
                        hour,
                        received,
                        duplicates,
                    })
            })
            .collect();
        commit.add_received(&updates).await?;
        if batch.from_kafka {
            for (key, seg) in &batch.segments {
                commit.advance(&key.0, key.1, seg.end).await?;
            }
        }
        commit.commit().await?;
        stage_done("commit", &mut stage_started);

        // Committed: the batch is durable. Publishing (Runner::publish) makes it visible.
        written.events += converted.iter().map(|c| c.3.num_rows() as u64).sum::<u64>();
        written.files = files.len() as u64;
        metrics::histogram!("murron_sink_flush_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("murron_sink_duplicates_total").increment(written.duplicates);
        metrics::counter!("murron_sink_sampled_out_total").increment(written.sampled_out);
        Ok(written)
    }
}

/// Records how long a stage of writing a batch took, and starts the next stage's clock. Stages:
/// `convert` (decode and encode every file), `outputs` (stage files, blobs and warehouse rows, and the
/// dead letters), `commit` (the state database's transaction) and `publish` (see [`Writer::publish`]).
pub fn stage_done(stage: &'static str, started: &mut Instant) {
    let now = Instant::now();
    metrics::histogram!("murron_sink_flush_stage_seconds", "stage" => stage).record((now - *started).as_secs_f64());
    *started = now;
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

/// What a batch's rows are grouped by, one file each: event type, schema id and hour.
type GroupKey<'a> = (&'a str, u32, i64);

/// One stream's part of a batch: what it had received before, what is new, and what to add per hour
/// (offsets and duplicates).
struct Tracked<'r> {
    received: Option<&'r OffsetRanges>,
    fresh: OffsetRanges,
    hours: foldhash::HashMap<i64, (OffsetRanges, i64)>,
}

/// Uploads a file output's `body` to its staging key, counts it, and returns its manifest entry.
async fn stage(
    store: &ObjectStore,
    staging_key: String,
    final_key: String,
    body: Vec<u8>,
    events: usize,
) -> Result<NewFile, StoreError> {
    let bytes = body.len() as i64;
    store.put(&staging_key, body).await?;
    metrics::counter!("murron_sink_written_bytes_total", "output" => store.describe()).increment(bytes as u64);
    metrics::counter!("murron_sink_written_events_total", "output" => store.describe()).increment(events as u64);
    Ok(NewFile {
        store: store.describe(),
        staging_key,
        final_key,
        events: events as i64,
        bytes,
    })
}

#[allow(clippy::too_many_arguments)]
fn push_dead_line(
    out: &mut Vec<u8>,
    topic: &str,
    partition: i32,
    offset: i64,
    kafka_timestamp_ms: Option<i64>,
    reason: &str,
    detail: &str,
    value: &[u8],
    now_us: i64,
) {
    let line = json!({
        "reason": reason,
        "detail": detail,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "kafka_timestamp_ms": kafka_timestamp_ms,
        "dead_lettered_at_us": now_us,
        "value_base64": base64::engine::general_purpose::STANDARD.encode(value),
    });
    // Serializing a json! value cannot fail.
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        out.push(b'\n');
    }
}

/// Deletes objects under `_murron/staging/{pipeline}/` whose batch id (it starts with the batch's
/// Unix time in milliseconds) is older than `cutoff_ms`.
async fn remove_orphans(store: &ObjectStore, pipeline: &str, cutoff_ms: u64) -> Result<u64, StoreError> {
    let prefix = format!("_murron/staging/{pipeline}/");
    let mut removed = 0;
    for obj in store.list(&prefix).await? {
        let batch_ms = obj.key[prefix.len()..]
            .split(['-', '/'])
            .next()
            .and_then(|ms| ms.parse::<u64>().ok());
        if batch_ms.is_some_and(|ms| ms < cutoff_ms) {
            store.delete(&obj.key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Joins a prefix and a key with exactly one '/'.
fn join(prefix: &str, key: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

/// Inserts `rb` into the warehouse; rows PostgreSQL refuses as data (a NUL in a string, say) are
/// isolated by halving under savepoints and returned with the reason, so one such event becomes a dead
/// letter of the warehouse instead of stopping the pipeline. Retryable errors are returned as is.
async fn insert_isolating(
    wh: &Warehouse,
    conn: &mut sqlx::PgConnection,
    event_type: &str,
    rb: &arrow_array::RecordBatch,
) -> Result<(u64, Vec<(usize, String)>), WriteError> {
    let mut inserted = 0;
    let mut refused = Vec::new();
    let mut pending = vec![(0usize, rb.num_rows())];
    while let Some((start, len)) = pending.pop() {
        if len == 0 {
            continue;
        }
        savepoint(conn, "SAVEPOINT murron_rows").await?;
        match wh.insert(conn, event_type, &rb.slice(start, len)).await {
            Ok(n) => {
                inserted += n;
                savepoint(conn, "RELEASE SAVEPOINT murron_rows").await?;
            }
            Err(e) if !e.is_retryable() => {
                savepoint(conn, "ROLLBACK TO SAVEPOINT murron_rows").await?;
                if len == 1 {
                    refused.push((start, format!("warehouse refused the row: {e}")));
                } else {
                    pending.push((start + len / 2, len - len / 2));
                    pending.push((start, len / 2));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((inserted, refused))
}

async fn savepoint(conn: &mut sqlx::PgConnection, statement: &'static str) -> Result<(), WriteError> {
    sqlx::query(statement)
        .execute(conn)
        .await
        .map_err(|e| WriteError::State(e.into()))?;
    Ok(())
}

/// A routed record: the original value under the stream's key, as producers write it.
fn push_record_for(blob: &mut Vec<u8>, env: &envelope::Envelope<'_>, value: &[u8]) {
    let key = format!("{}:{}", env.host, env.pid);
    kafka_topic::push_record(blob, key.as_bytes(), value);
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
        assert_eq!(remove_orphans(&store, "p", 5000).await.unwrap(), 1);
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

    #[test]
    fn join_puts_one_slash_between_prefix_and_key() {
        assert_eq!(join("events/", "a/b"), "events/a/b");
        assert_eq!(join("", "a"), "a");
    }
}
