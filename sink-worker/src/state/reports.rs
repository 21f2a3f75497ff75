//! What the monitor's HTTP API reads: received and missing counts per stream and hour, and the list
//! of gaps, with a gap's status (`pending` within the grace period, else `missing`) computed in SQL.
//!
//! These return the driver's own error rather than [`super::StateError`]: the API's 503 answers
//! carry its text as it is.

use sqlx::PgPool;

/// What a stream received in one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourReceived {
    pub event_type: String,
    pub hour: i64,
    pub host: String,
    pub pid: i32,
    /// Distinct offsets received.
    pub received: i64,
    pub duplicates: i64,
}

/// What a stored gap still misses in its hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourMissing {
    pub event_type: String,
    pub hour: i64,
    pub host: String,
    pub pid: i32,
    /// The gap's offsets not received since the last sweep.
    pub missing: i64,
    /// Whether the gap is open and first seen within the grace period.
    pub pending: bool,
}

/// Which gaps to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapFilter<'a> {
    pub event_type: Option<&'a str>,
    pub host: Option<&'a str>,
    pub pid: Option<i32>,
    /// Hours since the Unix epoch, `to` exclusive.
    pub from: i64,
    pub to: i64,
}

/// A gap as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapEntry {
    pub event_type: String,
    pub host: String,
    pub pid: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub hour: i64,
    /// RFC 3339, UTC.
    pub first_seen: String,
    /// `pending`, `missing`, `backfilling` or `unrecoverable`.
    pub status: String,
    pub backfill_id: Option<i64>,
    pub reason: Option<String>,
}

/// What `pipeline`'s streams received in the hours `from..to`, of `event_type` or all types.
pub async fn received(
    pool: &PgPool,
    pipeline: &str,
    event_type: Option<&str>,
    from: i64,
    to: i64,
) -> Result<Vec<HourReceived>, sqlx::Error> {
    let rows: Vec<(String, i64, String, i32, i64, i64)> = sqlx::query_as(
        "SELECT event_type, hour, host, pid, \
           (SELECT coalesce(sum(upper(x) - lower(x)), 0) FROM unnest(received) x)::int8, duplicates \
         FROM sink_stream_hours WHERE pipeline = $1 AND ($2::text IS NULL OR event_type = $2) \
           AND hour >= $3 AND hour < $4",
    )
    .bind(pipeline)
    .bind(event_type)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(event_type, hour, host, pid, received, duplicates)| HourReceived {
            event_type,
            hour,
            host,
            pid,
            received,
            duplicates,
        })
        .collect())
}

/// What `pipeline`'s stored gaps in the hours `from..to` still miss, of `event_type` or all types;
/// gaps first seen less than `grace_secs` ago are pending.
pub async fn missing(
    pool: &PgPool,
    pipeline: &str,
    event_type: Option<&str>,
    from: i64,
    to: i64,
    grace_secs: f64,
) -> Result<Vec<HourMissing>, sqlx::Error> {
    // A gap's events received since the last sweep are not missing any more.
    let rows: Vec<(String, i64, String, i32, i64, bool)> = sqlx::query_as(
        "SELECT g.event_type, g.hour, g.host, g.pid, \
           g.last_offset - g.first_offset + 1 - (SELECT coalesce(sum(upper(x) - lower(x)), 0) \
             FROM unnest(coalesce(s.received, '{}') * int8multirange(int8range(g.first_offset, g.last_offset + 1))) x)::int8, \
           g.state = 'open' AND g.first_seen > now() - make_interval(secs => $5) \
         FROM reliability_gaps g LEFT JOIN sink_streams s ON s.pipeline = g.pipeline \
           AND s.event_type = g.event_type AND s.host = g.host AND s.pid = g.pid \
         WHERE g.pipeline = $1 AND ($2::text IS NULL OR g.event_type = $2) AND g.hour >= $3 AND g.hour < $4",
    )
    .bind(pipeline)
    .bind(event_type)
    .bind(from)
    .bind(to)
    .bind(grace_secs)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(event_type, hour, host, pid, missing, pending)| HourMissing {
            event_type,
            hour,
            host,
            pid,
            missing,
            pending,
        })
        .collect())
}

/// At most `limit` of `pipeline`'s stored gaps that `filter` selects, by type, stream and offset;
/// gaps first seen less than `grace_secs` ago are `pending`.
pub async fn gaps(
    pool: &PgPool,
    pipeline: &str,
    filter: &GapFilter<'_>,
    grace_secs: f64,
    limit: i64,
) -> Result<Vec<GapEntry>, sqlx::Error> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        String,
        String,
        i32,
        i64,
        i64,
        i64,
        String,
        String,
        Option<i64>,
        Option<String>,
    )> = sqlx::query_as(
        "SELECT event_type, host, pid, first_offset, last_offset, hour, \
           to_char(first_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
           CASE WHEN state = 'open' AND first_seen > now() - make_interval(secs => $7) THEN 'pending' \
                WHEN state = 'open' THEN 'missing' ELSE state END, backfill_id, reason \
         FROM reliability_gaps WHERE pipeline = $1 AND ($2::text IS NULL OR event_type = $2) \
           AND ($3::text IS NULL OR host = $3) AND ($4::int4 IS NULL OR pid = $4) AND hour >= $5 AND hour < $6 \
         ORDER BY event_type, host, pid, first_offset LIMIT $8",
    )
    .bind(pipeline)
    .bind(filter.event_type)
    .bind(filter.host)
    .bind(filter.pid)
    .bind(filter.from)
    .bind(filter.to)
    .bind(grace_secs)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(event_type, host, pid, first_offset, last_offset, hour, first_seen, status, backfill_id, reason)| {
                GapEntry {
                    event_type,
                    host,
                    pid,
                    first_offset,
                    last_offset,
                    hour,
                    first_seen,
                    status,
                    backfill_id,
                    reason,
                }
            },
        )
        .collect())
}
