//! Backfills: repairing gaps from the raw archive (docs/RELIABILITY.md, "Backfill").
//!
//! A request names a type, an hour range and optionally streams. It lives in `backfills`; a worker
//! claims it with `FOR UPDATE SKIP LOCKED` and holds a session advisory lock on it while it runs, on a
//! connection of its own, so a crashed run's lock goes with its connection and another worker resumes
//! it. A run indexes only the archive partitions of its range, reads only the files whose indexed
//! offsets are not all received yet, and sends the events not received through the pipeline's own
//! checks and writer. The writer's per-stream lock and deduplication make it exactly once: a run
//! repeated, or racing live consumption, writes nothing twice. The requests' SQL is in
//! `state::backfills`.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{PgConnection, PgPool};

use crate::admin::Readiness;
use crate::archive::index::{ArchiveIndex, IndexError};
use crate::config::{Config, Pipeline};
use crate::pipeline::{Batch, Checker, Event, Publish, SchemaCache, Verdict, WriteError, Writer, Written};
use crate::state::backfills::{self, BackfillRow, Filed, NewBackfill, RunCounts};
use crate::state::{State, StateError};
use crate::storage::StoreError;
use murron_connect::registry::RegistryClient;
use murron_connect::retry::backoff_delay;
use murron_wire::framing::MAGIC_BYTE;
use murron_wire::hours::hour_timestamp;
use murron_wire::ocf::{ContainerFile, OcfError};
use murron_wire::ranges::OffsetRanges;

/// Why a backfill could not run.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("archive: {0}")]
    Index(#[from] IndexError),
    #[error("archive store: {0}")]
    Store(#[from] StoreError),
    #[error("writing: {0}")]
    Write(#[from] WriteError),
    #[error("archive file {0}: {1}")]
    File(String, OcfError),
    #[error("{0}")]
    Config(String),
    #[error("backfill {0} does not exist")]
    NotFound(i64),
    #[error("backfill {0} is being run by another worker")]
    Busy(i64),
}

impl BackfillError {
    /// A configuration error will not fix itself; anything else may be an outage.
    pub fn is_retryable(&self) -> bool {
        match self {
            BackfillError::Config(_) | BackfillError::NotFound(_) | BackfillError::Busy(_) => false,
            BackfillError::Write(e) => e.is_retryable(),
            _ => true,
        }
    }
}

/// Files a request for any worker to run; returns its id.
pub async fn file(pool: &PgPool, pipeline: &str, req: &NewBackfill) -> Result<i64, BackfillError> {
    check(req)?;
    Ok(backfills::file(pool, pipeline, req).await?)
}

/// What a request must be before it is filed.
fn check(req: &NewBackfill) -> Result<(), BackfillError> {
    if req.from_hour >= req.to_hour {
        return Err(BackfillError::Config("from must be before to".into()));
    }
    Ok(())
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub files_total: u64,
    pub files_read: u64,
    pub bytes_read: u64,
    pub events_read: u64,
    pub written: u64,
}

/// Runs backfills of one pipeline through that pipeline's checks and outputs.
pub struct Backfiller {
    pool: PgPool,
    pipeline: Pipeline,
    index: ArchiveIndex,
    checker: Checker,
    writer: Writer,
}

impl std::fmt::Debug for Backfiller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backfiller")
            .field("pipeline", &self.pipeline.name)
            .finish_non_exhaustive()
    }
}

impl Backfiller {
    pub async fn open(config: &Config, pipeline: Pipeline, pool: PgPool) -> Result<Self, BackfillError> {
        pipeline
            .validate()
            .map_err(|(key, reason)| BackfillError::Config(format!("{key}: {reason}")))?;
        let keys = config.key_ring();
        if keys.is_empty() {
            return Err(BackfillError::Config(
                "keys: no signing keys configured; set SINK_WORKER_KEYS__DEFAULT".into(),
            ));
        }
        let registry = RegistryClient::new(&config.registry).map_err(|e| BackfillError::Config(e.to_string()))?;
        let state = State::new(pool.clone(), &pipeline.name);
        let writer = Writer::open(&pipeline, &config.kafka, state).await?;
        Ok(Self {
            index: ArchiveIndex::open(pool.clone(), &config.archive).await?,
            checker: Checker::new(&pipeline, keys, SchemaCache::new(registry), Readiness::default()),
            writer,
            pool,
            pipeline,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn pipeline(&self) -> &str {
        &self.pipeline.name
    }

    /// Claims the oldest queued (or abandoned running) request and runs it; None when there is none.
    pub async fn run_next(&mut self, progress: impl FnMut(Progress)) -> Result<Option<BackfillRow>, BackfillError> {
        self.run_claimed(None, progress).await
    }

    /// Runs request `id` (it must not be running elsewhere); returns it finished.
    pub async fn run_id(&mut self, id: i64, progress: impl FnMut(Progress)) -> Result<BackfillRow, BackfillError> {
        match self.run_claimed(Some(id), progress).await? {
            Some(row) => Ok(row),
            None => match backfills::get(&self.pool, id).await? {
                None => Err(BackfillError::NotFound(id)),
                Some(row) if row.state == "done" || row.state == "failed" => Ok(row),
                Some(_) => Err(BackfillError::Busy(id)),
            },
        }
    }

    /// Files `req` and runs it. The request is committed already claimed by this run, so a
    /// monitor polling for queued requests cannot take it first.
    pub async fn run_new(
        &mut self,
        req: &NewBackfill,
        progress: impl FnMut(Progress),
    ) -> Result<BackfillRow, BackfillError> {
        let mut conn = backfills::session(&self.pool).await?;
        check(req)?;
        let row = match backfills::file_claimed(&mut conn, &self.pipeline.name, req).await? {
            Filed::Claimed(row) => *row,
            Filed::Busy(id) => return Err(BackfillError::Busy(id)),
        };
        self.run_row(conn, row, progress).await
    }

    async fn run_claimed(
        &mut self,
        only: Option<i64>,
        progress: impl FnMut(Progress),
    ) -> Result<Option<BackfillRow>, BackfillError> {
        // The run's own connection, never returned to the pool: its session lock lives exactly as
        // long as the run, or the process.
        let mut conn = backfills::session(&self.pool).await?;
        let Some(row) = backfills::claim(&mut conn, &self.pipeline.name, only).await? else {
            return Ok(None);
        };
        self.run_row(conn, row, progress).await.map(Some)
    }

    /// Runs a request claimed on `conn` (which holds its session lock) and records the outcome.
    async fn run_row(
        &mut self,
        conn: PgConnection,
        row: BackfillRow,
        mut progress: impl FnMut(Progress),
    ) -> Result<BackfillRow, BackfillError> {
        let id = row.id;
        tracing::info!(id, event_type = %row.event_type, from_hour = row.from_hour, to_hour = row.to_hour, "backfill started");
        let outcome = self.execute(&row, &mut progress).await;
        let (state, error) = match &outcome {
            Ok(()) => ("done", None),
            Err(e) => ("failed", Some(e.to_string())),
        };
        backfills::finish(conn, id, state, error.as_deref()).await?;
        metrics::counter!("murron_backfills_total", "state" => state).increment(1);
        let done = backfills::get(&self.pool, id)
            .await?
            .ok_or(BackfillError::NotFound(id))?;
        tracing::info!(
            id,
            state,
            written = done.written,
            duplicates = done.duplicates,
            invalid = done.invalid,
            "backfill finished"
        );
        Ok(done)
    }

    async fn execute(&mut self, row: &BackfillRow, progress: &mut impl FnMut(Progress)) -> Result<(), BackfillError> {
        let report = self
            .index
            .refresh(Some((&row.event_type, row.from_hour, row.to_hour)))
            .await?;
        tracing::debug!(?report, "archive partitions indexed");
        // Only files holding offsets that some stream has not received.
        let keys =
            backfills::files_to_read(&self.pool, &self.index.store().describe(), &self.pipeline.name, row).await?;
        let mut p = Progress {
            files_total: keys.len() as u64,
            ..Progress::default()
        };
        let mut totals = (0i64, 0i64); // duplicates, invalid
        self.record(row.id, &p, totals).await?;
        progress(p);
        let wanted = |host: &str, pid: i32| {
            row.streams
                .as_ref()
                .is_none_or(|s| s.0.iter().any(|r| r.host == host && r.pid == pid))
        };
        let mut first_invalid: Option<String> = None;
        for key in keys {
            // What is received already is skipped here, so only missing events reach the writer
            // (which still checks under its lock, for events arriving live meanwhile).
            let received = self.received(&row.event_type).await?;
            let body = self.index.store().get(&key).await?;
            let source: Arc<str> = Arc::from(format!("archive:{key}"));
            let file_error = |e| BackfillError::File(key.clone(), e);
            let mut batch = Batch::from_archive();
            let mut c = ContainerFile::open(&body).map_err(file_error)?;
            let mut n = 0i64;
            let mut value = Vec::new();
            while let Some(block) = c.next_block().map_err(file_error)? {
                for (env, datum) in block.records().map_err(file_error)? {
                    n += 1;
                    let hour = murron_wire::hours::hour_of_micros(env.timestamp);
                    if env.event_type != row.event_type
                        || !(row.from_hour..row.to_hour).contains(&hour)
                        || !wanted(env.host, env.pid)
                    {
                        continue;
                    }
                    p.events_read += 1;
                    if received
                        .get(&(env.host.to_owned(), env.pid))
                        .is_some_and(|r| r.contains(env.offset))
                    {
                        totals.0 += 1;
                        continue;
                    }
                    // Framed as a Kafka record value; the envelope schema id is not read past here.
                    value.clear();
                    value.push(MAGIC_BYTE);
                    value.extend_from_slice(&0u32.to_be_bytes());
                    value.extend_from_slice(datum);
                    match self.checker.check(&value).await {
                        Verdict::Valid(schema_id, variant) => {
                            let seg = batch.consumed(&(source.clone(), -1), 0, n - 1, value.len());
                            seg.valid.push(Event {
                                value: value.as_slice().into(),
                                kafka_offset: n - 1,
                                schema_id,
                                variant,
                            });
                        }
                        Verdict::Dead(reason, detail) => {
                            // Not dead-lettered again: the live path did, if it ever came through Kafka.
                            totals.1 += 1;
                            first_invalid.get_or_insert_with(|| format!("{key}: {reason}: {detail}"));
                        }
                        // `check` waits until the schema resolves, so nothing is unresolved here.
                        Verdict::Skip | Verdict::Unresolved(_) => {}
                    }
                    if batch.records >= self.pipeline.flush.max_events {
                        let w = self.write(&batch).await?;
                        p.written += w.events;
                        totals.0 += w.duplicates as i64;
                        batch = Batch::from_archive();
                    }
                }
            }
            if !batch.is_empty() {
                let w = self.write(&batch).await?;
                p.written += w.events;
                totals.0 += w.duplicates as i64;
            }
            p.files_read += 1;
            p.bytes_read += body.len() as u64;
            self.record(row.id, &p, totals).await?;
            progress(p);
        }
        if let Some(first) = first_invalid {
            let error = format!("{} archived events are invalid; first: {first}", totals.1);
            backfills::note_error(&self.pool, row.id, &error).await?;
        }
        Ok(())
    }

    /// The offsets of `event_type` this pipeline has received, per (host, pid).
    async fn received(&self, event_type: &str) -> Result<HashMap<(String, i32), OffsetRanges>, BackfillError> {
        Ok(backfills::received(&self.pool, &self.pipeline.name, event_type).await?)
    }

    /// Writes and publishes one batch, waiting out short outages of the outputs.
    async fn write(&mut self, batch: &Batch) -> Result<Written, BackfillError> {
        let mut attempt = 0u32;
        loop {
            match self.writer.write(batch, &self.checker.used_schemas).await {
                Ok(w) => {
                    self.publish().await?;
                    return Ok(w);
                }
                Err(e) if e.is_retryable() && attempt < 10 => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %e, "backfill write failed; retrying");
                    tokio::time::sleep(backoff_delay(attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Publishes what is committed (this batch, and anything a stopped worker left), retrying:
    /// another worker publishing the same Kafka blob fences this one for a moment.
    async fn publish(&self) -> Result<(), BackfillError> {
        let mut attempt = 0u32;
        loop {
            match self.writer.publish(Publish::All).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_retryable() && attempt < 10 => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %e, "publishing backfilled output failed; retrying");
                    tokio::time::sleep(backoff_delay(attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn record(&self, id: i64, p: &Progress, (dups, invalid): (i64, i64)) -> Result<(), BackfillError> {
        let counts = RunCounts {
            files_total: p.files_total as i64,
            files_read: p.files_read as i64,
            bytes_read: p.bytes_read as i64,
            events_read: p.events_read as i64,
            written: p.written as i64,
            duplicates: dups,
            invalid,
        };
        backfills::record_progress(&self.pool, id, &counts).await?;
        Ok(())
    }
}

/// What `sink-worker backfill` prints about a run.
pub fn summary(row: &BackfillRow) -> String {
    let mut out = format!(
        "backfill {}: {} ({} to {}): {} of {} files read ({}), {} events read, {} written, {} already there, {} invalid\n",
        row.id,
        row.state,
        hour_timestamp(row.from_hour),
        hour_timestamp(row.to_hour),
        row.files_read,
        row.files_total,
        indicatif::DecimalBytes(row.bytes_read.max(0) as u64),
        row.events_read,
        row.written,
        row.duplicates,
        row.invalid
    );
    if let Some(e) = &row.error {
        out.push_str(&format!("  {e}\n"));
    }
    out
}
