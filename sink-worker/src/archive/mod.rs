//! The raw archive (docs/PROTOCOL.md, "The archive"): every envelope as it came, in Avro container
//! files under `{prefix}/{type}/dt=YYYY-MM-DD/hr=HH/`, in a local folder or S3.
//!
//! [`run`] is `sink-worker archive`, our own archiver: a pipeline in archive mode, with its own
//! consumer group and the same exactly-once commit as the sink. [`index`] reads archive files,
//! whoever wrote them, into the state database, so that gaps can be reconciled with the archive and a
//! backfill reads only the files that can hold what is missing.

pub mod index;
pub mod ocf;

use std::future::Future;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::pipeline::{self, ArchiveTarget, DeadLetter, FlushPolicy, KafkaInput, Pipeline, RunError};
use crate::storage::{LocalConfig, StoreConfig};
use ocf::Codec;

/// The `[archive]` configuration: where the archive is, for the archiver, the monitor and backfills.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// A local folder or S3; `./data` when unset. (Optional rather than defaulted, so that a store
    /// of another kind in the file is not merged into the default's keys.)
    pub store: Option<StoreConfig>,
    /// Key prefix of the archive in the store.
    pub prefix: String,
    /// Codec of the files the archiver writes (null, deflate, snappy, zstandard). Readers take any.
    pub codec: Codec,
    /// Topics the archiver consumes.
    pub topics: Vec<String>,
    /// The archiver's consumer group and state name.
    pub name: String,
    pub flush: FlushPolicy,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            store: None,
            prefix: "archive".into(),
            codec: Codec::default(),
            topics: Vec::new(),
            name: "archive".into(),
            flush: FlushPolicy::default(),
        }
    }
}

impl ArchiveConfig {
    /// The store with S3 credentials filled from the environment when empty.
    pub fn store_config(&self) -> StoreConfig {
        match &self.store {
            Some(StoreConfig::S3(s3)) => StoreConfig::S3(s3.clone().with_env_credentials()),
            Some(local) => local.clone(),
            None => StoreConfig::Local(LocalConfig {
                path: PathBuf::from("./data"),
            }),
        }
    }

    /// The archiver as a pipeline in archive mode.
    pub fn pipeline(&self) -> Pipeline {
        let mut p = Pipeline::new(&self.name)
            .input(KafkaInput {
                topics: self.topics.clone(),
                group: Some(format!("murron-archive-{}", self.name)),
            })
            .with_flush(self.flush.clone())
            .dead_letter(DeadLetter {
                store: self.store_config(),
                prefix: format!("{}-dlq", self.prefix.trim_end_matches('/')),
            });
        p.archive_to = Some(ArchiveTarget {
            store: self.store_config(),
            prefix: self.prefix.clone(),
            codec: self.codec,
        });
        p
    }
}

/// `sink-worker archive`: archives the configured topics until `shutdown` resolves.
pub async fn run(config: &Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    if config.archive.topics.is_empty() {
        return Err(RunError::Config(
            "archive.topics: at least one topic is required".into(),
        ));
    }
    pipeline::run(config, config.archive.pipeline(), shutdown).await
}
