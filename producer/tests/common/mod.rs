//! Helpers for the tests against the real local stack (deploy/local/stack.sh): a fresh database, a
//! schema registry of our own, Kafka topics, and reading a topic back. A missing service fails the
//! test; it never skips.

// Each test file uses a part of these.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use murron_connect::kafka::{KafkaConfig, consumer_config};
use murron_connect::registry::{RegistryClient, RegistryConfig};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};

pub fn database_url() -> String {
    std::env::var("MURRON_DATABASE_URL").unwrap_or_else(|_| "postgres://murron:murron@127.0.0.1:5433/murron".into())
}

pub fn kafka() -> KafkaConfig {
    KafkaConfig {
        brokers: std::env::var("MURRON_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        properties: BTreeMap::new(),
    }
}

/// A name unique to this test process and call.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A workspace binary: in `$MURRON_BIN_DIR` when set (binaries built elsewhere), else next to the
/// test executables (`cargo build -p <package>`).
pub fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("MURRON_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().unwrap();
            exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf()
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first (cargo build --bins)",
        path.display()
    );
    path
}

/// A child process killed when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An empty database of its own.
pub async fn fresh_database() -> String {
    let admin_url = database_url();
    let name = unique("p").replace('-', "_");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {admin_url}: {e}"));
    // The name is ours (letters, digits, underscores).
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// A schema-registry process on its own port and database.
pub struct Registry {
    pub config: RegistryConfig,
    _child: ChildGuard,
}

impl Registry {
    pub async fn start() -> Registry {
        let database_url = fresh_database().await;
        let port = free_port();
        let child = Command::new(binary("schema-registry"))
            .env("SCHEMA_REGISTRY_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("SCHEMA_REGISTRY_DATABASE__URL", &database_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = ChildGuard(child);
        let config = RegistryConfig {
            url: format!("http://127.0.0.1:{port}"),
            timeout_ms: 5_000,
            ..RegistryConfig::default()
        };
        let client = RegistryClient::new(&config).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Any answer (a 404 for an unknown subject) means it serves.
            match client.latest("readiness-probe").await {
                Err(e) if e.is_retryable() => {}
                _ => break,
            }
            if let Ok(Some(status)) = child.0.try_wait() {
                panic!("schema-registry exited during start-up with {status}");
            }
            assert!(Instant::now() < deadline, "schema-registry did not start within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Registry { config, _child: child }
    }

    pub fn client(&self) -> RegistryClient {
        RegistryClient::new(&self.config).unwrap()
    }
}

/// One record read back from Kafka.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub partition: i32,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Reads `topic` from the start until `expected` records came or `within` passed, then a little
/// longer, so that records beyond `expected` (duplicates) are seen too.
pub fn read_topic(topic: &str, expected: usize, within: Duration) -> Vec<Consumed> {
    let consumer: BaseConsumer = consumer_config(&kafka())
        .set("group.id", unique("producer-test"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + within;
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|s| Instant::now() < s) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(Consumed {
                partition: m.partition(),
                key: m.key().unwrap_or_default().to_vec(),
                value: m.payload().unwrap_or_default().to_vec(),
            }),
            Some(Err(e)) => panic!("consuming {topic}: {e}"),
            None => {}
        }
        if out.len() >= expected && settle.is_none() {
            settle = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    out
}

/// A file under the system's temporary directory, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("{}-{name}", unique("murron-producer")));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A directory path under the system's temporary directory (not created), removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        TempDir(std::env::temp_dir().join(format!("{}-{name}", unique("murron-producer"))))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
