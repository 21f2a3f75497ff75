//! Reading what the sink wrote, to check it event by event: Parquet files in a folder or a bucket,
//! warehouse rows and Iceberg tables, as (type, host, pid, offset) identities.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use iceberg::spec::{DataContentType, FormatVersion, Manifest, ManifestList, ManifestStatus, TableMetadata};
use sink_worker::output::iceberg::intent::{self, Intent};
use sink_worker::storage::ObjectStore;
use sqlx::postgres::PgPool;

/// (type, host, pid, offset): an event's identity.
pub type Uid = (String, String, i32, i64);

pub fn uids_of(event_type: &str, batch: &RecordBatch) -> Vec<Uid> {
    let host = batch.column_by_name("_murron_host").expect("_murron_host");
    let host = host.as_string::<i32>();
    let pid = batch
        .column_by_name("_murron_pid")
        .expect("_murron_pid")
        .as_primitive::<Int32Type>();
    let offset = batch
        .column_by_name("_murron_offset")
        .expect("_murron_offset")
        .as_primitive::<Int64Type>();
    (0..batch.num_rows())
        .map(|i| {
            (
                event_type.to_owned(),
                host.value(i).to_owned(),
                pid.value(i),
                offset.value(i),
            )
        })
        .collect()
}

/// Every file under `root` with extension `ext`, excluding staging.
pub fn files(root: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == "_murron") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The event type a file belongs to, from `{prefix}/{type}/dt=…/hr=…/file`.
pub fn type_of(path: &Path) -> String {
    path.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .map(|s| s.to_string_lossy().into_owned())
        .expect("type folder")
}

/// Every event in the Parquet files under `root`.
pub fn parquet_uids(root: &Path) -> Vec<Uid> {
    let mut uids = Vec::new();
    for path in files(root, "parquet") {
        let file = std::fs::File::open(&path).expect("open parquet");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet footer")
            .build()
            .expect("parquet reader");
        for batch in reader {
            uids.extend(uids_of(&type_of(&path), &batch.expect("parquet batch")));
        }
    }
    uids
}

/// Every event in the Parquet files of `event_type` in an S3 bucket (under `events/`).
pub async fn s3_parquet_uids(bucket: &str, event_type: &str) -> Vec<Uid> {
    let store = sink_worker::storage::ObjectStore::open(&super::s3_store(bucket))
        .await
        .expect("open bucket");
    let mut uids = Vec::new();
    for obj in store.list(&format!("events/{event_type}/")).await.expect("list") {
        let bytes = store.get(&obj.key).await.expect("get");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap_or_else(|e| panic!("{} is not a complete Parquet file: {e}", obj.key))
            .build()
            .expect("parquet reader");
        for batch in reader {
            uids.extend(uids_of(event_type, &batch.expect("parquet batch")));
        }
    }
    uids
}

/// Reads objects by URI, as Iceberg metadata names them: `file:///path` from the file system,
/// `s3://bucket/key` from the local S3 server directly (not through a test's fault proxy).
#[derive(Default)]
pub struct Uris {
    buckets: HashMap<String, ObjectStore>,
}

impl Uris {
    async fn bucket(&mut self, bucket: &str) -> &ObjectStore {
        if !self.buckets.contains_key(bucket) {
            let store = ObjectStore::open(&super::s3_store(bucket)).await.expect("open bucket");
            self.buckets.insert(bucket.to_owned(), store);
        }
        &self.buckets[bucket]
    }

    pub async fn read(&mut self, uri: &str) -> Vec<u8> {
        if let Some(path) = uri.strip_prefix("file://") {
            return std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {uri}: {e}"));
        }
        let (bucket, key) = s3_uri(uri);
        self.bucket(bucket)
            .await
            .get(key)
            .await
            .unwrap_or_else(|e| panic!("cannot read {uri}: {e}"))
    }

    /// The URI of every object whose URI starts with `prefix` (a folder, ending in `/`).
    pub async fn list(&mut self, prefix: &str) -> Vec<String> {
        if let Some(path) = prefix.strip_prefix("file://") {
            let mut out = Vec::new();
            let mut stack = vec![PathBuf::from(path)];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for p in entries.flatten().map(|e| e.path()) {
                    if p.is_dir() {
                        stack.push(p);
                    } else {
                        out.push(format!("file://{}", p.display()));
                    }
                }
            }
            out.sort();
            return out;
        }
        let (bucket, key) = s3_uri(prefix);
        let objects = self.bucket(bucket).await.list(key).await.expect("list");
        objects
            .into_iter()
            .map(|o| format!("s3://{bucket}/{}", o.key))
            .collect()
    }
}

fn s3_uri(uri: &str) -> (&str, &str) {
    uri.strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .unwrap_or_else(|| panic!("{uri} is neither a file:// nor an s3:// URI"))
}

/// An Iceberg table as its catalog row names it.
pub struct IcebergTable {
    /// The current metadata file, as the catalog names it.
    pub metadata_location: String,
    pub metadata: TableMetadata,
    /// The URI of every data file the current snapshot holds (ADDED or EXISTING), once per reference:
    /// a file listed twice is a duplicate and must show.
    pub data_files: Vec<String>,
}

/// Reads table `namespace.table` of `catalog` from the catalog in the database of `pool`: the metadata
/// file its row names, the current snapshot's manifest list and each manifest in it. None when the
/// table is not in the catalog.
pub async fn iceberg_table(
    uris: &mut Uris,
    pool: &PgPool,
    catalog: &str,
    namespace: &str,
    table: &str,
) -> Option<IcebergTable> {
    let row: Option<Option<String>> = sqlx::query_scalar(
        "SELECT metadata_location FROM iceberg_tables \
         WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3",
    )
    .bind(catalog)
    .bind(namespace)
    .bind(table)
    .fetch_optional(pool)
    .await
    .expect("read the Iceberg catalog");
    let metadata_location = row.flatten()?;
    let metadata: TableMetadata = serde_json::from_slice(&uris.read(&metadata_location).await)
        .unwrap_or_else(|e| panic!("{metadata_location} is not Iceberg table metadata: {e}"));
    let mut data_files = Vec::new();
    if let Some(snapshot) = metadata.current_snapshot() {
        let list = uris.read(snapshot.manifest_list()).await;
        let list = ManifestList::parse_with_version(&list, FormatVersion::V2)
            .unwrap_or_else(|e| panic!("{} is not a manifest list: {e}", snapshot.manifest_list()));
        for m in list.entries() {
            let manifest = Manifest::parse_avro(&uris.read(&m.manifest_path).await)
                .unwrap_or_else(|e| panic!("{} is not a manifest: {e}", m.manifest_path));
            for entry in manifest.entries() {
                if matches!(entry.status(), ManifestStatus::Added | ManifestStatus::Existing) {
                    assert_eq!(
                        entry.content_type(),
                        DataContentType::Data,
                        "{}: the sink writes no delete files",
                        m.manifest_path
                    );
                    data_files.push(entry.file_path().to_owned());
                }
            }
        }
    }
    Some(IcebergTable {
        metadata_location,
        metadata,
        data_files,
    })
}

/// Every event in the Iceberg table of `event_type` (`{namespace}.{type with non-[a-z0-9_] as _}`),
/// read from its live data files; empty when the table does not exist. Every row is returned, so a
/// duplicate shows.
pub async fn iceberg_uids(pool: &PgPool, catalog: &str, namespace: &str, event_type: &str) -> Vec<Uid> {
    let mut uris = Uris::default();
    let table = sink_worker::output::iceberg::table_name(event_type);
    let Some(table) = iceberg_table(&mut uris, pool, catalog, namespace, &table).await else {
        return Vec::new();
    };
    let mut uids = Vec::new();
    for file in &table.data_files {
        let bytes = bytes::Bytes::from(uris.read(file).await);
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap_or_else(|e| panic!("{file} is not a complete Parquet file: {e}"))
            .build()
            .expect("parquet reader");
        for batch in reader {
            uids.extend(uids_of(event_type, &batch.expect("parquet batch")));
        }
    }
    uids
}

/// What is left of Iceberg writes after the workers stopped cleanly.
#[derive(Debug)]
pub struct IcebergLeftovers {
    /// Intents of batches that never committed, not yet swept (the sweep waits an hour).
    pub intents: usize,
    /// Data files those intents name, under the tables' locations but in no snapshot.
    pub orphaned_files: usize,
}

/// Checks what the Iceberg output of `pipeline`, with its store at `root` (`s3://bucket` or
/// `file:///path`), left besides its tables once every committed batch was published: no intent of
/// a committed batch (publishing deletes it), and no data file under a table's location that is
/// neither in the table's current snapshot nor named by the intent of a batch that never committed.
pub async fn assert_iceberg_leftovers(
    pool: &PgPool,
    root: &str,
    pipeline: &str,
    tables: &[IcebergTable],
) -> IcebergLeftovers {
    let mut uris = Uris::default();
    let staging = format!("{root}/{}", sink_worker::output::staging_prefix(pipeline));
    let mut uncommitted = BTreeSet::new();
    let mut intents = 0;
    for uri in uris.list(&staging).await {
        if !uri.ends_with(&format!(".{}", intent::EXTENSION)) {
            continue;
        }
        let key = &uri[root.len() + 1..];
        let committed: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sink_files WHERE staging_key = $1)")
            .bind(key)
            .fetch_one(pool)
            .await
            .expect("manifest");
        assert!(
            !committed,
            "{uri}: the intent of a committed batch is left after publishing"
        );
        let intent: Intent =
            serde_json::from_slice(&uris.read(&uri).await).unwrap_or_else(|e| panic!("{uri}: not an intent: {e}"));
        uncommitted.extend(intent.keys.into_iter().map(|k| format!("{root}/{k}")));
        intents += 1;
    }
    let mut orphaned_files = 0;
    for table in tables {
        let live: BTreeSet<&String> = table.data_files.iter().collect();
        for uri in uris.list(&format!("{}/data/", table.metadata.location())).await {
            if live.contains(&uri) {
                continue;
            }
            assert!(
                uncommitted.contains(&uri),
                "{uri} is in no snapshot of {} and in no intent of an uncommitted batch",
                table.metadata_location
            );
            orphaned_files += 1;
        }
    }
    IcebergLeftovers {
        intents,
        orphaned_files,
    }
}

pub async fn warehouse_uids(pool: &PgPool, event_type: &str) -> Vec<Uid> {
    let table = format!("warehouse.{}", event_type.replace('.', "_"));
    let sql = format!("SELECT _murron_host, _murron_pid, _murron_offset FROM {table}");
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .unwrap_or_default();
    rows.into_iter()
        .map(|(h, p, o)| (event_type.to_owned(), h, p, o))
        .collect()
}

/// The UIDs `gen` produces: `streams` streams `{prefix}-{i}` with pid `pid_base + i`, offsets from 0.
pub fn generated(event_type: &str, count: i64, streams: i64, prefix: &str, pid_base: i32) -> Vec<Uid> {
    (0..count)
        .map(|i| {
            let s = i % streams;
            (
                event_type.to_owned(),
                format!("{prefix}-{s}"),
                pid_base + s as i32,
                i / streams,
            )
        })
        .collect()
}

/// Prints one row of the RELIABILITY.md table (`scenario | runs | events | lost | duplicated | notes`)
/// for `got` against `expected`, then asserts that nothing was lost or duplicated. `deploy/faults.sh`
/// collects the rows.
pub fn report_exactly(scenario: &str, what: &str, got: &[Uid], expected: &[Uid], notes: &str) {
    let mut counts: BTreeMap<&Uid, u32> = BTreeMap::new();
    for u in got {
        *counts.entry(u).or_default() += 1;
    }
    let expected_set: BTreeSet<&Uid> = expected.iter().collect();
    let lost = expected_set.iter().filter(|u| !counts.contains_key(**u)).count();
    let duplicated: u32 = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "RELIABILITY | {scenario} ({what}) | 1 | {} | {lost} | {duplicated} | {notes}",
        expected.len()
    );
    assert_exactly(what, got, expected);
}

/// Asserts `got` holds each of `expected` exactly once and nothing else.
pub fn assert_exactly(what: &str, got: &[Uid], expected: &[Uid]) {
    let mut counts: BTreeMap<&Uid, u32> = BTreeMap::new();
    for u in got {
        *counts.entry(u).or_default() += 1;
    }
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(dups.is_empty(), "{what}: duplicated events, e.g. {dups:?}");
    let expected: BTreeSet<&Uid> = expected.iter().collect();
    let got: BTreeSet<&Uid> = counts.keys().copied().collect();
    let missing: Vec<_> = expected.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} expected, {} got; missing e.g. {missing:?}, unexpected e.g. {extra:?}",
        expected.len(),
        got.len()
    );
}

/// Waits until `f` returns true, up to `secs`.
pub async fn eventually<F: AsyncFnMut() -> bool>(secs: u64, what: &str, mut f: F) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
