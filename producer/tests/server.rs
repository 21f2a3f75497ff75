//! Through a real murron-server (gRPC) to the real local Kafka: several streams of two types arrive
//! exactly once, keyed `host:pid`; events signed with a key the server does not know come back as
//! refusals with the sink's reason code, and are never resent. Needs `cargo build -p murron-server`.

// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use murron_connect::kafka::ensure_topic;
use murron_producer::transport::grpc::ServerConfig;
use murron_producer::{KeyRing, Producer, SchemaRef};
use murron_wire::envelope::decode;

/// A murron-server routing `test.*` to `topic`, killed when dropped.
struct Server {
    grpc: String,
    _child: common::ChildGuard,
    _config: common::TempFile,
}

impl Server {
    fn start(topic: &str) -> Server {
        let (grpc, http) = (common::free_port(), common::free_port());
        let config = common::TempFile::new(
            "murron-server.toml",
            &format!(
                r#"
[server]
grpc_listen = "127.0.0.1:{grpc}"
http_listen = "127.0.0.1:{http}"
[kafka]
brokers = "{brokers}"
[keys]
"2026-11" = "new-secret"
[[pipelines]]
name = "tests"
filter_type = ["test.*"]
topic = "{topic}"
"#,
                brokers = common::kafka().brokers
            ),
        );
        let child = Command::new(common::binary("murron-server"))
            .arg("serve")
            .arg("--config")
            .arg(&config.0)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn murron-server");
        let mut child = common::ChildGuard(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(http) {
            if let Ok(Some(status)) = child.0.try_wait() {
                panic!("murron-server exited during start-up with {status}");
            }
            assert!(Instant::now() < deadline, "murron-server was not ready within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Server {
            grpc: format!("http://127.0.0.1:{grpc}"),
            _child: child,
            _config: config,
        }
    }
}

/// `GET /readyz` answers 200.
fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

const SCHEMA: &str = r#"{"type":"record","name":"Ping","namespace":"test","fields":[{"name":"n","type":"long"}]}"#;

async fn producer(registry: &common::Registry, server: &Server, key: (&str, &[u8]), pid: i32) -> Producer {
    Producer::builder()
        .registry(registry.config.clone())
        .keys(KeyRing::new([(key.0.to_string(), key.1.to_vec())]))
        .key_id(key.0)
        .host("edge-1")
        .pid(pid)
        .server(ServerConfig::new(&server.grpc))
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_server_every_stream_offset_reaches_kafka_once_and_forgeries_are_refused() {
    let registry = common::Registry::start().await;
    let topic = common::unique("producer-server");
    ensure_topic(&common::kafka(), &topic, 3).await.unwrap();
    let server = Server::start(&topic);

    const PER_TYPE: i64 = 300;
    let mut expected = BTreeSet::new();
    let mut tasks = Vec::new();
    for pid in [7, 8, 9] {
        let p = producer(&registry, &server, ("2026-11", b"new-secret"), pid).await;
        for ty in ["test.ping", "test.pong"] {
            expected.extend((0..PER_TYPE).map(|o| (ty.to_string(), pid, o)));
        }
        tasks.push(tokio::spawn(async move {
            let register = || SchemaRef::Register {
                text: SCHEMA.into(),
                schema_type: None,
            };
            let ping = p.event_type("test.ping", register()).await.unwrap();
            let pong = p.event_type("test.pong", register()).await.unwrap();
            for n in 0..PER_TYPE {
                p.send(&ping, &[(n as u8) << 1]).await.unwrap();
            }
            p.send_batch(&pong, (0..PER_TYPE).map(|_| &[2u8][..])).await.unwrap();
            p.close(Duration::from_secs(60)).await.unwrap()
        }));
    }
    for task in tasks {
        let report = task.await.unwrap();
        assert_eq!(
            (report.acked, report.pending, report.refused.len()),
            (2 * PER_TYPE as u64, 0, 0)
        );
    }

    // A producer whose key the server does not know: every event refused, reported once, not resent.
    let forger = producer(&registry, &server, ("stolen", b"guess"), 66).await;
    let ping = forger
        .event_type(
            "test.ping",
            SchemaRef::Register {
                text: SCHEMA.into(),
                schema_type: None,
            },
        )
        .await
        .unwrap();
    for n in 0..5u8 {
        forger.send(&ping, &[n << 1]).await.unwrap();
    }
    let report = forger.close(Duration::from_secs(30)).await.unwrap();
    assert_eq!((report.acked, report.pending), (0, 0));
    // Batches settle in any order.
    let refused: BTreeSet<i64> = report.refused.iter().map(|r| r.offset).collect();
    assert_eq!((report.refused.len(), refused), (5, (0..5).collect()));
    assert!(
        report.refused.iter().all(|r| r.reason == "unknown_key"),
        "{:?}",
        report.refused
    );

    let consumed = common::read_topic(&topic, expected.len(), Duration::from_secs(60));
    let keys = KeyRing::new([("2026-11".to_string(), b"new-secret".to_vec())]);
    let mut seen = BTreeSet::new();
    for c in &consumed {
        let (_, env) = decode(&c.value).unwrap();
        assert_eq!(c.key, format!("{}:{}", env.host, env.pid).into_bytes());
        keys.verify(&env).unwrap();
        let uid = (env.event_type.to_string(), env.pid, env.offset);
        assert!(seen.insert(uid.clone()), "{uid:?} is in Kafka twice");
    }
    assert_eq!(seen, expected);
}
