//! Avro schema text: parsing, references, and the identity of an Avro schema.
//!
//! An Avro schema's *identity* is the JSON that apache-avro writes for the parsed schema:
//! whitespace, attribute order and redundant notation (`"string"` vs `{"type":"string"}`)
//! disappear, while defaults, logical types, aliases and docs are kept; custom properties on
//! primitive types (such as `avro.java.string`) are not part of it. Unlike Avro's Parsing Canonical
//! Form, two schemas that differ in a default never share an identity, and so never share an id.
//! References name types defined in other subjects' schemas; they are inlined for checks.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::schema::Name;

use super::{Parsed, ParsedSchema, Referenced, SchemaError};

/// Parses Avro `text`, whose references' texts are `referenced`, into its identity and compact text.
pub(super) fn normalize(text: &str, referenced: &[Referenced]) -> Result<Parsed, SchemaError> {
    let (schema, named) = parse(text, referenced)?;
    let identity = serde_json::to_string(&schema).map_err(|e| SchemaError::InvalidAvro(e.to_string()))?;
    // Parsing succeeded, so the text is JSON.
    let compact = serde_json::from_str::<serde_json::Value>(text)
        .and_then(|v| serde_json::to_string(&v))
        .map_err(|e| SchemaError::InvalidAvro(e.to_string()))?;
    let schema = inline_references(&schema, &named);
    Ok(Parsed {
        schema: ParsedSchema::Avro(Arc::new(schema)),
        identity,
        text: compact,
    })
}

/// Parses stored Avro text (with its referenced schemas' text) for compatibility checks.
pub fn parse_stored(text: &str, referenced: &[Referenced]) -> Result<Schema, SchemaError> {
    let (schema, named) = parse(text, referenced)?;
    Ok(inline_references(&schema, &named))
}

fn parse(text: &str, referenced: &[Referenced]) -> Result<(Schema, Vec<Schema>), SchemaError> {
    let invalid = |e: apache_avro::Error| SchemaError::InvalidAvro(e.to_string());
    if referenced.is_empty() {
        return Ok((Schema::parse_str(text).map_err(invalid)?, Vec::new()));
    }
    let texts: Vec<&str> = referenced.iter().map(|r| r.text.as_str()).collect();
    Schema::parse_str_with_list(text, &texts).map_err(invalid)
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
    use crate::schema::{Normalized, Reference, normalize};

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
        let plan = Referenced {
            name: "billing.Plan".into(),
            schema_type: super::super::SchemaType::Avro,
            text: r#"{"type":"enum","name":"Plan","namespace":"billing","symbols":["FREE","PRO"]}"#.into(),
        };
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
        let ParsedSchema::Avro(schema) = &a.schema else {
            panic!("Avro expected")
        };
        let Schema::Record(r) = schema.as_ref() else {
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
}
