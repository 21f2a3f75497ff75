//! Helpers shared by the end-to-end tests: where the local stack is, fresh databases, and the
//! built binaries run as child processes.
//!
//! The services are started by `deploy/local/stack.sh up` (`make test` does it). When one is not
//! reachable the test fails with a message saying so: a missing service is never a pass or a skip.

#![allow(dead_code)]

pub mod fault_proxy;
pub mod faults;
pub mod ingest;
pub mod outputs;
pub mod private_stack;
pub mod world;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// `postgres://` URL of the project database (`deploy/local/stack.sh env`).
pub fn database_url() -> String {
    std::env::var("MURRON_DATABASE_URL").unwrap_or_else(|_| "postgres://murron:murron@127.0.0.1:5433/murron".into())
}

pub fn kafka_brokers() -> String {
    std::env::var("MURRON_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn s3_endpoint() -> String {
    std::env::var("MURRON_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9000".into())
}

pub fn s3_credentials() -> (String, String) {
    (
        std::env::var("MURRON_S3_ACCESS_KEY").unwrap_or_else(|_| "murron".into()),
        std::env::var("MURRON_S3_SECRET_KEY").unwrap_or_else(|_| "murron-secret".into()),
    )
}

/// Panics with a clear message unless something listens at `host:port`.
pub fn require_service(name: &str, addr: &str) {
    let addr = addr.trim_start_matches("http://").trim_start_matches("https://");
    let addr = addr.split('/').next().unwrap_or(addr);
    let hostport = addr.rsplit('@').next().unwrap_or(addr);
    let ok = std::net::ToSocketAddrs::to_socket_addrs(hostport)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    assert!(
        ok,
        "{name} is not reachable at {hostport}: start the local stack with `make up` (deploy/local/stack.sh up)"
    );
}

pub fn require_postgres() {
    let url = database_url();
    let after_at = url.rsplit('@').next().unwrap_or(&url).to_string();
    require_service("PostgreSQL", after_at.split('/').next().unwrap_or(&after_at));
}

/// Whether to run the full-size fault scenarios (`make faults`, `MURRON_FAULT_SUITE=full`) rather than
/// the reduced ones `make test` runs.
pub fn full_fault_suite() -> bool {
    std::env::var("MURRON_FAULT_SUITE").is_ok_and(|v| v == "full")
}

/// A name unique to this test process and call, for topics, groups, buckets and databases.
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

/// Creates an empty database for one test and returns its URL, so tests never see each other's rows.
pub async fn fresh_database() -> String {
    require_postgres();
    let admin_url = database_url();
    let name = unique("t").replace('-', "_");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {admin_url}: {e}"));
    // The name is ours (letters, digits, underscores), so formatting it into the statement is safe.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

/// The workspace's binaries: in `$MURRON_BIN_DIR` when set (binaries built elsewhere, as the
/// interop tests allow), else next to the test executables (`cargo build --bins`).
pub fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("MURRON_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("test executable path");
            exe.parent()
                .and_then(|deps| deps.parent())
                .expect("target/<profile>/deps")
                .to_path_buf()
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --bins` (`make test` does)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind port 0")
        .port()
}

/// A child process killed when dropped, so a failing test leaves nothing running.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A schema-registry process on its own port and database.
pub struct Registry {
    pub url: String,
    pub database_url: String,
    _child: ChildGuard,
}

impl Registry {
    /// Starts the registry binary against a fresh database and waits until it is ready.
    pub async fn start() -> Registry {
        let database_url = fresh_database().await;
        Self::start_on(&database_url).await
    }

    /// Starts a registry binary against an existing database (several may share one).
    pub async fn start_on(database_url: &str) -> Registry {
        Self::start_with(database_url, &[]).await
    }

    /// Starts a registry binary with extra `SCHEMA_REGISTRY_*` settings.
    pub async fn start_with(database_url: &str, settings: &[(&str, &str)]) -> Registry {
        let port = free_port();
        let child = Self::spawn(port, database_url, settings).await;
        Registry {
            url: format!("http://127.0.0.1:{port}"),
            database_url: database_url.to_string(),
            _child: child,
        }
    }

    /// Kills the registry process and starts a new one on the same port and database: `outage` runs
    /// in between, while nothing answers at `url`.
    pub async fn restart_after(&mut self, outage: impl AsyncFnOnce()) {
        let _ = self._child.0.kill();
        let _ = self._child.0.wait();
        outage().await;
        let port = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in url");
        self._child = Self::spawn(port, &self.database_url, &[]).await;
    }

    /// Starts a registry serving HTTPS on a fresh database: `settings` hold its
    /// `SCHEMA_REGISTRY_TLS__*` and `SCHEMA_REGISTRY_AUTH__*`; `client` (its `ca_file` and
    /// credentials; the URL is set here) says when it answers. Its `url` is `https://localhost:…`.
    pub async fn start_https(settings: &[(&str, &str)], client: &murron_connect::registry::RegistryConfig) -> Registry {
        let database_url = fresh_database().await;
        let port = free_port();
        let mut child = Self::spawn_process(port, &database_url, settings);
        let url = format!("https://localhost:{port}");
        let probe = murron_connect::registry::RegistryClient::new(&murron_connect::registry::RegistryConfig {
            url: url.clone(),
            ..client.clone()
        })
        .expect("registry client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match probe.probe().await {
                Ok(()) => break,
                Err(e) if !e.is_retryable() => panic!("the HTTPS registry refuses the test's client: {e}"),
                Err(_) => {}
            }
            if let Ok(Some(status)) = child.0.try_wait() {
                panic!("schema-registry exited during start-up with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "schema-registry not answering at {url} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Registry {
            url,
            database_url,
            _child: child,
        }
    }

    fn spawn_process(port: u16, database_url: &str, settings: &[(&str, &str)]) -> ChildGuard {
        let mut cmd = Command::new(binary("schema-registry"));
        cmd.env("SCHEMA_REGISTRY_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("SCHEMA_REGISTRY_DATABASE__URL", database_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        for (k, v) in settings {
            cmd.env(k, v);
        }
        ChildGuard(cmd.spawn().expect("spawn schema-registry"))
    }

    async fn spawn(port: u16, database_url: &str, settings: &[(&str, &str)]) -> ChildGuard {
        let mut child = Self::spawn_process(port, database_url, settings);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        loop {
            if let Ok(resp) = http.get(format!("{url}/readyz")).send().await
                && resp.status().is_success()
            {
                return child;
            }
            if let Ok(Some(status)) = child.0.try_wait() {
                panic!("schema-registry exited during start-up with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "schema-registry did not become ready at {url} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a request; returns the status and the JSON body (`null` when the body is not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .header("content-type", "application/vnd.schemaregistry.v1+json");
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    /// Registers `schema` (Avro JSON text) under `subject`; returns status and body.
    pub async fn register(&self, subject: &str, schema: &str) -> (u16, serde_json::Value) {
        self.call(
            "POST",
            &format!("/subjects/{subject}/versions"),
            None,
            Some(serde_json::json!({ "schema": schema })),
        )
        .await
    }

    /// The registry's Prometheus `/metrics` text.
    pub async fn metrics(&self) -> String {
        let resp = reqwest::get(format!("{}/metrics", self.url))
            .await
            .expect("GET /metrics");
        assert!(resp.status().is_success(), "GET /metrics answered {}", resp.status());
        resp.text().await.expect("the /metrics body")
    }

    /// Registers a schema file from `schemas/` under `subject` and returns its id.
    pub async fn register_file(&self, subject: &str, path: &str) -> i64 {
        self.register_file_as(subject, path, "AVRO").await
    }

    /// Registers the schema file `schemas/{path}` under `subject` as `schema_type` (`AVRO`, `JSON`,
    /// `PROTOBUF`) and returns its id.
    pub async fn register_file_as(&self, subject: &str, path: &str, schema_type: &str) -> i64 {
        let text = std::fs::read_to_string(workspace_path(&format!("schemas/{path}"))).expect("read schema file");
        let resp = reqwest::Client::new()
            .post(format!("{}/subjects/{subject}/versions", self.url))
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .json(&serde_json::json!({ "schema": text, "schemaType": schema_type }))
            .send()
            .await
            .expect("register request");
        assert!(resp.status().is_success(), "register {subject}: {}", resp.status());
        resp.json::<serde_json::Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id")
    }
}

/// A path relative to the workspace root.
pub fn workspace_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A `sink-worker` command with the given arguments against `registry` and the local Kafka.
pub fn sink_worker_command(registry: &Registry, keys: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(binary("sink-worker"));
    cmd.args(args)
        .env("SINK_WORKER_REGISTRY__URL", &registry.url)
        .env("SINK_WORKER_KAFKA__BROKERS", kafka_brokers())
        .env("RUST_LOG", "warn");
    for (id, secret) in keys {
        cmd.env(format!("SINK_WORKER_KEYS__{}", id.to_uppercase()), secret);
    }
    cmd
}

/// Runs [`sink_worker_command`]; returns what it printed and how it exited.
pub fn sink_worker_output(registry: &Registry, keys: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    sink_worker_command(registry, keys, args)
        .output()
        .expect("run sink-worker")
}

/// [`sink_worker_output`]'s stdout, panicking with stderr when it fails.
pub fn sink_worker(registry: &Registry, keys: &[(&str, &str)], args: &[&str]) -> String {
    let out = sink_worker_output(registry, keys, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sink-worker {args:?} failed ({}):\n{}\n{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A `sink-worker run` process with its own config file and admin port.
pub struct SinkRun {
    pub admin: String,
    pub child: Child,
    /// Where stderr goes when started with [`SinkRun::start_logged`].
    pub log: Option<PathBuf>,
}

impl SinkRun {
    /// Writes `config` (TOML) to a file and starts `sink-worker run` on it; waits for `/readyz`.
    pub async fn start(registry: &Registry, keys: &[(&str, &str)], config: &str) -> SinkRun {
        Self::start_command(registry, keys, config, "run", &kafka_brokers(), false).await
    }

    /// As [`SinkRun::start`], with stderr (the log) captured to a file for [`SinkRun::log_text`].
    pub async fn start_logged(registry: &Registry, keys: &[(&str, &str)], config: &str) -> SinkRun {
        Self::start_command(registry, keys, config, "run", &kafka_brokers(), true).await
    }

    /// As [`SinkRun::start`], consuming from `brokers` instead of the shared Kafka.
    pub async fn start_on(brokers: &str, registry: &Registry, keys: &[(&str, &str)], config: &str) -> SinkRun {
        Self::start_command(registry, keys, config, "run", brokers, false).await
    }

    /// `sink-worker monitor` on its own port (in `admin`); waits for `/readyz`.
    pub async fn monitor(registry: &Registry, keys: &[(&str, &str)], config: &str) -> SinkRun {
        Self::start_command(registry, keys, config, "monitor", &kafka_brokers(), false).await
    }

    /// `sink-worker archive`; waits for `/readyz` on its admin port.
    pub async fn archive(registry: &Registry, keys: &[(&str, &str)], config: &str) -> SinkRun {
        Self::start_command(registry, keys, config, "archive", &kafka_brokers(), false).await
    }

    async fn start_command(
        registry: &Registry,
        keys: &[(&str, &str)],
        config: &str,
        command: &str,
        brokers: &str,
        capture_log: bool,
    ) -> SinkRun {
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("murron-sink-config"));
        std::fs::create_dir_all(&dir).expect("config dir");
        let path = dir.join("sink.toml");
        std::fs::write(&path, config).expect("write config");
        let mut cmd = Command::new(binary("sink-worker"));
        let (listen_var, ready) = match command {
            "monitor" => ("SINK_WORKER_MONITOR__LISTEN", "readyz"),
            _ => ("SINK_WORKER_ADMIN__LISTEN", "readyz"),
        };
        cmd.args(["--config", path.to_str().expect("utf-8 path"), command])
            .env("SINK_WORKER_REGISTRY__URL", &registry.url)
            .env("SINK_WORKER_KAFKA__BROKERS", brokers)
            .env("SINK_WORKER_STATE__URL", &registry.database_url)
            .env(listen_var, format!("127.0.0.1:{port}"))
            .env("RUST_LOG", std::env::var("SINK_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null());
        for (id, secret) in keys {
            cmd.env(format!("SINK_WORKER_KEYS__{}", id.to_uppercase()), secret);
        }
        let log = capture_log.then(|| dir.join("stderr.log"));
        if let Some(log) = &log {
            // A captured log is read by the test: warnings included, whatever SINK_LOG says.
            cmd.stderr(std::fs::File::create(log).expect("log file"))
                .env("RUST_LOG", "warn");
        }
        let mut child = cmd.spawn().expect("spawn sink-worker");
        let admin = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(resp) = reqwest::get(format!("{admin}/{ready}")).await
                && resp.status().is_success()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("sink-worker {command} exited during start-up with {status}");
            }
            if Instant::now() >= deadline {
                // Not left running after the test fails.
                let _ = child.kill();
                let _ = child.wait();
                panic!("sink-worker {command} not ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        SinkRun { admin, child, log }
    }

    /// GETs a JSON document from the process's port.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = reqwest::get(format!("{}{path}", self.admin)).await.expect("request");
        let status = resp.status();
        let body = resp.text().await.expect("body");
        assert!(status.is_success(), "GET {path}: {status}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        assert!(status.success());
        let status = self.child.wait().expect("wait for sink-worker");
        assert!(status.success(), "sink-worker run exited with {status} after SIGTERM");
    }

    /// SIGKILL, as a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The captured log so far (empty unless started with [`SinkRun::start_logged`]).
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Whether `/readyz` answers 200.
    pub async fn ready(&self) -> bool {
        let ready = reqwest::get(format!("{}/readyz", self.admin)).await;
        ready.is_ok_and(|r| r.status().is_success())
    }

    /// The body of `/readyz`: `ready`, or `not ready: ` and the reasons that hold.
    pub async fn readyz(&self) -> String {
        let answer = reqwest::get(format!("{}/readyz", self.admin)).await.expect("readyz");
        answer.text().await.expect("readyz body")
    }

    /// The Prometheus exposition of the process.
    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("{}/metrics", self.admin))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// The value of a Prometheus counter or gauge line starting with `name` (labels included).
    pub async fn metric(&self, name: &str) -> f64 {
        self.metrics_text()
            .await
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for SinkRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sink-worker gen` in a thread, producing `count` `billing.member_active` events over `streams`
/// streams (`gen-{i}`, pid `1000 + i`) at `rate` per second, signed with the key `default`.
pub struct Generator {
    started: Instant,
    thread: std::thread::JoinHandle<std::process::Output>,
}

impl Generator {
    pub fn start(registry: &Registry, brokers: &str, topic: &str, count: i64, streams: i64, rate: u64) -> Generator {
        Self::start_type(registry, brokers, topic, "billing.member_active", count, streams, rate)
    }

    /// [`Generator::start`] for events of `event_type`, of whatever schema type it is registered as.
    pub fn start_type(
        registry: &Registry,
        brokers: &str,
        topic: &str,
        event_type: &str,
        count: i64,
        streams: i64,
        rate: u64,
    ) -> Generator {
        let mut cmd = Command::new(binary("sink-worker"));
        cmd.args(["gen", "--topic", topic, "--type", event_type])
            .args(["--count", &count.to_string(), "--streams", &streams.to_string()])
            .args(["--rate", &rate.to_string()])
            .env("SINK_WORKER_REGISTRY__URL", &registry.url)
            .env("SINK_WORKER_KAFKA__BROKERS", brokers)
            .env("SINK_WORKER_KEYS__DEFAULT", GEN_KEY)
            .env("RUST_LOG", "warn");
        Generator {
            started: Instant::now(),
            thread: std::thread::spawn(move || cmd.output().expect("run sink-worker gen")),
        }
    }

    /// [`Generator::start`] publishing through murron-server's gRPC endpoint (`server_url`) with the
    /// producer library's delivery, which resends the same bytes until the server stored them.
    pub fn start_through(
        registry: &Registry,
        server_url: &str,
        topic: &str,
        count: i64,
        streams: i64,
        rate: u64,
    ) -> Generator {
        let mut cmd = Command::new(binary("sink-worker"));
        cmd.args([
            "gen",
            "--topic",
            topic,
            "--type",
            "billing.member_active",
            "--server",
            server_url,
        ])
        .args(["--count", &count.to_string(), "--streams", &streams.to_string()])
        .args(["--rate", &rate.to_string()])
        .env("SINK_WORKER_REGISTRY__URL", &registry.url)
        .env("SINK_WORKER_KEYS__DEFAULT", GEN_KEY)
        .env("RUST_LOG", "warn");
        Generator {
            started: Instant::now(),
            thread: std::thread::spawn(move || cmd.output().expect("run sink-worker gen")),
        }
    }

    /// Panics unless the generator is still producing: an outage after it finished tests nothing.
    pub fn assert_running(&self, during: &str) {
        assert!(
            !self.thread.is_finished(),
            "gen finished before {during}; the fault must happen under load (lower the rate)"
        );
    }

    /// Waits for the generator and asserts it delivered everything; returns how long it ran and how
    /// many lines it logged at warn or error level (librdkafka's complaints during an outage).
    pub fn finish(self) -> (Duration, usize) {
        let out = tokio::task::block_in_place(|| self.thread.join()).expect("gen thread");
        let elapsed = self.started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "gen failed ({}): {stderr}", out.status);
        let complaints = stderr
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .count();
        (elapsed, complaints)
    }
}

/// The signing secret of the key `default` that [`Generator`] uses.
pub const GEN_KEY: &str = "s3cret";

/// The store config of a bucket on the local S3 server.
pub fn s3_store(bucket: &str) -> sink_worker::config::storage::StoreConfig {
    let (access, secret) = s3_credentials();
    let mut c = sink_worker::config::storage::S3Config::new(bucket);
    c.endpoint = Some(s3_endpoint());
    c.access_key_id = access;
    c.secret_access_key = secret;
    sink_worker::config::storage::StoreConfig::S3(c)
}

/// Reads `topic` from the start with `read_committed` until `expected` records arrived or `secs`
/// passed, and returns each record's (type, host, pid, offset) decoded from its envelope.
pub fn routed_uids(topic: &str, expected: usize, secs: u64) -> Vec<(String, String, i32, i64)> {
    routed_uids_on(&kafka_brokers(), topic, expected, secs)
}

/// [`routed_uids`] of a topic on `brokers` instead of the shared Kafka.
pub fn routed_uids_on(brokers: &str, topic: &str, expected: usize, secs: u64) -> Vec<(String, String, i32, i64)> {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("routed-reader"))
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    // Read a little past `expected` so duplicates would show.
    let mut quiet_until = None;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let value = m.payload().unwrap_or_default();
                let (_, e) = murron_wire::envelope::decode(value).expect("routed record is an envelope");
                assert_eq!(m.key(), Some(format!("{}:{}", e.host, e.pid).as_bytes()));
                out.push((e.event_type.to_owned(), e.host.to_owned(), e.pid, e.offset));
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
        if out.len() >= expected {
            let until = *quiet_until.get_or_insert_with(|| Instant::now() + Duration::from_secs(2));
            if Instant::now() >= until {
                break;
            }
        }
    }
    out
}

/// Creates `topic` with `partitions` partitions on the local Kafka unless it exists.
pub async fn create_topic(topic: &str, partitions: i32) {
    let kafka = sink_worker::config::KafkaConfig {
        brokers: kafka_brokers(),
        ..Default::default()
    };
    murron_connect::kafka::ensure_topic(&kafka, topic, partitions)
        .await
        .expect("create topic");
}
