//! Schema text handling: parsing, normalization and fingerprints.
//!
//! A schema's normalized form is the JSON that apache-avro writes for the parsed schema: whitespace,
//! attribute order and redundant notation (`"string"` vs `{"type":"string"}`) disappear, while
//! defaults, logical types, aliases and docs are kept. Unlike Avro's Parsing Canonical Form, two
//! schemas that differ in a default never share a normalized form, and so never share an id.

use apache_avro::Schema;
use sha2::{Digest, Sha256};

/// The schema types this registry accepts. JSON Schema and Protobuf are planned.
pub const SUPPORTED_TYPES: &[&str] = &["AVRO"];

/// Why a schema was refused (answered with 42201).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("unsupported schema type {0:?}: this registry supports AVRO")]
    UnsupportedType(String),
    #[error("invalid Avro schema: {0}")]
    InvalidAvro(String),
}

/// A parsed schema and its normalized form.
#[derive(Debug, Clone)]
pub struct Normalized {
    pub schema: Schema,
    /// Normalized JSON text: what is stored and served.
    pub text: String,
    /// SHA-256 of `text`: the identity of the schema across subjects.
    pub fingerprint: [u8; 32],
}

/// Parses and normalizes `text` of `schema_type` (`None` means AVRO, as in Confluent's API).
pub fn normalize(schema_type: Option<&str>, text: &str) -> Result<Normalized, SchemaError> {
    match schema_type {
        None | Some("AVRO") => {}
        Some(other) => return Err(SchemaError::UnsupportedType(other.to_string())),
    }
    let schema = Schema::parse_str(text).map_err(|e| SchemaError::InvalidAvro(e.to_string()))?;
    let text =
        serde_json::to_string(&schema).map_err(|e| SchemaError::InvalidAvro(e.to_string()))?;
    let fingerprint = Sha256::digest(text.as_bytes()).into();
    Ok(Normalized {
        schema,
        text,
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str =
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long","default":1}]}"#;

    #[test]
    fn whitespace_and_attribute_order_do_not_change_the_fingerprint() {
        let reordered = r#"{ "fields": [ {"default": 1, "type": {"type":"long"}, "name": "a"} ],
                             "name": "R", "type": "record" }"#;
        assert_eq!(
            normalize(None, A).unwrap().fingerprint,
            normalize(None, reordered).unwrap().fingerprint
        );
    }

    #[test]
    fn a_different_default_is_a_different_schema() {
        let b = A.replace("\"default\":1", "\"default\":2");
        assert_ne!(
            normalize(None, A).unwrap().fingerprint,
            normalize(None, &b).unwrap().fingerprint
        );
    }

    #[test]
    fn logical_type_is_kept() {
        let ts = r#"{"type":"long","logicalType":"timestamp-micros"}"#;
        let n = normalize(Some("AVRO"), ts).unwrap();
        assert!(n.text.contains("timestamp-micros"), "{}", n.text);
        assert_ne!(
            n.fingerprint,
            normalize(None, r#""long""#).unwrap().fingerprint
        );
    }

    #[test]
    fn normalized_text_parses_to_the_same_schema() {
        for path in [
            "murron/Envelope.avsc",
            "billing/member_active.avsc",
            "client/api_call.avsc",
        ] {
            let text = std::fs::read_to_string(format!(
                "{}/../schemas/{path}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let n = normalize(None, &text).unwrap();
            let again = normalize(None, &n.text).unwrap();
            assert_eq!(n.text, again.text, "{path}");
            assert_eq!(n.schema, again.schema);
        }
    }

    #[test]
    fn non_avro_types_and_bad_json_are_refused() {
        assert!(matches!(
            normalize(Some("PROTOBUF"), "x"),
            Err(SchemaError::UnsupportedType(_))
        ));
        assert!(matches!(
            normalize(None, "{not json"),
            Err(SchemaError::InvalidAvro(_))
        ));
        assert!(matches!(
            normalize(None, r#"{"type":"record","name":"R"}"#),
            Err(SchemaError::InvalidAvro(_))
        ));
    }
}
