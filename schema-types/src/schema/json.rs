//! JSON Schema text: parsing, references, drafts and the identity of a JSON schema.
//!
//! PLACEHOLDER (being written): parses the JSON only.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::{Parsed, ParsedSchema, Referenced, SchemaError};

/// The JSON Schema drafts the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Draft {
    Draft4,
    Draft6,
    Draft7,
    Draft201909,
    Draft202012,
}

/// A parsed JSON schema with the documents its references name.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchema {
    /// The schema document itself.
    pub root: Value,
    /// Referenced documents by the name (a URL or relative path) that `$ref`s use for them.
    pub documents: BTreeMap<String, Value>,
    pub draft: Draft,
}

pub(super) fn normalize(text: &str, referenced: &[Referenced]) -> Result<Parsed, SchemaError> {
    let schema = parse_stored(text, referenced)?;
    let text = serde_json::to_string(&schema.root).map_err(|e| SchemaError::InvalidJson(e.to_string()))?;
    Ok(Parsed {
        schema: ParsedSchema::Json(Arc::new(schema)),
        identity: text.clone(),
        text,
    })
}

/// Parses stored JSON Schema text (with its referenced schemas) for compatibility checks.
pub fn parse_stored(text: &str, referenced: &[Referenced]) -> Result<JsonSchema, SchemaError> {
    let invalid = |e: serde_json::Error| SchemaError::InvalidJson(e.to_string());
    let root: Value = serde_json::from_str(text).map_err(invalid)?;
    let mut documents = BTreeMap::new();
    for r in referenced {
        documents.insert(r.name.clone(), serde_json::from_str(&r.text).map_err(invalid)?);
    }
    Ok(JsonSchema {
        root,
        documents,
        draft: Draft::Draft7,
    })
}
