//! The archive index: which offsets of which stream and hour each archive file holds, kept in the
//! state database (`archive_files`, `archive_ranges`). Any file under the layout is indexed, whoever
//! wrote it; a file is read again only when its size changes. The tables' SQL is in
//! `state::archive_index`.

use std::collections::BTreeMap;

use sqlx::PgPool;

use crate::config::ArchiveConfig;
use crate::state::{StateError, archive_index};
use crate::storage::{ObjectStore, StoreError};
use murron_wire::hours::{Round, hour_partition, parse_hour};
use murron_wire::ocf::{ContainerFile, OcfError};
use murron_wire::ranges::OffsetRanges;
use murron_wire::stream::StreamKey;

/// Why indexing stopped. A file that does not parse is not an error here: it is recorded as such.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("archive store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// What one refresh did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IndexReport {
    pub files_seen: u64,
    pub files_read: u64,
    pub events_read: u64,
    /// Files that are not readable archives, with the reason.
    pub bad_files: Vec<(String, String)>,
}

/// An archive file's contents, summarized.
#[derive(Debug, Default)]
pub struct FileSummary {
    pub events: u64,
    /// (stream, hour) -> offsets.
    pub ranges: BTreeMap<(StreamKey, i64), OffsetRanges>,
}

/// Reads an archive file's offsets per stream and hour (of the events' own timestamps).
pub fn summarize(file: &[u8]) -> Result<FileSummary, OcfError> {
    let mut c = ContainerFile::open(file)?;
    let mut out = FileSummary::default();
    while let Some(block) = c.next_block()? {
        for (env, _) in block.records()? {
            out.events += 1;
            let key = (env.event_type.to_owned(), env.host.to_owned(), env.pid);
            out.ranges
                .entry((key, murron_wire::hours::hour_of_micros(env.timestamp)))
                .or_default()
                .insert(env.offset);
        }
    }
    Ok(out)
}

/// The hour of a key's `dt=YYYY-MM-DD/hr=HH` partition.
pub fn partition_hour(key: &str) -> Option<i64> {
    let (_, rest) = key.split_once("/dt=")?;
    let (date, rest) = rest.split_once("/hr=")?;
    let (hour, _) = rest.split_once('/')?;
    if hour.len() != 2 {
        return None;
    }
    parse_hour(&format!("{date}T{hour}:00:00Z"), Round::Down).ok()
}

/// The archive's store and its index.
#[derive(Debug, Clone)]
pub struct ArchiveIndex {
    pool: PgPool,
    store: ObjectStore,
    prefix: String,
}

impl ArchiveIndex {
    pub async fn open(pool: PgPool, config: &ArchiveConfig) -> Result<Self, IndexError> {
        Ok(Self {
            pool,
            store: ObjectStore::open(&config.store_config()).await?,
            prefix: config.prefix.trim_matches('/').to_owned(),
        })
    }

    pub fn store(&self) -> &ObjectStore {
        &self.store
    }

    /// The folder of one type and hour: `{prefix}/{type}/dt=…/hr=…/`.
    pub fn partition(&self, event_type: &str, hour: i64) -> String {
        let rest = format!("{event_type}/{}/", hour_partition(hour));
        if self.prefix.is_empty() {
            rest
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }

    /// Indexes new or changed files: of one type in the hours `from..to` only (a backfill reads just
    /// the partitions that can hold its gaps), or everywhere under the prefix (the monitor's sweep).
    pub async fn refresh(&self, scope: Option<(&str, i64, i64)>) -> Result<IndexReport, IndexError> {
        let mut listed = Vec::new();
        match scope {
            // One listing per hour partition for short ranges; the type's whole folder, filtered
            // by partition, for long ones.
            Some((event_type, from, to)) if to - from <= 48 => {
                for hour in from..to {
                    listed.extend(self.store.list(&self.partition(event_type, hour)).await?);
                }
            }
            Some((event_type, from, to)) => {
                let folder = self.partition(event_type, 0);
                let folder = folder.split("dt=").next().unwrap_or_default();
                listed = self.store.list(folder).await?;
                listed.retain(|o| partition_hour(&o.key).is_some_and(|h| (from..to).contains(&h)));
            }
            None => {
                let root = if self.prefix.is_empty() {
                    String::new()
                } else {
                    format!("{}/", self.prefix)
                };
                listed = self.store.list(&root).await?;
            }
        }
        listed.retain(|o| o.key.ends_with(".avro") && o.key.contains("/dt=") && o.key.contains("/hr="));
        let store_name = self.store.describe();
        let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
        let known = archive_index::indexed_sizes(&self.pool, &store_name, &keys).await?;
        let mut report = IndexReport {
            files_seen: listed.len() as u64,
            ..IndexReport::default()
        };
        for obj in listed {
            if known.get(&obj.key) == Some(&(obj.size as i64)) {
                continue;
            }
            let body = match self.store.get(&obj.key).await {
                Ok(b) => b,
                // Deleted between the listing and now: nothing to index.
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let size = body.len() as i64;
            let summary = tokio::task::spawn_blocking(move || summarize(&body))
                .await
                .unwrap_or_else(|e| Err(OcfError::Codec("reader", format!("panicked: {e}"))));
            report.files_read += 1;
            let mut entry = archive_index::replace(&self.pool, &store_name, &obj.key).await?;
            match summary {
                Ok(s) => {
                    report.events_read += s.events;
                    entry.readable(size, s.events as i64, &s.ranges).await?;
                }
                Err(e) => {
                    tracing::warn!(key = %obj.key, error = %e, "archive file is not readable; recorded and skipped");
                    metrics::counter!("murron_archive_bad_files_total").increment(1);
                    entry.unreadable(size, &e.to_string()).await?;
                    report.bad_files.push((obj.key.clone(), e.to_string()));
                }
            }
            entry.commit().await?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_hours_are_read_from_keys() {
        let h = parse_hour("2026-11-26T21:00:00Z", Round::Down).expect("parses");
        assert_eq!(partition_hour("archive/t/dt=2026-11-26/hr=21/x.avro"), Some(h));
        assert_eq!(partition_hour("archive/t/dt=2026-11-26/hr=21x/x.avro"), None);
        assert_eq!(partition_hour("archive/t/x.avro"), None);
        assert_eq!(hour_partition(h), "dt=2026-11-26/hr=21");
    }
}
