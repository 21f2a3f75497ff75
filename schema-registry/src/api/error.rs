//! Errors in Confluent's shape: an HTTP status plus `{"error_code": N, "message": "..."}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::service::ServiceError;
use crate::store::{DeleteError, RegisterError, StoreError};
use murron_schema_types::schema::SchemaError;

/// The content type of every JSON answer, as Confluent's registry sends it.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// An API error: the status and Confluent error code, with a message for people.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn subject_not_found(subject: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 40401, format!("Subject '{subject}' not found."))
    }
    pub fn version_not_found(subject: &str, version: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40402,
            format!("Version {version} not found for subject '{subject}'."),
        )
    }
    pub fn schema_not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 40403, format!("Schema {what} not found."))
    }
    pub fn subject_soft_deleted(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40404,
            format!("Subject '{subject}' was soft deleted. Set permanent=true to delete permanently"),
        )
    }
    pub fn subject_not_soft_deleted(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40405,
            format!("Subject '{subject}' was not deleted first before being permanently deleted"),
        )
    }
    pub fn version_soft_deleted(subject: &str, version: i32) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40406,
            format!("Subject '{subject}' Version {version} was soft deleted. Set permanent=true to delete permanently"),
        )
    }
    pub fn version_not_soft_deleted(subject: &str, version: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40407,
            format!("Subject '{subject}' Version {version} was not deleted first before being permanently deleted"),
        )
    }
    pub fn no_subject_compatibility(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )
    }
    pub fn no_subject_mode(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40409,
            format!("Subject '{subject}' does not have subject-level mode configured"),
        )
    }
    /// We send 409 in the body too, as most Confluent versions do and every client understands.
    pub fn incompatible(messages: &[String]) -> Self {
        let detail = if messages.is_empty() {
            String::new()
        } else {
            format!(" details: {}", messages.join("; "))
        };
        Self::new(
            StatusCode::CONFLICT,
            409,
            format!("Schema being registered is incompatible with an earlier schema for subject;{detail}"),
        )
    }
    pub fn invalid_schema(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 42201, message)
    }
    pub fn invalid_version(version: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42202,
            format!(
                "The specified version '{version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
            ),
        )
    }
    pub fn invalid_compatibility(level: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42203,
            format!(
                "Invalid compatibility level {level:?}. Valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"
            ),
        )
    }
    /// Confluent has no code of its own for a bad policy; it is a bad config value like a bad level.
    pub fn invalid_policy(policy: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42203,
            format!("Invalid compatibility policy {policy:?}. Valid values are STRICT, LENIENT"),
        )
    }
    pub fn invalid_mode(mode: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42204,
            format!("Invalid mode {mode:?}. Valid values are READWRITE, READONLY, IMPORT"),
        )
    }
    pub fn not_permitted(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 42205, message)
    }
    pub fn reference_exists(ids: &[i32]) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42206,
            format!("One or more references exist to the schema: referenced by schema ids {ids:?}"),
        )
    }
    /// A request body that is not JSON at all.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 400, message)
    }
    /// JSON of the wrong shape for the endpoint.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 422, message)
    }
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            413,
            "Request body is larger than server.max_body_bytes",
        )
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            40101,
            "Authentication required: send a Bearer token or Basic credentials",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, 40301, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, 40901, message)
    }
    /// A Murron resource (a token) that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, message)
    }
    pub fn not_found_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, 405, "HTTP 405 Method Not Allowed")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // PostgreSQL text cannot hold NUL (SQLSTATE 22021): the request's fault, not the store's.
        if e.is_unstorable_text() {
            return Self::unprocessable("Text in the request must not contain NUL characters");
        }
        tracing::warn!(error = %e, "store error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            50001,
            "Error in the backend data store",
        )
    }
}

impl From<SchemaError> for ApiError {
    fn from(e: SchemaError) -> Self {
        Self::invalid_schema(e.to_string())
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Store(e) => e.into(),
            RegisterError::Incompatible(messages) => Self::incompatible(&messages),
            RegisterError::ImportConflict(m) => Self::not_permitted(m),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(e) => e.into(),
            ServiceError::Schema(e) => e.into(),
            ServiceError::Register(e) => e.into(),
            ServiceError::Delete {
                source,
                subject,
                version,
            } => delete_error(source, &subject, version.as_deref()),
            ServiceError::MissingReference => Self::invalid_schema(e.to_string()),
            ServiceError::SubjectNotFound(subject) => Self::subject_not_found(&subject),
            ServiceError::VersionNotFound { subject, version } => Self::version_not_found(&subject, &version),
            ServiceError::SchemaNotFound(what) => Self::schema_not_found(&what),
            ServiceError::NoSubjectCompatibility(subject) => Self::no_subject_compatibility(&subject),
            ServiceError::NoSubjectMode(subject) => Self::no_subject_mode(&subject),
            ServiceError::InvalidCompatibility(level) => Self::invalid_compatibility(&level),
            ServiceError::InvalidPolicy(policy) => Self::invalid_policy(&policy),
            ServiceError::InvalidMode(mode) => Self::invalid_mode(&mode),
            ServiceError::NotPermitted(message) => Self::not_permitted(message),
            ServiceError::Invalid(message) => Self::unprocessable(message),
            ServiceError::TokenExists(_) => Self::conflict(e.to_string()),
            ServiceError::TokenNotFound(_) => Self::not_found(e.to_string()),
            ServiceError::NoRandomness => Self::unprocessable(e.to_string()),
        }
    }
}

/// Maps a delete failure, knowing which subject and version were asked for.
fn delete_error(e: DeleteError, subject: &str, version: Option<&str>) -> ApiError {
    match e {
        DeleteError::Store(e) => e.into(),
        DeleteError::SubjectNotFound => ApiError::subject_not_found(subject),
        DeleteError::VersionNotFound => ApiError::version_not_found(subject, version.unwrap_or("?")),
        DeleteError::AlreadySoftDeleted => match version {
            None => ApiError::subject_soft_deleted(subject),
            Some(v) => ApiError::version_soft_deleted(subject, v.parse().unwrap_or(0)),
        },
        DeleteError::NotSoftDeleted => match version {
            None => ApiError::subject_not_soft_deleted(subject),
            Some(v) => ApiError::version_not_soft_deleted(subject, v),
        },
        DeleteError::Referenced(ids) => ApiError::reference_exists(&ids),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error_code": self.code, "message": self.message });
        json_response(self.status, &body)
    }
}

/// A JSON answer with the registry's content type.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    with_content_type(status, body.to_string())
}

/// A body that is already JSON text, with the registry's content type.
pub fn with_content_type(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}
