//! Schema text handling: parsing, normalization and fingerprints.
//!
//! Two forms of a schema matter. Its *identity* is the JSON that apache-avro writes for the parsed
//! schema: whitespace, attribute order and redundant notation (`"string"` vs `{"type":"string"}`)
//! disappear, while defaults, logical types, aliases and docs are kept; custom properties on
//! primitive types (such as `avro.java.string`) are not part of it. Unlike Avro's Parsing Canonical
//! Form, two schemas that differ in a default never share an identity, and so never share an id.
//! What is *stored and served* is the text as registered, made compact: clients get back every
//! property they sent.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::Name;
use serde::{Deserialize, Serialize};
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

/// A reference from one schema to a named type registered under another subject (Confluent's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// The referenced type's full name, as used inside the referencing schema.
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A parsed schema and its normalized form.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The schema with referenced named types inlined, ready for compatibility checks.
    pub schema: Schema,
    /// The registered text, compact (no insignificant whitespace): what is stored and served.
    pub text: String,
    pub references: Vec<Reference>,
    /// SHA-256 of `text` and the references: the identity of the schema across subjects.
    pub fingerprint: [u8; 32],
}

/// Parses and normalizes `text` of `schema_type` (`None` means AVRO, as in Confluent's API).
/// `referenced` holds the text of each reference's schema, in the order of `references`.
pub fn normalize(
    schema_type: Option<&str>,
    text: &str,
    references: Vec<Reference>,
    referenced: &[String],
) -> Result<Normalized, SchemaError> {
    match schema_type {
        None | Some("AVRO") => {}
        Some(other) => return Err(SchemaError::UnsupportedType(other.to_string())),
    }
    let (schema, named) = parse(text, referenced)?;
    let identity = serde_json::to_string(&schema).map_err(|e| SchemaError::InvalidAvro(e.to_string()))?;
    // Parsing succeeded, so the text is JSON.
    let compact = serde_json::from_str::<serde_json::Value>(text)
        .and_then(|v| serde_json::to_string(&v))
        .map_err(|e| SchemaError::InvalidAvro(e.to_string()))?;
    let mut hasher = Sha256::new();
    hasher.update(identity.as_bytes());
    for r in &references {
        // Unambiguous framing: NUL never appears in JSON text or in subject names we accept.
        hasher.update(format!("\0{}\0{}\0{}", r.name, r.subject, r.version).as_bytes());
    }
    let schema = inline_references(&schema, &named);
    Ok(Normalized {
        schema,
        text: compact,
        references,
        fingerprint: hasher.finalize().into(),
    })
}

/// Parses stored schema text (with its referenced schemas' text) for compatibility checks.
pub fn parse_stored(text: &str, referenced: &[String]) -> Result<Schema, SchemaError> {
    let (schema, named) = parse(text, referenced)?;
    Ok(inline_references(&schema, &named))
}

fn parse(text: &str, referenced: &[String]) -> Result<(Schema, Vec<Schema>), SchemaError> {
    let invalid = |e: apache_avro::Error| SchemaError::InvalidAvro(e.to_string());
    if referenced.is_empty() {
        return Ok((Schema::parse_str(text).map_err(invalid)?, Vec::new()));
    }
    Schema::parse_str_with_list(text, referenced).map_err(invalid)
}

/// Replaces references to named types defined in `named` (other subjects' schemas) by their
/// definitions, so a schema can be checked on its own. Recursive references stay references.
fn inline_references(schema: &Schema, named: &[Schema]) -> Schema {
    if named.is_empty() {
        return schema.clone();
    }
    let mut defs: HashMap<Name, &Schema> = HashMap::new();
    for n in named {
        collect_named(n, &mut defs);
    }
    inline(schema, &defs, &mut Vec::new())
}

fn collect_named<'s>(schema: &'s Schema, out: &mut HashMap<Name, &'s Schema>) {
    match schema {
        Schema::Record(r) => {
            out.insert(r.name.clone(), schema);
            r.fields.iter().for_each(|f| collect_named(&f.schema, out));
        }
        Schema::Enum(e) => {
            out.insert(e.name.clone(), schema);
        }
        Schema::Fixed(f) => {
            out.insert(f.name.clone(), schema);
        }
        Schema::Array(a) => collect_named(&a.items, out),
        Schema::Map(m) => collect_named(&m.types, out),
        Schema::Union(u) => u.variants().iter().for_each(|v| collect_named(v, out)),
        _ => {}
    }
}

fn inline(schema: &Schema, defs: &HashMap<Name, &Schema>, in_progress: &mut Vec<Name>) -> Schema {
    match schema {
        Schema::Ref { name } if !in_progress.contains(name) => match defs.get(name) {
            Some(def) => {
                in_progress.push(name.clone());
                let out = inline(def, defs, in_progress);
                in_progress.pop();
                out
            }
            None => schema.clone(),
        },
        Schema::Record(r) => {
            in_progress.push(r.name.clone());
            let mut r = r.clone();
            for f in &mut r.fields {
                f.schema = inline(&f.schema, defs, in_progress);
            }
            in_progress.pop();
            Schema::Record(r)
        }
        Schema::Array(a) => {
            let mut a = a.clone();
            a.items = Box::new(inline(&a.items, defs, in_progress));
            Schema::Array(a)
        }
        Schema::Map(m) => {
            let mut m = m.clone();
            m.types = Box::new(inline(&m.types, defs, in_progress));
            Schema::Map(m)
        }
        Schema::Union(u) => {
            let variants = u.variants().iter().map(|v| inline(v, defs, in_progress)).collect();
            apache_avro::schema::UnionSchema::new(variants).map_or_else(|_| schema.clone(), Schema::Union)
        }
        _ => schema.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> Normalized {
        normalize(None, text, vec![], &[]).unwrap()
    }

    const A: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long","default":1}]}"#;

    #[test]
    fn whitespace_and_attribute_order_do_not_change_the_fingerprint() {
        let reordered = r#"{ "fields": [ {"default": 1, "type": {"type":"long"}, "name": "a"} ],
                             "name": "R", "type": "record" }"#;
        assert_eq!(norm(A).fingerprint, norm(reordered).fingerprint);
    }

    #[test]
    fn the_served_text_keeps_every_property_sent() {
        let t = r#"{"type": "record", "name": "R", "fields": [{"name": "s", "type": {"type": "string", "avro.java.string": "String"}}]}"#;
        let n = norm(t);
        assert!(n.text.contains("avro.java.string"), "{}", n.text);
        assert!(!n.text.contains(' '), "compact: {}", n.text);
        assert_eq!(
            n.fingerprint,
            norm(&t.replace(r#", "avro.java.string": "String""#, "")).fingerprint
        );
    }

    #[test]
    fn a_different_default_is_a_different_schema() {
        let b = A.replace("\"default\":1", "\"default\":2");
        assert_ne!(norm(A).fingerprint, norm(&b).fingerprint);
    }

    #[test]
    fn logical_type_is_kept() {
        let ts = r#"{"type":"long","logicalType":"timestamp-micros"}"#;
        let n = normalize(Some("AVRO"), ts, vec![], &[]).unwrap();
        assert!(n.text.contains("timestamp-micros"), "{}", n.text);
        assert_ne!(n.fingerprint, norm(r#""long""#).fingerprint);
    }

    #[test]
    fn normalized_text_parses_to_the_same_schema() {
        for path in [
            "murron/Envelope.avsc",
            "billing/member_active.avsc",
            "client/api_call.avsc",
        ] {
            let text = std::fs::read_to_string(format!("{}/../schemas/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let n = norm(&text);
            let again = norm(&n.text);
            assert_eq!(n.text, again.text, "{path}");
            assert_eq!(n.schema, again.schema);
        }
    }

    #[test]
    fn references_resolve_and_are_part_of_identity() {
        let plan = r#"{"type":"enum","name":"Plan","namespace":"billing","symbols":["FREE","PRO"]}"#.to_string();
        let text =
            r#"{"type":"record","name":"Seat","namespace":"billing","fields":[{"name":"plan","type":"billing.Plan"}]}"#;
        let r1 = vec![Reference {
            name: "billing.Plan".into(),
            subject: "billing.plan".into(),
            version: 1,
        }];
        let r2 = vec![Reference {
            name: "billing.Plan".into(),
            subject: "billing.plan".into(),
            version: 2,
        }];
        let a = normalize(None, text, r1, std::slice::from_ref(&plan)).unwrap();
        let b = normalize(None, text, r2, std::slice::from_ref(&plan)).unwrap();
        assert_ne!(
            a.fingerprint, b.fingerprint,
            "same text, other referenced version: another schema"
        );
        // The reference is inlined for checks: the field's type is the enum itself.
        let Schema::Record(r) = &a.schema else {
            panic!("record expected")
        };
        assert!(
            matches!(r.fields[0].schema, Schema::Enum(_)),
            "{:?}",
            r.fields[0].schema
        );
        assert!(
            normalize(None, text, vec![], &[]).is_err(),
            "without the reference the type is unknown"
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
