//! murron-tls: HTTPS for Murron's own servers (the schema registry, the sink-worker's monitor, admin
//! port and Iceberg REST catalog, murron-server's HTTP and gRPC listeners), with the certificate
//! reloaded from its PEM files while the server runs.
//!
//! ```text
//! [tls] cert_file, key_file ──> certs::Certificates (the served pair; a poll swaps it when the files
//!                                 │                  change, a bad new pair is logged and the old kept)
//! TcpListener ──> listen::Listener ──> TLS handshake per connection (rustls, ring) ──> axum / tonic
//! ```
//!
//! A crate of its own rather than a module of murron-connect: connect is how components *reach*
//! services and is linked into the producer library, which has no reason to carry a TLS server.
//! Every server links this one implementation, so the three behave and are configured alike.
//!
//! Without a `[tls]` section a [`listen::Listener`] is plain TCP, exactly as before.

pub mod certs;
pub mod expiry;
pub mod listen;
#[cfg(any(test, feature = "test-ca"))]
pub mod test_ca;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use certs::Certificates;
pub use listen::{Conn, Incoming, Listener, Protocol};

/// The `[tls]` section of a server's configuration: where its certificate and key are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, the server's own certificate first.
    pub cert_file: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// How often the files are read again to pick up a renewed certificate, in seconds.
    #[serde(default = "default_reload_secs")]
    pub reload_secs: f64,
}

fn default_reload_secs() -> f64 {
    10.0
}

impl TlsConfig {
    /// The reload interval; checked by [`TlsConfig::validate`].
    pub fn reload_interval(&self) -> Duration {
        Duration::try_from_secs_f64(self.reload_secs).unwrap_or(Duration::from_secs(10))
    }

    /// Checks what serde cannot: (the key, as every server names the section `[tls]`; the reason).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.cert_file.as_os_str().is_empty() {
            return Err(("tls.cert_file", "must not be empty".into()));
        }
        if self.key_file.as_os_str().is_empty() {
            return Err(("tls.key_file", "must not be empty".into()));
        }
        if !(self.reload_secs.is_finite() && self.reload_secs >= 0.1) {
            return Err((
                "tls.reload_secs",
                format!("{} is not a number of seconds >= 0.1", self.reload_secs),
            ));
        }
        Ok(())
    }
}

/// Why TLS could not be set up. Not retryable: fix the files or the configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls: cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("tls: {path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("tls: the key in {key} does not belong to the certificate in {cert}: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("tls: invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Binds `addr` and serves it with TLS when `tls` is given (else plain TCP): the one call for a
/// server with one listener. The certificate is loaded, and checked, before the port is bound.
pub async fn bind(addr: SocketAddr, tls: Option<&TlsConfig>, protocol: Protocol) -> Result<Listener, TlsError> {
    let certs = match tls {
        Some(tls) => Some(Certificates::load(tls).await?),
        None => None,
    };
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| TlsError::Bind { addr, source })?;
    Listener::new(tcp, certs.as_ref(), protocol)
}
