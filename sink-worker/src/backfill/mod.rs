//! Backfills: repairing gaps from the raw archive (docs/RELIABILITY.md, "Backfill").
//!
//! A request names a type, an hour range and optionally streams. It lives in `backfills`; a worker
//! claims it with `FOR UPDATE SKIP LOCKED` and holds a session advisory lock on it while it runs, on a
//! connection of its own, so a crashed run's lock goes with its connection and another worker resumes
//! it. A run indexes only the archive partitions of its range, reads only the files whose indexed
//! offsets are not all received yet, and sends the events not received through the pipeline's own
//! checks and writer. The writer's per-stream lock and deduplication make it exactly once: a run
//! repeated, or racing live consumption, writes nothing twice.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection, PgPool};

use crate::admin::Readiness;
use crate::archive::index::{ArchiveIndex, IndexError};
use crate::config::{Config, Pipeline};
use crate::pipeline::{Batch, Checker, Event, Publish, SchemaCache, Verdict, WriteError, Writer, Written};
use crate::registry::RegistryClient;
use crate::retry::backoff_delay;
use crate::state::{State, StateError, parse_multirange};
use crate::storage::StoreError;
use murron_wire::framing::MAGIC_BYTE;
use murron_wire::ocf::{ContainerFile, OcfError};
use murron_wire::ranges::OffsetRanges;

/// Advisory-lock namespace of backfill runs (the first key of `pg_try_advisory_lock(int, int)`).
pub const LOCK_NAMESPACE: i32 = 0x4d42_4631; // "MBF1"

/// Why a backfill could not run.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("state database: {0}")]
    Database(#[from] sqlx::Error),
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

/// A stream named in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamRef {
    pub host: String,
    pub pid: i32,
}

/// A backfill to file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBackfill {
    pub event_type: String,
    /// Hours since the Unix epoch; `to_hour` is exclusive.
    pub from_hour: i64,
    pub to_hour: i64,
    pub streams: Option<Vec<StreamRef>>,
    pub origin: &'static str,
}

/// A backfill as stored.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct BackfillRow {
    pub id: i64,
    pub pipeline: String,
    pub event_type: String,
    pub from_hour: i64,
    pub to_hour: i64,
    /// `from_hour` and `to_hour` as RFC 3339 times.
    #[serde(rename = "from")]
    pub from_time: String,
    #[serde(rename = "to")]
    pub to_time: String,
    pub streams: Option<sqlx::types::Json<Vec<StreamRef>>>,
    pub origin: String,
    pub state: String,
    pub files_total: i64,
    pub files_read: i64,
    /// Bytes of the archive files read so far.
    pub bytes_read: i64,
    pub events_read: i64,
    pub written: i64,
    /// Archived events this pipeline had received already, so not written again.
    #[serde(rename = "already_received")]
    pub duplicates: i64,
    pub invalid: i64,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// The columns of a [`BackfillRow`], timestamps as RFC 3339 text.
macro_rules! row_columns {
    () => {
        "id, pipeline, event_type, from_hour, to_hour, \
         to_char(to_timestamp(from_hour * 3600) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS from_time, \
         to_char(to_timestamp(to_hour * 3600) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS to_time, \
         streams, origin, state, files_total, \
         files_read, bytes_read, events_read, written, duplicates, invalid, error, \
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at, \
         to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS started_at, \
         to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS finished_at"
    };
}

/// Files a request for any worker to run; returns its id.
pub async fn file(pool: &PgPool, pipeline: &str, req: &NewBackfill) -> Result<i64, BackfillError> {
    let mut conn = pool.acquire().await?;
    insert(&mut conn, pipeline, req, "queued").await
}

/// Inserts a request in `state` ('queued', or 'running' for a run that files its own request).
async fn insert(conn: &mut PgConnection, pipeline: &str, req: &NewBackfill, state: &str) -> Result<i64, BackfillError> {
    if req.from_hour >= req.to_hour {
        return Err(BackfillError::Config("from must be before to".into()));
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO backfills (pipeline, event_type, from_hour, to_hour, streams, origin, state, started_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $7 = 'running' THEN now() END) RETURNING id",
    )
    .bind(pipeline)
    .bind(&req.event_type)
    .bind(req.from_hour)
    .bind(req.to_hour)
    .bind(req.streams.clone().map(sqlx::types::Json))
    .bind(req.origin)
    .bind(state)
    .fetch_one(conn)
    .await?)
}

/// One request.
pub async fn get(pool: &PgPool, id: i64) -> Result<Option<BackfillRow>, BackfillError> {
    Ok(
        sqlx::query_as(concat!("SELECT ", row_columns!(), " FROM backfills WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// The newest requests of a pipeline, newest first.
pub async fn list(pool: &PgPool, pipeline: &str, limit: i64) -> Result<Vec<BackfillRow>, BackfillError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        row_columns!(),
        " FROM backfills WHERE pipeline = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(pipeline)
    .bind(limit)
    .fetch_all(pool)
    .await?)
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
            None => match get(&self.pool, id).await? {
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
        let mut conn = self.pool.acquire().await?.detach();
        let row = file_claimed(&mut conn, &self.pipeline.name, req).await?;
        self.run_row(conn, row, progress).await
    }

    async fn run_claimed(
        &mut self,
        only: Option<i64>,
        progress: impl FnMut(Progress),
    ) -> Result<Option<BackfillRow>, BackfillError> {
        // The run's own connection, never returned to the pool: its session lock lives exactly as
        // long as the run, or the process.
        let mut conn = self.pool.acquire().await?.detach();
        let Some(row) = claim(&mut conn, &self.pipeline.name, only).await? else {
            return Ok(None);
        };
        self.run_row(conn, row, progress).await.map(Some)
    }

    /// Runs a request claimed on `conn` (which holds its session lock) and records the outcome.
    async fn run_row(
        &mut self,
        mut conn: PgConnection,
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
        sqlx::query("UPDATE backfills SET state = $2, error = coalesce($3, error), finished_at = now() WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(&error)
            .execute(&mut conn)
            .await?;
        let _ = conn.close().await;
        metrics::counter!("murron_backfills_total", "state" => state).increment(1);
        let done = get(&self.pool, id).await?.ok_or(BackfillError::NotFound(id))?;
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
        let streams = row.streams.as_ref().and_then(|s| serde_json::to_value(&s.0).ok());
        // Only files holding offsets that some stream has not received.
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT a.key FROM archive_ranges a \
             JOIN archive_files f ON f.store = a.store AND f.key = a.key AND f.error IS NULL \
             LEFT JOIN sink_streams s ON s.pipeline = $2 AND s.event_type = a.event_type AND s.host = a.host AND s.pid = a.pid \
             WHERE a.store = $1 AND a.event_type = $3 AND a.hour >= $4 AND a.hour < $5 \
               AND NOT (a.offsets <@ coalesce(s.received, '{}'::int8multirange)) \
               AND ($6::jsonb IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements($6) e \
                    WHERE e->>'host' = a.host AND (e->>'pid')::int = a.pid)) \
             ORDER BY a.key",
        )
        .bind(self.index.store().describe())
        .bind(&self.pipeline.name)
        .bind(&row.event_type)
        .bind(row.from_hour)
        .bind(row.to_hour)
        .bind(&streams)
        .fetch_all(&self.pool)
        .await?;
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
                        Verdict::Valid(schema_id) => {
                            let seg = batch.consumed(&(source.clone(), -1), 0, n - 1, value.len());
                            seg.valid.push(Event {
                                value: value.as_slice().into(),
                                kafka_offset: n - 1,
                                schema_id,
                            });
                        }
                        Verdict::Dead(reason, detail) => {
                            // Not dead-lettered again: the live path did, if it ever came through Kafka.
                            totals.1 += 1;
                            first_invalid.get_or_insert_with(|| format!("{key}: {reason}: {detail}"));
                        }
                        Verdict::Skip => {}
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
            sqlx::query("UPDATE backfills SET error = $2 WHERE id = $1")
                .bind(row.id)
                .bind(format!("{} archived events are invalid; first: {first}", totals.1))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// The offsets of `event_type` this pipeline has received, per (host, pid).
    async fn received(&self, event_type: &str) -> Result<HashMap<(String, i32), OffsetRanges>, BackfillError> {
        let rows: Vec<(String, i32, String)> = sqlx::query_as(
            "SELECT host, pid, received::text FROM sink_streams WHERE pipeline = $1 AND event_type = $2",
        )
        .bind(&self.pipeline.name)
        .bind(event_type)
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for (host, pid, text) in rows {
            let r = parse_multirange(&text)
                .ok_or_else(|| StateError::Corrupt((event_type.to_owned(), host.clone(), pid), text))?;
            out.insert((host, pid), r);
        }
        Ok(out)
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
        sqlx::query(
            "UPDATE backfills SET files_total = $2, files_read = $3, events_read = $4, written = $5, \
             duplicates = $6, invalid = $7, bytes_read = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(p.files_total as i64)
        .bind(p.files_read as i64)
        .bind(p.events_read as i64)
        .bind(p.written as i64)
        .bind(dups)
        .bind(invalid)
        .bind(p.bytes_read as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Inserts `req` as running and takes its session lock on `conn`, in one transaction: no other
/// worker ever sees it unclaimed.
async fn file_claimed(
    conn: &mut PgConnection,
    pipeline: &str,
    req: &NewBackfill,
) -> Result<BackfillRow, BackfillError> {
    let mut tx = conn.begin().await?;
    let id = insert(&mut tx, pipeline, req, "running").await?;
    if !try_lock(&mut tx, id).await? {
        // Dropping the transaction withdraws the request.
        return Err(BackfillError::Busy(id));
    }
    tx.commit().await?;
    Ok(
        sqlx::query_as(concat!("SELECT ", row_columns!(), " FROM backfills WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Tries the session lock of request `id`: it outlives the transaction and ends with the run or
/// its connection. Ids share the lock's 31 bits, so two live requests 2^31 apart cannot both hold it.
async fn try_lock(conn: &mut PgConnection, id: i64) -> Result<bool, BackfillError> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(LOCK_NAMESPACE)
        .bind((id & 0x7fff_ffff) as i32)
        .fetch_one(conn)
        .await?)
}

/// Picks a queued or abandoned request (SKIP LOCKED passes over rows another worker is claiming
/// right now) whose session lock is free, takes that lock on `conn`, and marks the request running.
async fn claim(
    conn: &mut PgConnection,
    pipeline: &str,
    only: Option<i64>,
) -> Result<Option<BackfillRow>, BackfillError> {
    let mut tx = conn.begin().await?;
    let candidates: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM backfills WHERE pipeline = $1 AND state IN ('queued', 'running') \
         AND ($2::int8 IS NULL OR id = $2) ORDER BY id FOR UPDATE SKIP LOCKED",
    )
    .bind(pipeline)
    .bind(only)
    .fetch_all(&mut *tx)
    .await?;
    for id in candidates {
        if !try_lock(&mut tx, id).await? {
            continue;
        }
        sqlx::query("UPDATE backfills SET state = 'running', started_at = coalesce(started_at, now()) WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let row = sqlx::query_as(concat!("SELECT ", row_columns!(), " FROM backfills WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        return Ok(Some(row));
    }
    Ok(None)
}
