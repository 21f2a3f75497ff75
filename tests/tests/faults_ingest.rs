//! Fault tolerance at the ingestion edge (issue 22): `sink-worker gen` publishes through murron-server
//! with the producer library's delivery while `sink-worker run` consumes the routed topic. Mid-run the
//! server is SIGKILLed and restarted, or the Kafka broker behind it restarts. The producer resends
//! the same bytes until the server stored them, the server acknowledges nothing Kafka did not store,
//! and afterwards every generated event is in the warehouse and in S3 (Parquet) exactly once. Each
//! test prints its `RELIABILITY` rows for RELIABILITY.md.

mod common;

use std::time::{Duration, Instant};

use common::faults::{EVENT_TYPE, check_outputs, progress, sink_config, warehouse_count};
use common::ingest::IngestServer;
use common::outputs::{eventually, generated};
use common::private_stack::PrivateKafka;
use common::{GEN_KEY, Generator, Registry, SinkRun};
use sqlx::postgres::PgPool;

const KEYS: [(&str, &str); 1] = [("default", GEN_KEY)];
const STREAMS: i64 = 8;

/// Events per scenario: the full suite (`make faults`) runs twice as many.
fn events() -> i64 {
    if common::full_fault_suite() { 40_000 } else { 20_000 }
}

fn routes(topic: &str) -> String {
    format!("[[pipelines]]\nname = \"billing\"\nfilter_type = [\"billing.*\"]\ntopic = \"{topic}\"\n")
}

/// murron-server is SIGKILLed twice under load and started again on the same ports. Batches in
/// flight at the kill were never acknowledged, so the producer resends them: the sink drops the
/// copies Kafka already had by UID, and nothing is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_murron_server_sigkill_under_load_loses_and_duplicates_nothing() {
    let events = events();
    let scenario = "murron-server SIGKILL under load (twice, restarted on the same ports)";
    common::require_service("Kafka", &common::kafka_brokers());
    common::require_service("S3 server", &common::s3_endpoint());
    let began = Instant::now();
    let registry = Registry::start().await;
    registry.register_file(EVENT_TYPE, "billing/member_active.avsc").await;
    let topic = common::unique("events.ingest-kill");
    let bucket = common::unique("ingest-kill").replace('.', "-").to_lowercase();
    common::create_topic(&topic, 4).await;
    let mut server = IngestServer::start(&common::kafka_brokers(), &KEYS, &routes(&topic)).await;
    let worker = SinkRun::start(&registry, &KEYS, &sink_config(&topic, &bucket)).await;
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");

    let generator = Generator::start_through(&registry, &server.grpc_url, &topic, events, STREAMS, 500);
    let mut seen = progress(&pool, 0, 2000, "the first events in the warehouse").await;
    let mut downtime = Vec::new();
    for round in 1..=2 {
        generator.assert_running("the server was killed");
        let outage = Instant::now();
        server.kill();
        tokio::time::sleep(Duration::from_secs(2)).await;
        server.restart().await;
        downtime.push(outage.elapsed());
        eprintln!(
            "murron-server killed and back after {:.1}s",
            outage.elapsed().as_secs_f64()
        );
        seen = progress(&pool, seen, 2000, &format!("events written after kill {round}")).await;
    }
    let accepted_after = server.metric("murron_ingest_accepted_total").await;
    let (gen_took, _) = generator.finish();
    eventually(120, "every event in the warehouse", async || {
        warehouse_count(&pool).await >= events as usize
    })
    .await;
    worker.stop();
    server.stop();
    let expected = generated(EVENT_TYPE, events, STREAMS, "gen", 1000);
    let notes = format!(
        "downtimes {:.1}s and {:.1}s (restart included); gen ran {:.1}s and had everything acknowledged; \
         the last server accepted {accepted_after} before gen finished; test {:.0}s",
        downtime[0].as_secs_f64(),
        downtime[1].as_secs_f64(),
        gen_took.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    check_outputs(scenario, &pool, &bucket, &expected, &notes).await;
}

/// The Kafka broker behind murron-server restarts twice under load (SIGKILL, then a clean stop).
/// The server goes not ready and answers RETRY or UNAVAILABLE instead of acknowledging what Kafka
/// did not store; the producer resends, and nothing is lost or written twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_restart_behind_murron_server_loses_and_duplicates_nothing() {
    let events = events();
    let scenario = "kafka broker restart behind murron-server (kill -9 + clean stop)";
    common::require_service("S3 server", &common::s3_endpoint());
    let began = Instant::now();
    let kafka = PrivateKafka::start();
    let registry = Registry::start().await;
    registry.register_file(EVENT_TYPE, "billing/member_active.avsc").await;
    let topic = common::unique("events.ingest-kafka");
    let bucket = common::unique("ingest-kafka").replace('.', "-").to_lowercase();
    kafka.create_topic(&topic, 4).await;
    let server = IngestServer::start(&kafka.brokers, &KEYS, &routes(&topic)).await;
    let worker = SinkRun::start_on(&kafka.brokers, &registry, &KEYS, &sink_config(&topic, &bucket)).await;
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");

    let generator = Generator::start_through(&registry, &server.grpc_url, &topic, events, STREAMS, 500);
    let mut seen = progress(&pool, 0, 2000, "the first events in the warehouse").await;

    generator.assert_running("the broker was killed");
    let outage = Instant::now();
    kafka.kill9();
    // The server notices: not ready while no broker answers.
    eventually(60, "murron-server not ready while the broker is down", async || {
        !server.ready().await
    })
    .await;
    kafka.start_again();
    let kill_outage = outage.elapsed();
    eventually(60, "murron-server ready again", async || server.ready().await).await;
    seen = progress(&pool, seen, 2000, "events written after the broker crashed").await;

    generator.assert_running("the broker was stopped");
    let outage = Instant::now();
    kafka.stop();
    kafka.start_again();
    let stop_outage = outage.elapsed();
    progress(&pool, seen, 2000, "events written after the broker restarted").await;

    let (gen_took, _) = generator.finish();
    eventually(120, "every event in the warehouse", async || {
        warehouse_count(&pool).await >= events as usize
    })
    .await;
    worker.stop();
    let expected = generated(EVENT_TYPE, events, STREAMS, "gen", 1000);
    let notes = format!(
        "outages {:.1}s (SIGKILL) and {:.1}s (clean stop), each start included; the server was not ready \
         during the first; gen ran {:.1}s and had everything acknowledged; test {:.0}s",
        kill_outage.as_secs_f64(),
        stop_outage.as_secs_f64(),
        gen_took.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    check_outputs(scenario, &pool, &bucket, &expected, &notes).await;
}
