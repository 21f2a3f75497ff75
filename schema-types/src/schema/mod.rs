//! Schema text handling, by schema type: parsing, normalization and fingerprints.
//!
//! Two forms of a schema matter. Its *identity* is a normal form of the parsed schema, defined by
//! its type (for Avro, see [`avro`]): text that differs only in notation shares an identity, and so
//! an id. What is *stored and served* is the text as registered, made compact: clients get back
//! every property they sent. The fingerprint, the key of a schema across subjects, is the SHA-256
//! of the identity and the references, whatever the type.
//!
//! Each schema type has a module of its own ([`avro`]) and a variant in [`SchemaType`] and
//! [`ParsedSchema`]; [`normalize`] dispatches on the type a client names.

pub mod avro;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The schema types this registry accepts. JSON Schema and Protobuf are planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    Avro,
}

impl SchemaType {
    /// Every supported type, as `/schemas/types` lists them.
    pub const ALL: [SchemaType; 1] = [Self::Avro];

    /// The name used in Confluent's API, e.g. `"AVRO"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Avro => "AVRO",
        }
    }

    /// The type a request names: `None` means AVRO, as in Confluent's API; names are exact.
    pub fn from_request(name: Option<&str>) -> Result<Self, SchemaError> {
        let Some(name) = name else {
            return Ok(Self::Avro);
        };
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| SchemaError::UnsupportedType(name.to_string()))
    }
}

/// Why a schema was refused (answered with 42201).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("unsupported schema type {0:?}: this registry supports AVRO")]
    UnsupportedType(String),
    #[error("invalid Avro schema: {0}")]
    InvalidAvro(String),
}

/// A reference from one schema to a named type registered under another subject (Confluent's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// The referenced type's full name, as used inside the referencing schema.
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A parsed schema of any supported type, with references inlined, ready for compatibility checks.
/// Cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedSchema {
    Avro(Arc<apache_avro::Schema>),
}

impl ParsedSchema {
    /// The type of this schema.
    pub fn schema_type(&self) -> SchemaType {
        match self {
            Self::Avro(_) => SchemaType::Avro,
        }
    }
}

/// A parsed schema and its normalized form.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The schema with referenced named types inlined, ready for compatibility checks.
    pub schema: ParsedSchema,
    /// The registered text, compact (no insignificant whitespace): what is stored and served.
    pub text: String,
    pub references: Vec<Reference>,
    /// SHA-256 of the schema's identity and the references: the identity of the schema across subjects.
    pub fingerprint: [u8; 32],
}

/// What a type's parser gives back for submitted text.
struct Parsed {
    schema: ParsedSchema,
    /// The schema's normal form, which the fingerprint hashes.
    identity: String,
    /// The text as submitted, compact.
    text: String,
}

/// Parses and normalizes `text` of `schema_type` (`None` means AVRO, as in Confluent's API).
/// `referenced` holds the text of each reference's schema, in the order of `references`.
pub fn normalize(
    schema_type: Option<&str>,
    text: &str,
    references: Vec<Reference>,
    referenced: &[String],
) -> Result<Normalized, SchemaError> {
    let parsed = match SchemaType::from_request(schema_type)? {
        SchemaType::Avro => avro::normalize(text, referenced)?,
    };
    let mut hasher = Sha256::new();
    hasher.update(parsed.identity.as_bytes());
    for r in &references {
        // Unambiguous framing: NUL never appears in JSON text or in subject names we accept.
        hasher.update(format!("\0{}\0{}\0{}", r.name, r.subject, r.version).as_bytes());
    }
    Ok(Normalized {
        schema: parsed.schema,
        text: parsed.text,
        references,
        fingerprint: hasher.finalize().into(),
    })
}

/// Parses stored schema text (with its referenced schemas' text) for compatibility checks. Every
/// stored schema is AVRO today (the store writes that type); another type will come with its type
/// from the store.
pub fn parse_stored(text: &str, referenced: &[String]) -> Result<ParsedSchema, SchemaError> {
    Ok(ParsedSchema::Avro(Arc::new(avro::parse_stored(text, referenced)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_is_the_only_supported_type_and_the_default() {
        assert_eq!(SchemaType::ALL.map(|t| t.as_str()), ["AVRO"]);
        assert_eq!(SchemaType::from_request(None).unwrap(), SchemaType::Avro);
        assert_eq!(SchemaType::from_request(Some("AVRO")).unwrap(), SchemaType::Avro);
        assert!(SchemaType::from_request(Some("avro")).is_err(), "names are exact");
        assert_eq!(
            SchemaType::from_request(Some("JSON")).unwrap_err().to_string(),
            "unsupported schema type \"JSON\": this registry supports AVRO"
        );
    }

    #[test]
    fn non_avro_types_and_bad_json_are_refused() {
        assert!(matches!(
            normalize(Some("PROTOBUF"), "x", vec![], &[]),
            Err(SchemaError::UnsupportedType(_))
        ));
        assert!(matches!(
            normalize(None, "{not json", vec![], &[]),
            Err(SchemaError::InvalidAvro(_))
        ));
        assert!(matches!(
            normalize(None, r#"{"type":"record","name":"R"}"#, vec![], &[]),
            Err(SchemaError::InvalidAvro(_))
        ));
    }
}
