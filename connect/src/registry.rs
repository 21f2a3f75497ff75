//! Client for the schema registry's Confluent-compatible HTTP API. The sink, the producer library
//! and murron-server know the registry only through this API, never through shared code: the API
//! is the contract.
//! Callers cache what they fetch: schema ids are immutable.
//!
//! HTTPS goes through rustls with the ring provider: the system's trusted roots, or only the
//! certificates of `ca_file` when it is set (a private CA). Credentials are a bearer `token` or
//! basic `username`/`password` (what Confluent Cloud's registry takes); they are never logged and
//! Debug shows them as `<redacted>`. A certificate the client does not trust and a 401/403 are
//! configuration errors ([`RegistryError::is_configuration`]): retrying cannot fix them.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{Method, header};
use http_body_util::{BodyExt, Full};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// How to reach the schema registry's HTTP API.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Base URL, for example `http://127.0.0.1:8081` or `https://registry.example:8081`. Credentials
    /// do not belong in it (it is logged): use `username`/`password` or `token`.
    pub url: String,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: u64,
    /// Bearer token sent as `Authorization: Bearer …` (docs/REGISTRY.md "Authentication"); none
    /// when the registry is open to readers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Basic auth user (`Authorization: Basic`), with `password`; Confluent's
    /// `basic.auth.user.info` is `username:password`. Not with `token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic auth password (Murron's registry takes a token here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// PEM file of the CA certificates to trust for an `https://` URL instead of the system's roots
    /// (a private CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8081".into(),
            timeout_ms: 5_000,
            token: None,
            username: None,
            password: None,
            ca_file: None,
        }
    }
}

impl fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("url", &self.url)
            .field("timeout_ms", &self.timeout_ms)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl RegistryConfig {
    /// The credential fields, which configuration loaders read from the environment as given
    /// rather than as TOML values (a token of digits is still a string).
    pub const SECRETS: [&'static str; 3] = ["token", "username", "password"];

    /// Sets the credential `field` (one of [`Self::SECRETS`]) to `value`; false for another name.
    pub fn set_secret(&mut self, field: &str, value: String) -> bool {
        let slot = match field {
            "token" => &mut self.token,
            "username" => &mut self.username,
            "password" => &mut self.password,
            _ => return false,
        };
        *slot = Some(value);
        true
    }

    /// Checks the settings without touching the network or the files; the error names the key
    /// (`url`, `token`, `username`, `password`, `ca_file`).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.base_url().map(|_| ())
    }

    fn base_url(&self) -> Result<url::Url, (&'static str, String)> {
        let url = url::Url::parse(&self.url).map_err(|e| ("url", format!("{:?} is not a URL: {e}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(("url", format!("{:?} is not an http:// or https:// URL", self.url)));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Not echoed: the URL holds a secret.
            return Err((
                "url",
                "holds credentials; set username and password (or token) instead, the URL is logged".into(),
            ));
        }
        if self.token.is_some() && (self.username.is_some() || self.password.is_some()) {
            return Err(("token", "set either token or username/password, not both".into()));
        }
        match (&self.username, &self.password) {
            (Some(_), None) => return Err(("password", "username is set without a password".into())),
            (None, Some(_)) => return Err(("username", "password is set without a username".into())),
            _ => {}
        }
        if self.ca_file.is_some() && url.scheme() != "https" {
            return Err(("ca_file", format!("is set but {:?} is not an https:// URL", self.url)));
        }
        Ok(url)
    }
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A registry call that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The settings cannot work (a bad URL, an unreadable `ca_file`, no trusted roots).
    #[error("schema registry settings: {key}: {reason}")]
    Config { key: &'static str, reason: String },
    /// The registry could not be reached or timed out: retry later, do not dead-letter.
    #[error("schema registry unreachable: {}", cause_chain(.0.as_ref()))]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The TLS handshake failed, most often because the registry's certificate is not trusted: a
    /// configuration error, not an outage.
    #[error("TLS with the schema registry failed: {0}")]
    Tls(String),
    /// The registry answered with an error body (for example 40403 schema not found, or 401 when
    /// the credentials are wrong).
    #[error("schema registry answered {status}: {message} (error_code {error_code}){}", auth_hint(*.status))]
    Api {
        status: u16,
        error_code: i64,
        message: String,
    },
    /// The registry answered 2xx with a body we cannot use.
    #[error("unexpected answer from schema registry: {0}")]
    Protocol(String),
    /// The registry served a schema that cannot be used (too many references).
    #[error("schema {id} from the registry cannot be used: {reason}")]
    InvalidSchema { id: u32, reason: String },
}

impl RegistryError {
    /// True when the same call may succeed later (network trouble or a 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Api { status, .. } => *status >= 500,
            Self::Config { .. } | Self::Tls(_) | Self::Protocol(_) | Self::InvalidSchema { .. } => false,
        }
    }

    /// True when our settings are wrong rather than the registry down or the request bad: the
    /// settings themselves, an untrusted certificate or a failed handshake, or credentials the
    /// registry refuses (401, 403). Only an operator can fix these.
    pub fn is_configuration(&self) -> bool {
        match self {
            Self::Config { .. } | Self::Tls(_) => true,
            Self::Api { status, .. } => matches!(status, 401 | 403),
            Self::Unreachable(_) | Self::Protocol(_) | Self::InvalidSchema { .. } => false,
        }
    }

    /// A transport error, as [`Self::Tls`] when TLS failed (so that it is not taken for an
    /// outage), else [`Self::Unreachable`].
    fn from_transport(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        match crate::tls::handshake_failure(&e, "the registry") {
            Some(tls) => Self::Tls(tls),
            None => Self::Unreachable(Box::new(e)),
        }
    }
}

fn auth_hint(status: u16) -> &'static str {
    match status {
        401 => "; check the registry credentials (token, or username and password)",
        403 => "; the registry credentials lack the permission",
        _ => "",
    }
}

/// `e` and its causes, `: `-separated: the HTTP client's own message hides why a request failed.
fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// The rustls client configuration: the certificates of `ca_file`, else the system's roots.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, RegistryError> {
    let config_error = |key, reason| RegistryError::Config { key, reason };
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = crate::tls::ca_certificates(path).map_err(|reason| config_error("ca_file", reason))?;
            if roots.add_parsable_certificates(certs).0 == 0 {
                return Err(config_error(
                    "ca_file",
                    format!("{}: no usable certificate in it", path.display()),
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                let why = found.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
                return Err(config_error(
                    "ca_file",
                    format!("no trusted root certificates found on this system{why}; set ca_file"),
                ));
            }
        }
    }
    client_config(roots)
}

/// A rustls client trusting `roots`, with the ring provider (the workspace's; no process default
/// is assumed).
fn client_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, RegistryError> {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| RegistryError::Config {
            key: "url",
            reason: format!("TLS setup: {e}"),
        })
}

/// How each request proves who we are.
enum Auth {
    None,
    Bearer(String),
    Basic { username: String, password: String },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Bearer(_) => "Bearer(<redacted>)",
            Auth::Basic { .. } => "Basic(<redacted>)",
        })
    }
}
/// A schema as registered under a subject.
#[derive(Debug, Clone, Deserialize)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i32,
    pub id: u32,
    pub schema: String,
    /// `schemaType`: absent for Avro, else `JSON` or `PROTOBUF`.
    #[serde(rename = "schemaType", default)]
    pub schema_type: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error_code: i64,
    message: String,
}

/// The HTTP/1.1 client, plain or TLS by the URL's scheme.
type Http = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// HTTP client of the registry.
#[derive(Debug)]
pub struct RegistryClient {
    http: Http,
    base: url::Url,
    auth: Auth,
    timeout: Duration,
}

impl RegistryClient {
    /// A client for `config`; reads `ca_file` (or the system's roots) for an `https://` URL.
    pub fn new(config: &RegistryConfig) -> Result<Self, RegistryError> {
        let base = config
            .base_url()
            .map_err(|(key, reason)| RegistryError::Config { key, reason })?;
        // Plain http never reads the system's roots; the connector still wants a TLS config.
        let tls = if base.scheme() == "https" {
            tls_config(config.ca_file.as_deref())?
        } else {
            client_config(rustls::RootCertStore::empty())?
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        // Idle connections are dropped after 60 s rather than kept until the registry closes them.
        let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        let auth = match (&config.token, &config.username, &config.password) {
            (Some(token), _, _) => Auth::Bearer(token.clone()),
            (None, Some(username), Some(password)) => Auth::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            _ => Auth::None,
        };
        Ok(Self {
            http,
            base,
            auth,
            timeout: Duration::from_millis(config.timeout_ms),
        })
    }

    /// Asks the registry something every caller may ask (`GET /schemas/types`): says at start-up
    /// whether the URL, TLS trust and credentials work.
    pub async fn probe(&self) -> Result<(), RegistryError> {
        self.get::<serde_json::Value>(&["schemas", "types"]).await.map(|_| ())
    }

    /// The base URL with `segments` appended, each percent-encoded (subjects may hold any character).
    fn url(&self, segments: &[&str]) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, segments: &[&str]) -> Result<T, RegistryError> {
        self.call(Method::GET, segments, None).await
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        segments: &[&str],
        body: &serde_json::Value,
    ) -> Result<T, RegistryError> {
        self.call(Method::POST, segments, Some(body)).await
    }

    /// One request, bounded by the timeout from sending to the whole body.
    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&serde_json::Value>,
    ) -> Result<T, RegistryError> {
        let url = self.url(segments);
        let mut req = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header(header::ACCEPT, CONTENT_TYPE);
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(token) => req = req.header(header::AUTHORIZATION, format!("Bearer {token}")),
            Auth::Basic { username, password } => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                req = req.header(header::AUTHORIZATION, format!("Basic {encoded}"));
            }
        }
        let body = match body {
            Some(json) => {
                req = req.header(header::CONTENT_TYPE, CONTENT_TYPE);
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        // Only a credential that is not a valid header value fails here; the error never shows it.
        let req = req.body(Full::new(body)).map_err(|_| RegistryError::Config {
            key: match self.auth {
                Auth::Basic { .. } => "password",
                _ => "token",
            },
            reason: "holds characters an HTTP header cannot carry".into(),
        })?;
        let exchange = async {
            let resp = self.http.request(req).await.map_err(RegistryError::from_transport)?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(RegistryError::from_transport)?
                .to_bytes();
            Ok::<_, RegistryError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange).await.map_err(|_| {
            RegistryError::Unreachable(format!("no answer from {url} within {:?}", self.timeout).into())
        })??;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol(e.to_string()));
        }
        match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(e) => Err(RegistryError::Api {
                status: status.as_u16(),
                error_code: e.error_code,
                message: e.message,
            }),
            Err(_) => Err(RegistryError::Api {
                status: status.as_u16(),
                error_code: i64::from(status.as_u16()),
                message: String::from_utf8_lossy(&body).chars().take(200).collect(),
            }),
        }
    }

    /// Registers an Avro schema under `subject` (idempotent) and returns its global id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        self.register_typed(subject, schema, None).await
    }

    /// Registers a schema of `schema_type` (`None` or `AVRO`, `JSON`, `PROTOBUF`) under `subject`
    /// (idempotent) and returns its global id.
    pub async fn register_typed(
        &self,
        subject: &str,
        schema: &str,
        schema_type: Option<&str>,
    ) -> Result<u32, RegistryError> {
        #[derive(Deserialize)]
        struct Registered {
            id: u32,
        }
        let body = schema_body(schema, schema_type);
        Ok(self
            .post::<Registered>(&["subjects", subject, "versions"], &body)
            .await?
            .id)
    }

    /// The version of `subject` whose schema is `schema`, if it is registered there (`POST
    /// /subjects/{subject}`); `None` when the subject or the schema is not.
    pub async fn lookup(
        &self,
        subject: &str,
        schema: &str,
        schema_type: Option<&str>,
    ) -> Result<Option<SubjectVersion>, RegistryError> {
        match self
            .post::<SubjectVersion>(&["subjects", subject], &schema_body(schema, schema_type))
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(RegistryError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The latest version registered under `subject`.
    pub async fn latest(&self, subject: &str) -> Result<SubjectVersion, RegistryError> {
        self.get(&["subjects", subject, "versions", "latest"]).await
    }

    /// The schema registered with `id`, the schemas it references (transitively, closest first) and
    /// the subjects it is registered under. Not cached: the sink keeps its own cache of compiled
    /// schemas.
    pub async fn schema_with_subjects(&self, id: u32) -> Result<RegisteredSchema, RegistryError> {
        let id_text = id.to_string();
        let body: Served = self.get(&["schemas", "ids", &id_text]).await?;
        let subjects: Vec<String> = self.get(&["schemas", "ids", &id_text, "subjects"]).await?;
        let referenced = self.referenced(id, &body.references).await?;
        Ok(RegisteredSchema {
            schema_type: body.schema_type,
            text: body.schema,
            referenced,
            subjects,
        })
    }

    /// The schemas `references` name and theirs, breadth first, each once.
    async fn referenced(
        &self,
        id: u32,
        references: &[ServedReference],
    ) -> Result<Vec<ReferencedSchema>, RegistryError> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut queue: std::collections::VecDeque<ServedReference> = references.iter().cloned().collect();
        while let Some(r) = queue.pop_front() {
            if out.len() >= MAX_REFERENCED {
                return Err(RegistryError::InvalidSchema {
                    id,
                    reason: format!("references more than {MAX_REFERENCED} schemas"),
                });
            }
            if !seen.insert((r.name.clone(), r.subject.clone(), r.version)) {
                continue;
            }
            let version = r.version.to_string();
            let served: Served = self.get(&["subjects", &r.subject, "versions", &version]).await?;
            queue.extend(served.references.iter().cloned());
            out.push(ReferencedSchema {
                name: r.name,
                schema_type: served.schema_type,
                text: served.schema,
            });
        }
        Ok(out)
    }
}

/// How many schemas one schema may reference, transitively: bounds the requests one lookup makes.
const MAX_REFERENCED: usize = 256;

/// A schema as the registry serves it, by id or by subject and version.
#[derive(Debug, Deserialize)]
struct Served {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<ServedReference>,
}

/// One of a schema's references, as the registry serves it.
#[derive(Debug, Clone, Deserialize)]
struct ServedReference {
    name: String,
    subject: String,
    version: i32,
}

/// A schema as the registry serves it by id.
#[derive(Debug, Clone)]
pub struct RegisteredSchema {
    /// `schemaType`; absent for Avro.
    pub schema_type: Option<String>,
    pub text: String,
    /// The schemas it references, transitively, closest first.
    pub referenced: Vec<ReferencedSchema>,
    /// The subjects it is registered under.
    pub subjects: Vec<String>,
}

/// A schema another one references, by the name the referencing schema uses for it.
#[derive(Debug, Clone)]
pub struct ReferencedSchema {
    pub name: String,
    /// `schemaType`; absent for Avro.
    pub schema_type: Option<String>,
    pub text: String,
}

/// The body of a register or lookup request; Avro is the default type and is left out.
fn schema_body(schema: &str, schema_type: Option<&str>) -> serde_json::Value {
    match schema_type {
        Some(t) if !t.eq_ignore_ascii_case("AVRO") => json!({ "schema": schema, "schemaType": t }),
        _ => json!({ "schema": schema }),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::Mutex;

    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A test CA and a `localhost` certificate it issued: (CA PEM, leaf chain, leaf key).
    fn ca_and_leaf() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let ca = murron_tls::test_ca::TestCa::new();
        let (cert, key) = ca.issue();
        let cert = CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert pem");
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key pem");
        (ca.pem, vec![cert], key)
    }

    /// An HTTPS server that answers every request with `status` and `body` and keeps each
    /// request's head.
    async fn https_server(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        status: &'static str,
        body: &'static str,
    ) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("cert");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (addr, heads)
    }

    fn write_ca(dir: &Path, name: &str, pem: &str) -> PathBuf {
        std::fs::create_dir_all(dir).expect("dir");
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("write ca");
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("murron-registry-tls-{name}-{}", std::process::id()))
    }

    #[tokio::test]
    async fn https_with_a_private_ca_sends_basic_auth() {
        let (ca, chain, key) = ca_and_leaf();
        let (addr, heads) = https_server(chain, key, "200 OK", r#"["AVRO","JSON","PROTOBUF"]"#).await;
        let dir = temp_dir("basic");
        let client = RegistryClient::new(&RegistryConfig {
            url: format!("https://localhost:{}", addr.port()),
            username: Some("orders".into()),
            password: Some("s3cret".into()),
            ca_file: Some(write_ca(&dir, "ca.pem", &ca)),
            ..RegistryConfig::default()
        })
        .unwrap();
        client.probe().await.unwrap();
        let head = heads.lock().unwrap()[0].clone();
        // base64("orders:s3cret")
        assert!(head.contains("authorization: Basic b3JkZXJzOnMzY3JldA=="), "{head}");
        assert!(!format!("{client:?}").contains("s3cret"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn https_sends_the_bearer_token() {
        let (ca, chain, key) = ca_and_leaf();
        let (addr, heads) = https_server(chain, key, "200 OK", "[]").await;
        let dir = temp_dir("bearer");
        let client = RegistryClient::new(&RegistryConfig {
            url: format!("https://localhost:{}", addr.port()),
            token: Some("tok-123".into()),
            ca_file: Some(write_ca(&dir, "ca.pem", &ca)),
            ..RegistryConfig::default()
        })
        .unwrap();
        client.probe().await.unwrap();
        assert!(heads.lock().unwrap()[0].contains("authorization: Bearer tok-123"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn an_untrusted_certificate_is_a_configuration_error_that_says_so() {
        let (_, chain, key) = ca_and_leaf();
        let (other_ca, _, _) = ca_and_leaf();
        let (addr, _) = https_server(chain, key, "200 OK", "[]").await;
        let dir = temp_dir("untrusted");
        for ca_file in [None, Some(write_ca(&dir, "other.pem", &other_ca))] {
            let client = RegistryClient::new(&RegistryConfig {
                url: format!("https://localhost:{}", addr.port()),
                ca_file,
                ..RegistryConfig::default()
            })
            .unwrap();
            let err = client.probe().await.unwrap_err();
            assert!(matches!(err, RegistryError::Tls(_)), "{err:?}");
            assert!(err.is_configuration() && !err.is_retryable());
            let text = err.to_string();
            assert!(text.contains("not trusted") && text.contains("ca_file"), "{text}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn refused_credentials_are_a_configuration_error() {
        let (ca, chain, key) = ca_and_leaf();
        let (addr, _) = https_server(
            chain,
            key,
            "401 Unauthorized",
            r#"{"error_code":40101,"message":"Unauthorized"}"#,
        )
        .await;
        let dir = temp_dir("401");
        let client = RegistryClient::new(&RegistryConfig {
            url: format!("https://localhost:{}", addr.port()),
            token: Some("wrong".into()),
            ca_file: Some(write_ca(&dir, "ca.pem", &ca)),
            ..RegistryConfig::default()
        })
        .unwrap();
        let err = client.probe().await.unwrap_err();
        assert!(err.is_configuration() && !err.is_retryable(), "{err:?}");
        assert!(
            err.to_string().contains("401") && err.to_string().contains("credentials"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_at_construction() {
        let dir = temp_dir("empty");
        let path = write_ca(&dir, "empty.pem", "not a certificate\n");
        let err = RegistryClient::new(&RegistryConfig {
            url: "https://localhost:1".into(),
            ca_file: Some(path),
            ..RegistryConfig::default()
        })
        .unwrap_err();
        assert!(matches!(err, RegistryError::Config { key: "ca_file", .. }), "{err:?}");
        let missing = RegistryClient::new(&RegistryConfig {
            url: "https://localhost:1".into(),
            ca_file: Some(dir.join("missing.pem")),
            ..RegistryConfig::default()
        })
        .unwrap_err();
        assert!(missing.to_string().contains("missing.pem"), "{missing}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secrets_stay_out_of_debug_and_the_url() {
        let config = RegistryConfig {
            token: Some("tok-secret".into()),
            ..RegistryConfig::default()
        };
        assert!(!format!("{config:?}").contains("tok-secret"));
        let config = RegistryConfig {
            url: "https://u:pw-secret@registry.example".into(),
            ..RegistryConfig::default()
        };
        let (key, reason) = config.validate().unwrap_err();
        assert_eq!(key, "url");
        assert!(!reason.contains("pw-secret"));
    }
}
