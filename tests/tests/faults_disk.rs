//! Disk full under the local output: `sink-worker run` writes Parquet into a 256 KiB tmpfs while
//! the generator produces, so writes fail with ENOSPC. The worker says so clearly in its log, keeps
//! running without writing past the failure (backpressure), and never leaves a partial file where a
//! reader would take it for a complete one. Once the file system grows, every event arrives exactly
//! once. Mounting needs root, as `make test` has on the CI machine.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::outputs::{eventually, files, generated, parquet_uids, report_exactly, warehouse_uids};
use common::{Registry, SinkRun};
use sqlx::postgres::PgPool;

const EVENT_TYPE: &str = "billing.member_active";
const KEYS: [(&str, &str); 1] = [("default", "s3cret")];
const EVENTS: i64 = 40_000;
const STREAMS: i64 = 8;

/// A size-limited tmpfs, unmounted (and its folder removed) on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = std::env::temp_dir().join(common::unique("murron-diskfull"));
        std::fs::create_dir_all(&dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {} failed", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Every file a reader of the output would take as complete (hidden temporaries and the `_murron`
/// staging area excluded) must be a whole Parquet file.
fn assert_visible_files_complete(root: &Path) {
    for path in files(root, "parquet") {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let file = std::fs::File::open(&path).expect("open parquet");
        if let Err(e) = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file) {
            panic!("{} is visible but not a complete Parquet file: {e}", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_stops_writing_with_a_clear_error_and_loses_nothing() {
    common::require_service("Kafka", &common::kafka_brokers());
    let disk = Tmpfs::mount("256k");
    let registry = Registry::start().await;
    registry.register_file(EVENT_TYPE, "billing/member_active.avsc").await;
    let topic = common::unique("events.diskfull");
    common::create_topic(&topic, 4).await;
    let config = format!(
        r#"
[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_events = 2000, max_age_ms = 500 }}

[[pipeline.outputs]]
kind = "local"
path = "{}"
format = "parquet"

[[pipeline.outputs]]
kind = "postgres"
"#,
        disk.0.display()
    );
    let mut worker = SinkRun::start_logged(&registry, &KEYS, &config).await;
    common::sink_worker(
        &registry,
        &KEYS,
        &[
            "gen",
            "--topic",
            &topic,
            "--type",
            EVENT_TYPE,
            "--count",
            &EVENTS.to_string(),
            "--streams",
            &STREAMS.to_string(),
        ],
    );

    eventually(60, "the worker to report the full disk", async || {
        worker.log_text().contains("No space left on device")
    })
    .await;
    let log = worker.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("No space left on device"))
        .expect("the error line");
    eprintln!("the worker's error: {line}");
    assert!(
        line.contains(&disk.0.display().to_string()),
        "the error does not say which path failed: {line}"
    );
    // Still failing a few seconds later: the worker keeps running and retrying, and nothing it
    // shows is half-written.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        worker.child.try_wait().expect("worker status").is_none(),
        "the worker exited on a full disk"
    );
    assert!(
        worker.metric("murron_sink_retries_total").await > 0.0,
        "no batch retries counted"
    );
    assert_visible_files_complete(&disk.0);

    disk.resize("64m");
    let expected = generated(EVENT_TYPE, EVENTS, STREAMS, "gen", 1000);
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");
    eventually(120, "every event in the warehouse after the disk grew", async || {
        warehouse_uids(&pool, EVENT_TYPE).await.len() >= expected.len()
    })
    .await;
    worker.stop();
    assert_visible_files_complete(&disk.0);
    let leftovers: Vec<_> = files(&disk.0, "parquet")
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
    let scenario = "local output on a full disk (256 KiB tmpfs, then grown)";
    let notes = "ENOSPC reported with the path; no partial file visible";
    report_exactly(
        scenario,
        "warehouse",
        &warehouse_uids(&pool, EVENT_TYPE).await,
        &expected,
        notes,
    );
    report_exactly(scenario, "local Parquet", &parquet_uids(&disk.0), &expected, notes);
}
