//! Schema text handling, by schema type: parsing, normalization and fingerprints.
//!
//! Two forms of a schema matter. Its *identity* is a normal form of the parsed schema, defined by
//! its type (see [`avro`], [`json`], [`protobuf`]): text that differs only in notation shares an
//! identity, and so an id. What is *stored and served* is the text as registered, made compact for
//! the JSON-based types, and in canonical `.proto` form for Protobuf (whose clients may register a
//! serialized descriptor instead). The fingerprint, the key of a schema across subjects, is the
//! SHA-256 of the type, the identity and the references.
//!
//! Each schema type has a module of its own and a variant in [`SchemaType`] and [`ParsedSchema`];
//! [`normalize`] and [`parse_stored`] dispatch on the type.

pub mod avro;
pub mod json;
pub mod protobuf;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The schema types this registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    /// Every supported type, as `/schemas/types` lists them.
    pub const ALL: [SchemaType; 3] = [Self::Json, Self::Protobuf, Self::Avro];

    /// The name used in Confluent's API, e.g. `"AVRO"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Avro => "AVRO",
            Self::Json => "JSON",
            Self::Protobuf => "PROTOBUF",
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
    #[error("unsupported schema type {0:?}: this registry supports AVRO, JSON and PROTOBUF")]
    UnsupportedType(String),
    #[error("invalid Avro schema: {0}")]
    InvalidAvro(String),
    #[error("invalid JSON schema: {0}")]
    InvalidJson(String),
    #[error("invalid Protobuf schema: {0}")]
    InvalidProtobuf(String),
    /// A reference names a schema of another type than the referencing schema's.
    #[error("reference {name:?} is a {found} schema; a {expected} schema can only reference {expected} schemas")]
    ReferenceType {
        name: String,
        expected: &'static str,
        found: &'static str,
    },
}

/// A reference from one schema to a schema registered under another subject (Confluent's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// How the referencing schema names it: an Avro type's full name, a JSON Schema `$ref` URL,
    /// or a Protobuf import path.
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A referenced schema, resolved by the store: the name the referencing schemas use for it, and its
/// stored text. A schema's referenced list holds its references and theirs, transitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referenced {
    pub name: String,
    pub schema_type: SchemaType,
    pub text: String,
}

/// A parsed schema of any supported type, with references resolved, ready for compatibility checks.
/// Cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedSchema {
    Avro(Arc<apache_avro::Schema>),
    Json(Arc<json::JsonSchema>),
    Protobuf(Arc<protobuf::ProtobufSchema>),
}

impl ParsedSchema {
    /// The type of this schema.
    pub fn schema_type(&self) -> SchemaType {
        match self {
            Self::Avro(_) => SchemaType::Avro,
            Self::Json(_) => SchemaType::Json,
            Self::Protobuf(_) => SchemaType::Protobuf,
        }
    }
}

/// A parsed schema and its normalized form.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The schema with references resolved, ready for compatibility checks.
    pub schema: ParsedSchema,
    /// What is stored and served: compact JSON for Avro and JSON Schema, canonical `.proto` text for
    /// Protobuf.
    pub text: String,
    pub references: Vec<Reference>,
    /// SHA-256 of the schema's type, identity and references: the identity of the schema across
    /// subjects.
    pub fingerprint: [u8; 32],
}

/// What a type's parser gives back for submitted text.
struct Parsed {
    schema: ParsedSchema,
    /// The schema's normal form, which the fingerprint hashes.
    identity: String,
    /// The text to store and serve.
    text: String,
}

/// Parses and normalizes `text` of `schema_type` (`None` means AVRO, as in Confluent's API).
/// `referenced` holds the schemas that `references` name, and theirs, transitively.
pub fn normalize(
    schema_type: Option<&str>,
    text: &str,
    references: Vec<Reference>,
    referenced: &[Referenced],
) -> Result<Normalized, SchemaError> {
    let schema_type = SchemaType::from_request(schema_type)?;
    check_reference_types(schema_type, referenced)?;
    let parsed = match schema_type {
        SchemaType::Avro => avro::normalize(text, referenced)?,
        SchemaType::Json => json::normalize(text, referenced)?,
        SchemaType::Protobuf => protobuf::normalize(text, referenced)?,
    };
    let mut hasher = Sha256::new();
    // Avro's identities were hashed without a type before JSON and Protobuf came; they keep their
    // fingerprints. The other types' identities are prefixed with the type's name and NUL, which
    // neither JSON text nor `.proto` text starts with.
    if schema_type != SchemaType::Avro {
        hasher.update(schema_type.as_str().as_bytes());
        hasher.update(b"\0");
    }
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

/// Parses stored schema text of `schema_type` (with its referenced schemas) for compatibility checks.
pub fn parse_stored(
    schema_type: SchemaType,
    text: &str,
    referenced: &[Referenced],
) -> Result<ParsedSchema, SchemaError> {
    Ok(match schema_type {
        SchemaType::Avro => ParsedSchema::Avro(Arc::new(avro::parse_stored(text, referenced)?)),
        SchemaType::Json => ParsedSchema::Json(Arc::new(json::parse_stored(text, referenced)?)),
        SchemaType::Protobuf => ParsedSchema::Protobuf(Arc::new(protobuf::parse_stored(text, referenced)?)),
    })
}

/// A schema references schemas of its own type only, as in Confluent's registry.
fn check_reference_types(schema_type: SchemaType, referenced: &[Referenced]) -> Result<(), SchemaError> {
    match referenced.iter().find(|r| r.schema_type != schema_type) {
        Some(r) => Err(SchemaError::ReferenceType {
            name: r.name.clone(),
            expected: schema_type.as_str(),
            found: r.schema_type.as_str(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_types_are_supported_and_avro_is_the_default() {
        assert_eq!(SchemaType::ALL.map(|t| t.as_str()), ["JSON", "PROTOBUF", "AVRO"]);
        assert_eq!(SchemaType::from_request(None).unwrap(), SchemaType::Avro);
        assert_eq!(SchemaType::from_request(Some("AVRO")).unwrap(), SchemaType::Avro);
        assert!(SchemaType::from_request(Some("avro")).is_err(), "names are exact");
        assert_eq!(SchemaType::from_request(Some("JSON")).unwrap(), SchemaType::Json);
        assert_eq!(
            SchemaType::from_request(Some("PROTOBUF")).unwrap(),
            SchemaType::Protobuf
        );
        assert_eq!(
            SchemaType::from_request(Some("XML")).unwrap_err().to_string(),
            "unsupported schema type \"XML\": this registry supports AVRO, JSON and PROTOBUF"
        );
    }

    #[test]
    fn unknown_types_and_bad_avro_are_refused() {
        assert!(matches!(
            normalize(Some("THRIFT"), "x", vec![], &[]),
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
