//! Fault tolerance when a service restarts under load (issue 7): the generator produces continuously
//! while `sink-worker run` consumes, and mid-run the Kafka broker (SIGKILL, then a clean stop) or the
//! PostgreSQL server (immediate stop) goes away and comes back. The producer and the worker ride it
//! out, readiness says so while the database is gone, and afterwards every generated event is in the
//! warehouse and in S3 (Parquet) exactly once, and, across the broker's restarts, in the routed Kafka
//! topic on that broker (read with `read_committed`), whose transactions the restarts interrupt.
//!
//! The restarted services are private copies started by the project's scripts on free ports
//! (`common::private_stack`), so the shared stack is never disturbed. Each test prints its
//! `RELIABILITY` rows for RELIABILITY.md.

mod common;

use std::time::{Duration, Instant};

use common::faults::{
    EVENT_TYPE, check_outputs, check_routed, progress, routed_topic, sink_config, sink_config_routed, warehouse_count,
};
use common::outputs::{eventually, generated};
use common::private_stack::{PrivateKafka, PrivatePostgres};
use common::{GEN_KEY, Generator, Registry, SinkRun};
use sqlx::postgres::PgPool;

const KEYS: [(&str, &str); 1] = [("default", GEN_KEY)];
const STREAMS: i64 = 8;

fn assert_alive(worker: &mut SinkRun, after: &str) {
    if let Ok(Some(status)) = worker.child.try_wait() {
        panic!("sink-worker run exited ({status}) after {after}");
    }
}

/// The broker restarts twice under load, once crashing (SIGKILL) and once cleanly. The producer's
/// records wait in its queue, the worker reconnects, and nothing is lost or written twice, also in
/// the topic the worker routes to on the same broker.
#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_broker_restart_under_load_loses_and_duplicates_nothing() {
    const EVENTS: i64 = 40_000;
    let scenario = "kafka broker restart (kill -9 + clean stop)";
    common::require_service("S3 server", &common::s3_endpoint());
    let began = Instant::now();
    let kafka = PrivateKafka::start();
    eprintln!(
        "private broker at {} up in {:.1}s",
        kafka.brokers,
        began.elapsed().as_secs_f64()
    );
    let registry = Registry::start().await;
    registry.register_file(EVENT_TYPE, "billing/member_active.avsc").await;
    let topic = common::unique("events.kafka-restart");
    let bucket = common::unique("kafka-restart").replace('.', "-").to_lowercase();
    kafka.create_topic(&topic, 4).await;
    kafka.create_topic(&routed_topic(&topic), 2).await;
    let config = sink_config_routed(&topic, &bucket);
    let mut worker = SinkRun::start_on(&kafka.brokers, &registry, &KEYS, &config).await;
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");

    // 600/s: about 67 s of load, so both outages (two broker starts each) come before it ends even
    // on a loaded machine; the producer buffers through an outage rather than slowing down.
    let generator = Generator::start(&registry, &kafka.brokers, &topic, EVENTS, STREAMS, 600);
    let before = progress(&pool, 0, 2000, "the first events in the warehouse").await;

    generator.assert_running("the broker was killed");
    let outage = Instant::now();
    kafka.kill9();
    kafka.start_again();
    let kill_outage = outage.elapsed();
    eprintln!("broker killed and back after {:.1}s", kill_outage.as_secs_f64());
    assert_alive(&mut worker, "the broker was killed");
    let before = progress(&pool, before, 2000, "events written after the broker crashed").await;

    generator.assert_running("the broker was stopped");
    let outage = Instant::now();
    kafka.stop();
    kafka.start_again();
    let stop_outage = outage.elapsed();
    eprintln!("broker stopped and back after {:.1}s", stop_outage.as_secs_f64());
    assert_alive(&mut worker, "the broker was stopped");
    progress(&pool, before, 2000, "events written after the broker restarted").await;

    let (gen_took, gen_complaints) = generator.finish();
    eventually(120, "every event in the warehouse", async || {
        warehouse_count(&pool).await >= EVENTS as usize
    })
    .await;
    assert_alive(&mut worker, "the outages");
    // Publishes of routed blobs that an outage interrupted, retried until they went through.
    let publish_retries = worker
        .metric(&format!(
            "murron_sink_retries_total{{pipeline=\"{topic}\",op=\"publish\"}}"
        ))
        .await as u64;
    worker.stop();
    let expected = generated(EVENT_TYPE, EVENTS, STREAMS, "gen", 1000);
    let notes = format!(
        "outages {:.1}s (SIGKILL) and {:.1}s (clean stop), each start included; gen ran {:.1}s, logged \
         {gen_complaints} warnings and delivered everything; worker stayed up, {publish_retries} publish \
         retries; test {:.0}s",
        kill_outage.as_secs_f64(),
        stop_outage.as_secs_f64(),
        gen_took.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    check_outputs(scenario, &pool, &bucket, &expected, &notes).await;
    check_routed(scenario, &kafka.brokers, &topic, &expected, &notes);
}

/// `/readyz` of a registry: `Some(true)` for 200, `Some(false)` for another status, `None` when it
/// did not answer in time.
async fn registry_ready(registry: &Registry) -> Option<bool> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client");
    let resp = http.get(format!("{}/readyz", registry.url)).send().await.ok()?;
    Some(resp.status().is_success())
}

/// PostgreSQL (the registry's database, the worker's state and the warehouse) crashes under load and
/// is back ten seconds later: the registry and the worker report not ready meanwhile, ready again
/// after, and nothing is lost or written twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_restart_under_load_flips_readiness_and_loses_and_duplicates_nothing() {
    const EVENTS: i64 = 60_000;
    const OUTAGE: Duration = Duration::from_secs(10);
    let scenario = "postgres restart (stop -m immediate, at least 10 s down)";
    common::require_service("Kafka", &common::kafka_brokers());
    common::require_service("S3 server", &common::s3_endpoint());
    let began = Instant::now();
    let postgres = PrivatePostgres::start();
    eprintln!(
        "private PostgreSQL at {} up in {:.1}s",
        postgres.url,
        began.elapsed().as_secs_f64()
    );
    let registry = Registry::start_on(&postgres.url).await;
    registry.register_file(EVENT_TYPE, "billing/member_active.avsc").await;
    let topic = common::unique("events.pg-restart");
    let bucket = common::unique("pg-restart").replace('.', "-").to_lowercase();
    common::create_topic(&topic, 4).await;
    let mut worker = SinkRun::start(&registry, &KEYS, &sink_config(&topic, &bucket)).await;
    let pool = PgPool::connect(&postgres.url).await.expect("connect");

    let generator = Generator::start(&registry, &common::kafka_brokers(), &topic, EVENTS, STREAMS, 1500);
    let before = progress(&pool, 0, 2000, "the first events in the warehouse").await;

    generator.assert_running("PostgreSQL was stopped");
    postgres.stop_immediate();
    let down = Instant::now();
    let (mut registry_noticed, mut worker_noticed) = (None, None);
    eventually(
        40,
        "the registry and the worker not ready without their database",
        async || {
            // Asked together: the registry's answer may wait for its pool's acquire timeout.
            let (registry_up, worker_up) = tokio::join!(registry_ready(&registry), worker.ready());
            if registry_noticed.is_none() && registry_up == Some(false) {
                registry_noticed = Some(down.elapsed());
            }
            if worker_noticed.is_none() && !worker_up {
                worker_noticed = Some(down.elapsed());
            }
            registry_noticed.is_some() && worker_noticed.is_some()
        },
    )
    .await;
    let noticed = down.elapsed();
    tokio::time::sleep(OUTAGE.saturating_sub(noticed)).await;
    generator.assert_running("PostgreSQL came back");
    assert!(
        !worker.ready().await,
        "the worker is ready while its database is still down"
    );
    assert_eq!(
        registry_ready(&registry).await,
        Some(false),
        "the registry is ready while its database is still down"
    );
    assert_alive(&mut worker, "the database went away");
    postgres.start_again();
    let outage = down.elapsed();
    eprintln!("PostgreSQL back after {:.1}s", outage.as_secs_f64());

    let back = Instant::now();
    eventually(60, "the registry ready again", async || {
        registry_ready(&registry).await == Some(true)
    })
    .await;
    eventually(60, "the worker ready again", async || worker.ready().await).await;
    let recovered = back.elapsed();
    progress(&pool, before, 2000, "events written after the database came back").await;

    let (gen_took, gen_complaints) = generator.finish();
    eventually(120, "every event in the warehouse", async || {
        warehouse_count(&pool).await >= EVENTS as usize
    })
    .await;
    assert_alive(&mut worker, "the outage");
    // The outage lands on whichever step of the write task needs the database then: writing a
    // batch, or publishing one already written (its offsets and stream state).
    let mut write_retries = 0.0;
    for op in ["write", "publish"] {
        write_retries += worker
            .metric(&format!(
                "murron_sink_retries_total{{pipeline=\"{topic}\",op=\"{op}\"}}"
            ))
            .await;
    }
    assert!(write_retries >= 1.0, "the outage was not felt by the writer");
    worker.stop();
    let expected = generated(EVENT_TYPE, EVENTS, STREAMS, "gen", 1000);
    let notes = format!(
        "down {:.1}s; not ready after {:.1}s (registry) and {:.1}s (worker), both ready again {:.1}s \
         after the start; {write_retries} write and publish retries; gen ran {:.1}s, logged {gen_complaints} warnings; \
         test {:.0}s",
        outage.as_secs_f64(),
        registry_noticed.unwrap_or_default().as_secs_f64(),
        worker_noticed.unwrap_or_default().as_secs_f64(),
        recovered.as_secs_f64(),
        gen_took.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    check_outputs(scenario, &pool, &bucket, &expected, &notes).await;
}
