//! The manifest (`sink_files`): the files a batch staged, recorded in its [`super::Commit`], and marked
//! published once they are at their final keys. A worker that stopped in between finds them here.
//! [`super::State`] and [`super::Commit`] call these; their callers see only the methods.

use sqlx::{PgConnection, PgPool};

use super::error::StateError;

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

/// Whether a staged key is in the pipeline's manifest: whether the batch that staged it committed.
pub(super) async fn recorded(pool: &PgPool, pipeline: &str, staging_key: &str) -> Result<bool, StateError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sink_files WHERE pipeline = $1 AND staging_key = $2)")
            .bind(pipeline)
            .bind(staging_key)
            .fetch_one(pool)
            .await?,
    )
}

/// Files committed but not yet published (a worker may have stopped between commit and
/// promotion), oldest first; with `staged_by`, only those whose staging key contains it (one
/// writer's batches).
pub(super) async fn unpublished(
    pool: &PgPool,
    pipeline: &str,
    staged_by: Option<&str>,
) -> Result<Vec<FileRecord>, StateError> {
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT id, store, staging_key, final_key, events FROM sink_files \
         WHERE pipeline = $1 AND published_at IS NULL \
           AND ($2::text IS NULL OR strpos(staging_key, $2) > 0) ORDER BY id",
    )
    .bind(pipeline)
    .bind(staged_by)
    .fetch_all(pool)
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
pub(super) async fn mark_published(pool: &PgPool, ids: &[i64]) -> Result<(), StateError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE sink_files SET published_at = now() WHERE id = ANY($1) AND published_at IS NULL")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records staged files in the manifest; returns their ids in order.
pub(super) async fn record_files(
    conn: &mut PgConnection,
    pipeline: &str,
    files: &[NewFile],
) -> Result<Vec<i64>, StateError> {
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
    .bind(pipeline)
    .bind(stores)
    .bind(staging)
    .bind(finals)
    .bind(events)
    .bind(bytes)
    .fetch_all(conn)
    .await?)
}
