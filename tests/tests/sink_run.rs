//! `sink-worker run` end to end against real Kafka, PostgreSQL, the S3 server and the registry:
//! signed events of two types in; Parquet in a folder, Avro in S3 and rows in the warehouse out,
//! each checked event by event; bad events in the dead-letter output with their reasons.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::outputs::{
    Uid, assert_exactly, eventually, files, generated, parquet_uids, report_exactly, uids_of, warehouse_uids,
};
use common::{Registry, SinkRun};
use sqlx::postgres::PgPool;

const KEYS: [(&str, &str); 1] = [("default", "s3cret")];

fn produce_events(
    registry: &Registry,
    topic: &str,
    event_type: &str,
    count: u64,
    streams: u32,
    prefix: &str,
    pid_base: i32,
) {
    common::sink_worker(
        registry,
        &KEYS,
        &[
            "gen",
            "--topic",
            topic,
            "--type",
            event_type,
            "--count",
            &count.to_string(),
            "--streams",
            &streams.to_string(),
            "--host-prefix",
            prefix,
            "--pid-base",
            &pid_base.to_string(),
            "--partitions",
            "4",
        ],
    );
}

async fn registry_with_types() -> Registry {
    common::require_service("Kafka", &common::kafka_brokers());
    common::require_service("S3 server", &common::s3_endpoint());
    let registry = Registry::start().await;
    registry
        .register_file("billing.member_active", "billing/member_active.avsc")
        .await;
    registry.register_file("client.api_call", "client/api_call.avsc").await;
    registry
}

fn s3_output(bucket: &str, format: &str) -> String {
    let (access, secret) = common::s3_credentials();
    format!(
        r#"
[[pipeline.outputs]]
kind = "s3"
bucket = "{bucket}"
endpoint = "{}"
access_key_id = "{access}"
secret_access_key = "{secret}"
create_bucket = true
format = "{format}"
"#,
        common::s3_endpoint()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_event_types_reach_parquet_s3_and_postgres_exactly_once() {
    let registry = registry_with_types().await;
    let topic = common::unique("events.mixed");
    let out_dir = std::env::temp_dir().join(common::unique("murron-sink-out"));
    let bucket = common::unique("sink").replace('.', "-").to_lowercase();

    produce_events(&registry, &topic, "billing.member_active", 3000, 3, "bill", 100);
    produce_events(&registry, &topic, "client.api_call", 2000, 2, "api", 200);
    // A producer retry: the first 300 billing events again, same streams and offsets.
    produce_events(&registry, &topic, "billing.member_active", 300, 3, "bill", 100);

    let config = format!(
        r#"
[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_events = 1500, max_age_ms = 1000 }}

[[pipeline.outputs]]
kind = "local"
path = "{}"
format = "parquet"

[[pipeline.outputs]]
kind = "postgres"

[[pipeline.outputs]]
kind = "kafka"
topic = "{topic}.routed"
{}"#,
        out_dir.display(),
        s3_output(&bucket, "avro")
    );
    common::create_topic(&format!("{topic}.routed"), 3).await;
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");

    let mut expected = generated("billing.member_active", 3000, 3, "bill", 100);
    expected.extend(generated("client.api_call", 2000, 2, "api", 200));
    eventually(120, "5000 events in the warehouse", async || {
        warehouse_uids(&pool, "billing.member_active").await.len()
            + warehouse_uids(&pool, "client.api_call").await.len()
            >= 5000
    })
    .await;
    assert_eq!(worker.metric("murron_sink_duplicates_total").await, 300.0);
    // Every series names its pipeline, so one dashboard serves every event type.
    let metrics = worker.metrics_text().await;
    let consumed = metrics.lines().find(|l| l.starts_with("murron_sink_consumed_total"));
    assert!(
        consumed.is_some_and(|l| l.contains(&format!("pipeline=\"{topic}\""))),
        "{metrics}"
    );
    // Each stage of writing a batch is timed.
    for stage in ["convert", "outputs", "commit", "publish"] {
        let count = metrics
            .lines()
            .find(|l| {
                l.starts_with("murron_sink_flush_stage_seconds_count") && l.contains(&format!("stage=\"{stage}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok());
        assert!(count.is_some_and(|n| n >= 1.0), "stage {stage}: {metrics}");
    }
    worker.stop();

    assert_exactly("local parquet", &parquet_uids(&out_dir), &expected);
    let mut wh = warehouse_uids(&pool, "billing.member_active").await;
    wh.extend(warehouse_uids(&pool, "client.api_call").await);
    assert_exactly("warehouse", &wh, &expected);

    // The Avro files in S3, read back with arrow-avro's OCF reader.
    let store = sink_worker::storage::ObjectStore::open(&common::s3_store(&bucket))
        .await
        .expect("open bucket");
    let mut s3_uids = Vec::new();
    for obj in store.list("events/").await.expect("list") {
        assert!(obj.key.ends_with(".avro"), "{}", obj.key);
        let body = store.get(&obj.key).await.expect("get");
        let event_type = obj.key.split('/').nth(1).expect("type segment").to_owned();
        let reader = arrow_avro::reader::ReaderBuilder::new()
            .build(std::io::Cursor::new(body))
            .expect("avro container");
        for batch in reader {
            s3_uids.extend(uids_of(&event_type, &batch.expect("avro batch")));
        }
    }
    assert_exactly("s3 avro", &s3_uids, &expected);
    let routed = common::routed_uids(&format!("{topic}.routed"), expected.len(), 60);
    assert_exactly("routed topic", &routed, &expected);

    // Nothing is left in staging once the worker stopped cleanly.
    let staged: i64 = sqlx::query_scalar("SELECT count(*) FROM sink_files WHERE published_at IS NULL")
        .fetch_one(&pool)
        .await
        .expect("manifest");
    assert_eq!(staged, 0);
}

/// Produces raw record values to `topic`, keyed like real producers.
async fn produce(topic: &str, values: &[Vec<u8>]) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::kafka_brokers())
        .create()
        .expect("producer");
    for v in values {
        producer
            .send(
                FutureRecord::to(topic).key("test:1").payload(v),
                Duration::from_secs(10),
            )
            .await
            .expect("produce");
    }
}

/// Produces each of `values` to every one of `partitions` of `topic`, interleaved, in one flush: the
/// same records on several partitions at the same moment, as a producer without keys may send them.
fn produce_to_partitions(topic: &str, partitions: &[i32], values: &[Vec<u8>]) {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let producer: ThreadedProducer<DefaultProducerContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::kafka_brokers())
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    for v in values {
        for &p in partitions {
            let mut record = BaseRecord::<(), [u8]>::to(topic).partition(p).payload(v);
            while let Err((e, r)) = producer.send(record) {
                assert!(
                    matches!(
                        e.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ),
                    "produce: {e}"
                );
                producer.poll(Duration::from_millis(10));
                record = r;
            }
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// The (type, host, pid, offset) of every JSON line under `dir`.
fn jsonl_uids(dir: &Path, event_type: &str) -> Vec<Uid> {
    jsonl_rows(dir)
        .iter()
        .map(|v| {
            (
                event_type.to_owned(),
                v["_murron_host"].as_str().expect("host").to_owned(),
                v["_murron_pid"].as_i64().expect("pid") as i32,
                v["_murron_offset"].as_i64().expect("offset"),
            )
        })
        .collect()
}

/// A signed envelope of `event_type` whose payload is `datum` under schema `schema_id`.
fn envelope(
    event_type: &str,
    offset: i64,
    schema_id: u32,
    datum: &[u8],
    key: (&str, &str),
    tags: &[(&str, &str)],
) -> Vec<u8> {
    envelope_at(
        1_764_115_200_000_000 + offset,
        event_type,
        offset,
        schema_id,
        datum,
        key,
        tags,
    )
}

/// `record` (an encoded envelope) with its signature replaced by an empty string.
fn without_signature(record: &[u8]) -> Vec<u8> {
    let at = record.windows(3).position(|w| w == b"v1=").expect("a signature");
    // The signature is "v1=" and 64 hex digits, 67 bytes, whose length is the varint 0x86 0x01.
    assert_eq!(&record[at - 2..at], [0x86, 0x01]);
    [&record[..at - 2], &[0u8][..], &record[at + 67..]].concat()
}

fn now_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    i64::try_from(now.as_micros()).expect("micros fit an i64")
}

/// [`envelope`] with its timestamp (µs since the epoch) given.
fn envelope_at(
    timestamp: i64,
    event_type: &str,
    offset: i64,
    schema_id: u32,
    datum: &[u8],
    key: (&str, &str),
    tags: &[(&str, &str)],
) -> Vec<u8> {
    stream_envelope(("test", 1), timestamp, event_type, offset, schema_id, datum, key, tags)
}

/// [`envelope_at`] of the stream `(host, pid)`.
#[allow(clippy::too_many_arguments)]
fn stream_envelope(
    (host, pid): (&str, i32),
    timestamp: i64,
    event_type: &str,
    offset: i64,
    schema_id: u32,
    datum: &[u8],
    key: (&str, &str),
    tags: &[(&str, &str)],
) -> Vec<u8> {
    let mut message = vec![0u8];
    message.extend_from_slice(&schema_id.to_be_bytes());
    message.extend_from_slice(datum);
    let ring = murron_wire::envelope::KeyRing::new([(key.0.to_owned(), key.1.as_bytes().to_vec())]);
    let mut out = Vec::new();
    murron_wire::envelope::NewEnvelope {
        timestamp,
        host,
        event_type,
        offset,
        pid,
        message: &message,
        tags,
    }
    .encode_signed(1, &ring, &mut out)
    .expect("sign");
    out
}

/// Registers `test.ping` (a record of one long `n`) and returns its id.
async fn register_ping(registry: &Registry) -> u32 {
    let schema = r#"{"type":"record","name":"Ping","fields":[{"name":"n","type":"long"}]}"#;
    registry.register("test.ping", schema).await.1["id"]
        .as_u64()
        .expect("id") as u32
}

/// Registers `test.pong` (a record of one string `s`) and returns its id.
async fn register_pong(registry: &Registry) -> u32 {
    let schema = r#"{"type":"record","name":"Pong","fields":[{"name":"s","type":"string"}]}"#;
    registry.register("test.pong", schema).await.1["id"]
        .as_u64()
        .expect("id") as u32
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_events_are_dead_lettered_with_their_reason_while_good_ones_flow() {
    common::require_service("Kafka", &common::kafka_brokers());
    let registry = Registry::start().await;
    let ping = register_ping(&registry).await;
    let pong = register_pong(&registry).await;
    let topic = common::unique("events.dlq");
    let out_dir = std::env::temp_dir().join(common::unique("murron-sink-dlq"));
    let good_key = ("default", "s3cret");

    let mut values = Vec::new();
    let mut expected_reasons = BTreeMap::new();
    for i in 0..100i64 {
        // The zig-zag varint of a small n is the single byte 2n.
        values.push(envelope("test.ping", i, ping, &[((i % 60) * 2) as u8], good_key, &[]));
        let bad: Option<(&str, Vec<u8>)> = match i {
            10 => Some(("bad_magic", b"garbage bytes".to_vec())),
            20 => Some(("truncated", vec![0, 0, 0])),
            30 => Some((
                "bad_signature",
                envelope("test.ping", 1000, ping, &[2], ("default", "not-the-key"), &[]),
            )),
            40 => Some((
                "unknown_key",
                envelope(
                    "test.ping",
                    1001,
                    ping,
                    &[2],
                    ("retired", "x"),
                    &[("murron.key", "retired")],
                ),
            )),
            50 => Some((
                "unknown_schema",
                envelope("test.ping", 1002, 999_999, &[2], good_key, &[]),
            )),
            60 => Some((
                "wrong_type",
                envelope("test.ping", 1003, pong, &[2, b'a'], good_key, &[]),
            )),
            70 => Some(("invalid_payload", envelope("test.ping", 1004, ping, &[], good_key, &[]))),
            80 => Some((
                "invalid_payload",
                envelope("test.ping", 1005, ping, &[2, 2], good_key, &[]),
            )),
            90 => Some(("invalid_stream", envelope("test.ping", -1, ping, &[2], good_key, &[]))),
            // Larger than the pipeline's max_event_bytes (64 KiB here).
            15 => Some((
                "oversized",
                envelope(
                    "test.ping",
                    1006,
                    ping,
                    &[2],
                    good_key,
                    &[("padding", &"x".repeat(70_000))],
                ),
            )),
            25 => Some((
                "malformed_signature",
                without_signature(&envelope("test.ping", 1007, ping, &[2], good_key, &[])),
            )),
            35 => Some((
                "bad_timestamp",
                envelope_at(
                    now_micros() + 2 * 86_400_000_000,
                    "test.ping",
                    1008,
                    ping,
                    &[2],
                    good_key,
                    &[],
                ),
            )),
            45 => Some((
                "bad_timestamp",
                envelope_at(1, "test.ping", 1009, ping, &[2], good_key, &[]),
            )),
            _ => None,
        };
        // A replay of an event already sent: deduplicated, not dead-lettered.
        if i == 95 {
            values.push(envelope("test.ping", 5, ping, &[10], good_key, &[]));
        }
        if let Some((reason, v)) = bad {
            values.push(v);
            *expected_reasons.entry(reason.to_owned()).or_insert(0u32) += 1;
        }
    }
    common::create_topic(&topic, 2).await;
    produce(&topic, &values).await;

    let config = jsonl_pipeline(&topic, &out_dir);
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    let count_lines = |dir: &Path| -> usize {
        files(dir, "jsonl")
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read").lines().count())
            .sum()
    };
    let dead_letters: u32 = expected_reasons.values().sum();
    eventually(60, "100 good events and the dead letters", async || {
        count_lines(&out_dir.join("events")) >= 100 && count_lines(&out_dir.join("dlq")) >= dead_letters as usize
    })
    .await;
    assert_eq!(
        worker.metric("murron_sink_invalid_total").await,
        f64::from(dead_letters)
    );
    assert_eq!(worker.metric("murron_sink_duplicates_total").await, 1.0, "the replay");
    worker.stop();

    let good: Vec<serde_json::Value> = files(&out_dir.join("events"), "jsonl")
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .expect("read")
                .lines()
                .map(|l| serde_json::from_str(l).expect("json line"))
                .collect::<Vec<_>>()
        })
        .collect();
    let offsets: BTreeSet<i64> = good
        .iter()
        .map(|v| v["_murron_offset"].as_i64().expect("offset"))
        .collect();
    assert_eq!(good.len(), 100);
    assert_eq!(offsets, (0..100).collect());
    assert_eq!(good[1]["n"].as_i64(), Some(1), "{}", good[1]);

    let mut reasons = BTreeMap::new();
    for p in files(&out_dir.join("dlq"), "jsonl") {
        for line in std::fs::read_to_string(&p).expect("read").lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("dead letter json");
            assert_eq!(v["topic"], topic.as_str());
            assert!(
                v["offset"].as_i64().is_some() && v["value_base64"].as_str().is_some(),
                "{v}"
            );
            *reasons
                .entry(v["reason"].as_str().expect("reason").to_owned())
                .or_insert(0u32) += 1;
        }
    }
    assert_eq!(reasons, expected_reasons);
}

/// Registry down: a partition whose next event needs a schema lookup is paused at that event (not
/// ready, retries counted, nothing dead-lettered, nothing after it read), while another partition's
/// events of a cached schema keep flowing and are committed and visible. Once the registry is back the
/// paused partition resumes. Nothing is lost or written twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_registry_outage_pauses_only_the_partition_whose_schema_is_unresolved() {
    const WAITING: i32 = 0;
    const FLOWING: i32 = 1;
    common::require_service("Kafka", &common::kafka_brokers());
    let mut registry = Registry::start().await;
    let ping = register_ping(&registry).await;
    let pong = register_pong(&registry).await;
    let topic = common::unique("events.outage");
    let out_dir = std::env::temp_dir().join(common::unique("murron-sink-outage"));
    let key = ("default", "s3cret");
    let pings = |from: i64, to: i64| -> Vec<Vec<u8>> {
        (from..to)
            .map(|i| envelope("test.ping", i, ping, &[((i % 60) * 2) as u8], key, &[]))
            .collect()
    };
    common::create_topic(&topic, 2).await;
    produce_to_partitions(&topic, &[FLOWING], &pings(0, 100));
    let config = jsonl_pipeline(&topic, &out_dir);
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    let rows_of = |ty: &str| -> Vec<i64> {
        jsonl_rows(&out_dir.join("events").join(ty))
            .iter()
            .map(|v| v["_murron_offset"].as_i64().expect("offset"))
            .collect()
    };
    let written = |ty: &str, offsets: std::ops::Range<i64>| {
        let got: BTreeSet<i64> = rows_of(ty).into_iter().collect();
        offsets.filter(|o| got.contains(o)).count()
    };
    eventually(60, "the first 100 pings", async || written("test.ping", 0..100) == 100).await;
    let paused =
        format!("murron_sink_partition_paused{{pipeline=\"{topic}\",topic=\"{topic}\",partition=\"{WAITING}\"");

    registry
        .restart_after(async || {
            // A pong needs a lookup: its partition waits, with the pings behind it, and the worker says
            // it is not ready, and why.
            let pongs: Vec<Vec<u8>> = (0..50)
                .map(|i| envelope("test.pong", i, pong, &[2, b'a'], key, &[]))
                .collect();
            produce_to_partitions(&topic, &[WAITING], &pongs);
            produce_to_partitions(&topic, &[WAITING], &pings(100, 150));
            eventually(
                30,
                "the worker not ready (registry) while it cannot resolve a schema",
                async || worker.readyz().await == "not ready: registry",
            )
            .await;
            eventually(30, "registry retries counted", async || {
                let registry_retries = format!("murron_sink_retries_total{{pipeline=\"{topic}\",op=\"registry\"}}");
                worker.metric(&registry_retries).await >= 2.0
            })
            .await;
            // The other partition's pings, of a cached schema, are written meanwhile.
            produce_to_partitions(&topic, &[FLOWING], &pings(150, 250));
            eventually(
                20,
                "the other partition's pings while the registry is down",
                async || written("test.ping", 150..250) == 100,
            )
            .await;
            assert_eq!(
                worker.metric(&paused).await,
                1.0,
                "the waiting partition is reported paused"
            );
            assert!(
                rows_of("test.pong").is_empty(),
                "no pong can be written without its schema"
            );
            assert_eq!(
                written("test.ping", 100..150),
                0,
                "the pings behind the pongs wait with them"
            );
            assert_eq!(
                worker.metric("murron_sink_invalid_total").await,
                0.0,
                "an outage is not a bad event"
            );
        })
        .await;

    eventually(
        60,
        "the pongs and the pings behind them once the registry is back",
        async || written("test.pong", 0..50) == 50 && written("test.ping", 100..150) == 50,
    )
    .await;
    eventually(30, "ready again", async || worker.ready().await).await;
    assert_eq!(worker.metric(&paused).await, 0.0, "resumed");
    assert_eq!(worker.metric("murron_sink_invalid_total").await, 0.0);
    worker.stop();
    let mut got = jsonl_uids(&out_dir.join("events").join("test.ping"), "test.ping");
    got.extend(jsonl_uids(&out_dir.join("events").join("test.pong"), "test.pong"));
    let uid = |ty: &str, offset: i64| (ty.to_owned(), "test".to_owned(), 1, offset);
    let mut expected: Vec<Uid> = (0..250).map(|o| uid("test.ping", o)).collect();
    expected.extend((0..50).map(|o| uid("test.pong", o)));
    report_exactly(
        "registry down, then back",
        "local JSON lines",
        &got,
        &expected,
        "100 events of a cached schema on the other partition were written during the outage; 50 of an unresolved schema and the 50 behind them waited on their paused partition (not ready, registry retries counted, nothing dead-lettered) and were written once it was back",
    );
    assert!(files(&out_dir.join("dlq"), "jsonl").is_empty(), "nothing dead-lettered");
}

/// A partition paused for the registry and then revoked is resumed in the consumer, which keeps an
/// application's pause across assignments: when it comes back to the same worker, it is read again.
/// Worker A, whose registry is down, has both partitions paused at an event of an unresolved schema;
/// worker B, with a registry of its own, joins, takes one of them and writes it; B stops, the
/// partition returns to A, and A goes on with it while the other stays paused until A's registry is
/// back.
#[tokio::test(flavor = "multi_thread")]
async fn a_paused_partition_that_moves_away_and_back_is_read_again() {
    common::require_service("Kafka", &common::kafka_brokers());
    let mut registry = Registry::start().await;
    let ping = register_ping(&registry).await;
    let pong = register_pong(&registry).await;
    let topic = common::unique("events.paused-moves");
    let out_dir = std::env::temp_dir().join(common::unique("murron-sink-paused-moves"));
    let key = ("default", "s3cret");
    // One stream of each type per partition: pid 10 + p for pings, 20 + p for pongs.
    let pings = |p: i32, offsets: std::ops::Range<i64>| -> Vec<Vec<u8>> {
        offsets
            .map(|o| stream_envelope(("test", 10 + p), now_micros(), "test.ping", o, ping, &[2], key, &[]))
            .collect()
    };
    let pongs = |p: i32, offsets: std::ops::Range<i64>| -> Vec<Vec<u8>> {
        offsets
            .map(|o| {
                stream_envelope(
                    ("test", 20 + p),
                    now_micros(),
                    "test.pong",
                    o,
                    pong,
                    &[2, b'a'],
                    key,
                    &[],
                )
            })
            .collect()
    };
    let uids = |ty: &str| jsonl_uids(&out_dir.join("events").join(ty), ty);
    common::create_topic(&topic, 2).await;
    for p in 0..2 {
        produce_to_partitions(&topic, &[p], &pings(p, 0..10));
    }
    let config = jsonl_pipeline(&topic, &out_dir);
    let worker_a = SinkRun::start(&registry, &KEYS, &config).await;
    eventually(60, "the first pings", async || uids("test.ping").len() >= 20).await;
    let database_url = registry.database_url.clone();
    let paused = format!("murron_sink_partition_paused{{pipeline=\"{topic}\"");

    registry
        .restart_after(async || {
            for p in 0..2 {
                produce_to_partitions(&topic, &[p], &pongs(p, 0..20));
            }
            eventually(30, "both partitions paused at the pongs", async || {
                worker_a.metric(&paused).await >= 2.0
            })
            .await;
            let registry_b = Registry::start_on(&database_url).await;
            let worker_b = SinkRun::start(&registry_b, &KEYS, &config).await;
            eventually(60, "worker B writing the pongs of the partition it took", async || {
                uids("test.pong").len() >= 20
            })
            .await;
            assert_eq!(uids("test.pong").len(), 20, "one partition's pongs, not both");
            worker_b.stop();
            // The partition B gave back is A's again, and A reads it: pings of a cached schema.
            for p in 0..2 {
                produce_to_partitions(&topic, &[p], &pings(p, 10..20));
            }
            eventually(30, "worker A reading the partition that came back", async || {
                uids("test.ping").len() >= 30
            })
            .await;
            assert_eq!(worker_a.metric(&paused).await, 1.0, "the other partition still waits");
        })
        .await;

    eventually(60, "everything once worker A's registry is back", async || {
        uids("test.ping").len() >= 40 && uids("test.pong").len() >= 40
    })
    .await;
    worker_a.stop();
    let mut got = uids("test.ping");
    got.extend(uids("test.pong"));
    let mut expected: Vec<Uid> = Vec::new();
    for p in 0..2 {
        expected.extend((0..20).map(|o| ("test.ping".to_owned(), "test".to_owned(), 10 + p, o)));
        expected.extend((0..20).map(|o| ("test.pong".to_owned(), "test".to_owned(), 20 + p, o)));
    }
    assert_exactly("local JSON lines", &got, &expected);
}

/// The same UIDs on two partitions at once (a producer without keys, or a resend after the topic
/// gained partitions): two workers each own one partition and take the same brand-new streams in
/// the same instant. Every event is written to the files once; the other copy counts as a duplicate.
#[tokio::test(flavor = "multi_thread")]
async fn one_uid_on_two_partitions_at_once_is_written_once() {
    const ROUNDS: i32 = 12;
    const STREAMS: i32 = 40;
    const OFFSETS: i64 = 5;
    common::require_service("Kafka", &common::kafka_brokers());
    let registry = Registry::start().await;
    let ping = register_ping(&registry).await;
    let topic = common::unique("events.twice");
    let out_dir = std::env::temp_dir().join(common::unique("murron-sink-twice"));
    let key = ("default", "s3cret");
    common::create_topic(&topic, 2).await;
    // Each worker writes as soon as it holds one round of its partition, so both transactions run
    // at the same moment.
    let per_round = (STREAMS as usize) * (OFFSETS as usize);
    let config = jsonl_pipeline(&topic, &out_dir).replace(
        "flush = { max_age_ms = 500 }",
        &format!("flush = {{ max_events = {per_round}, max_age_ms = 300 }}"),
    );
    let workers = [
        SinkRun::start(&registry, &KEYS, &config).await,
        SinkRun::start(&registry, &KEYS, &config).await,
    ];
    let ping_of = |host: &str, pid: i32, offset: i64| {
        stream_envelope((host, pid), now_micros(), "test.ping", offset, ping, &[2], key, &[])
    };
    let mut expected: Vec<Uid> = Vec::new();
    let uid = |host: &str, pid: i32, offset: i64| ("test.ping".to_owned(), host.to_owned(), pid, offset);
    // Until each worker owns one partition: a stream per partition, so no copy is involved yet.
    let mut warm = 0;
    eventually(60, "each worker consuming one partition", async || {
        let values: Vec<Vec<u8>> = (0..2).map(|p| ping_of("warm", p, warm)).collect();
        for (p, v) in values.iter().enumerate() {
            produce_to_partitions(&topic, &[p as i32], std::slice::from_ref(v));
            expected.push(uid("warm", p as i32, warm));
        }
        warm += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let consumed_0 = workers[0].metric("murron_sink_consumed_total").await;
        let consumed_1 = workers[1].metric("murron_sink_consumed_total").await;
        // Once both have consumed, a warm-up round split one each shows the partitions apart.
        consumed_0 > 0.0 && consumed_1 > 0.0
    })
    .await;
    let mut consumed_before = Vec::new();
    for w in &workers {
        consumed_before.push(w.metric("murron_sink_consumed_total").await);
    }
    for round in 0..ROUNDS {
        let mut values = Vec::new();
        for s in 0..STREAMS {
            let pid = round * STREAMS + s;
            for offset in 0..OFFSETS {
                values.push(ping_of("twice", pid, offset));
                expected.push(uid("twice", pid, offset));
            }
        }
        produce_to_partitions(&topic, &[0, 1], &values);
        let want = expected.len();
        eventually(60, "the round written", async || {
            let got: BTreeSet<Uid> = jsonl_uids(&out_dir.join("events"), "test.ping").into_iter().collect();
            got.len() >= want
        })
        .await;
    }
    let copies = ROUNDS * STREAMS * OFFSETS as i32;
    // The second copy of each event is dropped by whichever worker commits after the other.
    eventually(30, "every second copy counted as a duplicate", async || {
        let mut duplicates = 0.0;
        for w in &workers {
            duplicates += w.metric("murron_sink_duplicates_total").await;
        }
        duplicates >= f64::from(copies)
    })
    .await;
    for (w, before) in workers.iter().zip(consumed_before) {
        let consumed = w.metric("murron_sink_consumed_total").await - before;
        // Each worker read one partition's copy of (at least half of) the rounds: the copies met in
        // two workers, not in one batch of one worker.
        assert!(
            consumed >= f64::from(copies / 2),
            "a worker consumed only {consumed} of the rounds' records: the two workers did not each own a partition"
        );
    }
    let mut duplicates = 0.0;
    for w in &workers {
        duplicates += w.metric("murron_sink_duplicates_total").await;
    }
    for w in workers {
        w.stop();
    }
    report_exactly(
        "one UID on two partitions at once, 2 workers",
        "local JSON lines",
        &jsonl_uids(&out_dir.join("events"), "test.ping"),
        &expected,
        &format!(
            "{ROUNDS} rounds of {STREAMS} new streams, each event produced to both partitions in one flush; {copies} copies dropped as duplicates"
        ),
    );
    assert_eq!(
        duplicates,
        f64::from(copies),
        "every second copy counted as a duplicate"
    );
}

/// Key rotation: with the old and the new key both configured, events signed with either are accepted;
/// once the old key is removed, events still signed with it are dead-lettered as `unknown_key` while
/// the new key's events flow on.
#[tokio::test(flavor = "multi_thread")]
async fn rotating_keys_accepts_both_then_refuses_the_removed_one() {
    common::require_service("Kafka", &common::kafka_brokers());
    let registry = Registry::start().await;
    let ping = register_ping(&registry).await;
    let (old, new) = (("k2025", "old-secret"), ("k2026", "new-secret"));
    let signed = |offsets: std::ops::Range<i64>, key: (&str, &str)| -> Vec<Vec<u8>> {
        offsets
            .map(|i| envelope("test.ping", i, ping, &[2], key, &[("murron.key", key.0)]))
            .collect()
    };
    let topic = common::unique("events.rotation");
    let out_dir = std::env::temp_dir().join(common::unique("murron-sink-rotation"));
    common::create_topic(&topic, 1).await;
    let config = jsonl_pipeline(&topic, &out_dir);
    let events = out_dir.join("events");

    // Both keys active: the producers move from the old key to the new one.
    produce(&topic, &[signed(0..50, old), signed(50..100, new)].concat()).await;
    let worker = SinkRun::start(&registry, &[old, new], &config).await;
    eventually(60, "100 events under either key", async || {
        jsonl_rows(&events).len() >= 100
    })
    .await;
    assert_eq!(worker.metric("murron_sink_invalid_total").await, 0.0);
    worker.stop();

    // The old key removed: a late event signed with it is refused, the new key's go on.
    produce(&topic, &[signed(100..110, old), signed(110..130, new)].concat()).await;
    let worker = SinkRun::start(&registry, &[new], &config).await;
    eventually(60, "the new key's events and the old key's dead letters", async || {
        jsonl_rows(&events).len() >= 120 && jsonl_rows(&out_dir.join("dlq")).len() >= 10
    })
    .await;
    worker.stop();
    let mut offsets: Vec<i64> = jsonl_rows(&events)
        .iter()
        .map(|v| v["_murron_offset"].as_i64().expect("offset"))
        .collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (0..100).chain(110..130).collect::<Vec<_>>());
    let dead = jsonl_rows(&out_dir.join("dlq"));
    assert_eq!(dead.len(), 10);
    assert!(dead.iter().all(|v| v["reason"] == "unknown_key"), "{dead:?}");
}

/// A pipeline named after `topic` that writes JSON lines (and dead letters) under `out_dir`.
fn jsonl_pipeline(topic: &str, out_dir: &Path) -> String {
    format!(
        r#"
[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_age_ms = 500 }}
max_event_bytes = 65536

[[pipeline.outputs]]
kind = "local"
path = "{}"
format = "jsonl"
"#,
        out_dir.display()
    )
}

fn jsonl_rows(dir: &Path) -> Vec<serde_json::Value> {
    files(dir, "jsonl")
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .expect("read")
                .lines()
                .map(|l| serde_json::from_str(l).expect("json line"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn filter_keeps_listed_types_sampling_keeps_the_hashed_one_in_n_and_the_rate_is_capped() {
    let registry = registry_with_types().await;
    let topic = common::unique("events.filtered");
    let out_dir = std::env::temp_dir().join(common::unique("murron-sink-filter"));
    produce_events(&registry, &topic, "billing.member_active", 2000, 2, "bill", 100);
    produce_events(&registry, &topic, "client.api_call", 1000, 2, "api", 200);

    let config = format!(
        r#"
[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
filter_type = ["billing.member_active"]
sample_rate = 4
rate_limit_per_second = 1000
flush = {{ max_age_ms = 500 }}

[[pipeline.outputs]]
kind = "local"
path = "{}"
format = "jsonl"
"#,
        out_dir.display()
    );
    let started = Instant::now();
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    let expected: Vec<Uid> = generated("billing.member_active", 2000, 2, "bill", 100)
        .into_iter()
        .filter(|(t, h, p, o)| murron_wire::stream::sample_keeps(t, h, *p, *o, 4))
        .collect();
    eventually(60, "every record consumed", async || {
        worker.metric("murron_sink_consumed_total").await >= 3000.0 && jsonl_rows(&out_dir).len() >= expected.len()
    })
    .await;
    let elapsed = started.elapsed();
    assert_eq!(worker.metric("murron_sink_skipped_total").await, 1000.0);
    assert_eq!(
        worker.metric("murron_sink_sampled_out_total").await,
        (2000 - expected.len()) as f64
    );
    worker.stop();
    // 3000 records at 1000/s with bursts of a tenth of a second cannot take less than about 2.9 s.
    assert!(
        elapsed >= Duration::from_millis(2800),
        "rate limit not applied: {elapsed:?}"
    );

    let got: Vec<Uid> = jsonl_rows(&out_dir)
        .iter()
        .map(|v| {
            (
                "billing.member_active".to_owned(),
                v["_murron_host"].as_str().expect("host").to_owned(),
                v["_murron_pid"].as_i64().expect("pid") as i32,
                v["_murron_offset"].as_i64().expect("offset"),
            )
        })
        .collect();
    assert_exactly("sampled output", &got, &expected);
    assert!(files(&out_dir.join("events/client.api_call"), "jsonl").is_empty());

    // Sampled-out events still count as received: the streams have no gaps.
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");
    let received: Vec<String> = sqlx::query_scalar(
        "SELECT received::text FROM sink_streams WHERE pipeline = $1 AND event_type = 'billing.member_active' ORDER BY host",
    )
    .bind(&topic)
    .fetch_all(&pool)
    .await
    .expect("streams");
    assert_eq!(received, ["{[0,1000)}", "{[0,1000)}"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_schema_version_starts_new_files_and_adds_a_warehouse_column() {
    let registry = registry_with_types().await;
    let topic = common::unique("events.evolve");
    let out_dir = std::env::temp_dir().join(common::unique("murron-sink-evolve"));
    produce_events(&registry, &topic, "billing.member_active", 500, 1, "v1", 100);
    let mut v2: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::workspace_path("schemas/billing/member_active.avsc")).expect("schema"),
    )
    .expect("json");
    v2["fields"]
        .as_array_mut()
        .expect("fields")
        .push(serde_json::json!({"name": "referrer", "type": ["null", "string"], "default": null}));
    let (status, body) = registry.register("billing.member_active", &v2.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let v2_id = body["id"].as_i64().expect("id");
    produce_events(&registry, &topic, "billing.member_active", 500, 1, "v2", 200);

    let config = format!(
        r#"
[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_age_ms = 500 }}

[[pipeline.outputs]]
kind = "local"
path = "{}"

[[pipeline.outputs]]
kind = "postgres"
schema = "evolve_{}"
"#,
        out_dir.display(),
        v2_id
    );
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");
    let table = format!("evolve_{v2_id}.billing_member_active");
    eventually(60, "1000 rows", async || {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&pool)
            .await
            .is_ok_and(|n| n == 1000)
    })
    .await;
    worker.stop();

    // Each schema id has its own files, named by it.
    let parquet = files(&out_dir, "parquet");
    let v2_files = parquet
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(&format!("-{v2_id}.parquet")))
        .count();
    assert!(v2_files >= 1 && v2_files < parquet.len(), "{parquet:?}");
    assert_eq!(parquet_uids(&out_dir).len(), 1000);
    // Old rows read NULL in the new column; the new rows came with the v2 schema id.
    let (v1_null, v2_rows): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FILTER (WHERE _murron_host LIKE 'v1-%' AND referrer IS NULL), \
                count(*) FILTER (WHERE _murron_host LIKE 'v2-%' AND _schema_id = {v2_id}) FROM {table}"
    )))
    .fetch_one(&pool)
    .await
    .expect("evolved table");
    assert_eq!((v1_null, v2_rows), (500, 500));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_output_topic_stops_the_worker_at_start_with_a_clear_error() {
    common::require_service("Kafka", &common::kafka_brokers());
    let registry = Registry::start().await;
    let topic = common::unique("events.nowhere");
    let dir = std::env::temp_dir().join(common::unique("murron-sink-missing"));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("sink.toml");
    std::fs::write(
        &path,
        format!(
            "[pipeline]\nname = \"{topic}\"\ninput = {{ topics = [\"{topic}\"] }}\n\
             [[pipeline.outputs]]\nkind = \"kafka\"\ntopic = \"{topic}.does-not-exist\"\n\
             [[pipeline.outputs]]\nkind = \"local\"\npath = \"{}\"\n",
            dir.display()
        ),
    )
    .expect("config");
    let out = std::process::Command::new(common::binary("sink-worker"))
        .args(["--config", path.to_str().expect("utf-8"), "run"])
        .env("SINK_WORKER_REGISTRY__URL", &registry.url)
        .env("SINK_WORKER_KAFKA__BROKERS", common::kafka_brokers())
        .env("SINK_WORKER_STATE__URL", &registry.database_url)
        .env(
            "SINK_WORKER_ADMIN__LISTEN",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env("SINK_WORKER_KEYS__DEFAULT", "k")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("does-not-exist\" does not exist"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_the_warehouse_refuses_is_dead_lettered_and_the_rest_is_written() {
    common::require_service("Kafka", &common::kafka_brokers());
    let registry = Registry::start().await;
    let id = registry
        .register(
            "test.text",
            r#"{"type":"record","name":"Text","fields":[{"name":"s","type":"string"}]}"#,
        )
        .await
        .1["id"]
        .as_u64()
        .expect("id") as u32;
    let topic = common::unique("events.text");
    let out_dir = std::env::temp_dir().join(common::unique("murron-sink-text"));
    let key = ("default", "s3cret");
    // PostgreSQL text cannot hold NUL, which Avro strings may contain: offset 7 carries one.
    let values: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            let s: &[u8] = if i == 7 { b"a\0b" } else { b"abc" };
            envelope("test.text", i, id, &[&[6u8][..], s].concat(), key, &[])
        })
        .collect();
    common::create_topic(&topic, 1).await;
    produce(&topic, &values).await;
    let config = jsonl_pipeline(&topic, &out_dir) + "\n[[pipeline.outputs]]\nkind = \"postgres\"\n";
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    eventually(60, "20 rows in files and a dead letter", async || {
        jsonl_rows(&out_dir.join("events")).len() >= 20 && !jsonl_rows(&out_dir.join("dlq")).is_empty()
    })
    .await;
    worker.stop();
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");
    let offsets: Vec<i64> = sqlx::query_scalar("SELECT _murron_offset FROM warehouse.test_text ORDER BY 1")
        .fetch_all(&pool)
        .await
        .expect("rows");
    assert_eq!(offsets, (0..20).filter(|o| *o != 7).collect::<Vec<_>>());
    let dead = jsonl_rows(&out_dir.join("dlq"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["reason"], "unstorable");
    assert_eq!(dead[0]["offset"], 7);
}
