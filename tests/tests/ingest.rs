//! The producer side end to end (issue 22): the Rust producer library publishes through murron-server
//! (gRPC) and straight to Kafka, the sink consumes both topics, and the warehouse holds every event
//! exactly once, checked UID by UID. The Python package's twin is tests/interop/test_producer_python.py.

mod common;

use std::time::Duration;

use common::ingest::IngestServer;
use common::outputs::{Uid, assert_exactly, eventually, warehouse_uids};
use common::{GEN_KEY, Registry, SinkRun};
use murron_payload::SchemaType;
use murron_payload::sample::{SampleSource, SplitMix64};
use murron_producer::transport::grpc::ServerConfig;
use murron_producer::{KafkaConfig, KeyRing, Producer, RegistryConfig, SchemaRef, Topics};
use sqlx::postgres::PgPool;

const KEYS: [(&str, &str); 2] = [("default", GEN_KEY), ("k2027", "the-next-key")];

/// `count` sample datums of the schema in `path` (under schemas/), without their Confluent header.
fn datums(path: &str, count: usize, seed: u64) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(common::workspace_path(&format!("schemas/{path}"))).expect("schema file");
    let source = SampleSource::parse(SchemaType::Avro, &text, &[]).expect("schema");
    let sampler = source.sampler(1_780_000_000_000_000).expect("sampler");
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| {
            let mut d = Vec::new();
            sampler.sample_into(&mut rng, &mut d).expect("sample");
            d
        })
        .collect()
}

fn ring() -> KeyRing {
    KeyRing::new(KEYS.iter().map(|(id, s)| (id.to_string(), s.as_bytes().to_vec())))
}

fn registry_config(registry: &Registry) -> RegistryConfig {
    RegistryConfig {
        url: registry.url.clone(),
        ..RegistryConfig::default()
    }
}

fn expected(event_type: &str, host: &str, pid: i32, count: usize) -> Vec<Uid> {
    (0..count as i64)
        .map(|o| (event_type.to_string(), host.to_string(), pid, o))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_producer_through_the_server_and_straight_to_kafka_reaches_the_sink_exactly_once() {
    const BILLING: &str = "billing.member_active";
    const CLIENT: &str = "client.api_call";
    const N: usize = 3_000;
    common::require_service("Kafka", &common::kafka_brokers());
    let registry = Registry::start().await;
    registry.register_file(BILLING, "billing/member_active.avsc").await;
    let billing_topic = common::unique("events.ingest-billing");
    let client_topic = common::unique("events.ingest-client");
    common::create_topic(&billing_topic, 4).await;
    common::create_topic(&client_topic, 4).await;
    let routes =
        format!("[[pipelines]]\nname = \"billing\"\nfilter_type = [\"billing.*\"]\ntopic = \"{billing_topic}\"\n");
    let server = IngestServer::start(&common::kafka_brokers(), &KEYS, &routes).await;

    // Through the server, signed with the rotated key, from two processes on one host.
    let mut through = Vec::new();
    for pid in [11, 12] {
        let producer = Producer::builder()
            .registry(registry_config(&registry))
            .keys(ring())
            .key_id("k2027")
            .host("rust-edge")
            .pid(pid)
            .server(ServerConfig::new(server.grpc_url.clone()))
            .build()
            .await
            .expect("producer through the server");
        let ty = producer
            .event_type(BILLING, SchemaRef::Latest)
            .await
            .expect("billing type");
        for d in datums("billing/member_active.avsc", N, pid as u64) {
            producer.send(&ty, &d).await.expect("send");
        }
        through.push(producer);
    }
    // Straight to Kafka, registering its schema itself.
    let direct = Producer::builder()
        .registry(registry_config(&registry))
        .keys(ring())
        .host("rust-direct")
        .pid(21)
        .kafka(
            KafkaConfig {
                brokers: common::kafka_brokers(),
                properties: Default::default(),
            },
            Topics::Fixed(client_topic.clone()),
        )
        .build()
        .await
        .expect("producer to kafka");
    let text = std::fs::read_to_string(common::workspace_path("schemas/client/api_call.avsc")).expect("schema");
    let client = direct
        .event_type(
            CLIENT,
            SchemaRef::Register {
                text,
                schema_type: None,
            },
        )
        .await
        .expect("client type");
    for d in datums("client/api_call.avsc", N, 3) {
        direct.send(&client, &d).await.expect("send");
    }
    for producer in through.iter().chain([&direct]) {
        let report = producer.close(Duration::from_secs(60)).await.expect("close");
        assert!(report.refused.is_empty(), "refused: {:?}", report.refused);
        assert_eq!(report.pending, 0);
    }
    assert_eq!(server.metric("murron_ingest_accepted_total").await, (2 * N) as f64);

    let config = format!(
        "[pipeline]\nname = \"{billing_topic}\"\ninput = {{ topics = [\"{billing_topic}\", \"{client_topic}\"] }}\n\
         flush = {{ max_events = 2000, max_age_ms = 500 }}\n\n[[pipeline.outputs]]\nkind = \"postgres\"\n"
    );
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    let pool = PgPool::connect(&registry.database_url).await.expect("connect");
    eventually(120, "every event in the warehouse", async || {
        warehouse_uids(&pool, BILLING).await.len() >= 2 * N && warehouse_uids(&pool, CLIENT).await.len() >= N
    })
    .await;
    // A little longer: anything written twice would show now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(worker.metric("murron_sink_invalid_total").await, 0.0, "dead letters");
    worker.stop();
    let mut want = expected(BILLING, "rust-edge", 11, N);
    want.extend(expected(BILLING, "rust-edge", 12, N));
    assert_exactly(
        "billing through murron-server",
        &warehouse_uids(&pool, BILLING).await,
        &want,
    );
    assert_exactly(
        "client straight to Kafka",
        &warehouse_uids(&pool, CLIENT).await,
        &expected(CLIENT, "rust-direct", 21, N),
    );
}
