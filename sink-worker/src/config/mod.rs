//! Typed configuration: defaults, then a TOML file, then `SINK_WORKER_<SECTION>__<KEY>` environment
//! variables (for example `SINK_WORKER_KAFKA__BROKERS`, `SINK_WORKER_KEYS__DEFAULT`). docs/CONFIG.md lists every key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use murron_connect::env::settings_from_env;
use serde::{Deserialize, Serialize};

use murron_wire::envelope::KeyRing;

pub mod outputs;
pub mod pipeline;
pub mod services;
pub mod storage;

pub use murron_connect::kafka::KafkaConfig;
pub use murron_connect::registry::RegistryConfig;
pub use pipeline::Pipeline;
pub use services::{
    AdminConfig, ArchiveConfig, IcebergRestConfig, MonitorAuthConfig, MonitorConfig, MonitorRole, MonitorTokenConfig,
    StateConfig,
};

/// Environment variables with this prefix override the file.
pub const ENV_PREFIX: &str = "SINK_WORKER_";

/// `SINK_WORKER_KAFKA_PROPERTY__SASL_PASSWORD=…` sets the librdkafka property `sasl.password`: the
/// rest of the name, lower-cased, with `_` for `.`. This is how secrets such as SASL passwords reach
/// `kafka.properties` from the environment (a Kubernetes Secret), since their names hold dots.
pub const KAFKA_PROPERTY_PREFIX: &str = "SINK_WORKER_KAFKA_PROPERTY__";

/// `SINK_WORKER_REGISTRY__TOKEN`, `__USERNAME` and `__PASSWORD` are read as given (a password of
/// digits stays a string); the registry's other keys are ordinary settings.
pub const REGISTRY_PREFIX: &str = "SINK_WORKER_REGISTRY__";

/// `SINK_WORKER_KEYS__DEFAULT=…` sets the secret of signing key `default` (the id is lower-cased).
pub const KEY_PREFIX: &str = "SINK_WORKER_KEYS__";

/// `SINK_WORKER_MONITOR__AUTH__TOKENS__OPS__TOKEN=…` sets monitor token `ops` (the name is lower-cased);
/// `…__SHA256` its hash. Read as given, never parsed as a TOML value.
pub const MONITOR_TOKEN_PREFIX: &str = "SINK_WORKER_MONITOR__AUTH__TOKENS__";

/// Why the configuration could not be loaded. Not retryable: fix the file or the environment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    Missing(String),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid configuration: {key}: {reason}")]
    Value { key: &'static str, reason: String },
}

/// The whole sink-worker configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub registry: RegistryConfig,
    /// HMAC secrets by key id, for signing (`gen`) and verifying. Set them from the environment:
    /// `SINK_WORKER_KEYS__DEFAULT=...`.
    pub keys: BTreeMap<String, String>,
    /// The pipeline `run` executes (docs/CONFIG.md, "Pipelines").
    pub pipeline: Option<Pipeline>,
    /// The state database: commit points, received offsets, file manifest; also the warehouse.
    pub state: StateConfig,
    pub admin: AdminConfig,
    pub log: LogConfig,
    /// The raw archive: written by `archive`, read by `monitor` and `backfill`.
    pub archive: ArchiveConfig,
    /// The reliability monitor.
    pub monitor: MonitorConfig,
    /// The read-only Iceberg REST catalog.
    pub iceberg_rest: IcebergRestConfig,
    /// HTTPS for every listener the process opens (the monitor, the admin port, the Iceberg REST
    /// catalog); without it they are plain HTTP (docs/OPERATIONS.md, "TLS").
    pub tls: Option<murron_tls::TlsConfig>,
}

/// The configuration key of a [`RegistryConfig`] field.
fn registry_key(field: &str) -> &'static str {
    match field {
        "token" => "registry.token",
        "username" => "registry.username",
        "password" => "registry.password",
        "ca_file" => "registry.ca_file",
        _ => "registry.url",
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
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            if !path.is_file() {
                return Err(ConfigError::Missing(path.display().to_string()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only nested names (SECTION__KEY) are settings; SINK_WORKER_CONFIG names the file, and keys,
        // Kafka properties and monitor tokens are read as given, below.
        let raw = [KEY_PREFIX, KAFKA_PROPERTY_PREFIX].map(|p| p[ENV_PREFIX.len()..].to_ascii_lowercase());
        let registry_secrets = RegistryConfig::SECRETS
            .map(|f| format!("{}{f}", &REGISTRY_PREFIX[ENV_PREFIX.len()..]).to_ascii_lowercase());
        let token = MONITOR_TOKEN_PREFIX[ENV_PREFIX.len()..].to_ascii_lowercase();
        let env = Env::prefixed(ENV_PREFIX)
            .filter(move |k| {
                let k = k.as_str().to_ascii_lowercase();
                // Secrets are read as given, below, so a password of digits stays a string.
                let secret = registry_secrets.contains(&k) || (k.starts_with(token.as_str()) && is_token_secret(&k));
                k.contains("__") && !raw.iter().any(|p| k.starts_with(p.as_str())) && !secret
            })
            .split("__");
        let mut config: Config = figment.merge(env).extract().map_err(Box::new)?;
        // vars_os: a variable that is not UTF-8 is skipped here, where env::vars() would panic.
        let vars = || std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        config.keys.extend(settings_from_env(vars(), KEY_PREFIX, false));
        config
            .kafka
            .properties
            .extend(settings_from_env(vars(), KAFKA_PROPERTY_PREFIX, true));
        for (field, value) in settings_from_env(vars(), REGISTRY_PREFIX, false) {
            config.registry.set_secret(&field, value);
        }
        config
            .monitor
            .auth
            .add_from_env(settings_from_env(vars(), MONITOR_TOKEN_PREFIX, false));
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.kafka.brokers.trim().is_empty() {
            return Err(ConfigError::Value {
                key: "kafka.brokers",
                reason: "must not be empty".into(),
            });
        }
        self.registry.validate().map_err(|(key, reason)| ConfigError::Value {
            key: registry_key(key),
            reason,
        })?;
        if let Some(p) = &self.pipeline {
            p.validate()
                .map_err(|(key, reason)| ConfigError::Value { key, reason })?;
        }
        if let Some((id, _)) = self.keys.iter().find(|(_, secret)| secret.is_empty()) {
            return Err(ConfigError::Value {
                key: "keys",
                reason: format!("key {id:?} has an empty secret"),
            });
        }
        if let Some(tls) = &self.tls {
            tls.validate()
                .map_err(|(key, reason)| ConfigError::Value { key, reason })?;
        }
        self.monitor.auth.validate().map_err(|reason| ConfigError::Value {
            key: "monitor.auth.tokens",
            reason,
        })?;
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
}

/// Whether a lower-cased `monitor__auth__tokens__<name>__<field>` names a token's secret.
fn is_token_secret(key: &str) -> bool {
    key.ends_with("__token") || key.ends_with("__sha256")
}

impl MonitorAuthConfig {
    /// Adds the tokens and hashes named `<name>__token` and `<name>__sha256` in `vars`.
    fn add_from_env(&mut self, vars: BTreeMap<String, String>) {
        for (key, value) in vars {
            if let Some(name) = key.strip_suffix("__token") {
                self.tokens.entry(name.to_owned()).or_default().token = value;
            } else if let Some(name) = key.strip_suffix("__sha256") {
                self.tokens.entry(name.to_owned()).or_default().sha256 = value;
            }
        }
    }
}

impl Config {
    /// What `sink-worker check` prints: the settings that differ between deployments, never a secret.
    pub fn summary(&self) -> impl fmt::Display + '_ {
        fmt::from_fn(move |f| {
            let keys: Vec<&str> = self.keys.keys().map(String::as_str).collect();
            writeln!(f, "configuration ok")?;
            writeln!(f, "kafka brokers: {}", self.kafka.brokers)?;
            let auth = match (&self.registry.token, &self.registry.username) {
                (Some(_), _) => "bearer token".to_string(),
                (None, Some(user)) => format!("basic auth as {user:?}"),
                (None, None) => "no credentials".to_string(),
            };
            let trust = match &self.registry.ca_file {
                Some(ca) => format!(", trusting {}", ca.display()),
                None => String::new(),
            };
            writeln!(f, "registry: {} ({auth}{trust})", self.registry.url)?;
            writeln!(
                f,
                "signing keys: {}",
                if keys.is_empty() {
                    "none".into()
                } else {
                    keys.join(", ")
                }
            )?;
            match &self.pipeline {
                Some(p) => {
                    let outputs: Vec<&str> = p.outputs.iter().map(pipeline::OutputConfig::kind).collect();
                    writeln!(
                        f,
                        "pipeline {}: topics {}, group {}, types {}, outputs {}",
                        p.name,
                        p.input.topics.join(", "),
                        p.group(),
                        if p.filter_type.is_empty() {
                            "all".into()
                        } else {
                            p.filter_type.join(", ")
                        },
                        outputs.join(", ")
                    )?;
                }
                None => {
                    writeln!(f, "pipeline: none (`run`, `monitor` and `backfill` need one)")?;
                }
            }
            let a = &self.archive;
            if !a.topics.is_empty() {
                writeln!(
                    f,
                    "archive {}: topics {}, prefix {}",
                    a.name,
                    a.topics.join(", "),
                    a.prefix
                )?;
            }
            let s3: Vec<String> = self
                .s3_stores()
                .into_iter()
                .map(|s| {
                    let source = match s.static_keys() {
                        Some(_) => "static keys",
                        None => "default credential chain",
                    };
                    format!("s3://{} ({source})", s.bucket)
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if !s3.is_empty() {
                writeln!(f, "s3 credentials: {}", s3.join(", "))?;
            }
            writeln!(f, "monitor: {}", self.monitor.listen)?;
            match &self.tls {
                Some(tls) => writeln!(f, "tls: {} (key {})", tls.cert_file.display(), tls.key_file.display())?,
                None => writeln!(f, "tls: off (plain HTTP)")?,
            }
            let auth = &self.monitor.auth;
            if auth.tokens.is_empty() {
                writeln!(f, "monitor auth: off (anyone who reaches it may file backfills)")?;
            } else {
                let reads = if auth.anonymous_reads { "open" } else { "token only" };
                writeln!(f, "monitor auth: tokens {}; reads {reads}", auth.describe())?;
            }
            Ok(())
        })
    }

    /// Every S3 store the configuration names: file and Iceberg outputs, dead letters, the archive.
    fn s3_stores(&self) -> Vec<&storage::S3Config> {
        use pipeline::OutputConfig;
        fn s3(store: &storage::StoreConfig) -> Option<&storage::S3Config> {
            match store {
                storage::StoreConfig::S3(c) => Some(c),
                storage::StoreConfig::Local(_) => None,
            }
        }
        let outputs = self.pipeline.iter().flat_map(|p| &p.outputs).filter_map(|o| match o {
            OutputConfig::S3(f) => Some(&f.store),
            OutputConfig::Iceberg(c) => s3(&c.store),
            OutputConfig::Local(_) | OutputConfig::Postgres(_) | OutputConfig::Kafka(_) => None,
        });
        let others = self
            .pipeline
            .iter()
            .filter_map(|p| p.dead_letter.as_ref())
            .map(|d| &d.store)
            .chain(&self.archive.store)
            .filter_map(s3);
        outputs.chain(others).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_kafka_properties_are_read_from_the_environment_as_given() {
        let vars = [
            ("SINK_WORKER_KAFKA_PROPERTY__SASL_PASSWORD", " s3cret "),
            ("SINK_WORKER_KAFKA_PROPERTY__SSL_CA_LOCATION", "/etc/ca.pem"),
            ("SINK_WORKER_KAFKA_PROPERTY__", "ignored: no name"),
            ("SINK_WORKER_KAFKA__BROKERS", "not a property"),
            ("SINK_WORKER_KEYS__DEFAULT", "123456"),
            ("SINK_WORKER_KEYS__K2026", "true"),
        ];
        let vars = || vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let owned = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(
            settings_from_env(vars(), KAFKA_PROPERTY_PREFIX, true),
            owned(&[("sasl.password", " s3cret "), ("ssl.ca.location", "/etc/ca.pem")])
        );
        // Secrets stay strings, untrimmed: digits and `true` are not numbers or booleans here.
        assert_eq!(
            settings_from_env(vars(), KEY_PREFIX, false),
            owned(&[("default", "123456"), ("k2026", "true")])
        );
    }

    #[test]
    fn monitor_tokens_come_from_the_environment_as_given_and_never_show_in_debug_or_check() {
        let secret = "0123456789012345678";
        let digest = hex::encode(murron_wire::token::hash(b"reader-secret-0123456789"));
        let vars = [
            ("SINK_WORKER_MONITOR__AUTH__TOKENS__OPS__TOKEN", secret),
            ("SINK_WORKER_MONITOR__AUTH__TOKENS__DASH__SHA256", digest.as_str()),
            (
                "SINK_WORKER_MONITOR__AUTH__TOKENS__OPS__ROLE",
                "ignored here: figment reads it",
            ),
        ];
        let mut c = Config::default();
        c.monitor.auth.add_from_env(settings_from_env(
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            MONITOR_TOKEN_PREFIX,
            false,
        ));
        let ops = &c.monitor.auth.tokens["ops"];
        // Digits stay a string: the token is not parsed as a TOML number.
        assert_eq!(ops.token, secret);
        assert_eq!(c.monitor.auth.tokens["dash"].sha256, digest);
        // No role yet: refused, and the error names the token, not its secret.
        let err = c.validate().expect_err("no role").to_string();
        assert!(
            err.contains("monitor.auth.tokens") && err.contains("\"dash\"") && err.contains("no role"),
            "{err}"
        );
        for (name, role) in [("ops", MonitorRole::Admin), ("dash", MonitorRole::Reader)] {
            c.monitor.auth.tokens.get_mut(name).expect("token").role = Some(role);
        }
        c.validate().expect("valid");
        let shown = format!("{c:?}\n{}", c.summary());
        assert!(!shown.contains(secret) && !shown.contains(&digest), "{shown}");
        assert!(
            shown.contains("monitor auth: tokens dash (reader), ops (admin); reads token only"),
            "{shown}"
        );
    }

    #[test]
    fn bad_monitor_tokens_are_named_with_what_is_wrong() {
        let token = |role, types: &[&str], token: &str, sha256: &str| MonitorTokenConfig {
            role,
            types: types.iter().map(|t| t.to_string()).collect(),
            token: token.into(),
            sha256: sha256.into(),
        };
        let long = "a-long-enough-token-0123";
        let digest = hex::encode(murron_wire::token::hash(long.as_bytes()));
        for (t, needle) in [
            (token(Some(MonitorRole::Admin), &[], "short", ""), "at least 16"),
            (token(Some(MonitorRole::Admin), &[], "", ""), "no token"),
            (token(Some(MonitorRole::Admin), &[], long, &digest), "not both"),
            (token(Some(MonitorRole::Admin), &[], "", "abc"), "64 hex digits"),
            (token(Some(MonitorRole::Owner), &[], long, ""), "needs its types"),
            (token(Some(MonitorRole::Owner), &[""], long, ""), "empty"),
            (
                token(Some(MonitorRole::Reader), &["billing.*"], long, ""),
                "only owner tokens",
            ),
            (token(None, &[], long, ""), "no role"),
        ] {
            let mut auth = MonitorAuthConfig::default();
            auth.tokens.insert("t1".into(), t);
            let err = auth.validate().expect_err(needle);
            assert!(err.starts_with("token \"t1\"") && err.contains(needle), "{err}");
            assert!(!err.contains(long), "{err}");
        }
        // The same token twice, once as itself and once as its hash.
        let mut auth = MonitorAuthConfig::default();
        auth.tokens
            .insert("a".into(), token(Some(MonitorRole::Admin), &[], long, ""));
        auth.tokens
            .insert("b".into(), token(Some(MonitorRole::Reader), &[], "", &digest));
        assert!(auth.validate().expect_err("duplicate").contains("same token"));
    }

    #[test]
    fn a_file_may_hold_monitor_tokens_as_hashes() {
        let dir = std::env::temp_dir().join(format!("murron-config-test-m-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.toml");
        let digest = hex::encode(murron_wire::token::hash(b"billing-team-token-0123"));
        std::fs::write(
            &path,
            format!(
                "[monitor.auth]\nanonymous_reads = true\n[monitor.auth.tokens.billing]\nrole = \"owner\"\n\
                 types = [\"billing.*\"]\nsha256 = \"{digest}\"\n"
            ),
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        let t = &c.monitor.auth.tokens["billing"];
        assert_eq!(
            (t.role, t.types.as_slice()),
            (Some(MonitorRole::Owner), &["billing.*".to_string()][..])
        );
        assert!(c.monitor.auth.anonymous_reads);
        std::fs::write(&path, "[monitor.auth.tokens.x]\nrole = \"superuser\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("superuser"), "{err}");
    }

    #[test]
    fn defaults_point_at_the_local_stack() {
        let c = Config::default();
        assert_eq!(c.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(c.registry.url, "http://127.0.0.1:8081");
        c.validate().unwrap();
    }

    #[test]
    fn unknown_key_in_file_is_named_in_the_error() {
        let dir = std::env::temp_dir().join(format!("murron-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[kafka]\nbrokerz = \"x:1\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("brokerz"), "{err}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/sink.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::Missing(_)));
    }

    #[test]
    fn example_file_describes_a_pipeline_with_two_outputs() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/sink-worker.toml");
        let c = Config::load(Some(&path)).unwrap();
        let p = c.pipeline.expect("pipeline");
        assert_eq!(p.name, "billing");
        assert_eq!(p.filter_type, ["billing.member_active"]);
        assert!(matches!(
            p.outputs[..],
            [
                crate::config::pipeline::OutputConfig::Local(_),
                crate::config::pipeline::OutputConfig::Postgres(_)
            ]
        ));
    }

    #[test]
    fn an_iceberg_output_takes_its_defaults_and_a_bad_namespace_is_named() {
        use crate::config::outputs::Partitioning;
        use crate::config::pipeline::OutputConfig;
        let dir = std::env::temp_dir().join(format!("murron-config-test-i-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("i.toml");
        let text = |extra: &str| {
            format!(
                "[pipeline]\nname = \"b\"\ninput = {{ topics = [\"t\"] }}\n[[pipeline.outputs]]\nkind = \"iceberg\"\n\
                 store = {{ kind = \"local\", path = \"./lake\" }}\n{extra}"
            )
        };
        std::fs::write(&path, text("")).unwrap();
        let c = Config::load(Some(&path)).unwrap();
        let p = c.pipeline.expect("pipeline");
        p.validate().unwrap();
        let [OutputConfig::Iceberg(ice)] = &p.outputs[..] else {
            panic!("one iceberg output: {:?}", p.outputs)
        };
        assert_eq!(
            (
                ice.warehouse.as_str(),
                ice.catalog.as_str(),
                ice.namespace.as_str(),
                ice.partition
            ),
            ("iceberg", "murron", "events", Partitioning::Hour)
        );
        std::fs::write(&path, text("namespace = \"a.b\"\npartition = \"day\"\n")).unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("pipeline.outputs") && err.contains("namespace \"a.b\""),
            "{err}"
        );
        std::fs::write(&path, text("partition = \"minute\"\n")).unwrap();
        assert!(Config::load(Some(&path)).is_err());
    }

    #[test]
    fn check_summary_names_each_s3_stores_credential_source_and_no_secret() {
        let dir = std::env::temp_dir().join(format!("murron-config-test-s3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s3.toml");
        std::fs::write(
            &path,
            "[pipeline]\nname = \"b\"\ninput = { topics = [\"t\"] }\n\
             [[pipeline.outputs]]\nkind = \"s3\"\nbucket = \"out\"\naccess_key_id = \"AKID\"\nsecret_access_key = \"hunter2\"\n\
             [[pipeline.outputs]]\nkind = \"iceberg\"\nstore = { kind = \"s3\", bucket = \"lake\" }\n\
             [archive]\nstore = { kind = \"s3\", bucket = \"arch\", region = \"eu-west-3\" }\n",
        )
        .unwrap();
        let shown = Config::load(Some(&path)).unwrap().summary().to_string();
        assert!(
            shown.contains(
                "s3 credentials: s3://arch (default credential chain), s3://lake (default credential chain), \
                 s3://out (static keys)\n"
            ),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn pipeline_table_maps_onto_the_builder() {
        use crate::config::outputs::Format;
        use crate::config::pipeline::{Pipeline, kafka, local, postgres};
        let dir = std::env::temp_dir().join(format!("murron-config-test-p-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.toml");
        std::fs::write(
            &path,
            "[pipeline]\nname = \"b\"\ninput = { topics = [\"events.billing\"] }\nfilter_type = [\"billing.member_active\"]\n\
             rate_limit_per_second = 1000\nsample_rate = 5\n\
             [[pipeline.outputs]]\nkind = \"local\"\npath = \"./data\"\nformat = \"avro\"\n\
             [[pipeline.outputs]]\nkind = \"postgres\"\n",
        )
        .unwrap();
        let from_file = Config::load(Some(&path)).unwrap().pipeline.unwrap();
        let built = Pipeline::new("b")
            .input(kafka("events.billing"))
            .filter_type("billing.member_active")
            .with_rate_limit_per_second(1000)
            .with_sample_rate(5)
            .output(local("./data").format(Format::Avro))
            .output(postgres());
        assert_eq!(format!("{from_file:?}"), format!("{built:?}"));
    }

    #[test]
    fn unknown_output_key_and_bad_pipeline_values_name_the_key() {
        let dir = std::env::temp_dir().join(format!("murron-config-test-o-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("o.toml");
        let head = "[pipeline]\nname = \"b\"\ninput = { topics = [\"t\"] }\n";
        std::fs::write(
            &path,
            format!("{head}[[pipeline.outputs]]\nkind = \"local\"\npath = \"x\"\nformt = \"avro\"\n"),
        )
        .unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("formt"), "{err}");
        std::fs::write(
            &path,
            format!("{head}sample_rate = 0\n[[pipeline.outputs]]\nkind = \"postgres\"\n"),
        )
        .unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("pipeline.sample_rate"), "{err}");
        std::fs::write(&path, head).unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("outputs"), "{err}");
    }

    #[test]
    fn bad_registry_settings_name_the_key() {
        let mut c = Config::default();
        c.registry.url = "localhost:8081".into();
        assert!(c.validate().unwrap_err().to_string().contains("registry.url"));
        c.registry.url = "https://registry.example".into();
        c.validate().unwrap();
        c.registry.url = "https://sr-user:hunter2@registry.example".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("registry.url") && !err.contains("hunter2"), "{err}");
        c.registry.url = "http://registry.example".into();
        c.registry.ca_file = Some("/etc/murron/ca.pem".into());
        assert!(c.validate().unwrap_err().to_string().contains("registry.ca_file"));
        c.registry.ca_file = None;
        c.registry.token = Some("t".into());
        c.registry.username = Some("u".into());
        assert!(c.validate().unwrap_err().to_string().contains("registry.token"));
        c.registry.token = None;
        assert!(c.validate().unwrap_err().to_string().contains("registry.password"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure returns figment::Error
    fn registry_credentials_come_from_the_environment_and_stay_out_of_debug() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SINK_WORKER_REGISTRY__URL", "https://registry.example:8081");
            jail.set_env("SINK_WORKER_REGISTRY__USERNAME", "sink");
            // All digits: read as the string given, not as a number.
            jail.set_env("SINK_WORKER_REGISTRY__PASSWORD", "0123456789");
            jail.set_env("SINK_WORKER_REGISTRY__CA_FILE", "/etc/murron/registry-ca.pem");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.registry.username.as_deref(), Some("sink"));
            assert_eq!(c.registry.password.as_deref(), Some("0123456789"));
            assert_eq!(
                c.registry.ca_file.as_deref(),
                Some(Path::new("/etc/murron/registry-ca.pem"))
            );
            let debug = format!("{c:?}");
            assert!(!debug.contains("0123456789") && debug.contains("<redacted>"), "{debug}");
            Ok(())
        });
    }
}
