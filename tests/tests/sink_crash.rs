//! Exactly once under crashes: two `sink-worker run` processes share an 8-partition topic while
//! events are produced; one of them is killed with SIGKILL at random moments and restarted, again and
//! again. Afterwards every event is in S3 (Parquet) and in the warehouse exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use common::{Registry, SinkRun};
use sqlx::postgres::PgPool;

const KEYS: [(&str, &str); 1] = [("default", "s3cret")];
const EVENTS: u64 = 100_000;
const STREAMS: u32 = 16;
const KILLS: u32 = 12;

type Uid = (String, i32, i64);

/// xorshift64*: enough randomness for kill timing, seeded from the clock and printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn config(topic: &str, bucket: &str) -> String {
    let (access, secret) = common::s3_credentials();
    format!(
        r#"
# A killed member's partitions wait for its session to time out; keep that short here.
[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_events = 4000, max_age_ms = 700 }}

[[pipeline.outputs]]
kind = "s3"
bucket = "{bucket}"
endpoint = "{}"
access_key_id = "{access}"
secret_access_key = "{secret}"
create_bucket = true

[[pipeline.outputs]]
kind = "postgres"

[[pipeline.outputs]]
kind = "kafka"
topic = "{topic}.routed"
"#,
        common::s3_endpoint()
    )
}

fn assert_exactly(what: &str, got: &[Uid], expected: &BTreeSet<Uid>) {
    let mut counts: BTreeMap<&Uid, u32> = BTreeMap::new();
    for u in got {
        *counts.entry(u).or_default() += 1;
    }
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    let got: BTreeSet<&Uid> = counts.keys().copied().collect();
    let missing: Vec<_> = expected.iter().filter(|u| !got.contains(u)).take(5).collect();
    let extra: Vec<_> = got.iter().filter(|u| !expected.contains(**u)).take(5).collect();
    assert!(
        dups.is_empty() && missing.is_empty() && extra.is_empty(),
        "{what}: {} expected, {} distinct got; duplicated e.g. {dups:?}; missing e.g. {missing:?}; unexpected e.g. {extra:?}",
        expected.len(),
        got.len()
    );
}

async fn warehouse(pool: &PgPool) -> Vec<Uid> {
    sqlx::query_as("SELECT _murron_host, _murron_pid, _murron_offset FROM warehouse.billing_member_active")
        .fetch_all(pool)
        .await
        .unwrap_or_default()
}

async fn s3_parquet(bucket: &str) -> Vec<Uid> {
    let store_config = common::s3_store(bucket);
    let store = sink_worker::sink::object_store::ObjectStore::open(&store_config)
        .await
        .expect("open bucket");
    let mut uids = Vec::new();
    let tmp = std::env::temp_dir().join(common::unique("murron-crash-parquet"));
    for obj in store.list("events/").await.expect("list") {
        std::fs::write(&tmp, store.get(&obj.key).await.expect("get")).expect("write temp");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&tmp).expect("open temp"),
        )
        .expect("parquet footer")
        .build()
        .expect("reader");
        for batch in reader {
            let batch = batch.expect("batch");
            let host = batch
                .column_by_name("_murron_host")
                .expect("host")
                .as_string::<i32>()
                .clone();
            let pid = batch
                .column_by_name("_murron_pid")
                .expect("pid")
                .as_primitive::<Int32Type>()
                .clone();
            let off = batch
                .column_by_name("_murron_offset")
                .expect("offset")
                .as_primitive::<Int64Type>()
                .clone();
            for i in 0..batch.num_rows() {
                uids.push((host.value(i).to_owned(), pid.value(i), off.value(i)));
            }
        }
    }
    let _ = std::fs::remove_file(&tmp);
    uids
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_workers_lose_and_duplicate_nothing() {
    common::require_service("Kafka", &common::kafka_brokers());
    common::require_service("S3 server", &common::s3_endpoint());
    let registry = Registry::start().await;
    registry
        .register_file("billing.member_active", "billing/member_active.avsc")
        .await;
    let topic = common::unique("events.crash");
    let bucket = common::unique("crash").replace('.', "-").to_lowercase();
    common::create_topic(&topic, 8).await;
    common::create_topic(&format!("{topic}.routed"), 4).await;
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64 | 1;
    eprintln!("kill schedule seed: {seed}");
    let mut rng = Rng(seed);

    // Produce while the workers run and crash: 100k events over about 25 s.
    let producer = {
        let (url, brokers) = (registry.url.clone(), common::kafka_brokers());
        let topic = topic.clone();
        std::thread::spawn(move || {
            let out = std::process::Command::new(common::binary("sink-worker"))
                .args(["gen", "--topic", &topic, "--type", "billing.member_active"])
                .args([
                    "--count",
                    &EVENTS.to_string(),
                    "--streams",
                    &STREAMS.to_string(),
                    "--rate",
                    "4000",
                ])
                .env("SINK_WORKER_REGISTRY__URL", url)
                .env("SINK_WORKER_KAFKA__BROKERS", brokers)
                .env("SINK_WORKER_KEYS__DEFAULT", KEYS[0].1)
                .output()
                .expect("run gen");
            assert!(
                out.status.success(),
                "gen failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
    };

    let config = config(&topic, &bucket);
    let mut workers = vec![
        SinkRun::start(&registry, &KEYS, &config).await,
        SinkRun::start(&registry, &KEYS, &config).await,
    ];
    let started = Instant::now();
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(300 + rng.next() % 2200)).await;
        let victim = (rng.next() % 2) as usize;
        eprintln!(
            "kill {kill}: worker {victim} at {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let w = workers.remove(victim);
        w.kill();
        workers.insert(victim, SinkRun::start(&registry, &KEYS, &config).await);
    }
    producer.join().expect("producer thread");

    let expected: BTreeSet<Uid> = (0..EVENTS as i64)
        .map(|i| {
            let s = i % i64::from(STREAMS);
            (format!("gen-{s}"), 1000 + s as i32, i / i64::from(STREAMS))
        })
        .collect();
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(300);
    while warehouse(&pool).await.len() < expected.len() {
        assert!(
            Instant::now() < deadline,
            "the warehouse did not reach {EVENTS} events in time"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for w in workers {
        w.stop();
    }
    assert_exactly("warehouse", &warehouse(&pool).await, &expected);
    let unpublished: i64 = sqlx::query_scalar("SELECT count(*) FROM sink_files WHERE published_at IS NULL")
        .fetch_one(&pool)
        .await
        .expect("manifest");
    assert_eq!(unpublished, 0, "committed files left unpublished");
    let in_s3: Vec<Uid> = s3_parquet(&bucket).await.into_iter().collect();
    let expected_s3: BTreeSet<Uid> = expected.clone();
    assert_exactly("s3 parquet", &in_s3, &expected_s3);
    let routed: Vec<Uid> = common::routed_uids(&format!("{topic}.routed"), expected.len(), 120)
        .into_iter()
        .map(|(_, h, p, o)| (h, p, o))
        .collect();
    assert_exactly("routed topic", &routed, &expected);
}
