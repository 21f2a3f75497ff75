//! The Iceberg output's commit protocol against the real PostgreSQL, with the interleavings forced:
//! two workers appending to one table (the second's swap loses and is rebuilt on the first's snapshot,
//! once, under the row lock), and a batch whose transaction never commits (its files are never
//! reachable from the table and its intent deletes them). The readers no one here wrote
//! (tests/interop: pyiceberg, DuckDB) check the tables the sink writes end to end; this checks the
//! protocol step by step.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{Field, Schema};
use iceberg::spec::{FormatVersion, ManifestList, TableMetadata};
use murron_payload::Variant;
use sink_worker::config::outputs::IcebergConfig;
use sink_worker::config::storage::{LocalConfig, StoreConfig};
use sink_worker::output::iceberg::{IcebergOutput, intent};
use sink_worker::output::{Converted, Group, Output, Prepared, Staging};
use sink_worker::state::{FileRecord, State};
use sink_worker::storage::ObjectStore;
use sqlx::PgPool;

const HOUR: i64 = 490_000; // 2025-11-24T16:00Z

/// `rows` events of one stream, offsets from `first`, all in [`HOUR`].
fn events(first: i64, rows: i64) -> RecordBatch {
    let offsets: Vec<i64> = (first..first + rows).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "n",
            Arc::new(Int32Array::from_iter_values(offsets.iter().map(|o| *o as i32))),
        ),
        (
            "_murron_timestamp",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(offsets.iter().map(|o| HOUR * 3_600_000_000 + o))
                    .with_timezone("+00:00"),
            ),
        ),
        (
            "_murron_host",
            Arc::new(StringArray::from_iter_values(offsets.iter().map(|_| "h"))),
        ),
        (
            "_murron_offset",
            Arc::new(Int64Array::from_iter_values(offsets.iter().copied())),
        ),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), false))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

struct Setup {
    pool: PgPool,
    root: std::path::PathBuf,
    config: IcebergConfig,
}

async fn setup() -> Setup {
    let url = common::fresh_database().await;
    let pool = PgPool::connect(&url).await.expect("connect");
    sink_worker::state::MIGRATOR.run(&pool).await.expect("migrate");
    let root = std::env::temp_dir().join(common::unique("iceberg"));
    let config = IcebergConfig::new(StoreConfig::Local(LocalConfig { path: root.clone() }));
    Setup { pool, root, config }
}

/// Stages one batch of `batch` in a transaction of its own, left open for the caller to end.
async fn stage(
    output: &IcebergOutput,
    pool: &PgPool,
    batch_id: &str,
    batch: RecordBatch,
) -> (sqlx::Transaction<'static, sqlx::Postgres>, Staging) {
    let groups = [Group {
        event_type: "shop.order",
        schema_id: 1,
        variant: Variant(0),
        hour: HOUR,
        rows: Vec::new(),
    }];
    let converted = [Converted {
        group: 0,
        batch,
        files: HashMap::new(),
    }];
    let prepared = Prepared {
        batch_id,
        rows: &[],
        groups: &groups,
        converted: &converted,
        from_kafka: false,
        sources: &[],
        starts: &[],
    };
    let mut tx = pool.begin().await.expect("begin");
    let mut staging = Staging::new("p", batch_id);
    output.stage(&prepared, &mut tx, &mut staging).await.expect("stage");
    (tx, staging)
}

async fn current(setup: &Setup) -> (String, TableMetadata) {
    let location: String = sqlx::query_scalar(
        "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = 'murron' \
         AND table_namespace = 'events' AND table_name = 'shop_order'",
    )
    .fetch_one(&setup.pool)
    .await
    .expect("the table's row");
    let path = location.strip_prefix("file://").expect("a file URI");
    let metadata = serde_json::from_slice(&std::fs::read(path).expect("metadata file")).expect("metadata JSON");
    (location, metadata)
}

fn record(staging: &Staging) -> FileRecord {
    let f = &staging.files[0];
    FileRecord {
        id: 0,
        store: f.store.clone(),
        staging_key: f.staging_key.clone(),
        final_key: f.final_key.clone(),
        events: f.events,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_swap_is_rebuilt_once_on_the_winners_snapshot_and_both_batches_are_in_the_table() {
    let setup = setup().await;
    let a = IcebergOutput::open(&setup.config, setup.pool.clone(), "p")
        .await
        .unwrap();
    let b = Arc::new(
        IcebergOutput::open(&setup.config, setup.pool.clone(), "p")
            .await
            .unwrap(),
    );

    // Worker A swaps in its snapshot and holds the row until it commits.
    let (tx_a, staging_a) = stage(&a, &setup.pool, "0000000000001-aaaaaaaa-000001", events(0, 30)).await;
    // Worker B built on the empty table; its swap waits for A's row lock, then finds the row moved.
    let pool = setup.pool.clone();
    let racer = b.clone();
    let b_task = tokio::spawn(async move {
        let (tx, staging) = stage(&racer, &pool, "0000000000002-bbbbbbbb-000001", events(30, 20)).await;
        tx.commit().await.expect("commit B");
        staging
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!b_task.is_finished(), "B's swap must wait for A's row lock");
    tx_a.commit().await.expect("commit A");
    let staging_b = tokio::time::timeout(Duration::from_secs(30), b_task)
        .await
        .expect("B finishes once A commits")
        .unwrap();

    let (_, md) = current(&setup).await;
    let snaps: Vec<_> = md.snapshots().collect();
    assert_eq!(snaps.len(), 2, "one snapshot per batch");
    let head = md.current_snapshot().unwrap();
    let batch_of = |s: &iceberg::spec::Snapshot| s.summary().additional_properties["murron.batch-id"].clone();
    assert_eq!(batch_of(head), "0000000000002-bbbbbbbb-000001");
    let parent = md.snapshot_by_id(head.parent_snapshot_id().unwrap()).unwrap();
    assert_eq!(batch_of(parent), "0000000000001-aaaaaaaa-000001");
    assert_eq!(head.summary().additional_properties["total-records"], "50");
    assert_eq!(head.sequence_number(), 2);
    let list_path = head.manifest_list().strip_prefix("file://").unwrap();
    let list = ManifestList::parse_with_version(&std::fs::read(list_path).unwrap(), FormatVersion::V2).unwrap();
    assert_eq!(list.entries().len(), 2, "B's manifest and A's");
    assert!(list_path.ends_with("-2.avro"), "B's rebuilt list: {list_path}");

    // Publishing B deletes what its lost attempt wrote, and both intents.
    let store = ObjectStore::open(&StoreConfig::Local(LocalConfig {
        path: setup.root.clone(),
    }))
    .await
    .unwrap();
    let superseded = intent::Intent::read(&store, &staging_b.files[0].staging_key)
        .await
        .unwrap()
        .expect("B's intent")
        .superseded;
    assert_eq!(
        superseded.len(),
        2,
        "the lost attempt's manifest list and metadata file"
    );
    a.publish(&record(&staging_a)).await.unwrap();
    b.publish(&record(&staging_b)).await.unwrap();
    for key in &superseded {
        assert!(!store.exists(key).await.unwrap(), "{key} left after publishing");
    }
    assert!(
        store.list("_murron/").await.unwrap().is_empty(),
        "intents left after publishing"
    );
    let _ = std::fs::remove_dir_all(&setup.root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_never_commits_is_never_in_the_table_and_its_intent_removes_its_files() {
    let setup = setup().await;
    let out = IcebergOutput::open(&setup.config, setup.pool.clone(), "p")
        .await
        .unwrap();
    let (tx, first) = stage(&out, &setup.pool, "0000000000001-aaaaaaaa-000001", events(0, 10)).await;
    tx.commit().await.unwrap();
    let (before, _) = current(&setup).await;

    let (tx, doomed) = stage(&out, &setup.pool, "0000000000002-aaaaaaaa-000002", events(10, 10)).await;
    tx.rollback().await.unwrap();
    let (after, md) = current(&setup).await;
    assert_eq!(after, before, "a rolled-back batch leaves the catalog where it was");
    assert_eq!(md.snapshots().count(), 1);

    let store = ObjectStore::open(&StoreConfig::Local(LocalConfig {
        path: setup.root.clone(),
    }))
    .await
    .unwrap();
    let key = &doomed.files[0].staging_key;
    let written = intent::Intent::read(&store, key)
        .await
        .unwrap()
        .expect("the intent")
        .keys;
    assert!(written.iter().any(|k| k.ends_with(".parquet")), "{written:?}");
    for k in &written {
        assert!(store.exists(k).await.unwrap(), "{k} was listed before it was written");
    }
    // The orphan sweep's decision, made with the manifest: this batch never recorded its intent.
    let state = State::new(setup.pool.clone(), "p");
    assert!(!state.recorded(key).await.unwrap());
    assert_eq!(intent::discard(&store, key).await.unwrap(), written.len() as u64 + 1);
    for k in &written {
        assert!(
            !store.exists(k).await.unwrap(),
            "{k} of a batch that never committed is left"
        );
    }
    // The committed batch's files are all still there.
    out.publish(&record(&first)).await.unwrap();
    let (_, md) = current(&setup).await;
    let head = md.current_snapshot().unwrap();
    assert!(std::path::Path::new(head.manifest_list().strip_prefix("file://").unwrap()).exists());
    let _ = std::fs::remove_dir_all(&setup.root);
}
