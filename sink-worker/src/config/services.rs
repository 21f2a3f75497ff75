//! Settings of the worker's own services: the admin endpoints, the state database, the raw archive and
//! the reliability monitor.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::pipeline::{ArchiveTarget, DeadLetter, FlushPolicy, KafkaInput, Pipeline};
use crate::config::storage::{LocalConfig, StoreConfig};
use murron_wire::ocf::Codec;

/// Where the admin endpoints listen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// How to reach the state database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// `postgres://user:password@host:port/db`; set it from the environment (`SINK_WORKER_STATE__URL`).
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
    /// Apply pending migrations at startup.
    pub migrate_on_start: bool,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            url: "postgres://murron:murron@127.0.0.1:5433/murron".into(),
            max_connections: 8,
            acquire_timeout_secs: 10,
            migrate_on_start: true,
        }
    }
}

/// The `[monitor]` configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// The API, dashboard and metrics.
    pub listen: SocketAddr,
    /// A gap younger than this is pending (late data may fill it), not missing.
    pub grace_secs: u64,
    /// Seconds between sweeps.
    pub interval_secs: f64,
    /// File a backfill for every gap still missing after the grace period.
    pub auto_backfill: bool,
    /// Run queued backfills in this process.
    pub run_backfills: bool,
    /// Days of hours the REP history keeps; the sweep deletes older ones.
    pub history_days: u32,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9470)),
            grace_secs: 300,
            interval_secs: 15.0,
            auto_backfill: true,
            run_backfills: true,
            history_days: 90,
        }
    }
}

/// The read-only Iceberg REST catalog (`sink-worker iceberg-rest`, docs/ICEBERG.md) over the tables of
/// the pipeline's Iceberg outputs.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IcebergRestConfig {
    pub listen: SocketAddr,
    /// The bearer token engines attach with. Required: set it from the environment
    /// (`SINK_WORKER_ICEBERG_REST__TOKEN`), never in the file.
    pub token: String,
}

impl Default for IcebergRestConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9471)),
            token: String::new(),
        }
    }
}

impl std::fmt::Debug for IcebergRestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcebergRestConfig")
            .field("listen", &self.listen)
            .field("token", &if self.token.is_empty() { "" } else { "***" })
            .finish()
    }
}

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
    /// The store; `./data` when none is configured.
    pub fn store_config(&self) -> StoreConfig {
        match &self.store {
            Some(store) => store.clone(),
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
