//! JSON Schema text: parsing, drafts, references, and the identity of a JSON schema.
//!
//! **Drafts.** A schema is written in draft 4, 6, 7, 2019-09 or 2020-12, as its `$schema` says:
//! the meta-schema URLs over http or https, with or without the trailing `#`, and the bare
//! `json-schema.org/schema`, which means draft 4 as in Confluent's registry ([`Draft::from_url`]).
//! Without `$schema` a schema is draft 7, Confluent's default.
//!
//! **What is checked at registration** ([`normalize`]): the text is JSON (serde_json, whose
//! recursion limit of 128 nested arrays and objects bounds every walk that follows); the document
//! is an object or a boolean; it is valid against its draft's meta-schema (a violation is refused
//! with the validator's message and the JSON pointer of the offending value, e.g. `at #/type`);
//! and it compiles into a validator (the `jsonschema` crate, which never fetches anything here),
//! so every `$ref` resolves, inside the schema or in a referenced schema. Recursive `$ref`s, local
//! (`{"$ref": "#"}`) or across referenced documents, are accepted. Stored text was checked when it
//! was registered: [`parse_stored`] parses it and its references without checking them again,
//! so that a stricter validator later cannot make a subject's history unreadable.
//!
//! **References.** A referenced schema is registered under the name the referencing schema's
//! `$ref`s use for it (Confluent's reference `name`: `"address.json"`, or a full URL), resolved
//! against the schema's `$id` when it has one, as `$ref`s are. `"address.json#/definitions/street"`
//! points inside one. The list is transitive: referenced schemas may reference each other by the
//! same names. Each referenced schema is read in its own draft. Up to draft 7, `$ref` makes its
//! sibling keywords ignored, `$id` included, so a `$ref` beside the root's `$id` and the names of
//! references resolve as if the root had no `$id`.
//!
//! **Identity and stored text.** Both are the submitted JSON made compact, object keys in sorted
//! order (serde_json without `preserve_order`): schemas that differ only in whitespace, key order
//! or string escapes share an identity, and so an id. Nothing else is normalized: `1` and `1.0`
//! differ, and so do a schema without `$schema` and the same schema declaring draft 7, as the
//! texts differ (Confluent compares the compact text too, in the submitted key order unless asked
//! to normalize).
//!
//! **Where this differs from Confluent's registry.**
//! - An unknown or non-string `$schema` is refused, naming the supported drafts; Confluent reads
//!   such a schema as draft 7.
//! - The served text has its keys sorted; Confluent serves them in the submitted order (and sorts
//!   them only when asked to normalize).
//! - A `$ref` outside the schema and its references is refused, a full `http(s)` URL included;
//!   Confluent's registry may fetch such a URL unless remote references are blocked.
//! - The whole meta-schema is checked (with the `jsonschema` crate); Confluent's loaders (everit
//!   for drafts 4 to 7, json-sKema for 2019-09 and 2020-12) refuse only what they cannot load, so
//!   a few schemas they accept are refused here, such as a draft 4 `"required": []` or a `$ref`
//!   that is not a URI reference. They also resolve `#/$defs/x` when the definition is under
//!   `definitions`; here a `$ref` must point where the definition is. An embedded resource (a
//!   subschema with its own `$id`) may declare another `$schema`; it is not checked against it.

mod compile;
mod draft;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

pub use draft::Draft;

use super::{Parsed, ParsedSchema, Referenced, SchemaError};

/// A parsed JSON schema with the documents its references name.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchema {
    /// The schema document itself.
    pub root: Value,
    /// Referenced documents by the name (a URL or relative path) that `$ref`s use for them.
    pub documents: BTreeMap<String, Value>,
    pub draft: Draft,
}

impl JsonSchema {
    /// A validator of instances in the JSON representation `F` (`jsonschema::json::SerdeJson` for
    /// a `serde_json::Value`), built as the registry checked the schema: its draft, offline (no
    /// remote `$ref`), its `$ref`s resolved in the schema and its referenced documents.
    pub fn validator<F: jsonschema::json::Json>(&self) -> Result<jsonschema::Validator<F>, SchemaError> {
        compile::validator(self)
    }

    /// The schema and its referenced documents as a `jsonschema` registry, each under the URI its
    /// `$ref`s resolve to, for reading the schema with its references followed.
    pub fn registry(&self) -> Result<jsonschema::Registry<'_>, SchemaError> {
        compile::resources(self)
    }

    /// The URI the schema's relative `$ref`s resolve against: its `$id`, or a default base.
    pub fn base_uri(&self) -> Result<jsonschema::Uri<String>, SchemaError> {
        compile::base_uri(self)
    }
}

/// Parses and checks JSON Schema `text`, whose references' texts are `referenced`, into its
/// identity and compact text.
pub(in crate::schema) fn normalize(text: &str, referenced: &[Referenced]) -> Result<Parsed, SchemaError> {
    let schema = parse_stored(text, referenced)?;
    compile::check(&schema)?;
    let text = serde_json::to_string(&schema.root).map_err(|e| SchemaError::InvalidJson(e.to_string()))?;
    Ok(Parsed {
        schema: ParsedSchema::Json(Arc::new(schema)),
        identity: text.clone(),
        text,
    })
}

/// Parses stored JSON Schema text (with its referenced schemas) for compatibility checks.
pub fn parse_stored(text: &str, referenced: &[Referenced]) -> Result<JsonSchema, SchemaError> {
    let root = parse_document(text).map_err(SchemaError::InvalidJson)?;
    let draft = Draft::of(&root)?;
    let mut documents = BTreeMap::new();
    for r in referenced {
        let document = parse_document(&r.text)
            .map_err(|e| SchemaError::InvalidJson(format!("referenced schema {:?}: {e}", r.name)))?;
        // The transitive list may name a schema twice; the first (the closest) is the one used.
        documents.entry(r.name.clone()).or_insert(document);
    }
    Ok(JsonSchema { root, documents, draft })
}

/// Parses one schema document: JSON whose top level is an object or a boolean.
fn parse_document(text: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match value {
        Value::Object(_) | Value::Bool(_) => Ok(value),
        other => Err(format!("a JSON schema is an object or a boolean, not {}", kind(&other))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
