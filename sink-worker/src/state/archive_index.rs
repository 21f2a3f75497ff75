//! The archive index's tables (`archive_files`, `archive_ranges`): which offsets of which stream and
//! hour each archive file holds. `archive::index` lists and reads the files; this module stores what
//! it found, one file per transaction.

use std::collections::{BTreeMap, HashMap};

use sqlx::{PgPool, Postgres, Transaction};

use super::error::StateError;
use super::multirange::to_multirange;
use murron_wire::ranges::OffsetRanges;
use murron_wire::stream::StreamKey;

/// The indexed size of each of `keys` of `store` that is indexed at all.
pub async fn indexed_sizes(pool: &PgPool, store: &str, keys: &[&str]) -> Result<HashMap<String, i64>, StateError> {
    Ok(
        sqlx::query_as::<_, (String, i64)>("SELECT key, size FROM archive_files WHERE store = $1 AND key = ANY($2)")
            .bind(store)
            .bind(keys)
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect(),
    )
}

/// One file's entry being replaced: its old rows are gone, its new ones visible at [`Self::commit`].
#[derive(Debug)]
pub struct FileEntry<'a> {
    tx: Transaction<'static, Postgres>,
    store: &'a str,
    key: &'a str,
}

/// Starts replacing the entry of `key` in `store` (deleting what was indexed of it before).
pub async fn replace<'a>(pool: &PgPool, store: &'a str, key: &'a str) -> Result<FileEntry<'a>, StateError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM archive_files WHERE store = $1 AND key = $2")
        .bind(store)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    Ok(FileEntry { tx, store, key })
}

impl FileEntry<'_> {
    /// Records a readable file of `size` bytes, its event count and its offsets per (stream, hour).
    pub async fn readable(
        &mut self,
        size: i64,
        events: i64,
        ranges: &BTreeMap<(StreamKey, i64), OffsetRanges>,
    ) -> Result<(), StateError> {
        sqlx::query("INSERT INTO archive_files (store, key, size, events) VALUES ($1, $2, $3, $4)")
            .bind(self.store)
            .bind(self.key)
            .bind(size)
            .bind(events)
            .execute(&mut *self.tx)
            .await?;
        let mut cols = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((stream, hour), r) in ranges {
            cols.0.push(stream.0.as_str());
            cols.1.push(stream.1.as_str());
            cols.2.push(stream.2);
            cols.3.push(*hour);
            cols.4.push(to_multirange(r));
        }
        sqlx::query(
            "INSERT INTO archive_ranges (store, key, event_type, host, pid, hour, offsets) \
             SELECT $1, $2, t, h, p, hr, o::int8multirange \
             FROM unnest($3::text[], $4::text[], $5::int4[], $6::int8[], $7::text[]) AS u(t, h, p, hr, o)",
        )
        .bind(self.store)
        .bind(self.key)
        .bind(cols.0)
        .bind(cols.1)
        .bind(cols.2)
        .bind(cols.3)
        .bind(cols.4)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Records a file of `size` bytes that is not a readable archive, and why, so that it is not read
    /// again until it changes.
    pub async fn unreadable(&mut self, size: i64, error: &str) -> Result<(), StateError> {
        sqlx::query("INSERT INTO archive_files (store, key, size, events, error) VALUES ($1, $2, $3, 0, $4)")
            .bind(self.store)
            .bind(self.key)
            .bind(size)
            .bind(error)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StateError> {
        Ok(self.tx.commit().await?)
    }
}
