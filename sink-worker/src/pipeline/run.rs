//! `sink-worker run`: the consume, check, buffer and write loop of one pipeline.
//!
//! Per record: decode the envelope, keep only the configured types, verify the signature, resolve
//! the payload schema by id (cached), check the schema belongs to the envelope's type, validate the
//! datum. Valid records and dead letters are buffered per partition; the batch is written when the
//! flush policy says so, and at shutdown. A batch is written by its own task while the next one is
//! consumed; a batch that is due waits for the previous write, which is the backpressure. A
//! partition whose next record's schema the registry cannot resolve now is paused at that record
//! ([`super::paused`]) while the others flow on.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};

use super::batch::{Batch, DeadEvent, Event, PartitionKey};
use super::check::{Checker, Verdict};
use super::paused::Paused;
use super::schemas::KnownSchema;
use super::schemas::SchemaCache;
use super::source::{self, Assignment, Consumer, SourceContext, WriteInProgress};
use super::write::{Publish, WriteError, Writer};
use crate::admin::{self, NotReady, Readiness};
use crate::config::Config;
use crate::config::Pipeline;
use crate::state::{self, State};
use murron_connect::registry::RegistryClient;
use murron_connect::retry::backoff_delay;

/// Why `run` stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("state database: {0}")]
    State(#[from] state::StateError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("admin port: {0}")]
    Admin(#[from] std::io::Error),
    #[error("writing a batch: {0}")]
    Write(#[from] WriteError),
}

/// Per-partition consuming state.
#[derive(Debug, Default)]
struct PartitionState {
    /// The commit point: the first offset not yet committed. None until known.
    next: Option<i64>,
}

struct Runner {
    pipeline: Pipeline,
    /// Shared with the receive loop, so a received message can borrow it while the runner changes.
    consumer: Arc<Consumer>,
    context: SourceContext,
    state: State,
    /// The writer while no batch is being written; the write task holds it meanwhile.
    writer: Option<Writer>,
    /// The batch being written, if any: at most one at a time, so batches commit in order.
    writing: Option<tokio::task::JoinHandle<Flushed>>,
    checker: Checker,
    partitions: HashMap<PartitionKey, PartitionState>,
    /// Partitions held back at a record whose schema cannot be resolved now.
    paused: Paused,
    topics: foldhash::HashMap<String, Arc<str>>,
    batch: Batch,
    readiness: Readiness,
    limiter: Option<RateLimiter>,
    /// Set by a rebalance: publish what a previous owner committed before reading further, so
    /// Kafka-output blobs are published in commit order.
    publish_due: bool,
    /// Records counted since the metrics were last updated: per-record counter updates cost a
    /// registry lookup each, so they are added up and published every 1,024 records and on the tick.
    counted: Counted,
}

/// Record counts not yet added to the metrics.
#[derive(Debug, Default)]
struct Counted {
    consumed: u64,
    valid: u64,
    skipped: u64,
}

impl Counted {
    fn publish(&mut self) {
        let c = std::mem::take(self);
        metrics::counter!("murron_sink_consumed_total").increment(c.consumed);
        metrics::counter!("murron_sink_valid_total").increment(c.valid);
        metrics::counter!("murron_sink_skipped_total", "reason" => "filtered_type").increment(c.skipped);
    }
}

/// Runs the pipeline until `shutdown` resolves; then writes what is buffered and leaves the group.
pub async fn run(config: &Config, pipeline: Pipeline, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    pipeline
        .validate()
        .map_err(|(key, reason)| RunError::Config(format!("{key}: {reason}")))?;
    let keys = config.key_ring();
    if keys.is_empty() && pipeline.archive_to.is_none() {
        return Err(RunError::Config(
            "keys: no signing keys configured; set SINK_WORKER_KEYS__DEFAULT (every event would be dead-lettered)"
                .into(),
        ));
    }
    let _ = admin::install_metrics(&pipeline.name);
    let readiness = Readiness::default();
    let admin_addr = admin::spawn(&config.admin, config.tls.as_ref(), readiness.clone()).await?;
    tracing::info!(%admin_addr, "admin endpoints listening");

    let pool = retry_forever("opening the state database", None, || state::connect(&config.state)).await;
    let state = State::new(pool, &pipeline.name);
    let mut attempt = 0u32;
    let writer = loop {
        match Writer::open(&pipeline, &config.kafka, state.clone()).await {
            Ok(w) => break w,
            // A misconfigured output (missing bucket or topic) will not fix itself.
            Err(e) if !e.is_retryable() => return Err(e.into()),
            Err(e) => {
                attempt += 1;
                tracing::warn!(attempt, error = %e, "opening the outputs failed; retrying");
                tokio::time::sleep(backoff_delay(attempt)).await;
            }
        }
    };
    retry_forever("publishing committed files", None, || writer.publish(Publish::All)).await;
    if let Err(e) = writer.remove_orphans(Duration::from_secs(3600)).await {
        tracing::warn!(error = %e, "could not remove orphaned staged objects; will try at the next start");
    }
    let registry = RegistryClient::new(&config.registry).map_err(|e| RunError::Config(e.to_string()))?;
    // An untrusted certificate or refused credentials stop the start with their cause; a registry
    // that is merely down is waited for when a schema is first needed.
    match registry.probe().await {
        Ok(()) => {}
        Err(e) if e.is_configuration() => return Err(RunError::Config(e.to_string())),
        Err(e) => tracing::warn!(error = %e, "schema registry not answering at start; continuing"),
    }

    let context = SourceContext::default();
    let consumer = source::consumer(&config.kafka, &pipeline.group(), context.clone())?;
    let topics: Vec<&str> = pipeline.input.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    tracing::info!(pipeline = %pipeline.name, group = %pipeline.group(), ?topics, "consuming");
    readiness.set(NotReady::Starting, false);
    // An idle worker must notice a lost database too, not only when it next writes.
    let probe = tokio::spawn(watch_state_database(state.pool().clone(), readiness.clone()));

    let limiter = pipeline.rate_limit_per_second.map(RateLimiter::new);
    let mut runner = Runner {
        checker: Checker::new(&pipeline, keys, SchemaCache::new(registry), readiness.clone()),
        pipeline,
        consumer: Arc::new(consumer),
        context,
        state,
        writer: Some(writer),
        writing: None,
        partitions: HashMap::new(),
        paused: Paused::default(),
        topics: foldhash::HashMap::default(),
        batch: Batch::default(),
        readiness,
        limiter,
        publish_due: false,
        counted: Counted::default(),
    };
    let result = runner.run(shutdown).await;
    probe.abort();
    result
}

/// Checks every few seconds that the state database answers, and keeps
/// [`NotReady::StateDatabase`] up to date.
async fn watch_state_database(pool: sqlx::PgPool, readiness: Readiness) {
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    loop {
        tick.tick().await;
        let down = crate::state::answers(&pool).await;
        if let Err(reason) = &down {
            tracing::warn!(%reason, "the state database does not answer; not ready");
        }
        readiness.set(NotReady::StateDatabase, down.is_err());
    }
}

impl Runner {
    async fn run(&mut self, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tokio::pin!(shutdown);
        let consumer = self.consumer.clone();
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                msg = consumer.recv() => {
                    self.apply_assignment_changes().await?;
                    match msg {
                        Ok(m) => self.process(&m).await?,
                        Err(e) => tracing::warn!(error = %e, "kafka consumer error"),
                    }
                    // While records keep coming the tick below never wins the select, so every 1,024
                    // records publish the counts and look at the batch's age here.
                    let periodic = self.counted.consumed >= 1024;
                    if periodic {
                        self.counted.publish();
                        self.resume_resolved().await;
                    }
                    if self.flush_due_by_size() || (periodic && self.flush_due_by_age()) {
                        self.flush().await?;
                    }
                }
                _ = tick.tick() => {
                    self.counted.publish();
                    self.apply_assignment_changes().await?;
                    self.resume_resolved().await;
                    if self.flush_due_by_size() || self.flush_due_by_age() {
                        self.flush().await?;
                    } else if self.writing.as_ref().is_some_and(|w| w.is_finished()) {
                        // Idle: take the finished write's result now, so a failed write stops the
                        // worker and a lost partition is read again without waiting for another batch.
                        self.settle().await?;
                    }
                }
            }
        }
        self.counted.publish();
        tracing::info!("shutting down: writing the last batch");
        self.apply_assignment_changes().await?;
        self.flush().await?;
        self.settle().await?;
        self.readiness.set(NotReady::Starting, true);
        // Dropping the consumer closes it: it leaves the group, so its partitions move at once.
        Ok(())
    }

    /// Applies rebalances. The write in progress finishes first: its partitions' commit points are
    /// read again from the state database below, and must include it.
    async fn apply_assignment_changes(&mut self) -> Result<(), RunError> {
        let changes = self.context.drain();
        if changes.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        for change in changes {
            self.publish_due = true;
            let (Assignment::Assigned(parts) | Assignment::Revoked(parts)) = &change;
            for (topic, partition) in parts {
                let key = (self.topic(topic), *partition);
                // Either way the commit point must be read again: revoked data is abandoned (nothing of
                // it was committed) and a new owner may have moved the point meanwhile.
                self.forget(&key);
            }
        }
        Ok(())
    }

    /// The shared name of a topic; looked up per record, so a known name allocates nothing.
    fn topic(&mut self, name: &str) -> Arc<str> {
        if let Some(topic) = self.topics.get(name) {
            return topic.clone();
        }
        let topic: Arc<str> = Arc::from(name);
        self.topics.insert(name.to_owned(), topic.clone());
        topic
    }

    fn flush_due_by_size(&self) -> bool {
        let f = &self.pipeline.flush;
        self.batch.records >= f.max_events || self.batch.bytes >= f.max_bytes
    }

    /// Checked every 1,024 records and on the tick, not per record: reading the clock is measurable.
    fn flush_due_by_age(&self) -> bool {
        self.batch
            .opened_at
            .is_some_and(|t| t.elapsed() >= Duration::from_millis(self.pipeline.flush.max_age_ms))
    }

    async fn process(&mut self, msg: &BorrowedMessage<'_>) -> Result<(), RunError> {
        if self.publish_due {
            self.publish_all().await?;
        }
        if let Some(l) = &mut self.limiter {
            l.acquire().await;
        }
        let key = (self.topic(msg.topic()), msg.partition());
        // Fetched before the partition was paused: it is read again from the held record on resume.
        if !self.paused.is_empty() && self.paused.holds(&key) {
            return Ok(());
        }
        let offset = msg.offset();
        let next = match self.partitions.get(&key).and_then(|p| p.next) {
            Some(n) => n,
            None => {
                let stored = retry_forever("reading a commit point", Some(&self.readiness), || {
                    self.state.next_offset(&key.0, key.1)
                })
                .await;
                match stored {
                    Some(n) if offset > n => {
                        // Kafka's committed offset is only a hint; the state database is the truth.
                        // Records from `n` on are accepted as gone only if Kafka no longer has them.
                        let low = tokio::task::block_in_place(|| {
                            self.consumer.fetch_watermarks(&key.0, key.1, Duration::from_secs(10))
                        })
                        .map(|(low, _)| low);
                        if low.as_ref().is_ok_and(|low| *low > n) {
                            tracing::warn!(topic = %key.0, partition = key.1, commit_point = n, first = offset, "records between the commit point and the first available offset are gone from Kafka");
                            self.partitions.entry(key.clone()).or_default().next = Some(n);
                            n
                        } else {
                            // Drop this record (nothing after `n` is committed) and read from `n`.
                            tracing::info!(topic = %key.0, partition = key.1, from = offset, to = n, "seeking back to the commit point");
                            if let Err(e) =
                                self.consumer
                                    .seek(&key.0, key.1, Offset::Offset(n), Duration::from_secs(10))
                            {
                                tracing::warn!(error = %e, "seek failed; will try again at the next record");
                            }
                            return Ok(());
                        }
                    }
                    Some(n) => {
                        self.partitions.entry(key.clone()).or_default().next = Some(n);
                        n
                    }
                    None => {
                        self.partitions.entry(key.clone()).or_default().next = Some(offset);
                        offset
                    }
                }
            }
        };
        if offset < next {
            return Ok(()); // Committed already: Kafka's hint lagged the state database.
        }
        let value = msg.payload().unwrap_or(&[]);
        let verdict = self.checker.check_now(value).await;
        if let Verdict::Unresolved(schema_id) = verdict {
            return self.hold(key, offset, schema_id).await;
        }
        self.counted.consumed += 1;
        let segment = self.batch.consumed(&key, next, offset, value.len());
        match verdict {
            Verdict::Valid(schema_id, variant) => {
                self.counted.valid += 1;
                segment.valid.push(Event {
                    value: value.into(),
                    kafka_offset: offset,
                    schema_id,
                    variant,
                });
            }
            Verdict::Dead(reason, detail) => {
                metrics::counter!("murron_sink_invalid_total", "reason" => reason).increment(1);
                segment.dead.push(DeadEvent {
                    value: value.into(),
                    kafka_offset: offset,
                    kafka_timestamp_ms: msg.timestamp().to_millis(),
                    reason,
                    detail,
                });
            }
            Verdict::Skip => {
                self.counted.skipped += 1;
            }
            Verdict::Unresolved(_) => {} // Held above.
        }
        Ok(())
    }

    /// Holds `key` back at `offset`, whose schema cannot be resolved now: pauses the partition and
    /// seeks it back to that record, so that nothing after it is read (or committed) until the schema
    /// resolves, while the other partitions flow on.
    async fn hold(&mut self, key: PartitionKey, offset: i64, schema_id: u32) -> Result<(), RunError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&key.0, key.1);
        let paused = self.consumer.pause(&tpl).and_then(|()| {
            self.consumer
                .seek(&key.0, key.1, Offset::Offset(offset), Duration::from_secs(10))
        });
        if let Err(e) = paused {
            // Resumed without the seek, the partition would go on after the record: forget what was
            // read of it instead, so that its next record reads the commit point again and seeks back.
            tracing::warn!(topic = %key.0, partition = key.1, offset, error = %e, "could not pause the partition at a record whose schema cannot be resolved; reading it again from its commit point");
            let _ = self.consumer.resume(&tpl);
            self.settle().await?;
            self.forget(&key);
            return Ok(());
        }
        tracing::warn!(topic = %key.0, partition = key.1, offset, schema_id, "the registry cannot resolve this record's schema now; the partition waits while the others go on");
        self.paused.hold(key, schema_id);
        self.readiness.set(NotReady::Registry, true);
        Ok(())
    }

    /// Resumes the held partitions whose schema the registry has answered meanwhile (retrying the
    /// others' lookups when due). Their held record is read again and checked with the answer.
    async fn resume_resolved(&mut self) {
        if self.paused.is_empty() {
            return;
        }
        let ready = self.paused.poll(self.checker.schemas()).await;
        for key in ready {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&key.0, key.1);
            match self.consumer.resume(&tpl) {
                Ok(()) => {
                    tracing::info!(topic = %key.0, partition = key.1, "the schema resolved; the partition goes on")
                }
                Err(e) => {
                    tracing::error!(topic = %key.0, partition = key.1, error = %e, "could not resume the partition")
                }
            }
        }
        if self.paused.is_empty() {
            self.readiness.set(NotReady::Registry, false);
        }
    }

    /// Forgets what was read of a partition and not committed (revoked, or taken over by another
    /// worker): its commit point is read again at its next record. A partition held back is resumed,
    /// since the consumer keeps its pause across assignments.
    fn forget(&mut self, key: &PartitionKey) {
        self.batch.drop_partition(key);
        self.partitions.remove(key);
        if self.paused.release(key) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&key.0, key.1);
            let _ = self.consumer.resume(&tpl);
            if self.paused.is_empty() {
                self.readiness.set(NotReady::Registry, false);
            }
        }
    }

    /// Hands the batch to a write task, once the previous write has finished. The batch's partitions
    /// continue from its ends: should a write lose a partition, [`Self::settle`] reads it again.
    async fn flush(&mut self) -> Result<(), RunError> {
        self.settle().await?;
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        for (key, seg) in &batch.segments {
            if let Some(p) = self.partitions.get_mut(key) {
                p.next = Some(seg.end);
            }
        }
        let writer = self.writer.take().ok_or_else(writer_missing)?;
        let schemas = self.checker.used_schemas.clone();
        // After a rebalance, what a previous owner left unpublished goes out before this batch.
        let scope = if self.publish_due { Publish::All } else { Publish::Own };
        let task = WriteTask {
            schemas,
            scope,
            readiness: self.readiness.clone(),
            consumer: self.consumer.clone(),
            _in_progress: self.context.write_started(),
        };
        self.writing = Some(tokio::spawn(write_batch(writer, batch, task)));
        Ok(())
    }

    /// Waits for the write in progress, if any: takes the writer back, and drops what was read after
    /// a partition another worker took over.
    async fn settle(&mut self) -> Result<(), RunError> {
        let Some(writing) = self.writing.take() else {
            return Ok(());
        };
        let flushed = writing
            .await
            .map_err(|e| WriteError::Fatal(format!("the batch write task failed: {e}")))?;
        self.writer = Some(flushed.writer);
        if flushed.published == Some(Publish::All) {
            self.publish_due = false;
        }
        for key in flushed.lost {
            self.forget(&key);
            let _ = self
                .consumer
                .seek(&key.0, key.1, Offset::Stored, Duration::from_secs(5));
        }
        Ok(flushed.result?)
    }

    /// Publishes everything the pipeline left unpublished (after a rebalance), retrying until it
    /// succeeds: the next batch must not be published before it.
    async fn publish_all(&mut self) -> Result<(), RunError> {
        self.settle().await?;
        let writer = self.writer.as_ref().ok_or_else(writer_missing)?;
        publish(writer, Publish::All, &self.readiness).await;
        self.publish_due = false;
        Ok(())
    }
}

fn writer_missing() -> RunError {
    RunError::Write(WriteError::Fatal("no writer: a write task did not return it".into()))
}

/// What a write task hands back.
struct Flushed {
    writer: Writer,
    /// Partitions another worker committed meanwhile; none of this batch's records of them were written.
    lost: Vec<PartitionKey>,
    /// What was published after the write, if it succeeded.
    published: Option<Publish>,
    result: Result<(), WriteError>,
}

/// What a write task needs besides the writer and the batch.
struct WriteTask {
    schemas: HashMap<u32, Arc<KnownSchema>>,
    /// What to publish after the write.
    scope: Publish,
    readiness: Readiness,
    /// For the offset hint.
    consumer: Arc<Consumer>,
    /// Held until the task ends, so a revocation waits for it.
    _in_progress: WriteInProgress,
}

/// Writes `batch` (retrying outages), publishes `task.scope`, and tells Kafka the new offsets as a
/// hint.
async fn write_batch(mut writer: Writer, mut batch: Batch, task: WriteTask) -> Flushed {
    let WriteTask {
        schemas,
        scope,
        readiness,
        consumer,
        _in_progress,
    } = task;
    let mut attempt = 0u32;
    let mut lost = Vec::new();
    let result = loop {
        if batch.is_empty() {
            break Ok(());
        }
        match writer.write(&batch, &schemas).await {
            Ok(w) => {
                readiness.set(NotReady::Outputs, false);
                tracing::debug!(?w, "batch written");
                let mut started = Instant::now();
                publish(&writer, scope, &readiness).await;
                super::write::stage_done("publish", &mut started);
                break Ok(());
            }
            Err(WriteError::Lost(keys)) => {
                for key in keys {
                    tracing::warn!(topic = %key.0, partition = key.1, "another worker committed this partition; dropping our uncommitted records of it");
                    batch.drop_partition(&key);
                    lost.push(key);
                }
            }
            Err(e) if e.is_retryable() => {
                readiness.set(NotReady::Outputs, true);
                attempt += 1;
                metrics::counter!("murron_sink_retries_total", "op" => "write").increment(1);
                tracing::warn!(attempt, error = %e, "writing the batch failed; retrying");
                tokio::time::sleep(backoff_delay(attempt)).await;
            }
            Err(e) => break Err(e),
        }
    };
    let published = (result.is_ok() && !batch.is_empty()).then_some(scope);
    if published.is_some() {
        let mut tpl = TopicPartitionList::new();
        for (key, seg) in &batch.segments {
            let _ = tpl.add_partition_offset(&key.0, key.1, Offset::Offset(seg.end));
        }
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(error = %e, "committing the offset hint to Kafka failed");
        }
    }
    Flushed {
        writer,
        lost,
        published,
        result,
    }
}

/// Publishes committed files and blobs, retrying until it succeeds: the batch is durable already,
/// and the next batch must not be published before it.
async fn publish(writer: &Writer, scope: Publish, readiness: &Readiness) {
    let mut attempt = 0u32;
    loop {
        match writer.publish(scope).await {
            Ok(_) => {
                readiness.set(NotReady::Outputs, false);
                return;
            }
            Err(e) => {
                readiness.set(NotReady::Outputs, true);
                attempt += 1;
                metrics::counter!("murron_sink_retries_total", "op" => "publish").increment(1);
                tracing::warn!(attempt, error = %e, "publishing committed output failed; retrying");
                tokio::time::sleep(backoff_delay(attempt)).await;
            }
        }
    }
}

/// Retries `f` with capped, jittered backoff until it succeeds: an outage of a dependency we cannot
/// work without stops progress (backpressure) instead of losing anything. With `readiness`, the
/// worker is not ready from the first failure until `f` succeeds (a running worker; at start-up it is
/// not ready yet anyway).
async fn retry_forever<T, E: std::fmt::Display, Fut: Future<Output = Result<T, E>>>(
    what: &str,
    readiness: Option<&Readiness>,
    f: impl FnMut() -> Fut,
) -> T {
    let mut f = f;
    let backoff = ExponentialBuilder::default()
        .with_jitter()
        .with_max_delay(Duration::from_secs(30))
        .with_max_times(20);
    let mut failed = false;
    loop {
        let result = (&mut f)
            .retry(backoff)
            .notify(|e: &E, after: Duration| {
                failed = true;
                if let Some(r) = readiness {
                    r.set(NotReady::StateDatabase, true);
                }
                metrics::counter!("murron_sink_retries_total", "op" => what.to_owned()).increment(1);
                tracing::warn!(error = %e, retry_in = ?after, "{what} failed");
            })
            .await;
        match result {
            Ok(v) => {
                if failed && let Some(r) = readiness {
                    r.set(NotReady::StateDatabase, false);
                }
                return v;
            }
            Err(e) => tracing::error!(error = %e, "{what} still failing after 20 attempts; starting over"),
        }
    }
}

/// A token bucket: at most `rate` records per second, bursts of a tenth of a second.
#[derive(Debug)]
struct RateLimiter {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    fn new(rate: u32) -> Self {
        Self {
            rate: f64::from(rate),
            tokens: 0.0,
            last: Instant::now(),
        }
    }

    async fn acquire(&mut self) {
        let burst = (self.rate / 10.0).max(1.0);
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(burst);
        self.last = now;
        if self.tokens < 1.0 {
            let wait = (1.0 - self.tokens) / self.rate;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            self.tokens = 1.0;
            self.last = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn a_failing_state_call_makes_the_worker_not_ready_until_it_succeeds() {
        let readiness = Readiness::default();
        readiness.set(NotReady::Starting, false);
        // Each attempt records whether the worker looked ready when it was made.
        let seen = Mutex::new(Vec::new());
        let value = retry_forever("reading a commit point", Some(&readiness), || {
            let mut seen = seen.lock().expect("not poisoned");
            seen.push(readiness.is_ready());
            let attempt = seen.len();
            async move { if attempt < 3 { Err("connection refused") } else { Ok(7) } }
        })
        .await;
        assert_eq!(value, 7);
        assert_eq!(*seen.lock().expect("not poisoned"), [true, false, false]);
        assert!(readiness.is_ready(), "ready again once the call succeeded");
    }

    #[test]
    fn one_reason_clearing_does_not_hide_another() {
        let readiness = Readiness::default();
        assert!(!readiness.is_ready(), "not ready before consuming");
        readiness.set(NotReady::Starting, false);
        assert!(readiness.is_ready());
        readiness.set(NotReady::Registry, true);
        readiness.set(NotReady::StateDatabase, true);
        readiness.set(NotReady::StateDatabase, false);
        assert!(!readiness.is_ready(), "the registry is still down");
        readiness.set(NotReady::Registry, false);
        assert!(readiness.is_ready());
    }

    #[tokio::test]
    async fn an_idle_worker_notices_a_lost_state_database() {
        // Nothing listens on port 1: the database is gone.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(1))
            .connect_lazy("postgres://murron:murron@127.0.0.1:1/murron")
            .expect("lazy pool");
        let readiness = Readiness::default();
        readiness.set(NotReady::Starting, false);
        let probe = tokio::spawn(watch_state_database(pool, readiness.clone()));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while readiness.is_ready() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        probe.abort();
        assert!(!readiness.is_ready(), "still ready 10 s after the database went away");
    }
}
