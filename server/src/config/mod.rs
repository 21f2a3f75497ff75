//! Typed configuration: defaults, then a TOML file, then `MURRON_SERVER_<SECTION>__<KEY>` environment
//! variables (for example `MURRON_SERVER_KAFKA__BROKERS`). Secrets are read from the environment as
//! given: `MURRON_SERVER_KEYS__<ID>` (signing keys, as the sink's), `MURRON_SERVER_AUTH__TOKENS__<NAME>__TOKEN`
//! (bearer tokens) and `MURRON_SERVER_KAFKA_PROPERTY__<NAME>` (librdkafka properties, `_` for `.`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use murron_connect::env::settings_from_env;
use murron_tls::TlsConfig;
use serde::{Deserialize, Serialize};

pub use murron_connect::kafka::KafkaConfig;
use murron_wire::envelope::KeyRing;

pub mod pipeline;

pub use pipeline::{IngestPipeline, Input, topic};

/// Environment variables with this prefix override the file.
pub const ENV_PREFIX: &str = "MURRON_SERVER_";
/// `MURRON_SERVER_KEYS__DEFAULT=…` sets the secret of signing key `default` (the id is lower-cased).
pub const KEY_PREFIX: &str = "MURRON_SERVER_KEYS__";
/// `MURRON_SERVER_KAFKA_PROPERTY__SASL_PASSWORD=…` sets the librdkafka property `sasl.password`.
pub const KAFKA_PROPERTY_PREFIX: &str = "MURRON_SERVER_KAFKA_PROPERTY__";
/// `MURRON_SERVER_AUTH__TOKENS__ALICE__TOKEN=…` sets producer `alice`'s bearer token.
pub const TOKEN_PREFIX: &str = "MURRON_SERVER_AUTH__TOKENS__";

/// Why the configuration could not be loaded. Not retryable: fix the file or the environment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    Missing(String),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid configuration: {key}: {reason}")]
    Value { key: String, reason: String },
}

/// The whole murron-server configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub kafka: KafkaConfig,
    /// HMAC secrets by key id: every producer's keys, as the sink has them.
    pub keys: BTreeMap<String, String>,
    /// The ingestion pipelines: which types go to which topic.
    pub pipelines: Vec<IngestPipeline>,
    pub auth: AuthConfig,
    pub log: LogConfig,
    /// HTTPS and gRPC over TLS on both listeners; without it both are plain (docs/OPERATIONS.md, "TLS").
    pub tls: Option<TlsConfig>,
}

/// Listeners and limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// gRPC (`murron.ingest.v1.Ingest`).
    pub grpc_listen: SocketAddr,
    /// HTTP: `POST /v1/publish`, `/healthz`, `/readyz`, `/metrics`.
    pub http_listen: SocketAddr,
    /// A larger batch is refused whole (gRPC INVALID_ARGUMENT, HTTP 400).
    pub max_batch_events: usize,
    /// The largest request body (gRPC message, HTTP body).
    pub max_batch_bytes: usize,
    /// The memory bound: record bytes accepted but not yet acknowledged by Kafka. Beyond it, publishes
    /// are pushed back (RESOURCE_EXHAUSTED, HTTP 503).
    pub max_in_flight_bytes: usize,
    /// How long a publish waits for Kafka's acknowledgements before answering RETRY `kafka_timeout`.
    pub ack_timeout_ms: u64,
    /// Larger record values are refused `oversized` (the sink's default and meaning).
    pub max_event_bytes: usize,
    /// Events stamped further ahead of this clock are refused `bad_timestamp`.
    pub max_clock_skew_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 9480)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 9481)),
            max_batch_events: 10_000,
            max_batch_bytes: 16 << 20,
            max_in_flight_bytes: 256 << 20,
            ack_timeout_ms: 10_000,
            max_event_bytes: 1 << 20,
            max_clock_skew_secs: 24 * 3600,
        }
    }
}

/// Bearer tokens; none means every caller may publish every type.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub tokens: BTreeMap<String, TokenConfig>,
}

/// One producer's token and the types it may publish.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    pub token: String,
    /// Exact names and `*` patterns; `["*"]` for every type.
    pub types: Vec<String>,
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("TokenConfig")
            .field("types", &self.types)
            .finish_non_exhaustive()
    }
}

/// Logging.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// One JSON object per line instead of human-readable text.
    pub json: bool,
}

impl Config {
    /// Loads defaults, then `path` if given (it must exist), then the environment; validates the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let vars = || std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::load_from(path, vars)
    }

    fn load_from<I: Iterator<Item = (String, String)>>(
        path: Option<&Path>,
        vars: impl Fn() -> I,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            if !path.is_file() {
                return Err(ConfigError::Missing(path.display().to_string()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only nested names (SECTION__KEY) are settings; secrets are read as given, below.
        let raw = [KEY_PREFIX, KAFKA_PROPERTY_PREFIX].map(|p| p[ENV_PREFIX.len()..].to_ascii_lowercase());
        let token = TOKEN_PREFIX[ENV_PREFIX.len()..].to_ascii_lowercase();
        let env_vars: Vec<(String, String)> = vars().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        let env = Env::prefixed(ENV_PREFIX)
            .filter(move |k| {
                let k = k.as_str().to_ascii_lowercase();
                k.contains("__")
                    && !raw.iter().any(|p| k.starts_with(p.as_str()))
                    && !(k.starts_with(token.as_str()) && k.ends_with("__token"))
            })
            .split("__");
        let mut config: Config = figment.merge(env).extract().map_err(Box::new)?;
        config
            .keys
            .extend(settings_from_env(env_vars.iter().cloned(), KEY_PREFIX, false));
        config
            .kafka
            .properties
            .extend(settings_from_env(env_vars.iter().cloned(), KAFKA_PROPERTY_PREFIX, true));
        for (name, secret) in settings_from_env(env_vars.into_iter(), TOKEN_PREFIX, false) {
            if let Some(producer) = name.strip_suffix("__token") {
                config.auth.tokens.entry(producer.to_owned()).or_default().token = secret;
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let value = |key: &str, reason: String| ConfigError::Value {
            key: key.to_owned(),
            reason,
        };
        if self.kafka.brokers.trim().is_empty() {
            return Err(value("kafka.brokers", "must not be empty".into()));
        }
        let s = &self.server;
        for (key, n) in [
            ("server.max_batch_events", s.max_batch_events),
            ("server.max_batch_bytes", s.max_batch_bytes),
            ("server.max_in_flight_bytes", s.max_in_flight_bytes),
            ("server.max_event_bytes", s.max_event_bytes),
        ] {
            if n == 0 {
                return Err(value(key, "must be at least 1".into()));
            }
        }
        if s.max_in_flight_bytes < s.max_batch_bytes {
            return Err(value(
                "server.max_in_flight_bytes",
                format!(
                    "{} is less than server.max_batch_bytes ({}): a full batch could never be taken",
                    s.max_in_flight_bytes, s.max_batch_bytes
                ),
            ));
        }
        if s.ack_timeout_ms == 0 {
            return Err(value("server.ack_timeout_ms", "must be at least 1".into()));
        }
        if self.keys.is_empty() {
            return Err(value(
                "keys",
                "no signing key: every event would be refused unknown_key (set MURRON_SERVER_KEYS__<ID>)".into(),
            ));
        }
        if let Some((id, _)) = self.keys.iter().find(|(_, secret)| secret.is_empty()) {
            return Err(value("keys", format!("key {id:?} has an empty secret")));
        }
        pipeline::validate_all(&self.pipelines).map_err(|(key, reason)| ConfigError::Value { key, reason })?;
        for (name, t) in &self.auth.tokens {
            let key = format!("auth.tokens.{name}");
            if t.token.len() < 16 {
                return Err(value(
                    &format!("{key}.token"),
                    "must be at least 16 characters (set it with MURRON_SERVER_AUTH__TOKENS__<NAME>__TOKEN)".into(),
                ));
            }
            if t.types.is_empty() || t.types.iter().any(String::is_empty) {
                return Err(value(
                    &format!("{key}.types"),
                    "must list the types it may publish, names or patterns (\"*\" for all)".into(),
                ));
            }
        }
        if let Some(tls) = &self.tls {
            tls.validate().map_err(|(key, reason)| value(key, reason))?;
        }
        let mut seen = std::collections::HashSet::new();
        if let Some((name, _)) = self.auth.tokens.iter().find(|(_, t)| !seen.insert(t.token.as_str())) {
            return Err(value(
                &format!("auth.tokens.{name}.token"),
                "is the same as another producer's token".into(),
            ));
        }
        Ok(())
    }

    /// The signing keys as a ring; secrets are the UTF-8 bytes of the configured strings.
    pub fn key_ring(&self) -> KeyRing {
        KeyRing::new(
            self.keys
                .iter()
                .map(|(id, secret)| (id.clone(), secret.as_bytes().to_vec())),
        )
    }

    /// What `murron-server check` prints: the settings that differ between deployments, never a secret.
    pub fn summary(&self) -> impl fmt::Display + '_ {
        fmt::from_fn(move |f| {
            let s = &self.server;
            writeln!(f, "configuration ok")?;
            writeln!(f, "grpc: {}  http: {}", s.grpc_listen, s.http_listen)?;
            if let Some(tls) = &self.tls {
                writeln!(f, "tls: {} (key {})", tls.cert_file.display(), tls.key_file.display())?;
            }
            writeln!(f, "kafka brokers: {}", self.kafka.brokers)?;
            let keys: Vec<&str> = self.keys.keys().map(String::as_str).collect();
            writeln!(f, "signing keys: {}", keys.join(", "))?;
            writeln!(
                f,
                "limits: {} events or {} bytes a batch, {} bytes in flight, ack timeout {} ms",
                s.max_batch_events, s.max_batch_bytes, s.max_in_flight_bytes, s.ack_timeout_ms
            )?;
            if self.pipelines.is_empty() {
                writeln!(f, "pipelines: none (every event is refused unrouted_type)")?;
            }
            for p in &self.pipelines {
                writeln!(f, "pipeline {}", p.describe())?;
            }
            if self.auth.tokens.is_empty() {
                writeln!(f, "auth: off (no tokens; every caller may publish every type)")?;
            } else {
                for (name, t) in &self.auth.tokens {
                    writeln!(f, "token {name}: types {}", t.types.join(", "))?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("murron-server-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = dir.join(format!("{}.toml", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        std::fs::write(&path, toml).unwrap();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // figment reads the process environment itself; only the raw secrets come from `env` here.
        Config::load_from(Some(&path), || env.clone().into_iter())
    }

    const BASE: &str = "[keys]\ndefault = \"secret\"\n\
        [[pipelines]]\nname = \"billing\"\nfilter_type = [\"billing.member_active\", \"billing.*\"]\ntopic = \"events.billing\"\n\
        [[pipelines]]\nname = \"rest\"\ndefault = true\ntopic = \"events.misc\"\n";

    #[test]
    fn the_example_shape_loads_and_maps_onto_the_builder() {
        let c = load(
            &format!("[server]\ngrpc_listen = \"127.0.0.1:1\"\nmax_batch_events = 7\n{BASE}"),
            &[],
        )
        .unwrap();
        assert_eq!(c.server.max_batch_events, 7);
        assert_eq!(c.server.max_in_flight_bytes, 256 << 20);
        let built = [
            IngestPipeline::new("billing")
                .filter_type("billing.member_active")
                .filter_type("billing.*")
                .output(topic("events.billing")),
            IngestPipeline::new("rest").default_route().output(topic("events.misc")),
        ];
        assert_eq!(
            serde_json::to_value(&c.pipelines).unwrap(),
            serde_json::to_value(&built).unwrap()
        );
    }

    #[test]
    fn secrets_come_from_the_environment_as_given() {
        let c = load(
            &format!("{BASE}[auth.tokens.alice]\ntypes = [\"billing.*\"]\n"),
            &[
                ("MURRON_SERVER_KEYS__K2026", "0123"),
                ("MURRON_SERVER_AUTH__TOKENS__ALICE__TOKEN", " 0123456789abcdef "),
                ("MURRON_SERVER_KAFKA_PROPERTY__SASL_PASSWORD", "p"),
            ],
        )
        .unwrap();
        assert_eq!(c.keys["k2026"], "0123");
        assert_eq!(c.auth.tokens["alice"].token, " 0123456789abcdef ");
        assert_eq!(c.kafka.properties["sasl.password"], "p");
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn invalid_settings_name_their_key() {
        for (extra, env, key) in [
            ("[server]\nmax_batch_events = 0\n", &[][..], "server.max_batch_events"),
            (
                "[server]\nmax_in_flight_bytes = 10\nmax_batch_bytes = 11\n",
                &[],
                "server.max_in_flight_bytes",
            ),
            (
                "[auth.tokens.bob]\ntoken = \"short\"\ntypes = [\"*\"]\n",
                &[],
                "auth.tokens.bob.token",
            ),
            (
                "[auth.tokens.bob]\ntoken = \"0123456789abcdef\"\n",
                &[],
                "auth.tokens.bob.types",
            ),
            (
                "[kafka]\nbrokers = \" \"\n",
                &[("MURRON_SERVER_KEYS__EMPTY", "")][..],
                "kafka.brokers",
            ),
        ] {
            let err = load(&format!("{BASE}{extra}"), env).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let err = load(&format!("{BASE}[server]\nmax_batch_evnts = 1\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_batch_evnts"), "{err}");
        let err = load("[[pipelines]]\nname = \"a\"\ntopic = \"t\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("keys"), "{err}");
    }

    #[test]
    fn the_example_and_deployed_configurations_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let env = [("MURRON_SERVER_KEYS__DEFAULT".to_string(), "k".to_string())];
        for file in [
            "config/murron-server.toml",
            "deploy/compose/murron-server.toml",
            "deploy/k8s/base/config/murron-server.toml",
        ] {
            let c = Config::load_from(Some(&root.join(file)), || env.clone().into_iter())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                c.pipelines.iter().any(|p| p.topic == "events.billing"),
                "{file}: {:?}",
                c.pipelines
            );
        }
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/server.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::Missing(_)));
    }

    #[test]
    fn the_summary_names_no_secret() {
        let c = load(
            &format!("{BASE}[auth.tokens.alice]\ntoken = \"0123456789abcdefXYZ\"\ntypes = [\"billing.*\"]\n"),
            &[],
        )
        .unwrap();
        let text = c.summary().to_string();
        assert!(text.contains("token alice: types billing.*"), "{text}");
        assert!(
            !text.contains("0123456789abcdefXYZ") && !text.contains("secret"),
            "{text}"
        );
    }

    #[test]
    fn a_tls_section_is_read_checked_and_summarised() {
        let c = load(
            &format!("{BASE}[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n"),
            &[],
        )
        .unwrap();
        let tls = c.tls.as_ref().expect("tls");
        assert_eq!((tls.cert_file.to_str(), tls.reload_secs), (Some("/c.pem"), 10.0));
        assert!(c.summary().to_string().contains("tls: /c.pem (key /k.pem)"));
        assert!(load(BASE, &[]).unwrap().tls.is_none(), "plain unless asked");
        let err = load(&format!("{BASE}[tls]\ncert_file = \"/c.pem\"\nkey_file = \"\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls.key_file"), "{err}");
    }
}
