//! `murron-server tail`, the adaptor: follows a file (or reads stdin) and sends each line as a signed
//! event of one type with murron-producer, to murron-server over gRPC or straight to Kafka
//! (docs/INGESTION.md, "The adaptor").
//!
//! ```text
//! file ─ follow (rotation, truncation) ─ lines (CRLF, partial last line) ─ payload ─ Producer ─> server | Kafka
//!                                                  └─ position + offset ─> spool/tail.state
//! ```
//!
//! - `--format line`: each line becomes a `murron.LogLine {line, source}` Avro datum. The frame must
//!   name the schema the datum was written with, so LogLine is registered under the type (idempotent:
//!   the registry returns the id it already has). A type whose latest schema is something else is
//!   refused at start rather than given a second, unrelated version.
//! - `--format json`: each line is sent as JSON text, framed with the type's latest schema, which
//!   must be a JSON Schema. A line that is not one JSON value is reported, counted and skipped.
//! - **Guarantee.** Every line read is sent at least once; each event keeps its UID across retries, so
//!   the sink stores each line once. With `--spool`, a restart continues where the last run stopped:
//!   events not yet acknowledged are resent from the spool, and [`state`] tells which lines were
//!   already turned into events, so none is read twice into a second event and none is skipped
//!   (exactly once downstream, by UID). Without a spool, a stop loses what was not acknowledged
//!   within the close timeout (an error), and a restart starts at the end of the file again.

pub mod follow;
pub mod lines;
pub mod state;

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use murron_connect::kafka::KafkaConfig;
use murron_connect::registry::{RegistryClient, RegistryConfig, RegistryError};
use murron_producer::transport::grpc::ServerConfig;
use murron_producer::{
    EventType, FlushReport, Fsync, KeyRing, Producer, ProducerError, SchemaRef, SpoolConfig, Topics,
};

use follow::{Change, Opened};
use lines::Lines;
use state::State;

/// The Avro schema of `--format line` payloads.
pub const LOG_LINE_SCHEMA: &str = include_str!("../../schemas/murron/LogLine.avsc");

/// How often the file is looked at once it has been read to its end.
const POLL: Duration = Duration::from_millis(250);
/// How often progress is logged.
const PROGRESS: Duration = Duration::from_secs(10);
/// How long the producer gets to deliver what was read, at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes read at a time; the lines of one read are sent as one batch.
const READ_CHUNK: usize = 64 << 10;
/// Invalid JSON lines logged one by one before only the counts are.
const INVALID_LOGGED: u64 = 10;

/// How a line becomes a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An Avro `murron.LogLine {line, source}` (schemas/murron/LogLine.avsc).
    Line,
    /// The line as JSON text, of the type's JSON Schema.
    Json,
}

/// `murron-server tail`: its command line. Debug shows the secrets as `<redacted>`.
#[derive(Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["file", "stdin"])))]
#[command(group(clap::ArgGroup::new("to").required(true).args(["server", "kafka"])))]
pub struct TailArgs {
    /// The event type of every line; also its payload schema's registry subject.
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: String,
    /// The file to follow, by name, across rotation (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Read stdin until it ends.
    #[arg(value_name = "-", value_parser = ["-"])]
    pub stdin: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Line)]
    pub format: Format,
    /// Start at the beginning of the file instead of its end (when no spool state says where).
    #[arg(long)]
    pub from_start: bool,
    /// murron-server's gRPC address (`http://host:9480`, or `https://` when it serves TLS); it
    /// routes by type.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// The bearer token for murron-server.
    #[arg(long, env = "MURRON_SERVER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the CA that signed murron-server's certificate (with an `https://` --server): only
    /// it is trusted; without it, the system's roots are.
    #[arg(long, value_name = "FILE", requires = "server")]
    pub server_ca_file: Option<PathBuf>,
    /// Kafka brokers: send straight to Kafka, to `--topic` (`[kafka]` properties of --config apply).
    #[arg(long, value_name = "BROKERS", requires = "topic")]
    pub kafka: Option<String>,
    /// The Kafka topic of every event, with `--kafka`.
    #[arg(long, requires = "kafka")]
    pub topic: Option<String>,
    /// The schema registry.
    #[arg(
        long,
        value_name = "URL",
        env = "MURRON_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub registry: String,
    /// The registry's bearer token.
    #[arg(long, value_name = "TOKEN", env = "MURRON_REGISTRY_TOKEN", hide_env_values = true)]
    pub registry_token: Option<String>,
    /// Basic auth user for the registry, with `--registry-password` (instead of a token).
    #[arg(
        long,
        value_name = "USER",
        env = "MURRON_REGISTRY_USERNAME",
        requires = "registry_password"
    )]
    pub registry_username: Option<String>,
    /// Basic auth password for the registry; set it from the environment.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "MURRON_REGISTRY_PASSWORD",
        hide_env_values = true
    )]
    pub registry_password: Option<String>,
    /// PEM file of the CA certificates to trust for an `https://` registry instead of the system's.
    #[arg(long, value_name = "FILE", env = "MURRON_REGISTRY_CA_FILE")]
    pub registry_ca_file: Option<PathBuf>,
    /// Keep unacknowledged events, the stream's offsets and the file position here across restarts.
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// The signing key's id (its secret: `MURRON_SERVER_KEYS__<ID>` or `[keys]` of --config).
    #[arg(long, default_value = "default")]
    pub key_id: String,
    /// The envelopes' host. Default: `$HOSTNAME`, then the kernel's host name.
    #[arg(long)]
    pub host: Option<String>,
    /// Longer lines are cut to this many bytes (and counted).
    #[arg(long, default_value_t = 256 << 10)]
    pub max_line_bytes: usize,
}

impl fmt::Debug for TailArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("TailArgs")
            .field("event_type", &self.event_type)
            .field("file", &self.file)
            .field("stdin", &self.stdin)
            .field("format", &self.format)
            .field("from_start", &self.from_start)
            .field("server", &self.server)
            .field("token", &redacted(&self.token))
            .field("server_ca_file", &self.server_ca_file)
            .field("kafka", &self.kafka)
            .field("topic", &self.topic)
            .field("registry", &self.registry)
            .field("registry_token", &redacted(&self.registry_token))
            .field("registry_username", &self.registry_username)
            .field("registry_password", &redacted(&self.registry_password))
            .field("registry_ca_file", &self.registry_ca_file)
            .field("spool", &self.spool)
            .field("key_id", &self.key_id)
            .field("host", &self.host)
            .field("max_line_bytes", &self.max_line_bytes)
            .finish()
    }
}

impl TailArgs {
    /// The followed file, or `None` for stdin.
    fn path(&self) -> Option<&Path> {
        self.file.as_deref().filter(|p| p.as_os_str() != "-")
    }
}

/// Why `tail` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error(transparent)]
    Producer(#[from] ProducerError),
    #[error("schema registry: {0}")]
    Registry(#[from] RegistryError),
    #[error("type {event_type}: {reason}")]
    Schema { event_type: String, reason: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// The producer closed with events undelivered and no spool to keep them.
    #[error("{0}: events were not delivered and there is no spool to keep them")]
    Unsent(Box<Summary>),
}

fn io(what: impl fmt::Display) -> impl FnOnce(std::io::Error) -> TailError {
    let what = what.to_string();
    move |source| TailError::Io { what, source }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub event_type: String,
    /// Complete lines read.
    pub read: u64,
    /// Events handed to the producer.
    pub sent: u64,
    pub acked: u64,
    pub refused: u64,
    /// Lines that were not JSON (`--format json`), skipped.
    pub invalid: u64,
    /// Lines cut to `--max-line-bytes`.
    pub cut: u64,
    /// Lines whose invalid UTF-8 was replaced (`--format line`).
    pub lossy: u64,
    /// Events a previous run had already sent (spool), not sent again.
    pub resumed: u64,
    /// Events neither acknowledged nor refused at the end (kept in the spool, if any).
    pub pending: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tail {}: {} lines read, {} sent, {} acked, {} refused, {} pending, {} not JSON (skipped), \
             {} cut, {} with invalid UTF-8, {} already sent by the previous run",
            self.event_type,
            self.read,
            self.sent,
            self.acked,
            self.refused,
            self.pending,
            self.invalid,
            self.cut,
            self.lossy,
            self.resumed
        )
    }
}

impl Summary {
    fn add(&mut self, report: FlushReport) {
        self.acked += report.acked;
        self.refused += report.refused.len() as u64;
        self.pending = report.pending;
    }
}

/// Runs the adaptor until the input ends (stdin) or `shutdown` resolves; then sends what was read,
/// closes the producer and returns what it did. `keys` holds the signing key; `kafka` gives the
/// librdkafka properties for `--kafka`.
pub async fn run(
    args: TailArgs,
    keys: KeyRing,
    kafka: KafkaConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, TailError> {
    let registry_config = RegistryConfig {
        url: args.registry.clone(),
        timeout_ms: 10_000,
        token: args.registry_token.clone(),
        username: args.registry_username.clone(),
        password: args.registry_password.clone(),
        ca_file: args.registry_ca_file.clone(),
    };
    let schema = payload_schema(&RegistryClient::new(&registry_config)?, &args.event_type, args.format).await?;
    let mut builder = Producer::builder()
        .registry(registry_config)
        .keys(keys)
        .key_id(args.key_id.clone());
    if let Some(host) = &args.host {
        builder = builder.host(host.clone());
    }
    builder = match &args.spool {
        // Synced before `send_batch` returns, and so before the position that follows is saved: the
        // saved position is never ahead of the spool, even after an OS crash. One sync per read chunk.
        Some(dir) => builder.spool(SpoolConfig {
            fsync: Fsync::Always,
            ..SpoolConfig::new(dir)
        }),
        // A restart without a spool must not reuse the offsets of the same pid from 0.
        None => builder.random_pid(),
    };
    builder = match (&args.server, &args.kafka, &args.topic) {
        (Some(url), _, _) => {
            let mut server = ServerConfig::new(url.clone());
            server.token = args.token.clone();
            server.ca_file = args.server_ca_file.clone();
            builder.server(server)
        }
        (None, Some(brokers), Some(topic)) => builder.kafka(
            KafkaConfig {
                brokers: brokers.clone(),
                properties: kafka.properties,
            },
            Topics::Fixed(topic.clone()),
        ),
        _ => {
            return Err(
                ProducerError::Config("give --server URL, or --kafka BROKERS with --topic TOPIC".into()).into(),
            );
        }
    };
    let producer = builder.build().await?;
    let ty = producer.event_type(&args.event_type, schema).await?;
    let (host, pid) = producer.identity();
    tracing::info!(event_type = %args.event_type, host, pid, format = ?args.format,
        input = %args.path().map_or("stdin".into(), |p| p.display().to_string()), "tail started");

    let mut tail = Tail::new(&args, producer.clone(), ty);
    let shutdown = std::pin::pin!(shutdown);
    let result = match args.path() {
        Some(path) => tail.follow(path, &args, shutdown).await,
        None => tail.stdin(shutdown).await,
    };
    // Whatever stopped the reading, what was sent gets its chance to be delivered.
    let closed = producer.close(CLOSE_TIMEOUT).await;
    let mut summary = tail.summary;
    match closed {
        Ok(report) => summary.add(report),
        Err(ProducerError::Unsent(report)) => {
            summary.add(*report);
            tracing::error!(%summary, "tail stopped with events undelivered");
            return Err(TailError::Unsent(Box::new(summary)));
        }
        Err(e) => return Err(e.into()),
    }
    result?;
    tracing::info!(%summary, "tail stopped");
    Ok(summary)
}

/// The payload schema for `format` under `event_type`; see the module doc for the choice.
async fn payload_schema(registry: &RegistryClient, event_type: &str, format: Format) -> Result<SchemaRef, TailError> {
    let latest = match registry.latest(event_type).await {
        Ok(v) => Some(v),
        Err(RegistryError::Api { status: 404, .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let refuse = |reason: String| TailError::Schema {
        event_type: event_type.to_string(),
        reason,
    };
    match format {
        Format::Line => {
            if let Some(v) = &latest
                && !is_log_line(v.schema_type.as_deref(), &v.schema)
            {
                return Err(refuse(format!(
                    "its latest schema (version {}, id {}) is not murron.LogLine; --format line sends LogLine \
                     datums: give the log a type of its own",
                    v.version, v.id
                )));
            }
            Ok(SchemaRef::Register {
                text: LOG_LINE_SCHEMA.to_string(),
                schema_type: None,
            })
        }
        Format::Json => match latest {
            Some(v) if v.schema_type.as_deref() == Some("JSON") => Ok(SchemaRef::Id(v.id)),
            Some(v) => Err(refuse(format!(
                "--format json needs a JSON Schema, and its latest schema (id {}) is {}",
                v.id,
                v.schema_type.as_deref().unwrap_or("AVRO")
            ))),
            None => Err(refuse(
                "--format json needs a JSON Schema registered under the type; it has no schema".into(),
            )),
        },
    }
}

/// Whether a registered schema is an Avro record named `murron.LogLine`.
fn is_log_line(schema_type: Option<&str>, text: &str) -> bool {
    if !matches!(schema_type, None | Some("AVRO")) {
        return false;
    }
    let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    let name = o.get("name").and_then(|v| v.as_str()).unwrap_or("");
    let namespace = o.get("namespace").and_then(|v| v.as_str()).unwrap_or("");
    name == "murron.LogLine" || (name == "LogLine" && namespace == "murron")
}

/// The reading side: lines to payloads to batches, the counts, and the position.
struct Tail {
    producer: Producer,
    ty: EventType,
    lines: Lines,
    batch: Batch,
    summary: Summary,
    /// Where positions are kept: the spool directory, for a followed file.
    state_dir: Option<PathBuf>,
    /// The offset of the next event read (skipped ones included).
    next: i64,
    /// Events still to skip: a previous run sent them.
    skip: u64,
    state_written: Instant,
    progress_logged: Instant,
}

/// The payloads of the lines read since the last send.
struct Batch {
    format: Format,
    source: String,
    datums: Vec<Vec<u8>>,
    /// Counts of what the lines were; moved into the summary at each send.
    read: u64,
    invalid: u64,
    lossy: u64,
    /// Line number in this run of the latest line, for reports.
    line_no: u64,
    invalid_logged: u64,
}

impl Batch {
    /// One complete line: the hot path, no logging beyond the first invalid lines.
    fn take(&mut self, line: &[u8]) {
        self.read += 1;
        self.line_no += 1;
        match self.format {
            Format::Line => {
                let mut datum = Vec::with_capacity(line.len() + self.source.len() + 8);
                if lines::log_line_datum(line, &self.source, &mut datum) {
                    self.lossy += 1;
                }
                self.datums.push(datum);
            }
            Format::Json if lines::is_json(line) => self.datums.push(line.to_vec()),
            Format::Json => {
                self.invalid += 1;
                if self.invalid_logged < INVALID_LOGGED {
                    self.invalid_logged += 1;
                    let shown = String::from_utf8_lossy(&line[..line.len().min(200)]);
                    tracing::warn!(line = self.line_no, text = %shown,
                        "not a JSON value: skipped (counted; only the first {INVALID_LOGGED} are logged)");
                }
            }
        }
    }
}

impl Tail {
    fn new(args: &TailArgs, producer: Producer, ty: EventType) -> Self {
        let next = ty.next_offset();
        let path = args.path();
        Self {
            producer,
            lines: Lines::new(args.max_line_bytes),
            batch: Batch {
                format: args.format,
                source: path.map_or_else(|| "stdin".to_string(), |p| p.display().to_string()),
                datums: Vec::new(),
                read: 0,
                invalid: 0,
                lossy: 0,
                line_no: 0,
                invalid_logged: 0,
            },
            summary: Summary {
                event_type: ty.name().to_string(),
                ..Summary::default()
            },
            ty,
            state_dir: path.and(args.spool.clone()),
            next,
            skip: 0,
            state_written: Instant::now(),
            progress_logged: Instant::now(),
        }
    }

    /// Sends the batch's events (but those a previous run sent); returns false when `shutdown` came
    /// first, leaving them unsent (a spool's next run reads them again).
    async fn send(&mut self, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> Result<bool, TailError> {
        let mut datums = std::mem::take(&mut self.batch.datums);
        let skipped = (self.skip.min(datums.len() as u64)) as usize;
        self.skip -= skipped as u64;
        let count = datums.len() as i64;
        let offsets = if datums.len() > skipped {
            let batch = datums[skipped..].iter().map(Vec::as_slice);
            tokio::select! {
                biased;
                sent = self.producer.send_batch(&self.ty, batch) => sent?,
                () = shutdown => return Ok(false),
            }
        } else {
            0..0
        };
        if !offsets.is_empty() && offsets.end != self.next + count {
            // Only this tail writes the stream; a mismatch means the state and the spool disagree.
            tracing::warn!(
                expected = self.next + count,
                got = offsets.end,
                "the stream's offsets moved under the tail"
            );
        }
        self.next += count;
        let b = &mut self.batch;
        let s = &mut self.summary;
        s.read += std::mem::take(&mut b.read);
        s.invalid += std::mem::take(&mut b.invalid);
        s.lossy += std::mem::take(&mut b.lossy);
        s.sent += (offsets.end - offsets.start) as u64;
        s.resumed += skipped as u64;
        s.cut = self.lines.cut();
        datums.clear();
        self.batch.datums = datums;
        Ok(true)
    }

    /// Logs progress when it is time.
    async fn progress(&mut self) {
        if self.progress_logged.elapsed() < PROGRESS {
            return;
        }
        self.progress_logged = Instant::now();
        let report = self.producer.flush(Duration::ZERO).await;
        self.summary.add(report);
        let s = &self.summary;
        tracing::info!(
            read = s.read,
            sent = s.sent,
            acked = s.acked,
            refused = s.refused,
            pending = s.pending,
            invalid = s.invalid,
            "tail progress"
        );
    }

    /// Records the position (a line start in `file`) when due or `now`.
    fn save(&mut self, path: &Path, file: &Opened, now: bool) -> Result<(), TailError> {
        let Some(dir) = &self.state_dir else { return Ok(()) };
        if !now && self.state_written.elapsed() < POLL {
            return Ok(());
        }
        let state = State {
            version: 1,
            event_type: self.summary.event_type.clone(),
            path: path.to_path_buf(),
            file: file.id,
            position: file.pos - self.lines.held(),
            next_offset: self.next,
        };
        state
            .write(dir)
            .map_err(io(format!("writing {}", dir.join(state::FILE_NAME).display())))?;
        self.state_written = Instant::now();
        Ok(())
    }

    /// Where to start in `path`: from the spool's state if it has one for this type and path, else
    /// at the end (or the start with `--from-start`). Returns the file to read and whether it is a
    /// rotated-away file to finish before `path`.
    async fn start(&mut self, path: &Path, from_start: bool) -> Result<(Opened, bool), TailError> {
        let at_path = follow::stat(path).await.map_err(io(path.display()))?;
        let saved = match &self.state_dir {
            Some(dir) => State::read(dir).map_err(io("reading the tail state"))?,
            None => None,
        };
        let open = |p: PathBuf, pos: u64| async move { Opened::open(&p, pos).await.map_err(io(p.display())) };
        if let Some(saved) = saved.filter(|s| s.event_type == self.summary.event_type && s.path == path) {
            let resume = |tail: &mut Self| {
                let behind = saved.already_sent(tail.next);
                if behind < 0 {
                    tracing::warn!(
                        state = saved.next_offset,
                        spool = tail.next,
                        "the spool is behind the saved position (was it emptied or replaced?): continuing from the position"
                    );
                } else {
                    tail.skip = behind as u64;
                    tail.next = saved.next_offset;
                }
            };
            match at_path {
                Some((id, len)) if id == saved.file && len >= saved.position => {
                    resume(self);
                    tracing::info!(
                        position = saved.position,
                        already_sent = self.skip,
                        "resuming where the previous run stopped"
                    );
                    return Ok((open(path.to_path_buf(), saved.position).await?.0, false));
                }
                Some((id, _)) if id == saved.file => {
                    tracing::warn!(
                        position = saved.position,
                        "the file was truncated while tail was stopped: reading it from its start"
                    );
                    return Ok((open(path.to_path_buf(), 0).await?.0, false));
                }
                _ => match follow::find_rotated(path, saved.file)
                    .await
                    .map_err(io(path.display()))?
                {
                    Some(old) => {
                        resume(self);
                        tracing::info!(rotated = %old.display(), position = saved.position,
                            "the file was rotated while tail was stopped: finishing the old one first");
                        return Ok((open(old, saved.position).await?.0, true));
                    }
                    None => tracing::warn!(
                        position = saved.position,
                        "the file was rotated while tail was stopped and the old one is gone: its lines after the \
                         saved position are lost; reading the new one from its start"
                    ),
                },
            }
            return Ok((open(path.to_path_buf(), 0).await?.0, false));
        }
        let pos = if from_start { 0 } else { u64::MAX };
        // A file that does not exist yet is waited for.
        loop {
            match Opened::open(path, pos).await {
                Ok((opened, _)) => return Ok((opened, false)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::info!(path = %path.display(), "waiting for the file to appear");
                    tokio::time::sleep(POLL * 4).await;
                }
                Err(e) => return Err(io(path.display())(e)),
            }
        }
    }

    /// Follows `path` until `shutdown`.
    async fn follow(
        &mut self,
        path: &Path,
        args: &TailArgs,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(), TailError> {
        let (mut file, mut draining) = tokio::select! {
            started = self.start(path, args.from_start) => started?,
            () = &mut shutdown => return Ok(()),
        };
        self.save(path, &file, true)?;
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = file.read(&mut buf).await.map_err(io(path.display()))?;
            if n > 0 {
                self.lines.push(&buf[..n], |line| self.batch.take(line));
                if !self.send(&mut shutdown).await? {
                    return Ok(());
                }
                self.save(path, &file, false)?;
                self.progress().await;
                continue;
            }
            let change = if draining {
                Change::Replaced
            } else {
                follow::change(file.id, file.pos, follow::stat(path).await.map_err(io(path.display()))?)
            };
            match change {
                Change::Same | Change::Missing => {
                    self.save(path, &file, true)?;
                    self.progress().await;
                    tokio::select! {
                        () = tokio::time::sleep(POLL) => {}
                        () = &mut shutdown => break,
                    }
                }
                Change::Truncated => {
                    tracing::warn!(path = %path.display(), read = file.pos, "the file was truncated: reading it from its start");
                    if !self.finish(&mut shutdown).await? {
                        return Ok(());
                    }
                    file.rewind().await.map_err(io(path.display()))?;
                    self.save(path, &file, true)?;
                }
                Change::Replaced => {
                    // Read what was written to the old file since the last read, then leave it.
                    loop {
                        let n = file.read(&mut buf).await.map_err(io(path.display()))?;
                        if n == 0 {
                            break;
                        }
                        self.lines.push(&buf[..n], |line| self.batch.take(line));
                        if !self.send(&mut shutdown).await? {
                            return Ok(());
                        }
                    }
                    if !self.finish(&mut shutdown).await? {
                        return Ok(());
                    }
                    match Opened::open(path, 0).await {
                        Ok((new, _)) => {
                            tracing::info!(path = %path.display(), "the file was rotated: reading the new one");
                            file = new;
                            draining = false;
                            self.save(path, &file, true)?;
                        }
                        // Gone again between the look and the open: look again at the next poll.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io(path.display())(e)),
                    }
                }
            }
        }
        self.save(path, &file, true)
    }

    /// Sends the held bytes as the input's last line.
    async fn finish(&mut self, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> Result<bool, TailError> {
        self.lines.finish(|line| self.batch.take(line));
        self.send(shutdown).await
    }

    /// Reads stdin until it ends or `shutdown`.
    async fn stdin(&mut self, mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>) -> Result<(), TailError> {
        use tokio::io::AsyncReadExt as _;
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = tokio::select! {
                read = stdin.read(&mut buf) => read.map_err(io("stdin"))?,
                () = &mut shutdown => return Ok(()),
            };
            if n == 0 {
                self.finish(&mut shutdown).await?;
                return Ok(());
            }
            self.lines.push(&buf[..n], |line| self.batch.take(line));
            if !self.send(&mut shutdown).await? {
                return Ok(());
            }
            self.progress().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_avro_record_named_murron_log_line_is_taken_as_log_line() {
        assert!(is_log_line(None, LOG_LINE_SCHEMA));
        assert!(is_log_line(
            Some("AVRO"),
            r#"{"type":"record","name":"murron.LogLine","fields":[]}"#
        ));
        assert!(!is_log_line(
            None,
            r#"{"type":"record","name":"LogLine","namespace":"other","fields":[]}"#
        ));
        assert!(!is_log_line(Some("JSON"), LOG_LINE_SCHEMA));
        assert!(!is_log_line(None, "\"string\""));
    }

    #[test]
    fn the_log_line_schema_has_the_two_string_fields_the_datum_writes() {
        let v: serde_json::Value = serde_json::from_str(LOG_LINE_SCHEMA).unwrap();
        let fields: Vec<(&str, &str)> = v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
            .collect();
        assert_eq!(fields, [("line", "string"), ("source", "string")]);
    }
}
