//! Backfill requests (`backfills`): filing, claiming with row locks and session advisory locks,
//! progress and outcome, and the reads a run plans with. `backfill` decides what to run and runs it;
//! this module owns the requests' SQL.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection, PgPool};

use super::error::StateError;
use super::multirange::parse_multirange;
use murron_wire::ranges::OffsetRanges;

/// Advisory-lock namespace of backfill runs (the first key of `pg_try_advisory_lock(int, int)`).
pub const LOCK_NAMESPACE: i32 = 0x4d42_4631; // "MBF1"

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

/// A run's counters as stored in its request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub files_total: i64,
    pub files_read: i64,
    pub bytes_read: i64,
    pub events_read: i64,
    pub written: i64,
    pub duplicates: i64,
    pub invalid: i64,
}

/// What filing a request already claimed came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Filed {
    /// Filed as running, its session lock held by the connection.
    Claimed(Box<BackfillRow>),
    /// Its lock was held elsewhere, so the request was withdrawn again.
    Busy(i64),
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

/// Files a request, queued for any worker to run; returns its id. The caller checks the request.
pub async fn file(pool: &PgPool, pipeline: &str, req: &NewBackfill) -> Result<i64, StateError> {
    let mut conn = pool.acquire().await?;
    insert(&mut conn, pipeline, req, "queued").await
}

/// Inserts a request in `state` ('queued', or 'running' for a run that files its own request).
async fn insert(conn: &mut PgConnection, pipeline: &str, req: &NewBackfill, state: &str) -> Result<i64, StateError> {
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
pub async fn get(pool: &PgPool, id: i64) -> Result<Option<BackfillRow>, StateError> {
    Ok(
        sqlx::query_as(concat!("SELECT ", row_columns!(), " FROM backfills WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// The newest requests of a pipeline, newest first.
pub async fn list(pool: &PgPool, pipeline: &str, limit: i64) -> Result<Vec<BackfillRow>, StateError> {
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

/// A run's own connection, never returned to the pool: its session lock lives exactly as long as
/// the run, or the process.
pub async fn session(pool: &PgPool) -> Result<PgConnection, StateError> {
    Ok(pool.acquire().await?.detach())
}

/// Inserts `req` as running and takes its session lock on `conn`, in one transaction: no other
/// worker ever sees it unclaimed. The caller checks the request.
pub async fn file_claimed(conn: &mut PgConnection, pipeline: &str, req: &NewBackfill) -> Result<Filed, StateError> {
    let mut tx = conn.begin().await?;
    let id = insert(&mut tx, pipeline, req, "running").await?;
    if !try_lock(&mut tx, id).await? {
        // Dropping the transaction withdraws the request.
        return Ok(Filed::Busy(id));
    }
    tx.commit().await?;
    let row = sqlx::query_as(concat!("SELECT ", row_columns!(), " FROM backfills WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Filed::Claimed(Box::new(row)))
}

/// Tries the session lock of request `id`: it outlives the transaction and ends with the run or
/// its connection. Ids share the lock's 31 bits, so two live requests 2^31 apart cannot both hold it.
async fn try_lock(conn: &mut PgConnection, id: i64) -> Result<bool, StateError> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(LOCK_NAMESPACE)
        .bind((id & 0x7fff_ffff) as i32)
        .fetch_one(conn)
        .await?)
}

/// Picks a queued or abandoned request (SKIP LOCKED passes over rows another worker is claiming
/// right now) whose session lock is free, takes that lock on `conn`, and marks the request running;
/// with `only`, just that request.
pub async fn claim(
    conn: &mut PgConnection,
    pipeline: &str,
    only: Option<i64>,
) -> Result<Option<BackfillRow>, StateError> {
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

/// Records a run's outcome (`done` or `failed`, with an error replacing any noted before) and
/// closes its session, which releases the request's lock.
pub async fn finish(mut conn: PgConnection, id: i64, state: &str, error: Option<&str>) -> Result<(), StateError> {
    sqlx::query("UPDATE backfills SET state = $2, error = coalesce($3, error), finished_at = now() WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(error)
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(())
}

/// Records a run's progress.
pub async fn record_progress(pool: &PgPool, id: i64, c: &RunCounts) -> Result<(), StateError> {
    sqlx::query(
        "UPDATE backfills SET files_total = $2, files_read = $3, events_read = $4, written = $5, \
         duplicates = $6, invalid = $7, bytes_read = $8 WHERE id = $1",
    )
    .bind(id)
    .bind(c.files_total)
    .bind(c.files_read)
    .bind(c.events_read)
    .bind(c.written)
    .bind(c.duplicates)
    .bind(c.invalid)
    .bind(c.bytes_read)
    .execute(pool)
    .await?;
    Ok(())
}

/// Notes an error on a request that is still running (its outcome may yet be `done`).
pub async fn note_error(pool: &PgPool, id: i64, error: &str) -> Result<(), StateError> {
    sqlx::query("UPDATE backfills SET error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(pool)
        .await?;
    Ok(())
}

/// The archive files in `store` that `row` must read, in key order: those of its type and hours
/// (and streams, if it names any) that hold offsets `pipeline` has not received.
pub async fn files_to_read(
    pool: &PgPool,
    store: &str,
    pipeline: &str,
    row: &BackfillRow,
) -> Result<Vec<String>, StateError> {
    let streams = row.streams.as_ref().and_then(|s| serde_json::to_value(&s.0).ok());
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT a.key FROM archive_ranges a \
         JOIN archive_files f ON f.store = a.store AND f.key = a.key AND f.error IS NULL \
         LEFT JOIN sink_streams s ON s.pipeline = $2 AND s.event_type = a.event_type AND s.host = a.host AND s.pid = a.pid \
         WHERE a.store = $1 AND a.event_type = $3 AND a.hour >= $4 AND a.hour < $5 \
           AND NOT (a.offsets <@ coalesce(s.received, '{}'::int8multirange)) \
           AND ($6::jsonb IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements($6) e \
                WHERE e->>'host' = a.host AND (e->>'pid')::int = a.pid)) \
         ORDER BY a.key",
    )
    .bind(store)
    .bind(pipeline)
    .bind(&row.event_type)
    .bind(row.from_hour)
    .bind(row.to_hour)
    .bind(&streams)
    .fetch_all(pool)
    .await?)
}

/// The offsets of `event_type` that `pipeline` has received, per (host, pid).
pub async fn received(
    pool: &PgPool,
    pipeline: &str,
    event_type: &str,
) -> Result<HashMap<(String, i32), OffsetRanges>, StateError> {
    let rows: Vec<(String, i32, String)> =
        sqlx::query_as("SELECT host, pid, received::text FROM sink_streams WHERE pipeline = $1 AND event_type = $2")
            .bind(pipeline)
            .bind(event_type)
            .fetch_all(pool)
            .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for (host, pid, text) in rows {
        let r = parse_multirange(&text)
            .ok_or_else(|| StateError::Corrupt((event_type.to_owned(), host.clone(), pid), text))?;
        out.insert((host, pid), r);
    }
    Ok(out)
}
