//! The served certificate: a PEM certificate chain and key read from files, checked to belong
//! together, and read again every `reload_secs` so that a renewed certificate is served without a
//! restart.
//!
//! rustls asks [`Served`] (its `ResolvesServerCert`) for the pair at every handshake, so a swap takes
//! effect for the next new connection; connections already open keep the certificate they began with.
//! The poll compares the files' *contents*, not their modification times: Kubernetes updates a
//! mounted Secret by swapping a `..data` symlink, which leaves the mtimes of the paths we read
//! unchanged. A new pair that does not load (half-written, key of another certificate) is logged and
//! counted, and the previous pair stays in service.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, Weak};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::listen::Protocol;
use crate::{TlsConfig, TlsError};

/// The certificate a server presents, reloaded from its files while the server runs.
#[derive(Debug, Clone)]
pub struct Certificates {
    served: Arc<Served>,
    provider: Arc<CryptoProvider>,
}

/// The pair in service, as rustls's certificate resolver.
#[derive(Debug)]
struct Served {
    current: RwLock<Loaded>,
}

/// One loaded pair and how to name it in logs.
#[derive(Debug, Clone)]
struct Loaded {
    key: Arc<CertifiedKey>,
    /// SHA-256 of the server's own certificate (DER), hex: what `openssl x509 -fingerprint -sha256` shows.
    fingerprint: String,
    /// Its `notAfter`, in seconds since the epoch.
    not_after: Option<i64>,
}

impl ResolvesServerCert for Served {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(PoisonError::into_inner).key.clone())
    }
}

impl Certificates {
    /// Loads the pair named by `config` (any problem is an error that names the file) and starts
    /// the reload poll, which ends when the last clone of this value and every listener using it
    /// are dropped. Call it inside a tokio runtime.
    pub async fn load(config: &TlsConfig) -> Result<Self, TlsError> {
        config
            .validate()
            .map_err(|(key, reason)| TlsError::Config(format!("{key}: {reason}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let files = read_files(config).await?;
        let loaded = load_pair(config, &files, &provider)?;
        announce(config, &loaded);
        let served = Arc::new(Served {
            current: RwLock::new(loaded),
        });
        tokio::spawn(reload(Arc::downgrade(&served), config.clone(), provider.clone(), files));
        Ok(Self { served, provider })
    }

    /// The SHA-256 fingerprint of the certificate now served.
    pub fn fingerprint(&self) -> String {
        self.served
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .fingerprint
            .clone()
    }

    /// A rustls server configuration that serves the current pair and offers `protocol` by ALPN.
    pub fn server_config(&self, protocol: Protocol) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.served.clone());
        config.alpn_protocols = protocol.alpn();
        Ok(Arc::new(config))
    }
}

/// The raw bytes of the certificate and key files.
type Files = (Vec<u8>, Vec<u8>);

async fn read_files(config: &TlsConfig) -> Result<Files, TlsError> {
    let read = |path: &Path| {
        let path = path.to_owned();
        async move {
            tokio::fs::read(&path)
                .await
                .map_err(|source| TlsError::Read { path, source })
        }
    };
    Ok((read(&config.cert_file).await?, read(&config.key_file).await?))
}

/// Parses the chain and key and checks that the key is the certificate's.
fn load_pair(config: &TlsConfig, (cert, key): &Files, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
    let pem_error = |path: &Path, e: pem::Error, what: &str| TlsError::Pem {
        path: path.to_owned(),
        reason: match e {
            pem::Error::NoItemsFound => format!("no {what} found in PEM"),
            e => format!("not valid PEM: {e}"),
        },
    };
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&config.cert_file, e, "CERTIFICATE"))?;
    let Some(leaf) = chain.first() else {
        return Err(pem_error(&config.cert_file, pem::Error::NoItemsFound, "CERTIFICATE"));
    };
    let fingerprint = hex::encode(Sha256::digest(leaf.as_ref()));
    let not_after = crate::expiry::not_after(leaf.as_ref());
    let private = PrivateKeyDer::from_pem_slice(key).map_err(|e| pem_error(&config.key_file, e, "PRIVATE KEY"))?;
    let signer = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsError::Pem {
            path: config.key_file.clone(),
            reason: format!("unusable private key: {e}"),
        })?;
    let key = CertifiedKey::new(chain, signer);
    match key.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(TlsError::Mismatch {
                cert: config.cert_file.clone(),
                key: config.key_file.clone(),
                reason: "their public keys differ".into(),
            });
        }
        Err(e) => {
            return Err(TlsError::Pem {
                path: config.cert_file.clone(),
                reason: format!("not a usable certificate: {e}"),
            });
        }
    }
    Ok(Loaded {
        key: Arc::new(key),
        fingerprint,
        not_after,
    })
}

/// Logs and publishes which certificate is now served.
fn announce(config: &TlsConfig, loaded: &Loaded) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let expires_in_days = loaded.not_after.map(|t| ((t as f64 - now) / 86_400.0).floor());
    tracing::info!(
        cert_file = %config.cert_file.display(),
        fingerprint = %loaded.fingerprint,
        expires_in_days,
        "tls: serving certificate"
    );
    if expires_in_days.is_some_and(|d| d < 0.0) {
        tracing::warn!(cert_file = %config.cert_file.display(), "tls: the certificate served has expired");
    }
    metrics::gauge!("murron_tls_certificate_loaded_timestamp_seconds").set(now);
    if let Some(t) = loaded.not_after {
        metrics::gauge!("murron_tls_certificate_expiry_timestamp_seconds").set(t as f64);
    }
}

/// Reads the files every interval; a changed pair that loads replaces the served one.
async fn reload(served: Weak<Served>, config: TlsConfig, provider: Arc<CryptoProvider>, mut seen: Files) {
    let mut tick = tokio::time::interval(config.reload_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    // The last problem logged, so that a lasting one is logged once, not at every poll.
    let mut problem: Option<String> = None;
    loop {
        tick.tick().await;
        let Some(served) = served.upgrade() else {
            return;
        };
        let result = match read_files(&config).await {
            Ok(files) if files == seen => continue,
            Ok(files) => {
                let loaded = load_pair(&config, &files, &provider);
                seen = files;
                loaded
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(loaded) => {
                announce(&config, &loaded);
                *served.current.write().unwrap_or_else(PoisonError::into_inner) = loaded;
                problem = None;
            }
            Err(e) => {
                let message = e.to_string();
                if problem.as_deref() != Some(message.as_str()) {
                    tracing::warn!(error = %message, "tls: the certificate files changed but do not load; still serving the previous certificate");
                    metrics::counter!("murron_tls_reload_failures_total").increment(1);
                    problem = Some(message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A self-signed certificate for `localhost` and its key, as PEM.
    fn self_signed() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn write(dir: &Path, cert: &str, key: &str) -> TlsConfig {
        std::fs::write(dir.join("tls.crt"), cert).expect("write");
        std::fs::write(dir.join("tls.key"), key).expect("write");
        TlsConfig {
            cert_file: dir.join("tls.crt"),
            key_file: dir.join("tls.key"),
            reload_secs: 0.1,
        }
    }

    fn tempdir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("murron-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    fn fingerprint_of(cert_pem: &str) -> String {
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("pem");
        hex::encode(Sha256::digest(der.as_ref()))
    }

    #[tokio::test]
    async fn a_matching_pair_loads_and_names_its_fingerprint() {
        let dir = tempdir("ok");
        let (cert, key) = self_signed();
        let certs = Certificates::load(&write(&dir, &cert, &key)).await.expect("load");
        assert_eq!(certs.fingerprint(), fingerprint_of(&cert));
        assert!(certs.server_config(Protocol::Http1).is_ok());
    }

    #[tokio::test]
    async fn startup_errors_name_the_file_and_the_problem() {
        let dir = tempdir("bad");
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let cases: [(&str, &str, &str); 4] = [
            (&cert, &other_key, "does not belong to the certificate"),
            ("", &key, "tls.crt: no CERTIFICATE found"),
            (&cert, &cert, "tls.key: no PRIVATE KEY found"),
            (&key, &key, "tls.crt: no CERTIFICATE found"),
        ];
        for (c, k, expected) in cases {
            let err = Certificates::load(&write(&dir, c, k))
                .await
                .expect_err(expected)
                .to_string();
            assert!(err.contains(expected), "{err:?} should contain {expected:?}");
        }
        let mut missing = write(&dir, &cert, &key);
        missing.key_file = dir.join("absent.key");
        let err = Certificates::load(&missing).await.expect_err("missing").to_string();
        assert!(err.contains("cannot read") && err.contains("absent.key"), "{err}");
    }

    async fn wait_for_fingerprint(certs: &Certificates, expected: &str) -> bool {
        for _ in 0..50 {
            if certs.fingerprint() == expected {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_renewed_pair_replaces_the_served_one() {
        let dir = tempdir("renew");
        let (cert, key) = self_signed();
        let config = write(&dir, &cert, &key);
        let certs = Certificates::load(&config).await.expect("load");
        let (new_cert, new_key) = self_signed();
        write(&dir, &new_cert, &new_key);
        assert!(wait_for_fingerprint(&certs, &fingerprint_of(&new_cert)).await);
    }

    #[tokio::test]
    async fn a_bad_new_pair_is_refused_and_the_old_one_kept_until_a_good_one_arrives() {
        let dir = tempdir("keep");
        let (cert, key) = self_signed();
        let config = write(&dir, &cert, &key);
        let certs = Certificates::load(&config).await.expect("load");
        // A new certificate with the old key: the pair does not match.
        let (new_cert, new_key) = self_signed();
        std::fs::write(&config.cert_file, &new_cert).expect("write");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(certs.fingerprint(), fingerprint_of(&cert));
        // Its key arrives: now the new pair is served.
        std::fs::write(&config.key_file, &new_key).expect("write");
        assert!(wait_for_fingerprint(&certs, &fingerprint_of(&new_cert)).await);
    }

    #[tokio::test]
    async fn a_kubernetes_style_symlink_swap_is_seen() {
        // A mounted Secret: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>; an update swaps ..data.
        let dir = tempdir("symlink");
        let (cert, key) = self_signed();
        let (new_cert, new_key) = self_signed();
        for (name, (c, k)) in [("..v1", (&cert, &key)), ("..v2", (&new_cert, &new_key))] {
            std::fs::create_dir(dir.join(name)).expect("mkdir");
            write(&dir.join(name), c, k);
        }
        std::os::unix::fs::symlink("..v1", dir.join("..data")).expect("symlink");
        for f in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{f}"), dir.join(f)).expect("symlink");
        }
        let config = TlsConfig {
            cert_file: dir.join("tls.crt"),
            key_file: dir.join("tls.key"),
            reload_secs: 0.1,
        };
        let certs = Certificates::load(&config).await.expect("load");
        assert_eq!(certs.fingerprint(), fingerprint_of(&cert));
        std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).expect("symlink");
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("rename");
        assert!(wait_for_fingerprint(&certs, &fingerprint_of(&new_cert)).await);
    }
}
