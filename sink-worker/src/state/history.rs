//! The REP history (`reliability_history`, migrations/…_rep_history.sql): each sweep's counts per
//! type and hour, written in the sweep's own transaction (so under its lock: replicas never record
//! twice), and what the monitor's `GET /api/reliability/history` reads. Which rows a sweep inserts or
//! updates is decided by `reliability::history`; this module only reads and writes them.

use sqlx::PgPool;

use super::error::StateError;
use super::gaps::Sweep;

/// One type's counts in one hour, as a sweep sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCounts {
    pub event_type: String,
    /// Hours since the Unix epoch.
    pub hour: i64,
    /// received + missing + pending.
    pub total: i64,
    pub missing: i64,
    pub pending: i64,
}

/// A recorded state of one type's hour.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub counts: HourCounts,
    /// When a sweep first saw these missing and pending counts, in seconds since the Unix epoch.
    pub seen_at: f64,
    /// `seen_at` as RFC 3339 with milliseconds, UTC.
    pub seen_at_text: String,
    /// The latest sweep that changed `total` (else `seen_at`), RFC 3339 with milliseconds, UTC.
    pub updated_at_text: String,
}

/// A finished backfill, for naming what repaired an hour.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedBackfill {
    pub id: i64,
    pub event_type: String,
    pub from_hour: i64,
    /// Exclusive.
    pub to_hour: i64,
    /// Seconds since the Unix epoch.
    pub finished_at: f64,
}

type RecordedRow = (String, i64, i64, i64, i64, f64, String, String);

fn recorded(
    (event_type, hour, total, missing, pending, seen_at, seen_at_text, updated_at_text): RecordedRow,
) -> Recorded {
    Recorded {
        counts: HourCounts {
            event_type,
            hour,
            total,
            missing,
            pending,
        },
        seen_at,
        seen_at_text,
        updated_at_text,
    }
}

impl Sweep<'_> {
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
            // ON CONFLICT: a second sweep in the same instant (the clock of another replica's
            // transaction cannot be equal, but be safe) keeps the first row.
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
}

/// At most `limit` recorded rows of `pipeline` in the hours `from..to`, of `event_type` or all types,
/// by type, hour and time seen.
pub async fn recorded_rows(
    pool: &PgPool,
    pipeline: &str,
    event_type: Option<&str>,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<Recorded>, sqlx::Error> {
    let rows: Vec<RecordedRow> = sqlx::query_as(
        "SELECT event_type, hour, total, missing, pending, extract(epoch FROM seen_at)::float8, \
           to_char(seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
           to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') \
         FROM reliability_history WHERE pipeline = $1 AND ($2::text IS NULL OR event_type = $2) \
           AND hour >= $3 AND hour < $4 \
         ORDER BY event_type, hour, seen_at LIMIT $5",
    )
    .bind(pipeline)
    .bind(event_type)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(recorded).collect())
}

/// The backfills of `pipeline` that finished (`done`) over some of the hours `from..to`, of
/// `event_type` or all types; the latest 1,000.
pub async fn finished_backfills(
    pool: &PgPool,
    pipeline: &str,
    event_type: Option<&str>,
    from: i64,
    to: i64,
) -> Result<Vec<FinishedBackfill>, sqlx::Error> {
    let rows: Vec<(i64, String, i64, i64, f64)> = sqlx::query_as(
        "SELECT id, event_type, from_hour, to_hour, extract(epoch FROM finished_at)::float8 FROM backfills \
         WHERE pipeline = $1 AND ($2::text IS NULL OR event_type = $2) AND state = 'done' \
           AND finished_at IS NOT NULL AND from_hour < $4 AND to_hour > $3 \
         ORDER BY id DESC LIMIT 1000",
    )
    .bind(pipeline)
    .bind(event_type)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, event_type, from_hour, to_hour, finished_at)| FinishedBackfill {
            id,
            event_type,
            from_hour,
            to_hour,
            finished_at,
        })
        .collect())
}
