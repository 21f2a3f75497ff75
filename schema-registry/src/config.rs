//! Typed configuration: defaults, then a TOML file, then `SCHEMA_REGISTRY_<SECTION>__<KEY>`
//! environment variables (for example `SCHEMA_REGISTRY_DATABASE__URL`). docs/CONFIG.md lists every key.

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use murron_tls::TlsConfig;
use serde::{Deserialize, Serialize};

/// Environment variables with this prefix override the file.
pub const ENV_PREFIX: &str = "SCHEMA_REGISTRY_";

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

/// The whole registry configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    /// HTTPS: without this section the registry serves plain HTTP (docs/OPERATIONS.md, "TLS").
    pub tls: Option<TlsConfig>,
}

/// Authentication and authorization (docs/CONFIG.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// When false, every request may do anything (local development); changes are audited as "anonymous".
    pub enabled: bool,
    /// When true, reads need no token.
    pub anonymous_reads: bool,
    /// A bootstrap admin token, kept only as its hash in memory. Set it from the environment:
    /// `SCHEMA_REGISTRY_AUTH__ADMIN_TOKEN`.
    pub admin_token: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            anonymous_reads: true,
            admin_token: None,
        }
    }
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; Confluent's registry uses port 8081 too.
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

/// The PostgreSQL database that holds all registry state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// A `postgres://` URL.
    pub url: String,
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection before answering 50001.
    pub acquire_timeout_secs: u64,
    /// Apply pending migrations at start-up.
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "postgres://murron:murron@127.0.0.1:5433/murron".into(),
            max_connections: 16,
            acquire_timeout_secs: 5,
            migrate_on_start: true,
        }
    }
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
        // Only nested names (SECTION__KEY) are settings; SCHEMA_REGISTRY_CONFIG names the file.
        let env = Env::prefixed(ENV_PREFIX)
            .filter(|k| k.as_str().contains("__"))
            .split("__");
        let config: Config = figment.merge(env).extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.database.url;
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Value {
                key: "database.url",
                reason: "must be a postgres:// URL".into(),
            });
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Value {
                key: "database.max_connections",
                reason: "must be at least 1".into(),
            });
        }
        if self.auth.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::Value {
                key: "auth.admin_token",
                reason: "must be at least 16 characters".into(),
            });
        }
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::Value {
                key: "server.max_body_bytes",
                reason: "must be at least 1024".into(),
            });
        }
        if let Some(tls) = &self.tls {
            tls.validate()
                .map_err(|(key, reason)| ConfigError::Value { key, reason })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_listens_on_the_confluent_port() {
        assert_eq!(Config::default().server.listen.port(), 8081);
        Config::default().validate().unwrap();
    }

    #[test]
    fn non_postgres_url_names_the_key() {
        let mut c = Config::default();
        c.database.url = "mysql://x".into();
        assert!(c.validate().unwrap_err().to_string().contains("database.url"));
    }

    #[test]
    fn a_tls_section_names_its_files_and_a_bad_interval_names_its_key() {
        let path = std::env::temp_dir().join(format!("registry-tls-{}.toml", std::process::id()));
        std::fs::write(&path, "[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n").unwrap();
        let tls = Config::load(Some(&path)).unwrap().tls.unwrap();
        assert_eq!(
            (tls.cert_file.to_str(), tls.key_file.to_str()),
            (Some("/c.pem"), Some("/k.pem"))
        );
        assert_eq!(tls.reload_secs, 10.0);
        assert!(Config::default().tls.is_none(), "plain HTTP unless asked");
        std::fs::write(
            &path,
            "[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\nreload_secs = 0\n",
        )
        .unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("tls.reload_secs"), "{err}");
        std::fs::write(&path, "[tls]\ncert_file = \"/c.pem\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("key_file"), "{err}");
    }
}
