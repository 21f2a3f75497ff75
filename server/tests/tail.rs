//! `murron-server tail` as a process, against the real local Kafka (deploy/local/stack.sh), a schema
//! registry of its own and a real murron-server. A followed file is rotated and truncated, the tail
//! stopped with SIGTERM and restarted on its spool, or SIGKILLed mid-file and restarted; every line
//! arrives exactly once, in order, as a signed envelope whose `murron.LogLine` datum decodes
//! (apache-avro) to the line. stdin mode sends straight to Kafka, in both formats. A missing service
//! fails the test, never skips it. Needs the `schema-registry` binary in the target directory
//! (`cargo build -p schema-registry`).

// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use murron_connect::kafka::{KafkaConfig, consumer_config, ensure_topic};
use murron_connect::registry::{RegistryClient, RegistryConfig};
use murron_wire::check::EnvelopeChecks;
use murron_wire::envelope::KeyRing;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

const SECRET: &str = "tail-s3cret";
const LOG_LINE: &str = include_str!("../../schemas/murron/LogLine.avsc");

fn kafka() -> KafkaConfig {
    KafkaConfig {
        brokers: std::env::var("MURRON_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        properties: BTreeMap::new(),
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A binary in `$MURRON_BIN_DIR` when set, else next to the test executables (`cargo build -p <package>`).
fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("MURRON_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()
            .unwrap()
            .parent()
            .and_then(|deps| deps.parent())
            .unwrap()
            .to_path_buf(),
    };
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing: build it first", path.display());
    path
}

/// A child process killed when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    /// SIGTERM, then its exit status and stdout.
    fn terminate(self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait()
    }

    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the process did not stop within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        if let Some(mut stdout) = self.0.stdout.take() {
            std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        }
        (status, out)
    }
}

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A schema-registry process on its own port and database.
struct Registry {
    config: RegistryConfig,
    _child: ChildGuard,
}

impl Registry {
    async fn start() -> Registry {
        let admin_url = std::env::var("MURRON_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://murron:murron@127.0.0.1:5433/murron".into());
        let name = unique("tail").replace('-', "_");
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {admin_url}: {e}"));
        // The name is ours (letters, digits, underscores).
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let port = free_port();
        let child = ChildGuard(
            Command::new(binary("schema-registry"))
                .env("SCHEMA_REGISTRY_SERVER__LISTEN", format!("127.0.0.1:{port}"))
                .env("SCHEMA_REGISTRY_DATABASE__URL", format!("{base}/{name}"))
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let config = RegistryConfig {
            url: format!("http://127.0.0.1:{port}"),
            timeout_ms: 5_000,
            ..RegistryConfig::default()
        };
        let client = RegistryClient::new(&config).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        // Any answer (a 404 for an unknown subject) means it serves.
        while matches!(client.latest("probe").await, Err(e) if e.is_retryable()) {
            assert!(Instant::now() < deadline, "schema-registry did not start within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Registry { config, _child: child }
    }
}

/// A murron-server process routing every type to `topic`; returns it and its gRPC URL.
async fn start_server(dir: &Path, topic: &str) -> (ChildGuard, String) {
    let (grpc, http) = (free_port(), free_port());
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ngrpc_listen = \"127.0.0.1:{grpc}\"\nhttp_listen = \"127.0.0.1:{http}\"\n\
             [kafka]\nbrokers = \"{}\"\n[[pipelines]]\nname = \"all\"\ndefault = true\ntopic = \"{topic}\"\n",
            kafka().brokers
        ),
    )
    .unwrap();
    let child = ChildGuard(
        Command::new(binary("murron-server"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("MURRON_SERVER_KEYS__DEFAULT", SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = format!("http://127.0.0.1:{http}/readyz");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(&ready).await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "murron-server was not ready within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, format!("http://127.0.0.1:{grpc}"))
}

/// `murron-server tail` with the signing key in the environment, as the server has it.
fn tail(registry: &Registry, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary("murron-server"));
    cmd.arg("tail")
        .args(["--registry", &registry.config.url])
        .args(args)
        .env("MURRON_SERVER_KEYS__DEFAULT", SECRET)
        .env("RUST_LOG", "info")
        .env_remove("MURRON_SERVER_CONFIG")
        .stdout(Stdio::piped());
    cmd
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Waits until the tail's saved position is the end of `path`: it has read every line there.
fn wait_read(spool: &Path, path: &Path) {
    use std::os::unix::fs::MetadataExt as _;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let meta = std::fs::metadata(path).unwrap();
        if let Ok(text) = std::fs::read(spool.join("tail.state")) {
            let state: serde_json::Value = serde_json::from_slice(&text).unwrap();
            if state["file"]["ino"] == meta.ino() && state["position"] == meta.len() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the tail did not read {} within 60 s",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One event read back: its stream, offset and payload datum, with its signature checked.
#[derive(Debug)]
struct Event {
    stream: (String, String, i32),
    offset: i64,
    schema_id: u32,
    datum: Vec<u8>,
    /// The whole record value: a resent copy is the same bytes, so the same UID.
    value: Vec<u8>,
}

/// Reads `topic` until `expected` records came (and 2 s more, to see duplicates), checking each
/// envelope's signature with the key the tail was given.
fn read_events(topic: &str, expected: usize) -> Vec<Event> {
    let consumer: BaseConsumer = consumer_config(&kafka())
        .set("group.id", unique("tail-test"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut checks = EnvelopeChecks::new(
        KeyRing::new([("default".to_string(), SECRET.as_bytes().to_vec())]),
        1 << 20,
        3600,
    );
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|s| Instant::now() < s) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let value = m.payload().unwrap();
                let env = murron_wire::check::decode(value).unwrap();
                let (schema_id, datum) = checks
                    .verify(value.len(), &env)
                    .unwrap_or_else(|r| panic!("offset {}: {r}", env.offset));
                assert_eq!(m.key().unwrap(), format!("{}:{}", env.host, env.pid).as_bytes());
                out.push(Event {
                    stream: (env.event_type.to_string(), env.host.to_string(), env.pid),
                    offset: env.offset,
                    schema_id,
                    datum: datum.to_vec(),
                    value: value.to_vec(),
                });
            }
            Some(Err(e)) => panic!("consuming {topic}: {e}"),
            None => {}
        }
        if out.len() >= expected && settle.is_none() {
            settle = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    out
}

/// The LogLine datums of `events`, decoded with apache-avro: `(line, source)` in offset order, after
/// checking they form one stream with offsets 0..n. An offset found twice must be the same record
/// (a resend after a crash: the same UID, which the sink stores once).
fn log_lines(events: &[Event], schema_id: u32) -> Vec<(String, String)> {
    let schema = Schema::parse_str(LOG_LINE).unwrap();
    let reader = GenericDatumReader::builder(&schema).build().unwrap();
    let streams: std::collections::BTreeSet<_> = events.iter().map(|e| &e.stream).collect();
    assert_eq!(streams.len(), 1, "{streams:?}");
    let mut by_offset = BTreeMap::new();
    for e in events {
        assert_eq!(e.schema_id, schema_id);
        let mut datum = e.datum.as_slice();
        let Value::Record(fields) = reader.read_value(&mut datum).unwrap() else {
            panic!("not a record")
        };
        assert!(datum.is_empty(), "bytes after the datum");
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        let line = (text(&fields[0].1), text(&fields[1].1));
        match by_offset.entry(e.offset) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert((line, &e.value));
            }
            std::collections::btree_map::Entry::Occupied(o) => {
                assert_eq!(o.get().1, &e.value, "offset {} twice with different records", e.offset);
            }
        }
    }
    assert_eq!(
        by_offset.keys().copied().collect::<Vec<_>>(),
        (0..by_offset.len() as i64).collect::<Vec<_>>()
    );
    by_offset.into_values().map(|(line, _)| line).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_file_rotated_and_restarted_arrives_once_in_order_through_the_server() {
    let registry = Registry::start().await;
    let topic = unique("tail-file");
    ensure_topic(&kafka(), &topic, 3)
        .await
        .unwrap_or_else(|e| panic!("Kafka is not reachable ({e}): start the local stack"));
    let dir = TempDir::new("murron-tail");
    let (_server, url) = start_server(&dir.0, &topic).await;
    let log = dir.0.join("app.log");
    let spool = dir.0.join("spool");
    let log_arg = log.to_str().unwrap();
    let spool_arg = spool.to_str().unwrap();
    let args = [
        "--type", "app.log", "--file", log_arg, "--server", &url, "--spool", spool_arg, "--host", "tail-1",
    ];
    // Lines from before the tail started are not sent: it starts at the end.
    append(&log, "old-0\nold-1\n");
    let first = ChildGuard(tail(&registry, &args).spawn().unwrap());
    wait_read(&spool, &log);

    let mut expected = Vec::new();
    for i in 0..300 {
        expected.push(format!("a-{i}"));
    }
    append(
        &log,
        &expected[..150].iter().map(|l| format!("{l}\n")).collect::<String>(),
    );
    // A line written in two parts, and a CRLF line.
    append(&log, &format!("{}\n{}", expected[150], &expected[151][..2]));
    // Read with its partial last line held (its saved position stays at that line's start).
    std::thread::sleep(Duration::from_millis(600));
    append(&log, &format!("{}\r\n", &expected[151][2..]));
    append(
        &log,
        &expected[152..].iter().map(|l| format!("{l}\n")).collect::<String>(),
    );
    wait_read(&spool, &log);

    // Rotation: renamed, written on under its new name (the tail keeps reading it while no new file
    // is there), its last line without a newline, then a new file.
    let rotated = dir.0.join("app.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    append(&rotated, "late-0\nlate-last");
    expected.extend(["late-0".to_string(), "late-last".to_string()]);
    std::thread::sleep(Duration::from_millis(800));
    for i in 0..200 {
        expected.push(format!("b-{i}"));
    }
    append(
        &log,
        &expected[expected.len() - 200..]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    wait_read(&spool, &log);

    // Truncated in place (copytruncate): read again from the start.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    for i in 0..20 {
        expected.push(format!("t-{i}"));
    }
    append(
        &log,
        &expected[expected.len() - 20..]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    wait_read(&spool, &log);
    let (status, summary) = first.terminate();
    assert!(status.success(), "{status}: {summary}");
    assert!(summary.contains(&format!("{} lines read", expected.len())), "{summary}");
    assert!(summary.contains("0 refused, 0 pending"), "{summary}");

    // Lines written while it was stopped are sent by the restart, and none twice.
    for i in 0..50 {
        expected.push(format!("c-{i}"));
    }
    append(
        &log,
        &expected[expected.len() - 50..]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    let second = ChildGuard(tail(&registry, &args).spawn().unwrap());
    wait_read(&spool, &log);
    let (status, summary) = second.terminate();
    assert!(status.success(), "{status}: {summary}");
    assert!(summary.contains("50 lines read, 50 sent, 50 acked"), "{summary}");

    let schema_id = RegistryClient::new(&registry.config)
        .unwrap()
        .latest("app.log")
        .await
        .unwrap()
        .id;
    let events = read_events(&topic, expected.len());
    let lines = log_lines(&events, schema_id);
    let texts: Vec<&str> = lines.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(texts, expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(lines.iter().all(|(_, source)| source == log_arg), "{:?}", lines[0]);
    assert_eq!(events[0].stream.1, "tail-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_lines_go_straight_to_kafka_and_json_lines_that_are_not_json_are_counted() {
    let registry = Registry::start().await;
    let topic = unique("tail-stdin");
    ensure_topic(&kafka(), &topic, 2)
        .await
        .unwrap_or_else(|e| panic!("Kafka is not reachable ({e}): start the local stack"));
    let run = |args: &[&str], input: &str| {
        let mut child = ChildGuard(tail(&registry, args).stdin(Stdio::piped()).spawn().unwrap());
        let mut stdin = child.0.stdin.take().unwrap();
        // A tail that refused to start may have closed its stdin: its status says so.
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        child.wait()
    };
    let brokers = kafka().brokers;

    // Avro LogLines; the last line has no newline and is sent at the end of the input.
    let (status, summary) = run(
        &["--type", "app.stdin", "--kafka", &brokers, "--topic", &topic, "-"],
        "one\r\ntwo\n\nthree",
    );
    assert!(status.success(), "{status}: {summary}");
    assert!(
        summary.contains("4 lines read, 4 sent, 4 acked, 0 refused"),
        "{summary}"
    );
    let client = RegistryClient::new(&registry.config).unwrap();
    let events = read_events(&topic, 4);
    let lines = log_lines(&events, client.latest("app.stdin").await.unwrap().id);
    assert_eq!(
        lines,
        ["one", "two", "", "three"].map(|l| (l.to_string(), "stdin".to_string()))
    );

    // JSON text of a JSON Schema type; the line that is not JSON is skipped and counted.
    let json_topic = unique("tail-json");
    ensure_topic(&kafka(), &json_topic, 1).await.unwrap();
    let id = client
        .register_typed("app.json", r#"{"type":"object"}"#, Some("JSON"))
        .await
        .unwrap();
    let (status, summary) = run(
        &[
            "--type",
            "app.json",
            "--format",
            "json",
            "--kafka",
            &brokers,
            "--topic",
            &json_topic,
            "--file",
            "-",
        ],
        "{\"a\":1}\nnot json\n{\"b\":2}\n",
    );
    assert!(status.success(), "{status}: {summary}");
    assert!(summary.contains("3 lines read, 2 sent, 2 acked"), "{summary}");
    assert!(summary.contains("1 not JSON (skipped)"), "{summary}");
    let mut events = read_events(&json_topic, 2);
    events.sort_by_key(|e| e.offset);
    assert!(events.iter().all(|e| e.schema_id == id));
    let datums: Vec<&[u8]> = events.iter().map(|e| e.datum.as_slice()).collect();
    assert_eq!(datums, [&b"{\"a\":1}"[..], b"{\"b\":2}"]);

    // A type whose schema is not LogLine is refused at start, naming the reason.
    let (status, _) = run(
        &["--type", "app.json", "--kafka", &brokers, "--topic", &json_topic, "-"],
        "x\n",
    );
    assert!(!status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_killed_mid_file_resumes_from_its_spool_without_a_line_twice_or_missing() {
    let registry = Registry::start().await;
    let topic = unique("tail-kill");
    ensure_topic(&kafka(), &topic, 2)
        .await
        .unwrap_or_else(|e| panic!("Kafka is not reachable ({e}): start the local stack"));
    let dir = TempDir::new("murron-tail-kill");
    let log = dir.0.join("app.log");
    let spool = dir.0.join("spool");
    let expected: Vec<String> = (0..100_000)
        .map(|i| format!("line {i} of a file read in one go"))
        .collect();
    append(&log, &expected.iter().map(|l| format!("{l}\n")).collect::<String>());
    let len = std::fs::metadata(&log).unwrap().len();
    let brokers = kafka().brokers;
    let args = [
        "--type",
        "app.kill",
        "--file",
        log.to_str().unwrap(),
        "--from-start",
        "--kafka",
        &brokers,
        "--topic",
        &topic,
        "--spool",
        spool.to_str().unwrap(),
    ];

    // Killed while reading, at several points between two position saves (250 ms apart): the events
    // spooled after the last save are in the spool only, and each restart must skip exactly those.
    let saved = || {
        std::fs::read(spool.join("tail.state"))
            .ok()
            .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
            .and_then(|s| s["position"].as_u64())
            .unwrap_or(0)
    };
    let stderr = dir.0.join("tail.stderr");
    let log_file = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr)
            .unwrap()
    };
    for delay_ms in [40, 120, 200] {
        let before = saved();
        let mut killed = ChildGuard(tail(&registry, &args).stderr(log_file()).spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(60);
        while saved() <= before {
            assert!(Instant::now() < deadline, "the tail made no progress within 60 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        assert!(saved() < len, "the tail read the whole file before it could be killed");
        killed.0.kill().unwrap();
        killed.0.wait().unwrap();
    }
    let last = ChildGuard(tail(&registry, &args).stderr(log_file()).spawn().unwrap());
    wait_read(&spool, &log);
    let (status, summary) = last.terminate();
    assert!(status.success(), "{status}: {summary}");
    assert!(summary.contains("0 refused, 0 pending"), "{summary}");
    let logged = std::fs::read_to_string(&stderr).unwrap();
    for resumed in logged.lines().filter(|l| l.contains("resuming")) {
        eprintln!("{resumed}");
    }

    let schema_id = RegistryClient::new(&registry.config)
        .unwrap()
        .latest("app.kill")
        .await
        .unwrap()
        .id;
    let lines = log_lines(&read_events(&topic, expected.len()), schema_id);
    assert_eq!(lines.len(), expected.len(), "{summary}");
    assert!(
        lines.iter().map(|(l, _)| l).eq(expected.iter()),
        "the lines differ from the file's"
    );
}
