//! S3 faults under load: a fault-injecting proxy (common/fault_proxy.rs) between `sink-worker run`
//! and the S3 server answers 500 and 503, resets connections, stalls past the request timeout and
//! throttles, phase after phase, while the generator produces; then S3 is down for longer than
//! one request's whole retry budget. The worker retries (bounded per request, with jitter, counted
//! in metrics), stops writing while S3 is down (backpressure) instead of dropping or dying, and at
//! the end every event is in S3 (Parquet files and an Iceberg table, both behind the proxy) and in
//! the warehouse exactly once, in complete Parquet files.

mod common;

use std::time::{Duration, Instant};

use common::fault_proxy::{Fault, FaultProxy};
use common::outputs::{
    Uris, assert_iceberg_leftovers, generated, iceberg_table, iceberg_uids, report_exactly, s3_parquet_uids,
    warehouse_uids,
};
use common::{GEN_KEY, Generator, Registry, SinkRun};
use sqlx::postgres::PgPool;

const EVENT_TYPE: &str = "billing.member_active";
const KEYS: [(&str, &str); 1] = [("default", GEN_KEY)];
const STREAMS: i64 = 8;
const RATE: u64 = 2_000;
/// The Iceberg output's catalog and namespace (their defaults).
const CATALOG: &str = "murron";
const NAMESPACE: &str = "events";

/// The buckets of a scenario: Parquet files in one, Iceberg tables in the other.
struct Buckets {
    parquet: String,
    iceberg: String,
}

impl Buckets {
    fn new(name: &str) -> Buckets {
        Buckets {
            parquet: common::unique(name).replace('.', "-").to_lowercase(),
            // Short: the local S3 server keeps each bucket and key in a file name of at most 255 bytes.
            iceberg: common::unique("ib"),
        }
    }
}

fn config(topic: &str, buckets: &Buckets, endpoint: &str) -> String {
    // A short timeout and few attempts, so stalls time out and a long outage outlasts a request's budget.
    let s3 = s3_output(&buckets.parquet, endpoint, 4);
    let iceberg = iceberg_output(&buckets.iceberg, endpoint, 4);
    format!(
        r#"
[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_events = 2000, max_age_ms = 500 }}
{s3}{iceberg}
[[pipeline.outputs]]
kind = "postgres"
"#
    )
}

/// An S3 output to `bucket` at `endpoint`, whose requests time out after 1.5 s and are tried
/// `max_attempts` times.
fn s3_output(bucket: &str, endpoint: &str, max_attempts: u32) -> String {
    let (access, secret) = common::s3_credentials();
    format!(
        r#"
[[pipeline.outputs]]
kind = "s3"
bucket = "{bucket}"
endpoint = "{endpoint}"
access_key_id = "{access}"
secret_access_key = "{secret}"
create_bucket = true
timeout_ms = 1500
max_attempts = {max_attempts}
"#
    )
}

/// An Iceberg output with its tables in `bucket` at `endpoint`, under the warehouse prefix `ib`, with
/// the same request settings as [`s3_output`].
fn iceberg_output(bucket: &str, endpoint: &str, max_attempts: u32) -> String {
    let (access, secret) = common::s3_credentials();
    format!(
        r#"
[[pipeline.outputs]]
kind = "iceberg"
warehouse = "ib"
store = {{ kind = "s3", bucket = "{bucket}", endpoint = "{endpoint}", access_key_id = "{access}", secret_access_key = "{secret}", create_bucket = true, timeout_ms = 1500, max_attempts = {max_attempts} }}
"#
    )
}

/// Every event of the Iceberg table of [`EVENT_TYPE`] in `bucket`, after checking what the output left
/// besides the table (see [`assert_iceberg_leftovers`]).
async fn iceberg_events(pool: &PgPool, bucket: &str, pipeline: &str) -> Vec<common::outputs::Uid> {
    let table = sink_worker::output::iceberg::table_name(EVENT_TYPE);
    let found = iceberg_table(&mut Uris::default(), pool, CATALOG, NAMESPACE, &table)
        .await
        .unwrap_or_else(|| panic!("no Iceberg table {NAMESPACE}.{table}"));
    let left = assert_iceberg_leftovers(pool, &format!("s3://{bucket}"), pipeline, &[found]).await;
    eprintln!(
        "Iceberg: {} intents of uncommitted batches and {} of their data files left for the hourly sweep",
        left.intents, left.orphaned_files
    );
    iceberg_uids(pool, CATALOG, NAMESPACE, EVENT_TYPE).await
}

/// The fault phases, each held for the given time while events flow.
fn phases() -> Vec<(Fault, Duration)> {
    let s = Duration::from_secs;
    let mut phases = vec![
        (Fault::Pass, s(2)),
        (Fault::Status(503), s(3)),
        (Fault::Pass, s(2)),
        (Fault::Status(500), s(3)),
        (Fault::Pass, s(1)),
        (Fault::Reset, s(3)),
        (Fault::Pass, s(1)),
        (Fault::Stall, s(4)),
        (Fault::Pass, s(1)),
        (Fault::Slow(128 * 1024), s(5)),
    ];
    if common::full_fault_suite() {
        // The same again, twice, in a different order.
        let again = phases.clone();
        phases.extend(again.iter().rev().copied());
        phases.extend(again);
    }
    phases
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_faults_cause_retries_and_backpressure_not_loss() {
    common::require_service("Kafka", &common::kafka_brokers());
    common::require_service("S3 server", &common::s3_endpoint());
    let registry = Registry::start().await;
    registry.register_file(EVENT_TYPE, "billing/member_active.avsc").await;
    let topic = common::unique("events.s3faults");
    let buckets = Buckets::new("s3faults");
    common::create_topic(&topic, 4).await;
    let proxy = FaultProxy::start(&common::s3_endpoint()).await;
    let mut worker = SinkRun::start(&registry, &KEYS, &config(&topic, &buckets, &proxy.url)).await;

    let phases = phases();
    let faulted: Duration = phases.iter().map(|(_, d)| *d).sum();
    let outage = Duration::from_secs(if common::full_fault_suite() { 60 } else { 15 });
    // Production spans the fault phases and the outage.
    let events = RATE as i64 * (faulted + outage).as_secs() as i64;
    let generator = Generator::start(&registry, &common::kafka_brokers(), &topic, events, STREAMS, RATE);

    // Each failing fault must show as retries while it holds: proof that it met real requests.
    let mut retried = worker.metric("murron_sink_store_retries_total").await;
    for (fault, hold) in &phases {
        proxy.set(*fault);
        tokio::time::sleep(*hold).await;
        let now = worker.metric("murron_sink_store_retries_total").await;
        eprintln!("fault {fault:?} for {hold:?}: {} S3 request retries", now - retried);
        if matches!(fault, Fault::Status(_) | Fault::Reset | Fault::Stall) {
            assert!(now > retried, "{fault:?} for {hold:?} caused no retry");
        }
        retried = now;
    }
    let injected = proxy.injected();
    assert!(injected > 0, "no connection met a fault: the proxy is not in the path");
    let store_retries = worker.metric("murron_sink_store_retries_total").await;
    assert!(store_retries > 0.0, "S3 faults caused no retries");

    // A long outage: every request fails past its retry budget. The worker must neither die nor
    // move on: it writes nothing until S3 is back.
    eprintln!("fault: S3 down for {outage:?}");
    proxy.set(Fault::Status(503));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let written_before = worker.metric("murron_sink_written_events_total").await;
    let batch_retries_before = worker.metric("murron_sink_retries_total").await;
    tokio::time::sleep(outage - Duration::from_secs(3)).await;
    assert!(
        worker.child.try_wait().expect("worker status").is_none(),
        "the worker exited during the S3 outage"
    );
    assert_eq!(
        worker.metric("murron_sink_written_events_total").await,
        written_before,
        "events were written while S3 was down"
    );
    let batch_retries = worker.metric("murron_sink_retries_total").await - batch_retries_before;
    assert!(
        batch_retries > 0.0,
        "the outage outlasted a request's budget, yet the batch was not retried"
    );
    proxy.set(Fault::Pass);
    generator.finish();

    let expected = generated(EVENT_TYPE, events, STREAMS, "gen", 1000);
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(180);
    while warehouse_uids(&pool, EVENT_TYPE).await.len() < expected.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let store_retries = worker.metric("murron_sink_store_retries_total").await;
    worker.stop();
    let scenario = "S3 faults: 500, 503, resets, stalls, throttling, then a long outage";
    let notes = format!(
        "{injected} connections faulted, {store_retries} S3 request retries, {batch_retries} batch retries in a {}s outage",
        outage.as_secs()
    );
    let warehouse = warehouse_uids(&pool, EVENT_TYPE).await;
    report_exactly(scenario, "warehouse", &warehouse, &expected, &notes);
    let parquet = s3_parquet_uids(&buckets.parquet, EVENT_TYPE).await;
    report_exactly(scenario, "S3 Parquet", &parquet, &expected, &notes);
    let iceberg = iceberg_events(&pool, &buckets.iceberg, &topic).await;
    report_exactly(scenario, "Iceberg on S3", &iceberg, &expected, &notes);
}

/// A pipeline writing Parquet files and an Iceberg table to S3 through a fault proxy, in batches of
/// `batch` events or `max_age_ms`, with S3 requests that fail fast.
struct StuckWrites {
    registry: Registry,
    topic: String,
    buckets: Buckets,
    proxy: FaultProxy,
    config: String,
}

impl StuckWrites {
    async fn new(name: &str, batch: i64, max_age_ms: u64) -> StuckWrites {
        common::require_service("Kafka", &common::kafka_brokers());
        common::require_service("S3 server", &common::s3_endpoint());
        let registry = Registry::start().await;
        registry.register_file(EVENT_TYPE, "billing/member_active.avsc").await;
        let topic = common::unique(&format!("events.{name}"));
        let buckets = Buckets::new(name);
        common::create_topic(&topic, 4).await;
        let proxy = FaultProxy::start(&common::s3_endpoint()).await;
        let s3 = s3_output(&buckets.parquet, &proxy.url, 2);
        let iceberg = iceberg_output(&buckets.iceberg, &proxy.url, 2);
        let config = format!(
            r#"
[kafka.properties]
"session.timeout.ms" = "10000"
[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_events = {batch}, max_age_ms = {max_age_ms} }}
{s3}{iceberg}"#
        );
        StuckWrites {
            registry,
            topic,
            buckets,
            proxy,
            config,
        }
    }

    /// Makes S3 refuse every request, then produces `events` events and waits until they are in Kafka.
    fn refuse_writes_and_produce(&self, events: i64) {
        self.proxy.set(Fault::Status(503));
        Generator::start(
            &self.registry,
            &common::kafka_brokers(),
            &self.topic,
            events,
            STREAMS,
            20_000,
        )
        .finish();
    }
}

/// A batch is written by a task while the next one is consumed: with S3 refusing every write, the
/// worker still reads the batch after the one stuck in its write, and no further (backpressure).
/// Once S3 is back, every event is written exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn the_next_batch_is_consumed_while_a_write_waits_and_no_further() {
    const BATCH: i64 = 3_000;
    const EVENTS: i64 = 4 * BATCH;
    // Only the size triggers a flush here.
    let s = StuckWrites::new("s3overlap", BATCH, 600_000).await;
    let worker = SinkRun::start(&s.registry, &KEYS, &s.config).await;
    s.refuse_writes_and_produce(EVENTS);

    // Consumption settles once the second batch is full and waits for the first one's write.
    let mut consumed = -1.0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = worker.metric("murron_sink_consumed_total").await;
        // Two equal readings mean settled only past the first batch: before the group's join and
        // first fetch, the count stays at 0 too.
        if (now == consumed && now > BATCH as f64) || Instant::now() > deadline {
            break;
        }
        consumed = now;
    }
    // The count is published every 1,024 records, so it may lag the loop by up to 1,023.
    eprintln!("consumed {consumed} of {EVENTS} events while S3 refused every write");
    assert!(
        consumed > BATCH as f64,
        "consumed {consumed}: the worker stopped reading while the first batch was being written"
    );
    assert!(
        consumed <= (2 * BATCH) as f64,
        "consumed {consumed}: the worker read past the second batch while the first was not written"
    );
    assert_eq!(worker.metric("murron_sink_written_events_total").await, 0.0);
    assert!(
        worker.metric("murron_sink_retries_total").await > 0.0,
        "the write was not retried"
    );

    s.proxy.set(Fault::Pass);
    let expected = generated(EVENT_TYPE, EVENTS, STREAMS, "gen", 1000);
    let deadline = Instant::now() + Duration::from_secs(120);
    // Each output counts its own events: wait for both.
    for output in ["s3://", "iceberg"] {
        let counter = format!("murron_sink_written_events_total{{output=\"{output}");
        while worker.metric(&counter).await < EVENTS as f64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    worker.stop();
    let scenario = "a write waiting for S3 while the next batch is consumed";
    let notes = format!("{consumed} events consumed while S3 refused writes");
    let parquet = s3_parquet_uids(&s.buckets.parquet, EVENT_TYPE).await;
    report_exactly(scenario, "S3 Parquet", &parquet, &expected, &notes);
    let pool = PgPool::connect(&s.registry.database_url).await.expect("connect");
    let iceberg = iceberg_events(&pool, &s.buckets.iceberg, &s.topic).await;
    report_exactly(scenario, "Iceberg on S3", &iceberg, &expected, &notes);
}

/// A revocation waits for the batch being written: its commit and publish come before the partitions'
/// next owner reads their commit points. Worker A's first batch is stuck on S3 while it reads its
/// second; worker B joins the group; the rebalance waits for A's write. Once S3 is back, every event
/// is written exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_rebalance_waits_for_the_batch_being_written() {
    const BATCH: i64 = 2_000;
    // One full batch, whose write is stuck, and half of the next, so A keeps polling (and so meets
    // the rebalance) instead of waiting for the write to flush the second.
    const EVENTS: i64 = BATCH + BATCH / 2;
    // A never flushes its second batch by age: a flush would wait for the stuck write and stop A
    // polling, so a slow join of B would never reach it. A writes that batch when it stops.
    let s = StuckWrites::new("s3rebalance", BATCH, 600_000).await;
    let a = SinkRun::start_logged(&s.registry, &KEYS, &s.config).await;
    s.refuse_writes_and_produce(EVENTS);
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.metric("murron_sink_retries_total").await == 0.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        a.metric("murron_sink_retries_total").await > 0.0,
        "A's first batch was not retried"
    );

    // B talks to S3 directly: opening its outputs at start-up needs S3.
    let b = SinkRun::start(
        &s.registry,
        &KEYS,
        &s.config
            .replace(&s.proxy.url, &common::s3_endpoint())
            .replace("max_age_ms = 600000", "max_age_ms = 1000"),
    )
    .await;
    let waiting = "a rebalance is waiting for the batch being written";
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.log_text().contains(waiting) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        a.log_text().contains(waiting),
        "B joined while A's write was stuck, but A's revocation did not wait for it:\n{}",
        a.log_text()
    );
    assert_eq!(a.metric("murron_sink_written_events_total").await, 0.0);

    s.proxy.set(Fault::Pass);
    // SIGTERM: A finishes its stuck write and writes what it still holds; B takes the rest.
    a.stop();
    let expected = generated(EVENT_TYPE, EVENTS, STREAMS, "gen", 1000);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut parquet = Vec::new();
    while Instant::now() < deadline {
        parquet = s3_parquet_uids(&s.buckets.parquet, EVENT_TYPE).await;
        if parquet.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    b.stop();
    let scenario = "a rebalance while a batch is being written";
    let notes = "worker B joined while A's first batch was stuck on S3";
    report_exactly(scenario, "S3 Parquet", &parquet, &expected, notes);
    let pool = PgPool::connect(&s.registry.database_url).await.expect("connect");
    let iceberg = iceberg_events(&pool, &s.buckets.iceberg, &s.topic).await;
    report_exactly(scenario, "Iceberg on S3", &iceberg, &expected, notes);
}
