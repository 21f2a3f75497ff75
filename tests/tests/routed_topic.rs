//! The Kafka output's recovery when Kafka has forgotten a publish (issue 26): a worker publishes a
//! blob (the records and the routing group's offsets, in one Kafka transaction) and dies before it
//! marks the blob published in the state database; while it is down, the routing group's offsets
//! expire (`offsets.retention.minutes`). Expiry is simulated by deleting the routing group, and the
//! worker is held in that window by an S3 proxy that refuses the blob's DELETE, which comes after the
//! transaction and before the mark. Restarted, the worker must find the blob in the routed topic
//! instead of routing it again, both when its staged copy is still there and when it was deleted
//! (the crash came after the delete).

mod common;

use std::time::Duration;

use common::fault_proxy::{Fault, FaultProxy};
use common::faults::{EVENT_TYPE, warehouse_count};
use common::outputs::{Uid, eventually, generated, report_exactly};
use common::{GEN_KEY, Registry, SinkRun};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use sqlx::postgres::PgPool;

const KEYS: [(&str, &str); 1] = [("default", GEN_KEY)];
const STREAMS: i64 = 4;
/// Events per round.
const ROUND: i64 = 400;

/// A pipeline routing to `{topic}.routed` and writing the warehouse, with blobs staged in `bucket`
/// behind `endpoint` (the fault proxy). It has no file output, so the blobs are the only objects a
/// publish deletes.
fn config(topic: &str, bucket: &str, endpoint: &str) -> String {
    let (access, secret) = common::s3_credentials();
    format!(
        r#"
# A killed worker's partitions wait for its session to time out; keep that short here.
[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_events = 1000, max_age_ms = 300 }}
dead_letter = {{ store = {{ kind = "s3", bucket = "{bucket}", endpoint = "{endpoint}", access_key_id = "{access}", secret_access_key = "{secret}", create_bucket = true, timeout_ms = 1500, max_attempts = 1 }} }}

[[pipeline.outputs]]
kind = "kafka"
topic = "{topic}.routed"

[[pipeline.outputs]]
kind = "postgres"
"#
    )
}

/// Produces one round of events, its streams named `{prefix}-{i}`; returns their UIDs.
fn produce(registry: &Registry, topic: &str, prefix: &str) -> Vec<Uid> {
    common::sink_worker(
        registry,
        &KEYS,
        &[
            "gen",
            "--topic",
            topic,
            "--type",
            EVENT_TYPE,
            "--count",
            &ROUND.to_string(),
            "--streams",
            &STREAMS.to_string(),
            "--host-prefix",
            prefix,
        ],
    );
    generated(EVENT_TYPE, ROUND, STREAMS, prefix, 1000)
}

async fn unpublished(pool: &PgPool, pipeline: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT staging_key FROM sink_files WHERE pipeline = $1 AND published_at IS NULL ORDER BY id")
        .bind(pipeline)
        .fetch_all(pool)
        .await
        .expect("manifest")
}

/// Waits until the warehouse holds `events` rows and every committed blob is marked published.
async fn settled(pool: &PgPool, pipeline: &str, events: usize) {
    eventually(60, "every event written and published", async || {
        warehouse_count(pool).await >= events && unpublished(pool, pipeline).await.is_empty()
    })
    .await;
}

/// Deletes a consumer group with all its committed offsets, as their expiry would.
async fn forget_group(group: &str) {
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::kafka_brokers())
        .create()
        .expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.delete_groups(&[group], &opts).await.expect("delete groups") {
        result.unwrap_or_else(|(g, e)| panic!("deleting group {g}: {e}"));
    }
}

/// Holds the worker between its Kafka transaction and its mark: S3 refuses DELETE, so the publish
/// of the next round's blob fails after the transaction and is retried. Then the worker is killed
/// and the routing group forgotten. Returns the staging keys of the blobs left unmarked.
async fn crash_after_publish(
    worker: SinkRun,
    proxy: &FaultProxy,
    registry: &Registry,
    pool: &PgPool,
    topic: &str,
    prefix: &str,
) -> (Vec<Uid>, Vec<String>) {
    proxy.set(Fault::Refuse("DELETE", 503));
    let round = produce(registry, topic, prefix);
    let retries = format!("murron_sink_retries_total{{pipeline=\"{topic}\",op=\"publish\"}}");
    eventually(60, "a publish that failed after its transaction", async || {
        worker.metric(&retries).await >= 1.0
    })
    .await;
    worker.kill();
    let left = unpublished(pool, topic).await;
    assert!(!left.is_empty(), "the killed worker left no blob unmarked");
    forget_group(&format!("murron-sink-{topic}.route")).await;
    (round, left)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_published_before_its_routing_offsets_expired_is_not_routed_again() {
    common::require_service("Kafka", &common::kafka_brokers());
    common::require_service("S3 server", &common::s3_endpoint());
    let registry = Registry::start().await;
    registry.register_file(EVENT_TYPE, "billing/member_active.avsc").await;
    let topic = common::unique("events.route-expiry");
    let routed = format!("{topic}.routed");
    let bucket = common::unique("route-expiry").replace('.', "-").to_lowercase();
    common::create_topic(&topic, 2).await;
    common::create_topic(&routed, 2).await;
    let proxy = FaultProxy::start(&common::s3_endpoint()).await;
    let config = config(&topic, &bucket, &proxy.url);
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");

    let mut expected = produce(&registry, &topic, "r1");
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    settled(&pool, &topic, expected.len()).await;

    // The staged blob is still there: before the fix the restart routed it a second time.
    let (round, left) = crash_after_publish(worker, &proxy, &registry, &pool, &topic, "r2").await;
    expected.extend(round);
    eprintln!("unmarked after the crash: {left:?}");
    proxy.set(Fault::Pass);
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    settled(&pool, &topic, expected.len()).await;
    let got = common::routed_uids(&routed, expected.len(), 60);
    report_exactly(
        "routing offsets expired after a publish, before its mark (blob still staged)",
        "routed topic",
        &got,
        &expected,
        "routing group deleted while the worker was down",
    );

    // The crash came after the staged blob was deleted: before the fix the restart could neither
    // route it nor tell that it was routed, and retried forever.
    let (round, left) = crash_after_publish(worker, &proxy, &registry, &pool, &topic, "r3").await;
    expected.extend(round);
    let store = sink_worker::storage::ObjectStore::open(&common::s3_store(&bucket))
        .await
        .expect("staging store");
    for key in &left {
        store.delete(key).await.expect("delete staged blob");
    }
    proxy.set(Fault::Pass);
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    settled(&pool, &topic, expected.len()).await;
    worker.stop();
    let got = common::routed_uids(&routed, expected.len(), 60);
    report_exactly(
        "routing offsets expired after a publish, before its mark (blob deleted)",
        "routed topic",
        &got,
        &expected,
        "routing group deleted while the worker was down",
    );
    let warehouse = common::outputs::warehouse_uids(&pool, EVENT_TYPE).await;
    report_exactly(
        "routing offsets expired after a publish, before its mark",
        "warehouse",
        &warehouse,
        &expected,
        "",
    );
}
