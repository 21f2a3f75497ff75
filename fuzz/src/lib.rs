//! The bodies of the fuzz targets: the code that reads untrusted input, with the properties it must
//! keep on any input. A broken property panics, which libFuzzer reports as a crash.
//!
//! - [`envelope`]: a Kafka record value through the envelope decoder and signature check.
//! - [`payload`]: a datum through the validator of each test schema; what validates must convert to
//!   Arrow, since the writer relies on it.
//! - [`schema`]: schema text through the registry's parser and normalizer; normalizing the
//!   normalized text gives the same identity.
//! - [`json_schema`]: the same for JSON Schema text, with the schemas it references; what is
//!   accepted also parses as stored.
//! - [`compatibility`]: two or three schemas through the compatibility checker; a schema always
//!   reads itself, and the transitive digest never proves what the exact check refuses.
//! - [`json_payload`]: a datum through the validator of each JSON test schema; what validates must
//!   convert to one Arrow row, and a date-time the validator's format check accepts must parse; the
//!   validator agrees with `jsonschema` on a `serde_json::Value`, and the payload's JSON parser reads
//!   what serde_json reads, as serde_json reads it.
//! - [`protobuf_schema`]: Protobuf schema text (`.proto` or a base64 descriptor), with another
//!   version and an imported file, through the parser, the canonical printer and the difference
//!   rules; the canonical text and the serialized descriptor give the same identity, and a schema
//!   has no difference with itself.
//! - [`protobuf_payload`]: a Protobuf datum (message indexes and message) through the validator of
//!   each test schema; what validates converts to exactly one Arrow row, within a memory bound that
//!   grows with the datum's size.
//!
//! `cargo fuzz run <target>` drives them (fuzz/README.md); `cargo test -p murron-fuzz` replays the
//! committed corpora and past crashes through them.

use std::sync::OnceLock;

use apache_avro::Schema;
use arrow_array::Array;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use murron_payload::avro::Validator;
use murron_payload::protobuf::{BASE_VALUES, VALUES_PER_BYTE};
use murron_payload::{PayloadSchema, ValidateError, Variant, json};
use murron_schema_types::compatibility::CompatibilityLevel;
use murron_schema_types::compatibility::avro;
use murron_schema_types::compatibility::protobuf as protobuf_compatibility;
use murron_schema_types::schema::{ParsedSchema, Reference, Referenced, SchemaType};
use murron_wire::envelope::{self, KeyRing};

/// The payload target's schemas: the project's event types and one that uses every Avro type.
pub const PAYLOAD_SCHEMAS: [&str; 3] = [
    include_str!("../../schemas/billing/member_active.avsc"),
    include_str!("../../schemas/client/api_call.avsc"),
    include_str!("every_type.avsc"),
];

/// The protobuf_payload target's schemas: every construct of the mapping (nested and recursive
/// messages, maps of every key type, oneofs, the well-known types), proto2 (groups, required fields,
/// defaults, closed enums) and the project's `client.api_call`.
pub const PROTOBUF_PAYLOAD_SCHEMAS: [&str; 3] = [
    include_str!("../../payload/src/protobuf/testdata/everything.proto"),
    include_str!("../../payload/src/protobuf/testdata/legacy.proto"),
    include_str!("../../schemas/client/api_call.proto"),
];

/// The key ring the envelope target verifies with.
fn keys() -> &'static KeyRing {
    static KEYS: OnceLock<KeyRing> = OnceLock::new();
    KEYS.get_or_init(|| {
        KeyRing::new([
            ("default".to_owned(), b"s3cret".to_vec()),
            ("next".to_owned(), b"n3xt".to_vec()),
        ])
    })
}

pub fn envelope(data: &[u8]) {
    let Ok((_, env)) = envelope::decode(data) else { return };
    for (key, value) in env.tags.iter() {
        assert!(env.tags.get(key).is_some(), "tag {key:?}={value:?} not found by get");
    }
    let _ = keys().verify(&env);
    let _ = murron_wire::framing::split_wire_format(env.message);
}

/// The compiled payload schemas.
fn payload_schemas() -> &'static [PayloadSchema] {
    static SCHEMAS: OnceLock<Vec<PayloadSchema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        PAYLOAD_SCHEMAS
            .iter()
            .map(|text| PayloadSchema::compile(1, SchemaType::Avro, text, &[]).expect("a payload schema compiles"))
            .collect()
    })
}

pub fn payload(data: &[u8]) {
    for schema in payload_schemas() {
        if schema.validate(data).is_err() {
            continue;
        }
        match schema.to_arrow(Variant(0), &[data]) {
            Ok(batch) => assert_eq!(batch.num_rows(), 1, "one valid datum, one row"),
            Err(e) => panic!("a datum the validator accepts does not convert: {e}"),
        }
    }
}

/// The compiled Protobuf payload schemas.
fn protobuf_payload_schemas() -> &'static [PayloadSchema] {
    static SCHEMAS: OnceLock<Vec<PayloadSchema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        PROTOBUF_PAYLOAD_SCHEMAS
            .iter()
            .map(|text| {
                PayloadSchema::compile(1, SchemaType::Protobuf, text, &[]).expect("a Protobuf payload schema compiles")
            })
            .collect()
    })
}

/// A datum as it follows the schema id: message indexes, then the message.
pub fn protobuf_payload(data: &[u8]) {
    // Arrow values of at most 8 bytes plus a 4-byte offset or validity, for each value the datum
    // may fill; strings and bytes copied from it (JSON text escapes a byte into 6 at most); and
    // what vectors reserve beyond their length.
    let values = BASE_VALUES + VALUES_PER_BYTE * data.len() as u64;
    let bound = 2 * (16 * values + 8 * data.len() as u64) + (1 << 16);
    for schema in protobuf_payload_schemas() {
        let Ok(variant) = schema.validate(data) else { continue };
        match schema.to_arrow(variant, &[data]) {
            Ok(batch) => {
                assert_eq!(batch.num_rows(), 1, "one valid datum, one row");
                let size = batch.get_array_memory_size() as u64;
                assert!(size <= bound, "{} bytes became {size} bytes of Arrow", data.len());
            }
            Err(e) => panic!("a datum the validator accepts does not convert: {e}"),
        }
    }
}

pub fn schema(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(first) = murron_schema_types::schema::normalize(None, text, Vec::new(), &[]) else {
        return;
    };
    let again = murron_schema_types::schema::normalize(None, &first.text, Vec::new(), &[])
        .unwrap_or_else(|e| panic!("the normalized text {} does not parse: {e}", first.text));
    assert_eq!(
        first.fingerprint, again.fingerprint,
        "normalizing twice changed the identity of {text}"
    );
    // The sink compiles whatever the registry accepts.
    if let ParsedSchema::Avro(schema) = &first.schema {
        let _ = Validator::new(schema);
    }
}

/// Splits the input at NULs into a JSON schema and up to three schemas it references, named
/// `r1.json`, `r2.json` and `r3.json` (the names its `$ref`s, and theirs, can use).
pub fn json_schema(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(4, '\0');
    let Some(root) = parts.next() else { return };
    let referenced: Vec<Referenced> = parts
        .enumerate()
        .map(|(i, part)| Referenced {
            name: format!("r{}.json", i + 1),
            schema_type: SchemaType::Json,
            text: part.to_owned(),
        })
        .collect();
    let references = || -> Vec<Reference> {
        referenced
            .iter()
            .map(|r| Reference {
                name: r.name.clone(),
                subject: r.name.clone(),
                version: 1,
            })
            .collect()
    };
    let normalize = |text: &str| murron_schema_types::schema::normalize(Some("JSON"), text, references(), &referenced);
    let Ok(first) = normalize(root) else { return };
    let again =
        normalize(&first.text).unwrap_or_else(|e| panic!("the normalized text {} does not parse: {e}", first.text));
    assert_eq!(
        first.fingerprint, again.fingerprint,
        "normalizing twice changed the identity of {root}"
    );
    assert_eq!(first.text, again.text, "normalizing twice changed the text of {root}");
    if let Err(e) = murron_schema_types::schema::parse_stored(SchemaType::Json, &first.text, &referenced) {
        panic!("the stored text {} does not parse: {e}", first.text);
    }
}

/// Splits the input at NULs into two or three schema texts.
pub fn compatibility(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed: Result<Vec<_>, _> = text
        .splitn(3, '\0')
        .map(|part| murron_schema_types::schema::avro::parse_stored(part, &[]))
        .collect();
    let Ok(schemas) = parsed else { return };
    if schemas.len() < 2 {
        return;
    }
    for s in &schemas {
        let found = avro::can_read(s, s);
        assert!(found.is_empty(), "a schema cannot read its own data: {found:?}");
    }
    // The digest may only prove what the exact check accepts: each schema as the new one, against a
    // history of the others (with a third part, two different versions whose fields it merges).
    let schemas: Vec<_> = schemas.into_iter().map(std::sync::Arc::new).collect();
    for (n, new) in schemas.iter().enumerate() {
        let mut history: Vec<_> = schemas
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != n)
            .map(|(_, s)| s)
            .collect();
        if history.len() == 1 {
            history.push(new);
        }
        let keys: Vec<(i32, i32)> = (1..=history.len() as i32).map(|v| (v, v)).collect();
        let mut digest = avro::Digest::default();
        let Ok(()) = digest.cover(&keys, |i| Ok::<_, std::convert::Infallible>(history[i].clone()));
        let existing: Vec<(i32, &Schema)> = keys.iter().zip(&history).map(|((v, _), s)| (*v, s.as_ref())).collect();
        for level in CompatibilityLevel::ALL {
            let exact = avro::check(level, new, &existing);
            assert!(
                exact.is_empty() || !digest.proves(level, new),
                "the digest proved at {level} what the exact check refuses: {exact:?}"
            );
        }
    }
}

/// Splits the input at NULs into a Protobuf schema, optionally another version of it, and
/// optionally a file both may import as `dep.proto`. An input that starts with the byte 0xFF
/// (never in UTF-8) is a binary `FileDescriptorProto`, registered in base64 as serializers do.
pub fn protobuf_schema(data: &[u8]) {
    if let Some(descriptor) = data.strip_prefix(&[0xff]) {
        protobuf_versions(&STANDARD.encode(descriptor), None, &[]);
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, '\0');
    let first = parts.next().unwrap_or_default();
    let second = parts.next();
    let referenced: Vec<Referenced> = parts
        .next()
        .map(|dep| Referenced {
            name: "dep.proto".to_owned(),
            schema_type: SchemaType::Protobuf,
            text: dep.to_owned(),
        })
        .into_iter()
        .collect();
    protobuf_versions(first, second, &referenced);
}

fn protobuf_versions(first: &str, second: Option<&str>, referenced: &[Referenced]) {
    let normalize = |text: &str| murron_schema_types::schema::normalize(Some("PROTOBUF"), text, Vec::new(), referenced);
    let Ok(normalized) = normalize(first) else { return };
    let again = normalize(&normalized.text)
        .unwrap_or_else(|e| panic!("the canonical text {} does not parse: {e}", normalized.text));
    assert_eq!(
        normalized.fingerprint, again.fingerprint,
        "normalizing twice changed the identity of {first}"
    );
    let ParsedSchema::Protobuf(schema) = &normalized.schema else {
        panic!("a Protobuf schema parsed as another type")
    };
    let served = normalize(&schema.serialized())
        .unwrap_or_else(|e| panic!("the serialized form of {} does not parse: {e}", normalized.text));
    assert_eq!(
        normalized.fingerprint, served.fingerprint,
        "the serialized form has another identity"
    );
    let found = protobuf_compatibility::differences(schema, schema);
    assert!(found.is_empty(), "a schema differs from itself: {found:?}");
    let _ = schema.message_names();
    let Some(Ok(other)) = second.map(|text| murron_schema_types::schema::protobuf::parse_stored(text, referenced))
    else {
        return;
    };
    for level in CompatibilityLevel::ALL {
        let _ = protobuf_compatibility::check(level, &other, &[(1, schema.as_ref())]);
        let _ = protobuf_compatibility::check(level, schema, &[(1, &other)]);
    }
}

/// The json_payload target's schemas, each with the schemas it references: the project's event
/// type (draft 7, whose formats the validator checks), one that uses every construct the mapping
/// reads (2020-12), one that references another document, and `true`.
pub const JSON_PAYLOAD_SCHEMAS: [(&str, &[(&str, &str)]); 4] = [
    (include_str!("../../schemas/client/api_call.schema.json"), &[]),
    (include_str!("every_construct.schema.json"), &[]),
    (
        r#"{"type":"object","properties":{"home":{"$ref":"address.json"},"work":{"oneOf":[{"$ref":"address.json"},{"type":"null"}]},"list":{"type":"array","items":{"$ref":"address.json"}}}}"#,
        &[("address.json", include_str!("address.schema.json"))],
    ),
    ("true", &[]),
];

/// The JSON payload schemas' texts with their references.
fn json_payload_texts() -> impl Iterator<Item = (&'static str, Vec<Referenced>)> {
    JSON_PAYLOAD_SCHEMAS.iter().map(|(text, references)| {
        let referenced = references
            .iter()
            .map(|(name, text)| Referenced {
                name: (*name).to_owned(),
                schema_type: SchemaType::Json,
                text: (*text).to_owned(),
            })
            .collect();
        (*text, referenced)
    })
}

/// The compiled JSON payload schemas.
fn json_payload_schemas() -> &'static [PayloadSchema] {
    static SCHEMAS: OnceLock<Vec<PayloadSchema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        json_payload_texts()
            .map(|(text, referenced)| {
                PayloadSchema::compile(1, SchemaType::Json, text, &referenced).expect("a JSON payload schema compiles")
            })
            .collect()
    })
}

/// The same schemas' validators on a `serde_json::Value`, as the registry builds them.
fn json_reference_validators() -> &'static [jsonschema::Validator] {
    static VALIDATORS: OnceLock<Vec<jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        json_payload_texts()
            .map(|(text, referenced)| {
                murron_schema_types::schema::json::parse_stored(text, &referenced)
                    .and_then(|schema| schema.validator::<jsonschema::json::SerdeJson>())
                    .expect("a JSON payload schema compiles")
            })
            .collect()
    })
}

pub fn json_payload(data: &[u8]) {
    json_reads_as_serde_json(data);
    let value = serde_json::from_slice::<serde_json::Value>(data).ok();
    for (i, (schema, reference)) in json_payload_schemas()
        .iter()
        .zip(json_reference_validators())
        .enumerate()
    {
        let verdict = schema.validate(data);
        if verdict.is_ok() {
            match schema.to_arrow(Variant(0), &[data]) {
                Ok(batch) => assert_eq!(batch.num_rows(), 1, "one valid datum, one row"),
                Err(e) => panic!("a datum the validator accepts does not convert: {e}"),
            }
        }
        let accepted = value.as_ref().map(|v| reference.is_valid(v));
        let Err(ValidateError::Json(e)) = verdict else {
            assert_eq!(
                accepted,
                Some(true),
                "schema {i} accepts what jsonschema on a Value refuses"
            );
            continue;
        };
        match e {
            json::ValidateError::SchemaViolation(_) => {
                assert_eq!(
                    accepted,
                    Some(false),
                    "schema {i} refuses what jsonschema on a Value accepts: {e}"
                )
            }
            json::ValidateError::InvalidJson(_) | json::ValidateError::TooLarge(_) => {}
            // The first schema is draft 7: the validator itself checks its date-times.
            json::ValidateError::InvalidDateTime { .. } if i == 0 => {
                panic!("a date-time the validator's format check accepts does not parse: {e}")
            }
            json::ValidateError::Unmappable { .. } => panic!("schema {i} accepts a value its mapping cannot hold: {e}"),
            _ => assert_eq!(accepted, Some(true), "refused past the schema, yet invalid: {e}"),
        }
    }
}

/// The payload's own JSON parser against serde_json, through the `true` schema (every value, one
/// JSON text column): the same texts are JSON (but for a repeated key, which only ours refuses),
/// and each reads back as the same value.
fn json_reads_as_serde_json(data: &[u8]) {
    let Some(schema) = json_payload_schemas().last() else {
        return;
    };
    if data.len() > json::MAX_DATUM_BYTES {
        return;
    }
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    match (schema.validate(data), theirs) {
        (Ok(_), Ok(theirs)) => {
            let batch = schema
                .to_arrow(Variant(0), &[data])
                .expect("an accepted datum converts");
            let column = batch.column(0);
            let text = column
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .expect("the `true` schema maps to one string column");
            let ours: serde_json::Value = if text.is_null(0) {
                serde_json::Value::Null
            } else {
                serde_json::from_str(text.value(0)).expect("the column holds JSON text")
            };
            assert_eq!(ours, theirs, "the datum reads differently");
        }
        (Ok(_), Err(e)) => panic!("accepted what serde_json refuses: {e}"),
        (Err(ValidateError::Json(e)), Ok(_)) if e.to_string().contains("is repeated") => {}
        (Err(e), Ok(_)) => panic!("refused what serde_json reads: {e}"),
        (Err(_), Err(_)) => {}
    }
}
