//! The monitor's sweep (`reliability_gaps`): the offsets received and archived per stream and hour
//! that it computes gaps from, and the [`Sweep`] transaction that replaces a pipeline's gaps, files
//! the backfills due and records the REP history (`super::history`), one sweep at a time per
//! pipeline (a transaction-level advisory lock).

use std::collections::HashMap;

use sqlx::{PgPool, Postgres, Transaction};

use super::error::StateError;
use super::history::HourCounts;
use super::multirange::parse_multirange;
use murron_wire::ranges::OffsetRanges;
use murron_wire::stream::StreamKey;

/// A stream's offsets in one hour, as stored: (type, host, pid, hour, multirange text).
type HourRanges = (String, String, i32, i64, String);

/// Advisory-lock namespace of sweeps.
const SWEEP_LOCK: i32 = 0x4d53_5731; // "MSW1"

/// A stream's offsets in one hour (hours since the Unix epoch, of the events' own timestamps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourOffsets {
    pub stream: StreamKey,
    pub hour: i64,
    pub offsets: OffsetRanges,
}

/// What a sweep computes gaps from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepOffsets {
    /// What the pipeline received.
    pub received: Vec<HourOffsets>,
    /// What the readable files of the archive in `store` hold.
    pub archived: Vec<HourOffsets>,
}

/// The offsets `pipeline` received and those the archive in `store` holds, of `types` (all types
/// when empty), per stream and hour.
pub async fn offsets(pool: &PgPool, pipeline: &str, store: &str, types: &[String]) -> Result<SweepOffsets, StateError> {
    let received: Vec<HourRanges> =
        sqlx::query_as("SELECT event_type, host, pid, hour, received::text FROM sink_stream_hours WHERE pipeline = $1")
            .bind(pipeline)
            .fetch_all(pool)
            .await?;
    let archived: Vec<HourRanges> = sqlx::query_as(
        "SELECT a.event_type, a.host, a.pid, a.hour, range_agg(a.offsets)::text FROM archive_ranges a \
         JOIN archive_files f ON f.store = a.store AND f.key = a.key AND f.error IS NULL \
         WHERE a.store = $1 AND (cardinality($2::text[]) = 0 OR a.event_type = ANY($2)) \
         GROUP BY 1, 2, 3, 4",
    )
    .bind(store)
    .bind(types)
    .fetch_all(pool)
    .await?;
    Ok(SweepOffsets {
        received: parse(received)?,
        archived: parse(archived)?,
    })
}

fn parse(rows: Vec<HourRanges>) -> Result<Vec<HourOffsets>, StateError> {
    rows.into_iter()
        .map(|(t, h, p, hour, text)| {
            let stream = (t, h, p);
            match parse_multirange(&text) {
                Some(offsets) => Ok(HourOffsets { stream, hour, offsets }),
                None => Err(StateError::Corrupt(stream, text)),
            }
        })
        .collect()
}

/// A gap as stored in `reliability_gaps`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredGap {
    pub event_type: String,
    pub host: String,
    pub pid: i32,
    pub first: i64,
    pub last: i64,
    /// Seconds since the Unix epoch.
    pub first_seen: f64,
    pub state: String,
    pub backfill_id: Option<i64>,
    pub reason: Option<String>,
}

/// A backfill that ended, as a gap it was filed for sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedBackfill {
    /// `done` or `failed`.
    pub state: String,
    pub error: Option<String>,
}

/// A gap to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGap<'a> {
    pub stream: &'a StreamKey,
    pub first: i64,
    pub last: i64,
    pub hour: i64,
    /// Seconds since the Unix epoch.
    pub first_seen: f64,
    pub state: &'a str,
    pub backfill_id: Option<i64>,
    pub reason: Option<&'a str>,
}

/// One sweep's transaction, holding the pipeline's sweep lock until it ends.
#[derive(Debug)]
pub struct Sweep<'a> {
    tx: Transaction<'static, Postgres>,
    pipeline: &'a str,
}

/// Starts a sweep of `pipeline`; None when another replica is sweeping it.
pub async fn begin_sweep<'a>(pool: &PgPool, pipeline: &'a str) -> Result<Option<Sweep<'a>>, StateError> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, hashtext($2))")
        .bind(SWEEP_LOCK)
        .bind(pipeline)
        .fetch_one(&mut *tx)
        .await?;
    Ok(locked.then_some(Sweep { tx, pipeline }))
}

impl Sweep<'_> {
    /// The database's clock, in seconds since the Unix epoch: the time the sweep's gaps are seen at.
    pub async fn now(&mut self) -> Result<f64, StateError> {
        Ok(sqlx::query_scalar("SELECT extract(epoch FROM now())::float8")
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// The gaps the previous sweep stored.
    pub async fn stored_gaps(&mut self) -> Result<Vec<StoredGap>, StateError> {
        Ok(sqlx::query_as(
            "SELECT event_type, host, pid, first_offset AS first, last_offset AS last, \
             extract(epoch FROM first_seen)::float8 AS first_seen, state, backfill_id, reason \
             FROM reliability_gaps WHERE pipeline = $1",
        )
        .bind(self.pipeline)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// The backfills filed for gaps still `backfilling` that have ended since, by id.
    pub async fn ended_backfills(&mut self) -> Result<HashMap<i64, EndedBackfill>, StateError> {
        Ok(sqlx::query_as::<_, (i64, String, Option<String>)>(
            "SELECT id, state, error FROM backfills WHERE pipeline = $1 AND state IN ('done', 'failed') \
             AND id IN (SELECT backfill_id FROM reliability_gaps WHERE pipeline = $1 AND state = 'backfilling')",
        )
        .bind(self.pipeline)
        .fetch_all(&mut *self.tx)
        .await?
        .into_iter()
        .map(|(id, state, error)| (id, EndedBackfill { state, error }))
        .collect())
    }

    /// Files a backfill of `event_type` in the hours `from..to` for `streams` (a JSON array of
    /// `{"host", "pid"}`), queued with origin `auto`; returns its id.
    pub async fn file_backfill(
        &mut self,
        event_type: &str,
        from: i64,
        to: i64,
        streams: serde_json::Value,
    ) -> Result<i64, StateError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO backfills (pipeline, event_type, from_hour, to_hour, streams, origin) \
             VALUES ($1, $2, $3, $4, $5, 'auto') RETURNING id",
        )
        .bind(self.pipeline)
        .bind(event_type)
        .bind(from)
        .bind(to)
        .bind(streams)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Replaces the pipeline's stored gaps with `gaps`.
    pub async fn replace_gaps(&mut self, gaps: &[NewGap<'_>]) -> Result<(), StateError> {
        sqlx::query("DELETE FROM reliability_gaps WHERE pipeline = $1")
            .bind(self.pipeline)
            .execute(&mut *self.tx)
            .await?;
        for chunk in gaps.chunks(5_000) {
            let mut c = (
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
            );
            for g in chunk {
                c.0.push(g.stream.0.as_str());
                c.1.push(g.stream.1.as_str());
                c.2.push(g.stream.2);
                c.3.push(g.first);
                c.4.push(g.last);
                c.5.push(g.hour);
                c.6.push(g.first_seen);
                c.7.push(g.state);
                c.8.push(g.backfill_id);
                c.9.push(g.reason);
            }
            sqlx::query(
                "INSERT INTO reliability_gaps (pipeline, event_type, host, pid, first_offset, last_offset, hour, \
                 first_seen, state, backfill_id, reason) \
                 SELECT $1, t, h, p, f, l, hr, to_timestamp(fs), s, b, r FROM unnest($2::text[], $3::text[], \
                 $4::int4[], $5::int8[], $6::int8[], $7::int8[], $8::float8[], $9::text[], $10::int8[], $11::text[]) \
                 AS u(t, h, p, f, l, hr, fs, s, b, r)",
            )
            .bind(self.pipeline)
            .bind(c.0)
            .bind(c.1)
            .bind(c.2)
            .bind(c.3)
            .bind(c.4)
            .bind(c.5)
            .bind(c.6)
            .bind(c.7)
            .bind(c.8)
            .bind(c.9)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// The latest recorded row of every type and hour from `from_hour` on.
    pub async fn latest_history(&mut self, from_hour: i64) -> Result<Vec<HourCounts>, StateError> {
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT DISTINCT ON (event_type, hour) event_type, hour, total, missing, pending \
             FROM reliability_history WHERE pipeline = $1 AND hour >= $2 \
             ORDER BY event_type, hour, seen_at DESC",
        )
        .bind(self.pipeline)
        .bind(from_hour)
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(event_type, hour, total, missing, pending)| HourCounts {
                event_type,
                hour,
                total,
                missing,
                pending,
            })
            .collect())
    }

    /// Inserts `new` rows seen now, updates the total of the latest row of each of `refresh`'s hours,
    /// and deletes the rows of hours before `from_hour` (the retention); returns how many it deleted.
    pub async fn write_history(
        &mut self,
        new: &[HourCounts],
        refresh: &[HourCounts],
        from_hour: i64,
    ) -> Result<u64, StateError> {
        let columns = |rows: &[HourCounts]| {
            let mut c = (vec![], vec![], vec![], vec![], vec![]);
            for r in rows {
                c.0.push(r.event_type.clone());
                c.1.push(r.hour);
                c.2.push(r.total);
                c.3.push(r.missing);
                c.4.push(r.pending);
            }
            c
        };
        for chunk in new.chunks(5_000) {
            let c = columns(chunk);
            // Sweeps are serialized by the lock, so a row of this instant cannot exist; should the
            // clock repeat anyway, the row already recorded stands rather than failing the sweep.
            sqlx::query(
                "INSERT INTO reliability_history (pipeline, event_type, hour, seen_at, updated_at, total, missing, pending) \
                 SELECT $1, t, h, now(), now(), tot, m, p \
                 FROM unnest($2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) AS u(t, h, tot, m, p) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(self.pipeline)
            .bind(c.0)
            .bind(c.1)
            .bind(c.2)
            .bind(c.3)
            .bind(c.4)
            .execute(&mut *self.tx)
            .await?;
        }
        for chunk in refresh.chunks(5_000) {
            let c = columns(chunk);
            sqlx::query(
                "UPDATE reliability_history r SET total = u.tot, updated_at = now() \
                 FROM unnest($2::text[], $3::int8[], $4::int8[]) AS u(t, h, tot) \
                 WHERE r.pipeline = $1 AND r.event_type = u.t AND r.hour = u.h AND r.seen_at = \
                   (SELECT max(seen_at) FROM reliability_history l WHERE l.pipeline = $1 AND l.event_type = u.t AND l.hour = u.h)",
            )
            .bind(self.pipeline)
            .bind(c.0)
            .bind(c.1)
            .bind(c.2)
            .execute(&mut *self.tx)
            .await?;
        }
        let deleted = sqlx::query("DELETE FROM reliability_history WHERE pipeline = $1 AND hour < $2")
            .bind(self.pipeline)
            .bind(from_hour)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(deleted)
    }

    pub async fn commit(self) -> Result<(), StateError> {
        Ok(self.tx.commit().await?)
    }
}
