//! Settings of the worker's own services: the admin endpoints, the state database, the raw archive and
//! the reliability monitor.

use std::collections::BTreeMap;
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
    /// Who may use the API; no tokens means anyone who reaches `listen`.
    pub auth: MonitorAuthConfig,
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
            auth: MonitorAuthConfig::default(),
        }
    }
}

/// The monitor's tokens (`[monitor.auth]`), with the registry's roles (docs/OPERATIONS.md, "The
/// monitor's tokens"). No tokens: the API is open, as before, and the monitor warns at start-up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorAuthConfig {
    /// Let callers without a token read (`GET /api/...`); otherwise reading takes a token of any role.
    pub anonymous_reads: bool,
    /// Tokens by name. The name is what logs and error messages show, never the token.
    pub tokens: BTreeMap<String, MonitorTokenConfig>,
}

/// What a monitor token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorRole {
    /// Everything: file backfills for any type.
    Admin,
    /// Read, and file backfills for the types matching `types`.
    Owner,
    /// Read only.
    Reader,
}

/// One monitor token: its role, and the token itself or its SHA-256.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorTokenConfig {
    pub role: Option<MonitorRole>,
    /// An owner's event types: names and `*` patterns (`billing.*`), as murron-server's tokens list them.
    pub types: Vec<String>,
    /// The token; set it from the environment (`SINK_WORKER_MONITOR__AUTH__TOKENS__<NAME>__TOKEN`).
    pub token: String,
    /// Instead of `token`: its SHA-256 in hex (`printf %s "$TOKEN" | sha256sum`), safe in a file.
    pub sha256: String,
}

impl std::fmt::Debug for MonitorTokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("MonitorTokenConfig")
            .field("role", &self.role)
            .field("types", &self.types)
            .field("token", &set(&self.token))
            .field("sha256", &set(&self.sha256))
            .finish()
    }
}

/// A token shorter than this is refused: it could be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

impl MonitorTokenConfig {
    /// The SHA-256 the monitor compares callers' tokens with; `Err` says what is wrong.
    pub fn digest(&self) -> Result<[u8; 32], String> {
        match (self.token.is_empty(), self.sha256.is_empty()) {
            (false, false) => Err("set token or sha256, not both".into()),
            (true, true) => Err("no token: set its sha256, or the token itself from the environment".into()),
            (false, true) if self.token.len() < MIN_TOKEN_LEN => {
                Err(format!("the token must be at least {MIN_TOKEN_LEN} characters"))
            }
            (false, true) => Ok(murron_wire::token::hash(self.token.as_bytes())),
            (true, false) => murron_wire::token::parse_hash(&self.sha256)
                .ok_or_else(|| "sha256 must be 64 hex digits (what sha256sum prints)".into()),
        }
    }
}

impl MonitorAuthConfig {
    /// The tokens as `name (role)`, for `check` and the start-up log: never a secret.
    pub fn describe(&self) -> String {
        let tokens: Vec<String> = self
            .tokens
            .iter()
            .map(|(name, t)| match t.role {
                Some(MonitorRole::Owner) => format!("{name} (owner of {})", t.types.join(", ")),
                Some(MonitorRole::Admin) => format!("{name} (admin)"),
                Some(MonitorRole::Reader) => format!("{name} (reader)"),
                None => format!("{name} (no role)"),
            })
            .collect();
        tokens.join(", ")
    }

    /// Checks every token; the error names the token, never its secret.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (name, t) in &self.tokens {
            let bad = |reason: String| Err(format!("token {name:?}: {reason}"));
            let digest = match t.digest() {
                Ok(d) => d,
                Err(reason) => return bad(reason),
            };
            if !seen.insert(digest) {
                return bad("is the same token as another one".into());
            }
            match (t.role, t.types.is_empty()) {
                (None, _) => return bad("no role: set role = \"admin\", \"owner\" or \"reader\"".into()),
                (Some(MonitorRole::Owner), true) => {
                    return bad("an owner token needs its types, e.g. types = [\"billing.*\"]".into());
                }
                (Some(MonitorRole::Admin | MonitorRole::Reader), false) => {
                    return bad("only owner tokens take types".into());
                }
                _ => {}
            }
            if t.types.iter().any(|p| p.trim().is_empty()) {
                return bad("a type or pattern is empty".into());
            }
        }
        Ok(())
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
