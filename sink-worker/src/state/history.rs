//! The REP history (`reliability_history`, migrations/…_rep_history.sql): its rows, and what the
//! monitor's `GET /api/reliability/history` reads. The sweep writes them in its own transaction (so
//! under its lock: replicas never record twice), with `Sweep::latest_history` and
//! `Sweep::write_history` in [`super::gaps`]; which rows it inserts or updates is decided by
//! `reliability::history`.

use sqlx::PgPool;

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
