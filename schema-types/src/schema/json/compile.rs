//! Checks a JSON schema at registration: against its draft's meta-schema, and by compiling it into
//! a validator whose `$ref`s must all resolve, locally or in the referenced documents. Nothing is
//! ever fetched: a `$ref` outside the schema and its references is refused.

use jsonschema::error::ValidationErrorKind;
use jsonschema::json::Json;
use jsonschema::{ReferencingError, Registry, Retrieve, Uri, ValidationError};
use serde_json::Value;

use super::{Draft, JsonSchema, SchemaError};

/// Checks `schema` against its meta-schema and resolves its `$ref`s.
pub(super) fn check(schema: &JsonSchema) -> Result<(), SchemaError> {
    // Gathering the resources follows the documents' `$ref`s before the validator checks the
    // meta-schema; if it fails, a violation of the meta-schema (such as an `$id` or a `$ref` that
    // is not a URI) is the better answer.
    let registry = resources(schema).map_err(|e| meta_schema_violation(schema).unwrap_or(e))?;
    build::<jsonschema::json::SerdeJson>(schema, &registry).map(drop)
}

/// A validator of instances of `schema` in the JSON representation `F`, built as [`check`] builds
/// it: its draft, offline, its `$ref`s resolved in the schema and its referenced documents.
pub(super) fn validator<F: Json>(schema: &JsonSchema) -> Result<jsonschema::Validator<F>, SchemaError> {
    build(schema, &resources(schema)?)
}

fn build<F: Json>(schema: &JsonSchema, registry: &Registry<'_>) -> Result<jsonschema::Validator<F>, SchemaError> {
    jsonschema::options_for::<F>()
        .with_draft(schema.draft.engine())
        .offline()
        .with_registry(registry)
        .build(&schema.root)
        .map_err(|e| describe(&e))
}

/// The schema and its referenced documents, each under the URI its `$ref`s resolve to.
pub(super) fn resources(schema: &JsonSchema) -> Result<Registry<'_>, SchemaError> {
    let draft = schema.draft.engine();
    let base = base_uri(schema)?;
    // The schema itself is among them, so that a referenced document's `$ref` back to it (by its
    // `$id`) resolves when the registry follows the documents' `$ref`s.
    let mut registry = Registry::new()
        .retriever(NoRetrieval)
        .retrieve_known_draft_meta_schemas(false)
        .draft(draft)
        .add(base.as_str(), draft.create_resource_ref(&schema.root))
        .map_err(|e| SchemaError::InvalidJson(format!("the schema's $id is not a URI: {e}")))?;
    for (name, document) in &schema.documents {
        let invalid = |e: &dyn std::fmt::Display| SchemaError::InvalidJson(format!("referenced schema {name:?}: {e}"));
        let uri = jsonschema::uri::resolve_against(&base.borrow(), name)
            .map_err(|e| invalid(&format!("its name is not a URI reference: {e}")))?;
        let document_draft = Draft::declared(document).map_err(|e| invalid(&e))?;
        registry = registry
            .add(uri.as_str(), document_draft.engine().create_resource(document.clone()))
            .map_err(|e| invalid(&e))?;
    }
    registry.prepare().map_err(|e| unresolved(&e))
}

/// The URI the schema's relative `$ref`s and reference names resolve against: its `$id` (`id` in
/// draft 4), or the `jsonschema` crate's default base, as the validator resolves them.
pub(super) fn base_uri(schema: &JsonSchema) -> Result<Uri<String>, SchemaError> {
    let root = schema.draft.engine().create_resource_ref(&schema.root);
    jsonschema::uri::from_str(root.id().unwrap_or("json-schema:///"))
        .map_err(|e| SchemaError::InvalidJson(format!("the schema's $id is not a URI: {e}")))
}

/// The first violation of its draft's meta-schema in the schema, if any.
fn meta_schema_violation(schema: &JsonSchema) -> Option<SchemaError> {
    let meta = match schema.draft {
        Draft::Draft4 => jsonschema::draft4::meta::validator(),
        Draft::Draft6 => jsonschema::draft6::meta::validator(),
        Draft::Draft7 => jsonschema::draft7::meta::validator(),
        Draft::Draft201909 => jsonschema::draft201909::meta::validator(),
        Draft::Draft202012 => jsonschema::draft202012::meta::validator(),
    };
    meta.validate(&schema.root).err().map(|e| describe(&e.to_owned()))
}

/// A meta-schema violation with where it is in the schema, or a `$ref` that resolves nowhere.
fn describe(error: &ValidationError<'static>) -> SchemaError {
    if let ValidationErrorKind::Referencing(e) = error.kind() {
        return unresolved(e);
    }
    let error = most_specific(error);
    let at = error.instance_path().as_str();
    SchemaError::InvalidJson(format!("at #{at}: {error}"))
}

/// For a value that matches none of a meta-schema's alternatives (`anyOf`, `oneOf`), the error of
/// an alternative that reached deepest into it, which says more than "valid under none of them":
/// `{"items": [{"maxLength": -1}]}` is refused at `#/items/0/maxLength` rather than at `#/items`.
fn most_specific<'e>(error: &'e ValidationError<'static>) -> &'e ValidationError<'static> {
    let context = match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => context,
        _ => return error,
    };
    let depth = |e: &ValidationError<'_>| e.instance_path().segments().count();
    context
        .iter()
        .flatten()
        .map(most_specific)
        .filter(|e| depth(e) > depth(error))
        .reduce(|best, e| if depth(e) > depth(best) { e } else { best })
        .unwrap_or(error)
}

fn unresolved(error: &ReferencingError) -> SchemaError {
    SchemaError::InvalidJson(match error {
        ReferencingError::Unretrievable { uri, .. } => format!(
            "unresolved $ref {uri:?}: it is neither in the schema nor among its references (a referenced \
             schema is found under its reference's name, resolved against the schema's $id if it has one)"
        ),
        ReferencingError::PointerToNowhere { pointer } => {
            format!("unresolved $ref: the JSON pointer {pointer:?} points to nothing")
        }
        other => format!("unresolved $ref: {other}"),
    })
}

/// Refuses every retrieval: the registry never fetches a schema; a schema brings its references.
struct NoRetrieval;

impl Retrieve for NoRetrieval {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("{uri} is neither in the schema nor among its references").into())
    }
}
