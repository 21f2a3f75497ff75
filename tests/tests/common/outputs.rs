//! Reading what the sink wrote, to check it event by event: Parquet files in a folder and warehouse
//! rows, as (type, host, pid, offset) identities.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
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
