//! Pipelines, the "DAB" of the talk: a Kafka input, filters, reliability tracking, sampling and one or
//! more outputs. [`Pipeline`] is the builder; the same structure is what the `[pipeline]` table of the
//! TOML configuration deserializes into, so a file and the builder describe the same thing.
//!
//! ```
//! use sink_worker::config::pipeline::{Pipeline, kafka, local, postgres};
//! let p = Pipeline::new("billing")
//!     .input(kafka("events.billing"))
//!     .filter_type("billing.member_active")
//!     .with_rate_limit_per_second(1000)
//!     .with_sample_rate(5)
//!     .output(local("./data"))
//!     .output(postgres());
//! assert_eq!(p.outputs.len(), 2);
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::outputs::{Format, IcebergConfig, KafkaTopicConfig, WarehouseConfig};
use crate::config::storage::{LocalConfig, S3Config, StoreConfig};

/// One pipeline: what to read, what to keep, where to write.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Names the pipeline's state (commit points, received offsets); keep it stable across deploys.
    pub name: String,
    pub input: KafkaInput,
    /// Event types to keep; empty keeps every type. Others are skipped and counted, never written.
    #[serde(default)]
    pub filter_type: Vec<String>,
    /// At most this many events per second are consumed (backpressure; nothing is dropped).
    #[serde(default)]
    pub rate_limit_per_second: Option<u32>,
    /// Keep a deterministic 1 in `sample_rate` events, chosen by a hash of the UID. 1 keeps all.
    #[serde(default = "one")]
    pub sample_rate: u32,
    #[serde(default)]
    pub flush: FlushPolicy,
    pub outputs: Vec<OutputConfig>,
    /// Where invalid events go, as JSON lines. Defaults to the `dlq` prefix of the first file output's
    /// store, or of `./data` when the pipeline has none.
    #[serde(default)]
    pub dead_letter: Option<DeadLetter>,
    /// Larger record values are dead-lettered as `oversized`. The default is Kafka's own default
    /// message limit (`message.max.bytes`, 1 MiB).
    #[serde(default = "default_max_event_bytes")]
    pub max_event_bytes: usize,
    /// Events stamped more than this far ahead of the worker's clock are dead-lettered as
    /// `bad_timestamp`, as are events stamped before 2000.
    #[serde(default = "default_max_clock_skew_secs")]
    pub max_clock_skew_secs: u64,
    /// Set by `sink-worker archive` only: keep every decodable envelope as it came, in the archive.
    #[serde(skip)]
    pub(crate) archive_to: Option<ArchiveTarget>,
}

/// Where and how the archiver writes (the `[archive]` configuration, resolved).
#[derive(Debug, Clone)]
pub(crate) struct ArchiveTarget {
    pub store: StoreConfig,
    pub prefix: String,
    pub codec: murron_wire::ocf::Codec,
}

fn one() -> u32 {
    1
}

fn default_max_event_bytes() -> usize {
    1024 * 1024
}

fn default_max_clock_skew_secs() -> u64 {
    24 * 3600
}

/// The Kafka input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaInput {
    pub topics: Vec<String>,
    /// Consumer group; defaults to `murron-sink-{pipeline name}`.
    #[serde(default)]
    pub group: Option<String>,
}

/// When a batch is written: at `max_events`, at `max_bytes` of consumed record values, or when its
/// oldest event has waited `max_age_ms`, whichever comes first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlushPolicy {
    pub max_events: usize,
    pub max_bytes: usize,
    pub max_age_ms: u64,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        Self {
            max_events: 100_000,
            max_bytes: 64 << 20,
            max_age_ms: 10_000,
        }
    }
}

/// An output of a pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OutputConfig {
    /// Files in a local folder.
    Local(FileOutput<LocalConfig>),
    /// Files in an S3 bucket.
    S3(FileOutput<S3Config>),
    /// The PostgreSQL warehouse: a typed table per event type, in the state database.
    Postgres(WarehouseConfig),
    /// Another Kafka topic, on the input's cluster: the events unchanged.
    Kafka(KafkaTopicConfig),
    /// Apache Iceberg tables, one per event type, in the state database's SQL catalog.
    Iceberg(IcebergConfig),
}

/// Files written to a store under `{prefix}/{type}/dt=YYYY-MM-DD/hr=HH/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileOutput<S> {
    #[serde(flatten)]
    pub store: S,
    /// Key prefix in the store; may be empty.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    #[serde(default)]
    pub format: Format,
    /// Keys neither the store nor the output knows. Flattening loses `deny_unknown_fields`, so they
    /// are collected here and [`Pipeline::validate`] rejects them by name.
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, serde::de::IgnoredAny>,
}

fn default_prefix() -> String {
    "events".into()
}

/// The dead-letter output: a store and a key prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    pub store: StoreConfig,
    #[serde(default = "default_dlq_prefix")]
    pub prefix: String,
}

fn default_dlq_prefix() -> String {
    "dlq".into()
}

impl OutputConfig {
    /// The object store behind a file output. S3 credentials left out of the file come from the
    /// AWS SDK's default chain when the store is opened.
    pub fn store_config(&self) -> Option<StoreConfig> {
        match self {
            OutputConfig::Local(f) => Some(StoreConfig::Local(f.store.clone())),
            OutputConfig::S3(f) => Some(StoreConfig::S3(f.store.clone())),
            OutputConfig::Postgres(_) | OutputConfig::Kafka(_) | OutputConfig::Iceberg(_) => None,
        }
    }

    /// The `kind` that selects this output in the configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            OutputConfig::Local(_) => "local",
            OutputConfig::S3(_) => "s3",
            OutputConfig::Postgres(_) => "postgres",
            OutputConfig::Kafka(_) => "kafka",
            OutputConfig::Iceberg(_) => "iceberg",
        }
    }
}

impl Pipeline {
    /// A pipeline with no input topics and no outputs yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            input: KafkaInput {
                topics: Vec::new(),
                group: None,
            },
            filter_type: Vec::new(),
            rate_limit_per_second: None,
            sample_rate: 1,
            flush: FlushPolicy::default(),
            outputs: Vec::new(),
            dead_letter: None,
            max_event_bytes: default_max_event_bytes(),
            max_clock_skew_secs: default_max_clock_skew_secs(),
            archive_to: None,
        }
    }

    pub fn input(mut self, input: KafkaInput) -> Self {
        self.input = input;
        self
    }

    /// Keeps events of this type (call again for more types).
    pub fn filter_type(mut self, event_type: impl Into<String>) -> Self {
        self.filter_type.push(event_type.into());
        self
    }

    pub fn with_rate_limit_per_second(mut self, n: u32) -> Self {
        self.rate_limit_per_second = Some(n);
        self
    }

    pub fn with_sample_rate(mut self, n: u32) -> Self {
        self.sample_rate = n;
        self
    }

    pub fn with_flush(mut self, flush: FlushPolicy) -> Self {
        self.flush = flush;
        self
    }

    pub fn output(mut self, output: OutputConfig) -> Self {
        self.outputs.push(output);
        self
    }

    pub fn dead_letter(mut self, dead_letter: DeadLetter) -> Self {
        self.dead_letter = Some(dead_letter);
        self
    }

    /// The consumer group.
    pub fn group(&self) -> String {
        self.input
            .group
            .clone()
            .unwrap_or_else(|| format!("murron-sink-{}", self.name))
    }

    /// The dead-letter output, with its default applied.
    pub fn dead_letter_or_default(&self) -> DeadLetter {
        self.dead_letter.clone().unwrap_or_else(|| DeadLetter {
            store: self
                .outputs
                .iter()
                .find_map(OutputConfig::store_config)
                .unwrap_or_else(|| {
                    StoreConfig::Local(LocalConfig {
                        path: PathBuf::from("./data"),
                    })
                }),
            prefix: default_dlq_prefix(),
        })
    }

    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err((
                "pipeline.name",
                format!("{:?} must be non-empty [A-Za-z0-9._-]", self.name),
            ));
        }
        if self.input.topics.is_empty() {
            return Err(("pipeline.input.topics", "at least one topic is required".into()));
        }
        if self.outputs.is_empty() && self.archive_to.is_none() {
            return Err(("pipeline.outputs", "at least one output is required".into()));
        }
        if self
            .outputs
            .iter()
            .filter(|o| matches!(o, OutputConfig::Kafka(_)))
            .count()
            > 1
        {
            // Each pipeline has one routing group recording what was published (docs/EXACTLY_ONCE.md).
            return Err(("pipeline.outputs", "at most one kafka output per pipeline".into()));
        }
        for output in &self.outputs {
            let unknown = match output {
                OutputConfig::Local(f) => f.unknown.keys().collect::<Vec<_>>(),
                OutputConfig::S3(f) => f.unknown.keys().collect(),
                OutputConfig::Postgres(_) | OutputConfig::Kafka(_) | OutputConfig::Iceberg(_) => Vec::new(),
            };
            if !unknown.is_empty() {
                return Err(("pipeline.outputs", format!("unknown key(s) {unknown:?}")));
            }
            if let Some(store) = output.store_config() {
                store
                    .validate()
                    .map_err(|(key, reason)| ("pipeline.outputs", format!("{key}: {reason}")))?;
            }
            if let OutputConfig::Iceberg(c) = output {
                c.validate().map_err(|reason| ("pipeline.outputs", reason))?;
            }
        }
        if self.sample_rate == 0 {
            return Err(("pipeline.sample_rate", "must be at least 1".into()));
        }
        if self.max_event_bytes == 0 {
            return Err(("pipeline.max_event_bytes", "must be at least 1".into()));
        }
        if self.rate_limit_per_second == Some(0) {
            return Err(("pipeline.rate_limit_per_second", "must be at least 1".into()));
        }
        if self.flush.max_events == 0 || self.flush.max_bytes == 0 || self.flush.max_age_ms == 0 {
            return Err((
                "pipeline.flush",
                "max_events, max_bytes and max_age_ms must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// A Kafka input reading `topic`.
pub fn kafka(topic: impl Into<String>) -> KafkaInput {
    KafkaInput {
        topics: vec![topic.into()],
        group: None,
    }
}

/// Parquet files in a local folder, under the `events` prefix.
pub fn local(path: impl Into<PathBuf>) -> OutputConfig {
    OutputConfig::Local(FileOutput {
        store: LocalConfig { path: path.into() },
        prefix: default_prefix(),
        format: Format::default(),
        unknown: BTreeMap::new(),
    })
}

/// Parquet files in an S3 bucket, under the `events` prefix.
pub fn s3(config: S3Config) -> OutputConfig {
    OutputConfig::S3(FileOutput {
        store: config,
        prefix: default_prefix(),
        format: Format::default(),
        unknown: BTreeMap::new(),
    })
}

/// Routes the events, unchanged, to another topic.
pub fn kafka_topic(topic: impl Into<String>) -> OutputConfig {
    OutputConfig::Kafka(KafkaTopicConfig { topic: topic.into() })
}

/// Iceberg tables in `store`, with the default warehouse prefix, catalog, namespace and partitioning.
pub fn iceberg(store: StoreConfig) -> OutputConfig {
    OutputConfig::Iceberg(IcebergConfig::new(store))
}

/// The PostgreSQL warehouse with default settings.
pub fn postgres() -> OutputConfig {
    OutputConfig::Postgres(WarehouseConfig::default())
}

impl OutputConfig {
    /// Sets the prefix of a file output, or the warehouse prefix of an Iceberg output (no effect on
    /// the others).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        match &mut self {
            OutputConfig::Local(f) => f.prefix = prefix.into(),
            OutputConfig::S3(f) => f.prefix = prefix.into(),
            OutputConfig::Iceberg(c) => c.warehouse = prefix.into(),
            OutputConfig::Postgres(_) | OutputConfig::Kafka(_) => {}
        }
        self
    }

    /// Sets the format of a file output (no effect on the warehouse).
    pub fn format(mut self, format: Format) -> Self {
        match &mut self {
            OutputConfig::Local(f) => f.format = format,
            OutputConfig::S3(f) => f.format = format,
            OutputConfig::Postgres(_) | OutputConfig::Kafka(_) | OutputConfig::Iceberg(_) => {}
        }
        self
    }
}
