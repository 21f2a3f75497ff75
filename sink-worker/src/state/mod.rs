//! The sink's durable state in PostgreSQL (migrations/…_sink_state.sql, docs/EXACTLY_ONCE.md): per
//! pipeline, the commit point of each Kafka partition, the offsets received per stream, and the
//! manifest of files promoted from staging. One [`Commit`] is one transaction: everything a batch
//! makes durable becomes visible together, or not at all.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};

pub mod warehouse;

use crate::config::StateConfig;
use murron_wire::ranges::OffsetRanges;
use murron_wire::stream::StreamKey;

/// Migrations compiled in from the workspace's `migrations/` folder (shared with the registry).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A state-database failure. Always worth retrying: the database may be restarting.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("state database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored offsets of stream {0:?} do not parse: {1:?}")]
    Corrupt(StreamKey, String),
}

/// What one batch received of one stream in one hour (hours since the Unix epoch, UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHourUpdate {
    pub stream: StreamKey,
    pub hour: i64,
    pub received: OffsetRanges,
    pub duplicates: i64,
}

/// Opens the pool lazily (the worker starts while the database is down) and migrates if configured.
pub async fn connect(config: &StateConfig) -> Result<PgPool, StateError> {
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_secs))
        .connect_lazy(&config.url)?;
    if config.migrate_on_start {
        MIGRATOR.run(&pool).await?;
    }
    Ok(pool)
}

/// Whether the state database answers a query within two seconds: the readiness probe of the
/// monitor and of `run`.
pub async fn answers(pool: &PgPool) -> Result<(), String> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), sqlx::query("SELECT 1").execute(pool)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("state database: {e}")),
        Err(_) => Err("state database: no answer within 2 s".into()),
    }
}

/// The pipeline's view of the state database.
#[derive(Debug, Clone)]
pub struct State {
    pool: PgPool,
    pipeline: String,
}

/// A file committed but maybe not yet at its final key.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub id: i64,
    pub store: String,
    pub staging_key: String,
    pub final_key: String,
    pub events: i64,
}

/// A file to record in the manifest.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub store: String,
    pub staging_key: String,
    pub final_key: String,
    pub events: i64,
    pub bytes: i64,
}

impl State {
    pub fn new(pool: PgPool, pipeline: &str) -> Self {
        Self {
            pool,
            pipeline: pipeline.to_owned(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The committed next offset of a partition, or None before its first commit.
    pub async fn next_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, StateError> {
        Ok(sqlx::query_scalar(
            "SELECT next_offset FROM sink_partitions WHERE pipeline = $1 AND topic = $2 AND partition = $3",
        )
        .bind(&self.pipeline)
        .bind(topic)
        .bind(partition)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Files committed but not yet published (a worker may have stopped between commit and
    /// promotion), oldest first; with `staged_by`, only those whose staging key contains it (one
    /// writer's batches).
    pub async fn unpublished(&self, staged_by: Option<&str>) -> Result<Vec<FileRecord>, StateError> {
        let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, store, staging_key, final_key, events FROM sink_files \
             WHERE pipeline = $1 AND published_at IS NULL \
               AND ($2::text IS NULL OR strpos(staging_key, $2) > 0) ORDER BY id",
        )
        .bind(&self.pipeline)
        .bind(staged_by)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, store, staging_key, final_key, events)| FileRecord {
                id,
                store,
                staging_key,
                final_key,
                events,
            })
            .collect())
    }

    /// Marks files as being at their final keys.
    pub async fn mark_published(&self, ids: &[i64]) -> Result<(), StateError> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE sink_files SET published_at = now() WHERE id = ANY($1) AND published_at IS NULL")
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Starts the transaction of one batch.
    pub async fn begin(&self) -> Result<Commit, StateError> {
        Ok(Commit {
            tx: self.pool.begin().await?,
            pipeline: self.pipeline.clone(),
        })
    }
}

/// One batch's transaction.
#[derive(Debug)]
pub struct Commit {
    tx: Transaction<'static, Postgres>,
    pipeline: String,
}

impl Commit {
    /// Locks the partition's commit point and checks it still is `start`; false when another worker
    /// moved it (this worker lost the partition, or is a zombie).
    pub async fn claim(&mut self, topic: &str, partition: i32, start: i64) -> Result<bool, StateError> {
        sqlx::query(
            "INSERT INTO sink_partitions (pipeline, topic, partition, next_offset) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.pipeline)
        .bind(topic)
        .bind(partition)
        .bind(start)
        .execute(&mut *self.tx)
        .await?;
        let current: i64 = sqlx::query_scalar(
            "SELECT next_offset FROM sink_partitions WHERE pipeline = $1 AND topic = $2 AND partition = $3 \
             FOR UPDATE",
        )
        .bind(&self.pipeline)
        .bind(topic)
        .bind(partition)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(current == start)
    }

    /// Moves a claimed partition's commit point.
    pub async fn advance(&mut self, topic: &str, partition: i32, next: i64) -> Result<(), StateError> {
        sqlx::query(
            "UPDATE sink_partitions SET next_offset = $4, updated_at = now() \
             WHERE pipeline = $1 AND topic = $2 AND partition = $3",
        )
        .bind(&self.pipeline)
        .bind(topic)
        .bind(partition)
        .bind(next)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The offsets already received of these streams, locked until the commit. Streams not seen yet
    /// are created empty first, so two transactions taking the same new stream also serialize.
    pub async fn received(&mut self, streams: &[StreamKey]) -> Result<HashMap<StreamKey, OffsetRanges>, StateError> {
        let (types, hosts, pids) = columns(streams);
        sqlx::query(
            "INSERT INTO sink_streams (pipeline, event_type, host, pid) \
             SELECT $1, t, h, p FROM unnest($2::text[], $3::text[], $4::int4[]) AS k(t, h, p) ORDER BY 2, 3, 4 \
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.pipeline)
        .bind(&types)
        .bind(&hosts)
        .bind(&pids)
        .execute(&mut *self.tx)
        .await?;
        let rows: Vec<(String, String, i32, String)> = sqlx::query_as(
            "SELECT s.event_type, s.host, s.pid, s.received::text FROM sink_streams s \
             JOIN unnest($2::text[], $3::text[], $4::int4[]) AS k(event_type, host, pid) \
               ON s.event_type = k.event_type AND s.host = k.host AND s.pid = k.pid \
             WHERE s.pipeline = $1 ORDER BY 1, 2, 3 FOR UPDATE OF s",
        )
        .bind(&self.pipeline)
        .bind(types)
        .bind(hosts)
        .bind(pids)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for (t, h, p, text) in rows {
            let key = (t, h, p);
            match parse_multirange(&text) {
                Some(r) => out.insert(key, r),
                None => return Err(StateError::Corrupt(key, text)),
            };
        }
        Ok(out)
    }

    /// Adds newly received offsets and duplicate counts, per stream and hour of the events' own
    /// timestamps, to both the per-stream totals and the per-hour split.
    pub async fn add_received(&mut self, updates: &[StreamHourUpdate]) -> Result<(), StateError> {
        if updates.is_empty() {
            return Ok(());
        }
        let keys: Vec<StreamKey> = updates.iter().map(|u| u.stream.clone()).collect();
        let (types, hosts, pids) = columns(&keys);
        let hours: Vec<i64> = updates.iter().map(|u| u.hour).collect();
        let ranges: Vec<String> = updates.iter().map(|u| to_multirange(&u.received)).collect();
        let dups: Vec<i64> = updates.iter().map(|u| u.duplicates).collect();
        sqlx::query(
            "WITH u AS (SELECT * FROM unnest($2::text[], $3::text[], $4::int4[], $5::int8[], $6::text[], $7::int8[]) \
               AS u(t, h, p, hr, r, d)), \
             hours AS (INSERT INTO sink_stream_hours (pipeline, event_type, host, pid, hour, received, duplicates) \
               SELECT $1, t, h, p, hr, r::int8multirange, d FROM u ORDER BY t, hr, h, p \
               ON CONFLICT (pipeline, event_type, hour, host, pid) DO UPDATE SET \
                 received = sink_stream_hours.received + EXCLUDED.received, \
                 duplicates = sink_stream_hours.duplicates + EXCLUDED.duplicates) \
             INSERT INTO sink_streams (pipeline, event_type, host, pid, received, duplicates) \
             SELECT $1, t, h, p, range_agg(r::int8multirange), sum(d) FROM u GROUP BY t, h, p ORDER BY t, h, p \
             ON CONFLICT (pipeline, event_type, host, pid) DO UPDATE SET \
               received = sink_streams.received + EXCLUDED.received, \
               duplicates = sink_streams.duplicates + EXCLUDED.duplicates, updated_at = now()",
        )
        .bind(&self.pipeline)
        .bind(types)
        .bind(hosts)
        .bind(pids)
        .bind(hours)
        .bind(ranges)
        .bind(dups)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Records staged files in the manifest; returns their ids in order.
    pub async fn record_files(&mut self, files: &[NewFile]) -> Result<Vec<i64>, StateError> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let stores: Vec<&str> = files.iter().map(|f| f.store.as_str()).collect();
        let staging: Vec<&str> = files.iter().map(|f| f.staging_key.as_str()).collect();
        let finals: Vec<&str> = files.iter().map(|f| f.final_key.as_str()).collect();
        let events: Vec<i64> = files.iter().map(|f| f.events).collect();
        let bytes: Vec<i64> = files.iter().map(|f| f.bytes).collect();
        Ok(sqlx::query_scalar(
            "INSERT INTO sink_files (pipeline, store, staging_key, final_key, events, bytes) \
             SELECT $1, s, k, f, e, b FROM unnest($2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[]) \
               WITH ORDINALITY AS u(s, k, f, e, b, n) ORDER BY n RETURNING id",
        )
        .bind(&self.pipeline)
        .bind(stores)
        .bind(staging)
        .bind(finals)
        .bind(events)
        .bind(bytes)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// The transaction's connection, for the warehouse's rows.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), StateError> {
        Ok(self.tx.commit().await?)
    }
}

fn columns(keys: &[StreamKey]) -> (Vec<&str>, Vec<&str>, Vec<i32>) {
    (
        keys.iter().map(|k| k.0.as_str()).collect(),
        keys.iter().map(|k| k.1.as_str()).collect(),
        keys.iter().map(|k| k.2).collect(),
    )
}

/// PostgreSQL's text form of an `int8multirange`, e.g. `{[0,5),[7,9)}`.
pub fn to_multirange(r: &OffsetRanges) -> String {
    let mut s = String::from("{");
    for (i, (start, end)) in r.ranges().enumerate() {
        if i > 0 {
            s.push(',');
        }
        // Inclusive end; the upper bound of i64::MAX cannot be written exclusive, so use `]`.
        if end == i64::MAX {
            s.push_str(&format!("[{start},{end}]"));
        } else {
            s.push_str(&format!("[{start},{})", end + 1));
        }
    }
    s.push('}');
    s
}

/// Parses PostgreSQL's canonical text form of an `int8multirange` (`[a,b)` ranges).
pub fn parse_multirange(text: &str) -> Option<OffsetRanges> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = OffsetRanges::default();
    if inner.is_empty() {
        return Some(out);
    }
    for part in inner.split("),") {
        let part = part.trim_end_matches(')');
        let (lo, hi) = part.strip_prefix('[')?.split_once(',')?;
        let (lo, hi): (i64, i64) = (lo.parse().ok()?, hi.parse().ok()?);
        if hi <= lo {
            return None;
        }
        out.insert_range(lo, hi - 1);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multirange_text_round_trips() {
        let mut r = OffsetRanges::default();
        r.insert_range(0, 4);
        r.insert_range(7, 8);
        let text = to_multirange(&r);
        assert_eq!(text, "{[0,5),[7,9)}");
        assert_eq!(parse_multirange(&text), Some(r));
        assert_eq!(parse_multirange("{}"), Some(OffsetRanges::default()));
        assert_eq!(parse_multirange("{[5,3)}"), None);
        assert_eq!(parse_multirange("nonsense"), None);
    }
}
