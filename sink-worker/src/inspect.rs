//! `sink-worker inspect`: reads a topic from the beginning without committing anything and reports
//! what is in it: events per stream, signature and payload checks, gaps and duplicates.
//! An operator's view of a topic; the sink itself (`run`) does the same checks on its hot path, and
//! payloads are resolved and validated by the same schema cache, for every schema kind, with the
//! sink's reason codes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::config::{Config, Pipeline};
use crate::pipeline::{Lookup, SchemaCache};
use murron_connect::kafka;
use murron_connect::registry::{RegistryClient, RegistryError};
use murron_wire::check::{self, EnvelopeChecks};
use murron_wire::ranges::OffsetRanges;

/// What to read.
#[derive(Debug, Clone)]
pub struct InspectOptions {
    pub topic: String,
    /// Stop after this many records.
    pub max_events: Option<u64>,
    /// Stop when no record arrives for this long.
    pub idle_timeout: Duration,
}

/// Per-stream counts. A stream is (type, host, pid).
#[derive(Debug, Default, Clone)]
pub struct StreamReport {
    pub offsets: OffsetRanges,
    pub duplicates: u64,
}

/// What the topic holds.
#[derive(Debug, Default)]
pub struct InspectReport {
    pub records: u64,
    pub valid: u64,
    /// Invalid records by reason code.
    pub invalid: BTreeMap<&'static str, u64>,
    pub streams: BTreeMap<(String, String, i32), StreamReport>,
}

impl InspectReport {
    /// What `sink-worker inspect` prints: the counts, invalid records by reason, and every stream.
    pub fn table<'a>(&'a self, topic: &'a str) -> impl fmt::Display + 'a {
        fmt::from_fn(move |f| {
            writeln!(
                f,
                "{}: {} records, {} valid, {} invalid",
                topic,
                self.records,
                self.valid,
                self.invalid.values().sum::<u64>()
            )?;
            for (reason, n) in &self.invalid {
                writeln!(f, "  invalid  {reason:<24} {n}")?;
            }
            writeln!(
                f,
                "  {:<28} {:<16} {:>8} {:>10} {:>10} {:>8} {:>8}",
                "type", "host", "pid", "events", "max_offset", "missing", "dupes"
            )?;
            for ((ty, host, pid), s) in &self.streams {
                writeln!(
                    f,
                    "  {ty:<28} {host:<16} {pid:>8} {:>10} {:>10} {:>8} {:>8}",
                    s.offsets.len(),
                    s.offsets.max().map_or_else(|| "-".to_string(), |m| m.to_string()),
                    s.offsets.missing(),
                    s.duplicates
                )?;
            }
            Ok(())
        })
    }
}

/// Why inspection stopped early.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    KafkaUnreachable(#[from] kafka::Unreachable),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("topic {0:?} does not exist")]
    NoSuchTopic(String),
    #[error("no signing keys configured: set SINK_WORKER_KEYS__DEFAULT (or keys.<id> in the config file)")]
    NoKeys,
}

/// Reads `opts.topic` from the start; `progress` is called with the number of records read so far.
pub async fn run(
    config: &Config,
    opts: &InspectOptions,
    mut progress: impl FnMut(u64),
) -> Result<InspectReport, InspectError> {
    let keys = config.key_ring();
    if keys.is_empty() {
        return Err(InspectError::NoKeys);
    }
    let registry = RegistryClient::new(&config.registry)?;
    let mut consumer_config = kafka::consumer_config(&config.kafka);
    // Partitions are assigned, never subscribed: no group is joined and no offset is committed, so
    // inspecting moves nothing. The client still wants a group id.
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let group = format!("murron-inspect-{}-{nanos}", std::process::id());
    consumer_config
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    let consumer: Arc<StreamConsumer> = Arc::new(consumer_config.create()?);
    let (probe, topic) = (Arc::clone(&consumer), opts.topic.clone());
    let metadata = kafka::check_reachable(&config.kafka, move |timeout| {
        probe.fetch_metadata(Some(&topic), timeout)
    })
    .await?;
    // Every partition from its first record. Without a group join before the first fetch, the idle
    // clock only runs while records could be arriving.
    let mut assignment = TopicPartitionList::new();
    for t in metadata.topics().iter().filter(|t| t.name() == opts.topic) {
        for p in t.partitions() {
            assignment.add_partition_offset(&opts.topic, p.id(), Offset::Beginning)?;
        }
    }
    if assignment.count() == 0 {
        return Err(InspectError::NoSuchTopic(opts.topic.clone()));
    }
    consumer.assign(&assignment)?;

    // The configured pipeline's limits when there is one, else the sink's defaults.
    let limits = config.pipeline.clone().unwrap_or_else(|| Pipeline::new("inspect"));
    let mut checker = Checker {
        envelope_checks: EnvelopeChecks::new(keys, limits.max_event_bytes, limits.max_clock_skew_secs),
        schemas: SchemaCache::new(registry),
    };
    let mut report = InspectReport::default();
    while opts.max_events.is_none_or(|max| report.records < max) {
        let msg = match tokio::time::timeout(opts.idle_timeout, consumer.recv()).await {
            Err(_) => break,
            Ok(msg) => msg?,
        };
        report.records += 1;
        match checker.check(msg.payload().unwrap_or_default()).await? {
            Ok(stream) => {
                report.valid += 1;
                let entry = report.streams.entry((stream.0, stream.1, stream.2)).or_default();
                if !entry.offsets.insert(stream.3) {
                    entry.duplicates += 1;
                }
            }
            Err(reason) => *report.invalid.entry(reason).or_default() += 1,
        }
        if report.records.is_multiple_of(1_000) {
            progress(report.records);
        }
    }
    progress(report.records);
    Ok(report)
}

struct Checker {
    envelope_checks: EnvelopeChecks,
    /// Payload schemas by id, compiled once, as the sink keeps them.
    schemas: SchemaCache,
}

type StreamOffset = (String, String, i32, i64);

impl Checker {
    /// `Ok(Err(reason))` for an invalid event; `Err` only when the registry cannot be reached.
    async fn check(&mut self, value: &[u8]) -> Result<Result<StreamOffset, &'static str>, InspectError> {
        // The sink's own checks, in its order, so the reasons counted are the ones it would give.
        let env = match check::decode(value) {
            Ok(env) => env,
            Err(r) => return Ok(Err(r.reason)),
        };
        let (schema_id, datum) =
            match check::check_type(env.event_type).and_then(|()| self.envelope_checks.verify(value.len(), &env)) {
                Ok(split) => split,
                Err(r) => return Ok(Err(r.reason)),
            };
        let lookup = match self.schemas.cached(schema_id) {
            Some(lookup) => lookup,
            None => self.schemas.fetch(schema_id).await?,
        };
        let schema = match lookup {
            Lookup::Found(schema) => schema,
            Lookup::Unknown => return Ok(Err("unknown_schema")),
            Lookup::Unusable(_) => return Ok(Err("unusable_schema")),
        };
        if !schema.subjects.iter().any(|s| s == env.event_type) {
            return Ok(Err("wrong_type"));
        }
        if schema.schema.validate(datum).is_err() {
            return Ok(Err("invalid_payload"));
        }
        Ok(Ok((
            env.event_type.to_string(),
            env.host.to_string(),
            env.pid,
            env.offset,
        )))
    }
}
