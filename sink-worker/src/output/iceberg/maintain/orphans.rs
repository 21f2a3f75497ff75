//! Orphan removal: objects under a table's location that the table no longer reaches. Reached are the
//! current metadata file and those of its metadata log, the manifest list of every snapshot it keeps,
//! their manifests, and the data files live in those manifests. A DELETED entry does not keep its file:
//! the file is reached through the snapshot before the deletion if that one is kept, and needed by
//! nothing if it is not. Only objects older than an age (at least an hour) go, because a worker writes
//! a batch's files before it commits them; and never a file that a batch still in flight lists in its
//! intent ([`intent`]), however old, so a worker stalled for hours before its commit loses nothing.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use sqlx::postgres::PgPool;

use super::{MaintainError, Table};
use crate::output::iceberg::intent::{self, Intent};
use crate::output::iceberg::table;
use crate::output::staging::staging_prefix;
use crate::storage::ObjectMeta;

/// The objects of `listed` that are orphans: not in `reachable`, and last modified before `cutoff`.
/// An object whose time the store did not give is kept.
pub fn select<'a>(listed: &'a [ObjectMeta], reachable: &HashSet<String>, cutoff: SystemTime) -> Vec<&'a ObjectMeta> {
    listed
        .iter()
        .filter(|o| !reachable.contains(&o.key) && o.modified.is_some_and(|m| m < cutoff))
        .collect()
}

/// The store keys the table's current state reaches.
async fn reachable(t: &Table, pool: &PgPool) -> Result<(String, HashSet<String>), MaintainError> {
    let state = t.load(pool).await?;
    let md = &state.metadata;
    let mut keys = HashSet::new();
    let add = |keys: &mut HashSet<String>, uri: &str| -> Result<(), MaintainError> {
        keys.insert(t.key(uri)?.to_owned());
        Ok(())
    };
    add(&mut keys, &state.location)?;
    for log in md.metadata_log() {
        // A logged file outside the store cannot be among the objects listed under the table.
        let _ = add(&mut keys, &log.metadata_file);
    }
    let mut manifests = HashSet::new();
    for snapshot in md.snapshots() {
        add(&mut keys, snapshot.manifest_list())?;
        let list = table::parse_manifest_list(&t.files.store.get(t.key(snapshot.manifest_list())?).await?)?;
        for m in list {
            if !manifests.insert(m.manifest_path.clone()) {
                continue;
            }
            add(&mut keys, &m.manifest_path)?;
            for e in t.entries(&m).await?.iter().filter(|e| e.is_alive()) {
                add(&mut keys, e.file_path())?;
            }
        }
    }
    Ok((md.location().to_owned(), keys))
}

/// Every key that the intent of a batch not yet published lists, in any pipeline writing to the store.
async fn in_flight(t: &Table) -> Result<HashSet<String>, MaintainError> {
    // Every pipeline's: `_murron/staging/`.
    let staging = format!("{}/", staging_prefix("").trim_end_matches('/'));
    let mut keys = HashSet::new();
    for o in t.files.store.list(&staging).await? {
        if o.key.ends_with(&format!(".{}", intent::EXTENSION))
            && let Some(i) = Intent::read(&t.files.store, &o.key).await?
        {
            keys.extend(i.keys);
        }
    }
    Ok(keys)
}

/// Removes the table's orphans older than `older_than`; returns how many and their bytes.
pub async fn run(t: &Table, pool: &PgPool, older_than: Duration) -> Result<(u64, u64), MaintainError> {
    if older_than < super::MIN_ORPHAN_AGE {
        return Err(MaintainError::Options(format!(
            "orphans must be at least {}s old to be removed",
            super::MIN_ORPHAN_AGE.as_secs()
        )));
    }
    // The cutoff before the read: whatever a worker writes from now on is younger than it.
    let cutoff = SystemTime::now() - older_than;
    let (location, mut reachable) = reachable(t, pool).await?;
    reachable.extend(in_flight(t).await?);
    let prefix = format!("{}/", t.key(&location)?);
    let listed = t.files.store.list(&prefix).await?;
    let (mut n, mut bytes) = (0, 0);
    for o in select(&listed, &reachable, cutoff) {
        t.files.store.delete(&o.key).await?;
        n += 1;
        bytes += o.size;
    }
    if n > 0 {
        tracing::info!(table = %t.name, removed = n, bytes, "removed orphan files");
    }
    Ok((n, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::outputs::IcebergConfig;
    use crate::config::storage::{LocalConfig, StoreConfig};
    use crate::output::iceberg::table_store::TableStore;
    use crate::state::iceberg_catalog::TableIdent;

    #[tokio::test]
    async fn files_listed_by_an_unpublished_intent_are_protected_whatever_their_age() {
        let dir = std::env::temp_dir().join(format!("murron-orphans-{}-{}", std::process::id(), line!()));
        let files = TableStore::open(&IcebergConfig::new(StoreConfig::Local(LocalConfig {
            path: dir.clone(),
        })))
        .await
        .unwrap();
        let store = &files.store;
        let intent = Intent {
            keys: vec![
                "w/events/t/data/h/b-1.parquet".into(),
                "w/events/t/metadata/b-m0.avro".into(),
            ],
            superseded: Vec::new(),
        };
        store
            .put("_murron/staging/p/b/1.iceberg", intent.to_bytes())
            .await
            .unwrap();
        // Other staged objects are not intents.
        store.put("_murron/staging/p/b/2.parquet", b"x".to_vec()).await.unwrap();
        let t = Table {
            name: "events.t".into(),
            ident: TableIdent {
                catalog: "c".into(),
                namespace: "events".into(),
                table: "t".into(),
            },
            files: files.clone(),
        };
        let protected = in_flight(&t).await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(protected, intent.keys.into_iter().collect::<HashSet<_>>());
    }

    fn object(key: &str, age_secs: u64, now: SystemTime) -> ObjectMeta {
        ObjectMeta {
            key: key.to_owned(),
            size: 10,
            modified: Some(now - Duration::from_secs(age_secs)),
        }
    }

    #[test]
    fn only_unreached_objects_older_than_the_cutoff_are_orphans() {
        let now = SystemTime::now();
        let listed = vec![
            object("t/data/reached.parquet", 90_000, now),
            object("t/data/old-orphan.parquet", 90_000, now),
            object("t/data/young-orphan.parquet", 60, now),
            ObjectMeta {
                key: "t/data/no-time.parquet".into(),
                size: 1,
                modified: None,
            },
        ];
        let reachable: HashSet<String> = ["t/data/reached.parquet".to_owned()].into();
        let cutoff = now - Duration::from_secs(3600);
        let orphans: Vec<&str> = select(&listed, &reachable, cutoff)
            .iter()
            .map(|o| o.key.as_str())
            .collect();
        assert_eq!(orphans, ["t/data/old-orphan.parquet"]);
    }
}
