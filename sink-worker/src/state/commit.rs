//! The commit transaction of one batch ([`Commit`]): the commit point of each Kafka partition
//! (`sink_partitions`) and the offsets received per stream and hour (`sink_streams`,
//! `sink_stream_hours`) move together, with the manifest's rows ([`super::manifest`]) and the
//! warehouse's ([`super::warehouse`]), or not at all.

use std::collections::HashMap;

use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Postgres, Transaction};

use super::error::StateError;
use super::manifest::{self, FileRecord, NewFile};
use super::multirange::{parse_multirange, to_multirange};
use murron_wire::ranges::OffsetRanges;
use murron_wire::stream::StreamKey;

/// What one batch received of one stream in one hour (hours since the Unix epoch, UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHourUpdate {
    pub stream: StreamKey,
    pub hour: i64,
    pub received: OffsetRanges,
    pub duplicates: i64,
}

/// The pipeline's view of the state database.
#[derive(Debug, Clone)]
pub struct State {
    pool: PgPool,
    pipeline: String,
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
        manifest::unpublished(&self.pool, &self.pipeline, staged_by).await
    }

    /// Whether a staged key is in the manifest: whether the batch that staged it committed.
    pub async fn recorded(&self, staging_key: &str) -> Result<bool, StateError> {
        manifest::recorded(&self.pool, &self.pipeline, staging_key).await
    }

    /// Marks files as being at their final keys.
    pub async fn mark_published(&self, ids: &[i64]) -> Result<(), StateError> {
        manifest::mark_published(&self.pool, ids).await
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
        manifest::record_files(&mut self.tx, &self.pipeline, files).await
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
