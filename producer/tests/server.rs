//! Through a real murron-server (gRPC) to the real local Kafka: several streams of two types arrive
//! exactly once, keyed `host:pid`; events signed with a key the server does not know come back as
//! refusals with the sink's reason code, and are never resent. Over TLS (the server with `[tls]`),
//! a producer given the private CA delivers, and one given another CA fails at once with an error
//! that says the certificate is not trusted. Needs `cargo build -p murron-server` (or
//! `$MURRON_BIN_DIR`).

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
use murron_producer::{KeyRing, Producer, ProducerError, SchemaRef};
use murron_tls::TlsConfig;
use murron_tls::test_ca::TestCa;
use murron_wire::envelope::decode;

/// A murron-server routing `test.*` to `topic`, killed when dropped.
struct Server {
    grpc: String,
    _child: common::ChildGuard,
    _config: common::TempFile,
}

impl Server {
    fn start(topic: &str) -> Server {
        Self::start_with(topic, None)
    }

    /// With `tls`, the server has a `[tls]` section and its URL is `https://localhost:…`;
    /// `ca_file` is the CA that readiness is checked with.
    fn start_with(topic: &str, tls: Option<(&TlsConfig, &std::path::Path)>) -> Server {
        let (grpc, http) = (common::free_port(), common::free_port());
        let tls_section = tls.map_or(String::new(), |(t, _)| {
            format!(
                "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
                t.cert_file.display().to_string(),
                t.key_file.display().to_string()
            )
        });
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
{tls_section}"#,
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
        let ca_file = tls.map(|(_, ca)| ca);
        while !ready(http, ca_file) {
            if let Ok(Some(status)) = child.0.try_wait() {
                panic!("murron-server exited during start-up with {status}");
            }
            assert!(Instant::now() < deadline, "murron-server was not ready within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Server {
            grpc: match tls {
                Some(_) => format!("https://localhost:{grpc}"),
                None => format!("http://127.0.0.1:{grpc}"),
            },
            _child: child,
            _config: config,
        }
    }
}

/// `GET /readyz` answers 200 (over HTTPS with curl trusting `ca_file` when given).
fn ready(port: u16, ca_file: Option<&std::path::Path>) -> bool {
    if let Some(ca) = ca_file {
        return Command::new("curl")
            .args(["--silent", "--fail", "--max-time", "2", "--cacert"])
            .arg(ca)
            .arg(format!("https://localhost:{port}/readyz"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_private_ca_delivers_and_another_ca_fails_at_once_as_untrusted() {
    let registry = common::Registry::start().await;
    let topic = common::unique("producer-server-tls");
    ensure_topic(&common::kafka(), &topic, 1).await.unwrap();
    let dir = common::TempDir::new("server-tls");
    let ca = TestCa::new();
    let tls = ca.write_pair(&dir.0);
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let server = Server::start_with(&topic, Some((&tls, &ca_file)));
    assert!(server.grpc.starts_with("https://"));

    let key = ("2026-11", &b"new-secret"[..]);
    let builder = |ca_file: &std::path::Path| {
        let mut config = ServerConfig::new(&server.grpc);
        config.ca_file = Some(ca_file.to_path_buf());
        config.token = Some("not-a-secret-the-server-ignores".into());
        Producer::builder()
            .registry(registry.config.clone())
            .keys(KeyRing::new([(key.0.to_string(), key.1.to_vec())]))
            .key_id(key.0)
            .host("edge-tls")
            .pid(1)
            .server(config)
    };

    let p = builder(&ca_file).build().await.expect("TLS with the private CA");
    let ping = p
        .event_type(
            "test.ping",
            SchemaRef::Register {
                text: SCHEMA.into(),
                schema_type: None,
            },
        )
        .await
        .unwrap();
    for n in 0..20u8 {
        p.send(&ping, &[n << 1]).await.unwrap();
    }
    let report = p.close(Duration::from_secs(30)).await.unwrap();
    assert_eq!((report.acked, report.pending, report.refused.len()), (20, 0, 0));
    let consumed = common::read_topic(&topic, 20, Duration::from_secs(30));
    let offsets: BTreeSet<i64> = consumed.iter().map(|c| decode(&c.value).unwrap().1.offset).collect();
    assert_eq!(offsets, (0..20).collect());

    // Another CA: a configuration error at build time that names the cause, not a retried outage.
    let other = dir.0.join("other-ca.pem");
    std::fs::write(&other, TestCa::new().pem).unwrap();
    let started = Instant::now();
    let Err(err) = builder(&other).build().await else {
        panic!("an untrusted certificate must fail");
    };
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(!err.is_retryable(), "{err}");
    let text = err.to_string();
    assert!(
        matches!(err, ProducerError::Config(_)) && text.contains("not trusted") && text.contains("ca_file"),
        "{text}"
    );
    assert!(!text.contains("not-a-secret"), "{text}");
}
