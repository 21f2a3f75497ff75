//! Client for the schema registry's Confluent-compatible HTTP API. The sink knows the registry only
//! through this API, never through shared code: the API is the contract.
//! Callers cache what they fetch: schema ids are immutable.

use std::time::Duration;

use murron_payload::{Referenced, SchemaType};
use serde::Deserialize;
use serde_json::json;

use crate::config::RegistryConfig;

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
    /// The schema text the registry returned does not parse as Avro.
    #[error("schema {id} from the registry is not valid Avro: {reason}")]
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
        Ok(Self { http, base })
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
        #[derive(Deserialize)]
        struct Registered {
            id: u32,
        }
        let req = self
            .http
            .post(self.url(&["subjects", subject, "versions"]))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .json(&json!({ "schema": schema }));
        Ok(self.call::<Registered>(req).await?.id)
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

    /// The schemas `references` name and theirs, breadth first, each once. A reference the registry
    /// answers with a type the sink cannot read is `InvalidSchema`, not an outage.
    async fn referenced(&self, id: u32, references: &[ServedReference]) -> Result<Vec<Referenced>, RegistryError> {
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
            let schema_type =
                SchemaType::from_request(served.schema_type.as_deref()).map_err(|e| RegistryError::InvalidSchema {
                    id,
                    reason: format!("reference {:?}: {e}", r.name),
                })?;
            queue.extend(served.references.iter().cloned());
            out.push(Referenced {
                name: r.name,
                schema_type,
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
    pub referenced: Vec<Referenced>,
    /// The subjects it is registered under.
    pub subjects: Vec<String>,
}
