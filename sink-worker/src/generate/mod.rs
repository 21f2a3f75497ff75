//! `sink-worker gen`: produces signed envelopes of one event type, with payloads sampled from the
//! type's latest registered schema, for demos, tests and benchmarks.
//!
//! Streams are `(type, {host_prefix}-{i}, pid_base + i)`; each stream's offsets start at
//! `start_offset` and are contiguous, so every generated event has a known UID.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use murron_payload::SchemaType;
use murron_payload::sample::{SampleError, SampleSource, SplitMix64};

use bytes::Bytes;
use murron_connect::retry::backoff_delay;
use murron_producer::transport::grpc::{GrpcTransport, ServerConfig};
use murron_producer::{BufferLimits, Record, Sender};
use std::sync::Arc;

use crate::config::Config;
use crate::pipeline::payload_references;
use crate::storage::ObjectStore;
use murron_connect::kafka;
use murron_connect::registry::{RegistryClient, RegistryError};
use murron_wire::envelope::{ENVELOPE_SCHEMA, ENVELOPE_SUBJECT, KEY_TAG, NewEnvelope, SignatureError};
use murron_wire::framing::MAGIC_BYTE;
use murron_wire::hours::{self, hour_partition};
use murron_wire::ocf;

/// The widest `--spread-hours`: ten years keeps every timestamp after the epoch and in range.
const MAX_SPREAD_HOURS: u32 = 10 * 366 * 24;
/// Deliveries awaited at most at once; bounds the producer's memory.
const MAX_IN_FLIGHT: usize = 50_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub topic: String,
    pub event_type: String,
    pub count: u64,
    pub streams: u32,
    pub host_prefix: String,
    pub pid_base: i32,
    pub start_offset: i64,
    /// Signing key id; `None` signs with `default` and writes no `murron.key` tag.
    pub key_id: Option<String>,
    /// Events per second at most; `None` is as fast as Kafka takes them.
    pub rate: Option<u64>,
    pub seed: u64,
    /// Create the topic with this many partitions if it does not exist.
    pub create_partitions: Option<i32>,
    /// Also write every generated event to the archive (`[archive]`), as an upstream archiver would.
    pub archive: bool,
    /// Events to leave out of Kafka (they reach the archive only), to exercise loss and repair.
    pub loss: LossPlan,
    /// Spread the events' timestamps evenly over this many whole hours before the current one (0: the
    /// time of sending), so that a data set fills exactly that many hourly partitions.
    pub spread_hours: u32,
    /// Publish through murron-server (its gRPC URL, `https://` with a private `ca_file`, its bearer
    /// token), with the producer library's delivery (retries of the same bytes until the server
    /// stored them), instead of straight to Kafka. Debug shows the token as `<redacted>`.
    pub server: Option<ServerConfig>,
}

/// Which events of a run to withhold, all chosen up front from the seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LossPlan {
    /// This many single events at random, over all streams.
    pub random: u64,
    /// A run of this many consecutive offsets from the middle of the first stream.
    pub run: u64,
    /// The last this many offsets of the last stream: tail loss, visible only through the archive.
    pub tail: u64,
    /// A run of this many offsets of the second stream (the first if there is one) left out of both
    /// Kafka and the archive: a loss no backfill can repair.
    pub unrecoverable: u64,
}

/// What happened to one generated event, when not simply produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fate {
    /// In the archive, not in Kafka.
    Dropped,
    /// In neither.
    Lost,
}

impl LossPlan {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The withheld events as (stream index, offset) -> fate, for `per_stream` events per stream
    /// starting at `start`.
    pub fn choose(
        &self,
        streams: u32,
        per_stream: u64,
        start: i64,
        seed: u64,
    ) -> Result<std::collections::BTreeMap<(u32, i64), Fate>, GenError> {
        let wanted = self.random + self.run + self.tail + self.unrecoverable;
        if wanted > 0 && wanted * 2 > per_stream * u64::from(streams) {
            return Err(GenError::Options(format!(
                "withholding {wanted} of {} events would leave too few to notice the loss",
                per_stream * u64::from(streams)
            )));
        }
        if self.run.max(self.tail).max(self.unrecoverable) * 4 > per_stream {
            return Err(GenError::Options(format!(
                "a run, tail or unrecoverable loss must be at most a quarter of a stream ({per_stream} events)"
            )));
        }
        let mut out = std::collections::BTreeMap::new();
        let last = streams - 1;
        let lossy = if streams > 1 { 1 } else { 0 };
        let begin = start + (per_stream / 2) as i64;
        for o in 0..self.run as i64 {
            out.insert((0, begin + o), Fate::Dropped);
        }
        let end = start + per_stream as i64;
        for o in 0..self.tail as i64 {
            out.insert((last, end - 1 - o), Fate::Dropped);
        }
        let quarter = start + (per_stream / 4) as i64;
        for o in 0..self.unrecoverable as i64 {
            out.insert((lossy, quarter + o), Fate::Lost);
        }
        let mut rng = SplitMix64::new(seed ^ 0x6c6f_7373);
        let mut chosen = 0;
        while chosen < self.random {
            let key = (
                rng.below(u64::from(streams)) as u32,
                start + rng.below(per_stream) as i64,
            );
            if let std::collections::btree_map::Entry::Vacant(e) = out.entry(key) {
                e.insert(Fate::Dropped);
                chosen += 1;
            }
        }
        Ok(out)
    }
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct GenReport {
    pub produced: u64,
    pub bytes: u64,
    pub envelope_schema_id: u32,
    pub payload_schema_id: u32,
    pub payload_schema_version: i32,
    pub elapsed: Duration,
    /// Events withheld from Kafka: (host, pid, offset, fate).
    pub withheld: Vec<(String, i32, i64, Fate)>,
    /// Archive files written.
    pub archive_files: Vec<String>,
}

impl GenReport {
    /// What `sink-worker gen` prints.
    pub fn summary<'a>(&'a self, opts: &'a GenOptions) -> impl fmt::Display + 'a {
        fmt::from_fn(move |f| {
            let secs = self.elapsed.as_secs_f64().max(1e-9);
            writeln!(
                f,
                "produced {} events of {} (schema id {}, version {}; envelope schema id {}) to {} over {} streams: {:.1} MB in {:.2}s ({:.0} events/s)",
                self.produced,
                opts.event_type,
                self.payload_schema_id,
                self.payload_schema_version,
                self.envelope_schema_id,
                opts.topic,
                opts.streams,
                self.bytes as f64 / 1e6,
                secs,
                self.produced as f64 / secs,
            )?;
            if !self.withheld.is_empty() {
                let lost = self.withheld.iter().filter(|w| w.3 == Fate::Lost).count();
                writeln!(
                    f,
                    "withheld from Kafka: {} events ({} of them also kept out of the archive)",
                    self.withheld.len(),
                    lost
                )?;
            }
            for key in &self.archive_files {
                writeln!(f, "archived: {key}")?;
            }
            Ok(())
        })
    }
}

/// Why generation stopped.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("schema of {subject}: {reason}")]
    Schema { subject: String, reason: String },
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error("cannot sign: {0} (configure it as SINK_WORKER_KEYS__<ID>)")]
    Sign(#[from] SignatureError),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    KafkaUnreachable(#[from] kafka::Unreachable),
    #[error("{failed} of {total} events were not delivered; first error: {first}")]
    Undelivered { failed: u64, total: u64, first: String },
    #[error("murron-server: {0}")]
    Server(#[from] murron_producer::ProducerError),
    #[error("murron-server refused {count} of {total} events ({reasons}); first: {first}")]
    Refused {
        count: usize,
        total: u64,
        reasons: String,
        first: String,
    },
    #[error("invalid options: {0}")]
    Options(String),
    #[error("archive: {0}")]
    Archive(String),
}

/// Produces `opts.count` events; `progress` is called with the number produced so far.
pub async fn run(config: &Config, opts: &GenOptions, mut progress: impl FnMut(u64)) -> Result<GenReport, GenError> {
    if opts.streams == 0 {
        return Err(GenError::Options("--streams must be at least 1".into()));
    }
    if opts.spread_hours > MAX_SPREAD_HOURS {
        return Err(GenError::Options(format!(
            "--spread-hours must be at most {MAX_SPREAD_HOURS} (ten years)"
        )));
    }
    let keys = config.key_ring();
    let registry = RegistryClient::new(&config.registry)?;
    let envelope_schema_id = registry.register(ENVELOPE_SUBJECT, ENVELOPE_SCHEMA).await?;
    let latest = registry.latest(&opts.event_type).await?;
    let registered = registry.schema_with_subjects(latest.id).await?;
    let schema_error = |reason: String| GenError::Schema {
        subject: opts.event_type.clone(),
        reason,
    };
    let kind = SchemaType::from_request(registered.schema_type.as_deref()).map_err(|e| schema_error(e.to_string()))?;
    let referenced = payload_references(registered.referenced).map_err(schema_error)?;
    let source = SampleSource::parse(kind, &registered.text, &referenced).map_err(|e| schema_error(e.to_string()))?;

    if let Some(partitions) = opts.create_partitions {
        kafka::ensure_topic(&config.kafka, &opts.topic, partitions).await?;
    }
    let mut out = match &opts.server {
        Some(server) => Out::Server(ServerOut::connect(server).await?),
        None => {
            let producer: FutureProducer = kafka::producer_config(&config.kafka).create()?;
            let (probe, topic) = (producer.clone(), opts.topic.clone());
            kafka::check_reachable(&config.kafka, move |timeout| {
                probe.client().fetch_metadata(Some(&topic), timeout)
            })
            .await?;
            Out::Kafka(producer)
        }
    };

    let now_micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let sampler = source.sampler(now_micros)?;
    let mut rng = SplitMix64::new(opts.seed);
    let tag_storage = opts.key_id.as_ref().map(|k| [(KEY_TAG, k.as_str())]);
    let tags: &[(&str, &str)] = tag_storage.as_ref().map_or(&[], |t| &t[..]);
    let withheld = opts.loss.choose(
        opts.streams,
        opts.count / u64::from(opts.streams),
        opts.start_offset,
        opts.seed,
    )?;
    let archive_store = if opts.archive {
        Some(
            ObjectStore::open(&config.archive.store_config())
                .await
                .map_err(|e| GenError::Archive(e.to_string()))?,
        )
    } else {
        None
    };
    // (hour) -> datums, for the archive.
    let mut archived: std::collections::BTreeMap<i64, Vec<u8>> = std::collections::BTreeMap::new();
    let mut archived_counts: std::collections::BTreeMap<i64, Vec<usize>> = std::collections::BTreeMap::new();
    let streams: Vec<(String, i32, String)> = (0..opts.streams)
        .map(|i| {
            let host = format!("{}-{i}", opts.host_prefix);
            let pid = opts.pid_base.saturating_add(i as i32);
            let key = format!("{host}:{pid}");
            (host, pid, key)
        })
        .collect();

    let event_type: Arc<str> = Arc::from(opts.event_type.as_str());
    // Per stream, shared by every record of it sent to the server.
    let hosts: Vec<Arc<str>> = streams.iter().map(|(h, _, _)| Arc::from(h.as_str())).collect();
    let keys_bytes: Vec<Bytes> = streams.iter().map(|(_, _, k)| Bytes::from(k.clone())).collect();
    let started = Instant::now();
    let mut in_flight: VecDeque<DeliveryFuture> = VecDeque::with_capacity(MAX_IN_FLIGHT.min(opts.count as usize));
    let mut report = GenReport {
        envelope_schema_id,
        payload_schema_id: latest.id,
        payload_schema_version: latest.version,
        ..GenReport::default()
    };
    let mut failures = Failures::default();
    let mut message = Vec::with_capacity(256);
    let mut value = Vec::with_capacity(512);
    for n in 0..opts.count {
        let stream = (n % u64::from(opts.streams)) as usize;
        let (host, pid, key) = &streams[stream];
        let offset = opts.start_offset + (n / u64::from(opts.streams)) as i64;

        message.clear();
        message.push(MAGIC_BYTE);
        message.extend_from_slice(&latest.id.to_be_bytes());
        sampler.sample_into(&mut rng, &mut message)?;

        value.clear();
        let timestamp = if opts.spread_hours > 0 {
            // The hours before the current one, whole: exactly `spread_hours` hourly partitions.
            let now_hour = hours::hour_of_micros(now_micros);
            let start = hours::hour_start_micros(now_hour - i64::from(opts.spread_hours));
            let span = hours::hour_start_micros(now_hour) - start;
            start + (i128::from(span) * i128::from(n) / i128::from(opts.count)) as i64
        } else {
            now_micros + started.elapsed().as_micros() as i64
        };
        NewEnvelope {
            timestamp,
            host,
            event_type: &opts.event_type,
            offset,
            pid: *pid,
            message: &message,
            tags,
        }
        .encode_signed(envelope_schema_id, &keys, &mut value)?;
        let fate = withheld.get(&(stream as u32, offset)).copied();
        if archive_store.is_some() && fate != Some(Fate::Lost) {
            let hour = hours::hour_of_micros(timestamp);
            let buf = archived.entry(hour).or_default();
            archived_counts.entry(hour).or_default().push(buf.len());
            buf.extend_from_slice(&value[5..]);
        }
        if let Some(fate) = fate {
            report.withheld.push((host.clone(), *pid, offset, fate));
            continue;
        }
        report.bytes += value.len() as u64;

        match &mut out {
            Out::Kafka(producer) => {
                let mut record = FutureRecord::to(&opts.topic)
                    .key(key.as_str())
                    .payload(value.as_slice());
                loop {
                    match producer.send_result(record) {
                        Ok(delivery) => break in_flight.push_back(delivery),
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            record = back;
                            match in_flight.pop_front() {
                                Some(oldest) => failures.check(oldest.await),
                                None => tokio::time::sleep(Duration::from_millis(5)).await,
                            }
                        }
                        Err((e, _)) => return Err(e.into()),
                    }
                }
                if in_flight.len() >= MAX_IN_FLIGHT
                    && let Some(oldest) = in_flight.pop_front()
                {
                    failures.check(oldest.await);
                }
            }
            Out::Server(server) => {
                server
                    .push(Record {
                        topic: None,
                        key: keys_bytes[stream].clone(),
                        value: Bytes::copy_from_slice(&value),
                        event_type: Arc::clone(&event_type),
                        host: Arc::clone(&hosts[stream]),
                        pid: *pid,
                        offset,
                    })
                    .await?;
            }
        }
        report.produced = n + 1 - report.withheld.len() as u64;
        if report.produced.is_multiple_of(1_000) {
            progress(report.produced);
            if let Some(rate) = opts.rate.filter(|r| *r > 0) {
                let due = Duration::from_secs_f64(report.produced as f64 / rate as f64);
                if let Some(ahead) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(ahead).await;
                }
            }
        }
    }
    for delivery in in_flight {
        failures.check(delivery.await);
    }
    match out {
        Out::Kafka(producer) => producer.flush(Duration::from_secs(30))?,
        Out::Server(server) => server.finish(report.produced).await?,
    }
    if let Some(store) = &archive_store {
        for (hour, buf) in &archived {
            let starts = &archived_counts[hour];
            let datums = starts
                .iter()
                .enumerate()
                .map(|(i, &s)| &buf[s..starts.get(i + 1).copied().unwrap_or(buf.len())]);
            let mut sync = [0u8; 16];
            sync[..8].copy_from_slice(&opts.seed.to_le_bytes());
            sync[8..].copy_from_slice(&hour.to_le_bytes());
            let body = ocf::write(config.archive.codec, sync, datums).map_err(|e| GenError::Archive(e.to_string()))?;
            let key = format!(
                "{}/{}/{}/gen-{}-{now_micros}.avro",
                config.archive.prefix.trim_matches('/'),
                opts.event_type,
                hour_partition(*hour),
                opts.seed
            );
            store
                .put(&key, body)
                .await
                .map_err(|e| GenError::Archive(e.to_string()))?;
            report.archive_files.push(key);
        }
    }
    progress(report.produced);
    report.elapsed = started.elapsed();
    match failures.first {
        None => Ok(report),
        Some(first) => Err(GenError::Undelivered {
            failed: failures.count,
            total: report.produced,
            first,
        }),
    }
}

/// Where generated records go.
enum Out {
    Kafka(FutureProducer),
    Server(ServerOut),
}

/// Records to murron-server through the producer library's sender: batched, resent as the same
/// bytes until the server stored them (a server restart or a Kafka outage is waited out).
struct ServerOut {
    sender: Sender,
    batch: Vec<Record>,
    bytes: usize,
}

/// How long gen waits at the end for the server to store what it was sent.
const SERVER_DRAIN: Duration = Duration::from_secs(600);

impl ServerOut {
    async fn connect(server: &ServerConfig) -> Result<Self, GenError> {
        let transport = GrpcTransport::connect(server).await?;
        let sender = Sender::start(Arc::new(transport), BufferLimits::default(), None, backoff_delay)?;
        Ok(Self {
            sender,
            batch: Vec::with_capacity(SERVER_BATCH),
            bytes: 0,
        })
    }

    async fn push(&mut self, record: Record) -> Result<(), GenError> {
        self.bytes += record.value.len();
        self.batch.push(record);
        if self.batch.len() >= SERVER_BATCH {
            self.submit().await?;
        }
        Ok(())
    }

    async fn submit(&mut self) -> Result<(), GenError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let room = self.sender.reserve(self.batch.len(), self.bytes).await?;
        self.sender.submit(room, std::mem::take(&mut self.batch))?;
        self.bytes = 0;
        Ok(())
    }

    /// Sends what is left and waits until the server stored or refused everything.
    async fn finish(mut self, total: u64) -> Result<(), GenError> {
        self.submit().await?;
        let report = self.sender.close(SERVER_DRAIN).await?;
        if let Some(first) = report.refused.first() {
            let mut by_reason = std::collections::BTreeMap::<&str, usize>::new();
            for r in &report.refused {
                *by_reason.entry(r.reason.as_str()).or_default() += 1;
            }
            let reasons = by_reason
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(GenError::Refused {
                count: report.refused.len(),
                total,
                reasons,
                first: format!("{}: {}", first.reason, first.detail),
            });
        }
        Ok(())
    }
}

/// Records per `submit` to the server's sender: one buffer reservation each.
const SERVER_BATCH: usize = 1_000;

/// Delivery failures, counted; the first is kept for the error message.
#[derive(Debug, Default)]
struct Failures {
    count: u64,
    first: Option<String>,
}

impl Failures {
    fn check<E>(&mut self, outcome: Result<OwnedDeliveryResult, E>) {
        let error = match outcome {
            Ok(Ok(_)) => return,
            Ok(Err((e, _))) => e.to_string(),
            Err(_) => "delivery future cancelled (producer dropped)".to_string(),
        };
        self.count += 1;
        self.first.get_or_insert(error);
    }
}
