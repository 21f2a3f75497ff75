//! Client for the schema registry's Confluent-compatible HTTP API. The sink, the producer library
//! and murron-server know the registry only through this API, never through shared code: the API
//! is the contract.
//! Callers cache what they fetch: schema ids are immutable.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

/// How to reach the schema registry's HTTP API.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Base URL, for example `http://127.0.0.1:8081`.
    pub url: String,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: u64,
    /// Bearer token sent as `Authorization: Bearer …` (docs/REGISTRY.md "Authentication"); none
    /// when the registry is open to readers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8081".into(),
            timeout_ms: 5_000,
            token: None,
        }
    }
}

impl fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("url", &self.url)
            .field("timeout_ms", &self.timeout_ms)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A registry call that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or timed out: retry later, do not dead-letter.
    #[error("schema registry unreachable: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// The registry answered with an error body (for example 40403 schema not found).
    #[error("schema registry answered {status}: {message} (error_code {error_code})")]
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
            Self::Protocol(_) | Self::InvalidSchema { .. } => false,
        }
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

/// HTTP client of the registry.
#[derive(Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Option<String>,
}

impl RegistryClient {
    pub fn new(config: &RegistryConfig) -> Result<Self, RegistryError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(RegistryError::Unreachable)?;
        let base = reqwest::Url::parse(&config.url)
            .ok()
            .filter(|u| !u.cannot_be_a_base())
            .ok_or_else(|| RegistryError::Protocol(format!("registry url {:?} is not a base URL", config.url)))?;
        Ok(Self {
            http,
            base,
            token: config.token.clone(),
        })
    }

    /// The base URL with `segments` appended, each percent-encoded (subjects may hold any character).
    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn call<T: for<'de> Deserialize<'de>>(&self, req: reqwest::RequestBuilder) -> Result<T, RegistryError> {
        let req = match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        };
        let resp = req
            .header(reqwest::header::ACCEPT, CONTENT_TYPE)
            .send()
            .await
            .map_err(RegistryError::Unreachable)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(RegistryError::Unreachable)?;
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
        let req = self
            .http
            .post(self.url(&["subjects", subject, "versions"]))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .json(&schema_body(schema, schema_type));
        Ok(self.call::<Registered>(req).await?.id)
    }

    /// The version of `subject` whose schema is `schema`, if it is registered there (`POST
    /// /subjects/{subject}`); `None` when the subject or the schema is not.
    pub async fn lookup(
        &self,
        subject: &str,
        schema: &str,
        schema_type: Option<&str>,
    ) -> Result<Option<SubjectVersion>, RegistryError> {
        let req = self
            .http
            .post(self.url(&["subjects", subject]))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .json(&schema_body(schema, schema_type));
        match self.call::<SubjectVersion>(req).await {
            Ok(v) => Ok(Some(v)),
            Err(RegistryError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The latest version registered under `subject`.
    pub async fn latest(&self, subject: &str) -> Result<SubjectVersion, RegistryError> {
        self.call(self.http.get(self.url(&["subjects", subject, "versions", "latest"])))
            .await
    }

    /// The schema registered with `id`, the schemas it references (transitively, closest first) and
    /// the subjects it is registered under. Not cached: the sink keeps its own cache of compiled
    /// schemas.
    pub async fn schema_with_subjects(&self, id: u32) -> Result<RegisteredSchema, RegistryError> {
        let id_text = id.to_string();
        let body: Served = self
            .call(self.http.get(self.url(&["schemas", "ids", &id_text])))
            .await?;
        let subjects: Vec<String> = self
            .call(self.http.get(self.url(&["schemas", "ids", &id_text, "subjects"])))
            .await?;
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
            let served: Served = self
                .call(self.http.get(self.url(&["subjects", &r.subject, "versions", &version])))
                .await?;
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
