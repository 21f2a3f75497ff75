//! Exactly once under crashes: two `sink-worker run` processes (three in the full fault suite) share
//! an 8-partition topic while events are produced; one of them is killed with SIGKILL at random
//! moments and restarted, again and again (12 times; 60 in the full suite), so rebalances happen
//! constantly. The traffic mixes three event types, one per schema type: Avro, JSON Schema and
//! Protobuf. Afterwards every event is in S3 (Parquet), in the warehouse, in the Iceberg tables (on
//! S3) and in the routed topic exactly once, and the Iceberg store holds no intent of a committed
//! batch and no data file outside the tables but those of batches that never committed.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::outputs::{
    Uid, Uris, assert_iceberg_leftovers, generated, iceberg_table, iceberg_uids, report_exactly, s3_parquet_uids,
    warehouse_uids,
};
use common::{GEN_KEY, Generator, Registry, SinkRun};
use sqlx::postgres::PgPool;

/// One event type per schema type: (type, schema file, schema type).
const EVENT_TYPES: [(&str, &str, &str); 3] = [
    ("billing.member_active", "billing/member_active.avsc", "AVRO"),
    ("client.api_call_json", "client/api_call.schema.json", "JSON"),
    ("client.api_call_proto", "client/api_call.proto", "PROTOBUF"),
];
const KEYS: [(&str, &str); 1] = [("default", GEN_KEY)];
const STREAMS: i64 = 16;
/// The Iceberg output's catalog and namespace (their defaults).
const CATALOG: &str = "murron";
const NAMESPACE: &str = "events";

/// (workers, kills, events) for the reduced and the full suite.
fn size() -> (usize, u32, i64) {
    if common::full_fault_suite() {
        (3, 60, 400_000)
    } else {
        (2, 12, 100_000)
    }
}

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

/// The pipeline: Parquet files in `bucket`, the warehouse, Iceberg tables in `iceberg_bucket` (a short
/// name, with a short warehouse prefix: the local S3 server keeps each bucket and key in a file name of
/// at most 255 bytes) and a routed topic.
fn config(topic: &str, bucket: &str, iceberg_bucket: &str) -> String {
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
endpoint = "{endpoint}"
access_key_id = "{access}"
secret_access_key = "{secret}"
create_bucket = true

[[pipeline.outputs]]
kind = "postgres"

[[pipeline.outputs]]
kind = "iceberg"
warehouse = "ib"
store = {{ kind = "s3", bucket = "{iceberg_bucket}", endpoint = "{endpoint}", access_key_id = "{access}", secret_access_key = "{secret}", create_bucket = true }}

[[pipeline.outputs]]
kind = "kafka"
topic = "{topic}.routed"
"#,
        endpoint = common::s3_endpoint()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkilled_workers_lose_and_duplicate_nothing() {
    common::require_service("Kafka", &common::kafka_brokers());
    common::require_service("S3 server", &common::s3_endpoint());
    let registry = Registry::start().await;
    for (event_type, file, schema_type) in EVENT_TYPES {
        registry.register_file_as(event_type, file, schema_type).await;
    }
    let topic = common::unique("events.crash");
    let bucket = common::unique("crash").replace('.', "-").to_lowercase();
    let iceberg_bucket = common::unique("ib").to_lowercase();
    common::create_topic(&topic, 8).await;
    common::create_topic(&format!("{topic}.routed"), 4).await;
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64 | 1;
    eprintln!("kill schedule seed: {seed}");
    let mut rng = Rng(seed);
    let (worker_count, kills, events) = size();

    // Produce while the workers run and crash, at 4,000 events/s in all.
    let per_type = events / EVENT_TYPES.len() as i64;
    let generators: Vec<Generator> = EVENT_TYPES
        .iter()
        .map(|(event_type, _, _)| {
            Generator::start_type(
                &registry,
                &common::kafka_brokers(),
                &topic,
                event_type,
                per_type,
                STREAMS,
                1334,
            )
        })
        .collect();

    let config = config(&topic, &bucket, &iceberg_bucket);
    let mut workers = Vec::new();
    for _ in 0..worker_count {
        workers.push(SinkRun::start(&registry, &KEYS, &config).await);
    }
    let started = Instant::now();
    for kill in 0..kills {
        tokio::time::sleep(Duration::from_millis(300 + rng.next() % 2200)).await;
        let victim = (rng.next() % worker_count as u64) as usize;
        eprintln!(
            "kill {kill}: worker {victim} at {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let w = workers.remove(victim);
        w.kill();
        workers.insert(victim, SinkRun::start(&registry, &KEYS, &config).await);
    }
    for generator in generators {
        generator.finish();
    }

    let expected_of = |event_type: &str| generated(event_type, per_type, STREAMS, "gen", 1000);
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(300);
    for (event_type, _, _) in EVENT_TYPES {
        while warehouse_uids(&pool, event_type).await.len() < per_type as usize {
            assert!(
                Instant::now() < deadline,
                "the warehouse did not reach {per_type} events of {event_type} in time"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    for w in workers {
        w.stop();
    }
    let scenario =
        format!("worker SIGKILL, {worker_count} workers, 8 partitions, {kills} kills, Avro + JSON + Protobuf");
    let notes = format!("kill seed {seed}");
    let mut expected = Vec::new();
    for (event_type, _, kind) in EVENT_TYPES {
        let of_type = expected_of(event_type);
        let warehouse = warehouse_uids(&pool, event_type).await;
        report_exactly(&scenario, &format!("warehouse ({kind})"), &warehouse, &of_type, &notes);
        let parquet = s3_parquet_uids(&bucket, event_type).await;
        report_exactly(&scenario, &format!("S3 Parquet ({kind})"), &parquet, &of_type, &notes);
        let iceberg = iceberg_uids(&pool, CATALOG, NAMESPACE, event_type).await;
        report_exactly(
            &scenario,
            &format!("Iceberg on S3 ({kind})"),
            &iceberg,
            &of_type,
            &notes,
        );
        expected.extend(of_type);
    }
    let mut uris = Uris::default();
    let mut tables = Vec::new();
    for (event_type, _, _) in EVENT_TYPES {
        let table = sink_worker::output::iceberg::table_name(event_type);
        tables.push(
            iceberg_table(&mut uris, &pool, CATALOG, NAMESPACE, &table)
                .await
                .unwrap_or_else(|| panic!("no Iceberg table {NAMESPACE}.{table}")),
        );
    }
    let left = assert_iceberg_leftovers(&pool, &format!("s3://{iceberg_bucket}"), &topic, &tables).await;
    eprintln!(
        "Iceberg: {} intents of uncommitted batches and {} of their data files left for the hourly sweep",
        left.intents, left.orphaned_files
    );
    let unpublished: i64 = sqlx::query_scalar("SELECT count(*) FROM sink_files WHERE published_at IS NULL")
        .fetch_one(&pool)
        .await
        .expect("manifest");
    assert_eq!(unpublished, 0, "committed files left unpublished");
    let routed: Vec<Uid> = common::routed_uids(&format!("{topic}.routed"), expected.len(), 120);
    report_exactly(&scenario, "routed topic", &routed, &expected, &notes);
}
