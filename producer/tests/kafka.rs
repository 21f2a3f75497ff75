//! Straight to the real local Kafka with a real schema registry: several producers (streams) send two
//! types; reading the topic back finds every (stream, offset) exactly once, keyed `host:pid`, with a
//! signature that verifies and the payload framed with its registry id.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use murron_connect::kafka::ensure_topic;
use murron_producer::{KeyRing, Producer, SchemaRef, Topics};
use murron_wire::envelope::decode;
use murron_wire::framing::split_wire_format;

const LOGIN_SCHEMA: &str =
    r#"{"type":"record","name":"Login","namespace":"test","fields":[{"name":"user","type":"string"}]}"#;
const CLICK_SCHEMA: &str =
    r#"{"type":"record","name":"Click","namespace":"test","fields":[{"name":"x","type":"long"}]}"#;

fn keys() -> KeyRing {
    KeyRing::new([
        ("2026-10".to_string(), b"old-secret".to_vec()),
        ("2026-11".to_string(), b"new-secret".to_vec()),
    ])
}

/// Avro binary of a string (zig-zag length, then the bytes).
fn avro_string(s: &str) -> Vec<u8> {
    let mut out = vec![(s.len() as u8) << 1];
    out.extend_from_slice(s.as_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_offset_reaches_kafka_exactly_once_keyed_and_signed() {
    let registry = common::Registry::start().await;
    let topic = common::unique("producer-direct");
    ensure_topic(&common::kafka(), &topic, 3).await.unwrap();
    // The click type is registered beforehand; the login type by the producer itself.
    let click_id = registry.client().register("test.click", CLICK_SCHEMA).await.unwrap();

    const PER_TYPE: i64 = 400;
    let mut tasks = Vec::new();
    for (i, key_id) in ["2026-10", "2026-11", "2026-11"].into_iter().enumerate() {
        let producer = Producer::builder()
            .registry(registry.config.clone())
            .keys(keys())
            .key_id(key_id)
            .host("web-1")
            .pid(1_000 + i as i32)
            .kafka(common::kafka(), Topics::Fixed(topic.clone()))
            .build()
            .await
            .unwrap();
        tasks.push(tokio::spawn(async move {
            let login = producer
                .event_type(
                    "test.login",
                    SchemaRef::Register {
                        text: LOGIN_SCHEMA.into(),
                        schema_type: None,
                    },
                )
                .await
                .unwrap();
            let click = producer.event_type("test.click", SchemaRef::Latest).await.unwrap();
            let names: Vec<Vec<u8>> = (0..PER_TYPE).map(|n| avro_string(&format!("user-{n}"))).collect();
            for n in 0..PER_TYPE {
                producer.send(&login, &names[n as usize]).await.unwrap();
                if n % 100 == 0 {
                    let batch: Vec<&[u8]> = vec![&[2u8][..]; 100];
                    producer.send_batch(&click, batch).await.unwrap();
                }
            }
            let report = producer.close(Duration::from_secs(60)).await.unwrap();
            assert_eq!((report.pending, report.refused.len()), (0, 0));
            (producer.identity().1, login.payload_schema_id(), report.acked)
        }));
    }
    let mut payload_ids = BTreeMap::from([("test.click".to_string(), click_id)]);
    let mut expected = BTreeSet::new();
    for task in tasks {
        let (pid, login_id, acked) = task.await.unwrap();
        assert_eq!(acked, 2 * PER_TYPE as u64);
        payload_ids.insert("test.login".to_string(), login_id);
        for ty in ["test.login", "test.click"] {
            expected.extend((0..PER_TYPE).map(|o| (ty.to_string(), "web-1".to_string(), pid, o)));
        }
    }

    let consumed = common::read_topic(&topic, expected.len(), Duration::from_secs(60));
    let mut seen = BTreeSet::new();
    let mut partitions_of: BTreeMap<i32, BTreeSet<i32>> = BTreeMap::new();
    for c in &consumed {
        let (_, env) = decode(&c.value).unwrap();
        assert_eq!(c.key, format!("{}:{}", env.host, env.pid).into_bytes());
        keys().verify(&env).unwrap();
        let expected_key = if env.pid == 1_000 { "2026-10" } else { "2026-11" };
        assert_eq!(env.tags.get("murron.key"), Some(expected_key));
        let (payload_id, _) = split_wire_format(env.message).unwrap();
        assert_eq!(payload_id, payload_ids[env.event_type]);
        partitions_of.entry(env.pid).or_default().insert(c.partition);
        let uid = (env.event_type.to_string(), env.host.to_string(), env.pid, env.offset);
        assert!(seen.insert(uid.clone()), "{uid:?} is in Kafka twice");
    }
    assert_eq!(seen, expected);
    // The key keeps a stream on one partition.
    assert!(partitions_of.values().all(|p| p.len() == 1), "{partitions_of:?}");
}

#[tokio::test]
async fn a_type_whose_topic_does_not_exist_is_an_error_when_opened() {
    let producer = Producer::builder()
        .envelope_schema_id(1)
        .keys(keys())
        .key_id("2026-11")
        .host("web-1")
        .pid(5)
        .kafka(common::kafka(), Topics::Fixed(common::unique("producer-missing")))
        .build()
        .await
        .unwrap();
    let err = producer.event_type("test.login", SchemaRef::Id(1)).await.unwrap_err();
    assert!(err.to_string().contains("producer-missing"), "{err}");
    producer.close(Duration::from_secs(5)).await.unwrap();
}
