//! To murron-server over gRPC (`murron.ingest.v1.Ingest/Publish`): batches of record values, a
//! status per event. The server routes by type and stores in Kafka before it answers.
//!
//! - ACCEPTED is acknowledged, REFUSED is reported, RETRY is resent later (after `retry_after_ms`).
//! - A whole call that fails with UNAVAILABLE, RESOURCE_EXHAUSTED or another transient code is
//!   retried whole, after the `retry-after-ms` trailer when the server sent one.
//! - UNAUTHENTICATED, PERMISSION_DENIED and INVALID_ARGUMENT refuse the whole batch: they are
//!   configuration errors, which `flush` reports. So does a failed TLS handshake (reason `tls`),
//!   most often a server certificate the producer does not trust.
//!
//! An `https://` URL speaks TLS (rustls with the ring provider, HTTP/2 by ALPN): the server's
//! certificate is checked against the system's trusted roots, or, when `ca_file` is set, against
//! the certificates of that PEM file only (a private CA), as the registry client does. An untrusted
//! certificate at `connect` is a [`ProducerError::Config`] that says so, not an outage to retry.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use murron_ingest_proto::ingest_client::IngestClient;
use murron_ingest_proto::{PublishRequest, PublishResponse, Status};
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::{Delivery, DeliveryFuture, Transport};
use crate::error::ProducerError;
use crate::record::{Outcome, Record};

/// How to reach murron-server.
#[derive(Clone)]
pub struct ServerConfig {
    /// `http://host:9480`, or `https://host:9480` when the server has `[tls]`.
    pub url: String,
    /// PEM file of the CA that signed the server's certificate (`https://` only): when set, only its
    /// certificates are trusted; when not, the system's roots are.
    pub ca_file: Option<PathBuf>,
    /// Sent as `authorization: Bearer …` when the server requires tokens.
    pub token: Option<String>,
    /// Events per Publish call (the server's `max_batch_events` bounds it).
    pub max_batch: usize,
    /// Publish calls in flight at once.
    pub max_in_flight: usize,
    /// A call that takes longer is retried.
    pub timeout: Duration,
}

impl ServerConfig {
    /// The server at `url`, batches of 1,000, 4 calls in flight, 30 s per call.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            token: None,
            max_batch: 1_000,
            max_in_flight: 4,
            timeout: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_batch", &self.max_batch)
            .field("max_in_flight", &self.max_in_flight)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The gRPC transport; the channel reconnects by itself after a server restart.
#[derive(Debug, Clone)]
pub struct GrpcTransport {
    client: IngestClient<Channel>,
    authorization: Option<MetadataValue<Ascii>>,
    batch_ids: Arc<AtomicU64>,
    max_batch: usize,
    max_in_flight: usize,
}

impl GrpcTransport {
    /// Connects to the server: an address that does not answer is an error now, not later.
    pub async fn connect(config: &ServerConfig) -> Result<Self, ProducerError> {
        let bad = |e: &dyn std::fmt::Display| ProducerError::Config(format!("server {}: {e}", config.url));
        let mut endpoint = Endpoint::from_shared(config.url.clone())
            .map_err(|e| bad(&e))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(config.timeout)
            .tcp_nodelay(true);
        if let Some(tls) = tls_config(config).map_err(|e| bad(&e))? {
            endpoint = endpoint.tls_config(tls).map_err(|e| bad(&e))?;
        }
        let channel = endpoint.connect().await.map_err(|e| {
            match murron_connect::tls::handshake_failure(&e, "murron-server") {
                Some(tls) => bad(&tls),
                None => bad(&e),
            }
        })?;
        let authorization = config
            .token
            .as_ref()
            .map(|t| format!("Bearer {t}").parse::<MetadataValue<Ascii>>())
            .transpose()
            .map_err(|e| bad(&e))?;
        Ok(Self {
            client: IngestClient::new(channel).max_decoding_message_size(64 << 20),
            authorization,
            batch_ids: Arc::new(AtomicU64::new(0)),
            max_batch: config.max_batch,
            max_in_flight: config.max_in_flight,
        })
    }
}

/// The TLS settings for an `https://` URL: `ca_file`'s certificates, else the system's roots;
/// `None` for `http://`.
fn tls_config(config: &ServerConfig) -> Result<Option<ClientTlsConfig>, String> {
    let https = config.url.starts_with("https://");
    match (&config.ca_file, https) {
        (Some(_), false) => Err(format!("ca_file is set but {:?} is not an https:// URL", config.url)),
        (None, false) => Ok(None),
        (None, true) => Ok(Some(ClientTlsConfig::new().with_native_roots())),
        (Some(path), true) => {
            // Read and checked here, so that a wrong path or an empty file is named now.
            murron_connect::tls::ca_certificates(path).map_err(|e| format!("ca_file: {e}"))?;
            let pem = std::fs::read(path).map_err(|e| format!("ca_file: {}: {e}", path.display()))?;
            Ok(Some(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))))
        }
    }
}

/// The server's answer, one outcome per event.
fn outcomes(n: usize, response: &PublishResponse) -> Delivery {
    let details: HashMap<usize, (&str, &str)> = response
        .refusals
        .iter()
        .map(|r| (r.index as usize, (r.reason.as_str(), r.detail.as_str())))
        .collect();
    let outcomes = (0..n)
        .map(|i| {
            let (reason, detail) = details.get(&i).copied().unwrap_or(("", ""));
            match response.status.get(i).map(|s| Status::try_from(*s)) {
                Some(Ok(Status::Accepted)) => Outcome::Acked,
                Some(Ok(Status::Refused)) => Outcome::Refused {
                    reason: if reason.is_empty() { "refused" } else { reason }.to_string(),
                    detail: detail.to_string(),
                },
                Some(Ok(Status::Retry)) => Outcome::Retry {
                    reason: if reason.is_empty() { "server_retry" } else { reason }.to_string(),
                },
                _ => Outcome::Retry {
                    reason: "no_status".into(),
                },
            }
        })
        .collect();
    Delivery {
        outcomes,
        retry_after: (response.retry_after_ms > 0).then(|| Duration::from_millis(response.retry_after_ms.into())),
    }
}

/// A failed call: every event of it is retried, or refused when retrying cannot help.
fn failed_call(n: usize, status: &tonic::Status) -> Delivery {
    let retry_after = status
        .metadata()
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis);
    let refuse = |reason: &str| Outcome::Refused {
        reason: reason.to_string(),
        detail: status.message().to_string(),
    };
    // A handshake that fails on reconnect (a renewed certificate from a CA we do not trust) would
    // come back as UNAVAILABLE forever: it is a configuration error.
    if let Some(tls) = murron_connect::tls::handshake_failure(status, "murron-server") {
        return Delivery::all(
            n,
            Outcome::Refused {
                reason: "tls".into(),
                detail: tls,
            },
            None,
        );
    }
    let outcome = match status.code() {
        Code::Unauthenticated => refuse("unauthenticated"),
        Code::PermissionDenied => refuse("permission_denied"),
        Code::InvalidArgument => refuse("invalid_argument"),
        Code::ResourceExhausted => Outcome::Retry {
            reason: "server_overloaded".into(),
        },
        Code::DeadlineExceeded => Outcome::Retry {
            reason: "server_timeout".into(),
        },
        _ => Outcome::Retry {
            reason: "server_unavailable".into(),
        },
    };
    Delivery::all(n, outcome, retry_after)
}

impl Transport for GrpcTransport {
    fn deliver(&self, batch: Vec<Record>) -> DeliveryFuture {
        let mut client = self.client.clone();
        let authorization = self.authorization.clone();
        let batch_id = self.batch_ids.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let n = batch.len();
            let mut request = tonic::Request::new(PublishRequest {
                batch_id,
                events: batch.into_iter().map(|r| r.value).collect(),
            });
            if let Some(a) = authorization {
                request.metadata_mut().insert("authorization", a);
            }
            match client.publish(request).await {
                Ok(response) => outcomes(n, response.get_ref()),
                Err(status) => failed_call(n, &status),
            }
        })
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
}

#[cfg(test)]
mod tests {
    use murron_ingest_proto::Refusal;

    use super::*;

    #[test]
    fn each_status_becomes_its_outcome_with_the_server_reason() {
        let response = PublishResponse {
            batch_id: 0,
            status: vec![Status::Accepted as i32, Status::Refused as i32, Status::Retry as i32],
            refusals: vec![
                Refusal {
                    index: 1,
                    reason: "bad_signature".into(),
                    detail: "d".into(),
                },
                Refusal {
                    index: 2,
                    reason: "rate_limited".into(),
                    detail: String::new(),
                },
            ],
            retry_after_ms: 250,
        };
        let d = outcomes(4, &response);
        assert_eq!(
            d.outcomes,
            vec![
                Outcome::Acked,
                Outcome::Refused {
                    reason: "bad_signature".into(),
                    detail: "d".into()
                },
                Outcome::Retry {
                    reason: "rate_limited".into()
                },
                Outcome::Retry {
                    reason: "no_status".into()
                },
            ]
        );
        assert_eq!(d.retry_after, Some(Duration::from_millis(250)));
    }

    #[test]
    fn an_overloaded_server_retries_the_batch_after_its_hint_and_auth_failures_refuse_it() {
        let mut status = tonic::Status::resource_exhausted("full");
        status.metadata_mut().insert("retry-after-ms", "1500".parse().unwrap());
        let d = failed_call(2, &status);
        assert_eq!(
            d.outcomes,
            vec![
                Outcome::Retry {
                    reason: "server_overloaded".into()
                };
                2
            ]
        );
        assert_eq!(d.retry_after, Some(Duration::from_millis(1500)));
        let d = failed_call(1, &tonic::Status::unavailable("down"));
        assert_eq!(
            d.outcomes,
            vec![Outcome::Retry {
                reason: "server_unavailable".into()
            }]
        );
        let d = failed_call(1, &tonic::Status::permission_denied("no"));
        assert!(matches!(&d.outcomes[0], Outcome::Refused { reason, .. } if reason == "permission_denied"));
    }

    #[test]
    fn a_failed_handshake_refuses_the_batch_as_a_tls_configuration_error() {
        let untrusted = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let mut status = tonic::Status::unavailable("connect");
        status.set_source(Arc::new(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            untrusted,
        )));
        let d = failed_call(2, &status);
        assert!(
            d.outcomes.iter().all(
                |o| matches!(o, Outcome::Refused { reason, detail } if reason == "tls" && detail.contains("not trusted"))
            ),
            "{:?}",
            d.outcomes
        );
    }

    #[test]
    fn a_ca_file_needs_an_https_url_and_must_hold_a_certificate() {
        let mut config = ServerConfig::new("http://127.0.0.1:9480");
        assert!(matches!(tls_config(&config), Ok(None)));
        config.ca_file = Some(std::env::temp_dir().join("murron-no-such-ca.pem"));
        assert!(tls_config(&config).is_err_and(|e| e.contains("https://")));
        config.url = "https://localhost:9480".into();
        assert!(tls_config(&config).is_err_and(|e| e.contains("ca_file") && e.contains("murron-no-such-ca.pem")));
        config.ca_file = None;
        assert!(matches!(tls_config(&config), Ok(Some(_))));
    }

    #[test]
    fn the_token_is_redacted_in_debug() {
        let mut config = ServerConfig::new("https://localhost:9480");
        config.token = Some("s3cr3t-token".into());
        config.ca_file = Some("/etc/murron/ca.pem".into());
        let text = format!("{config:?}");
        assert!(
            !text.contains("s3cr3t") && text.contains("<redacted>") && text.contains("ca.pem"),
            "{text}"
        );
    }
}
