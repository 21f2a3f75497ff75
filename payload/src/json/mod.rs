//! JSON Schema payloads, as confluent-kafka's `JSONSerializer` frames them: after the magic byte
//! and the schema id, the datum is the value's UTF-8 JSON text.
//!
//! A schema is compiled once per registry id into a validator (the `jsonschema` crate, built as the
//! registry checked the schema: its draft, offline, `$ref`s resolved in the referenced documents)
//! and a [`plan`] of its mapping to Arrow, read from the schema ([`facts`]).
//!
//! [`JsonPayload::validate`] parses the datum once into a [`tape`] ([`parse`]: JSON as serde_json
//! reads it, at most 127 levels deep, no key twice in an object, at most [`MAX_DATUM_BYTES`]), asks
//! the validator, which reads the tape in place ([`repr`]), and walks the accepted value along the
//! plan ([`check`]) so that every value that validates converts.
//! [`JsonPayload::to_arrow`] parses the datums again and appends them along the plan ([`arrow`]).
//! [`sample`] makes deterministic datums of a schema for demos, tests and benchmarks.

mod arrow;
mod check;
mod datetime;
mod error;
mod facts;
mod leaf;
mod parse;
mod plan;
mod repr;
pub mod sample;
mod tape;
#[cfg(test)]
mod tests;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
pub use error::{CompileError, MAX_DATUM_BYTES, ValidateError};
use murron_schema_types::schema::Referenced;
use murron_schema_types::schema::json::{self as json_schema, JsonSchema};
pub use plan::{EXTRA_COLUMN, VALUE_COLUMN};

use crate::to_arrow::ToArrowError;
use error::bounded;
use facts::Loc;
use plan::Plan;
use repr::TapeJson;
use tape::{Tape, Val};

/// A JSON schema, compiled.
#[derive(Debug)]
pub struct JsonPayload {
    validator: jsonschema::Validator<TapeJson>,
    plan: Plan,
}

impl JsonPayload {
    /// Compiles the registered `text`, whose references (transitively) are `referenced`.
    pub fn compile(text: &str, referenced: &[Referenced]) -> Result<Self, CompileError> {
        let schema = json_schema::parse_stored(text, referenced)?;
        Ok(Self {
            validator: schema.validator::<TapeJson>()?,
            plan: plan(&schema)?,
        })
    }

    /// Ok when `datum` is one JSON value that the schema accepts and that converts to Arrow.
    ///
    /// Hot path: runs once per event. The detail of a schema violation is only worked out for a
    /// datum that has one.
    #[inline]
    pub fn validate(&self, datum: &[u8]) -> Result<(), ValidateError> {
        let tape = read(datum)?;
        let value = tape.root();
        if !self.validator.is_valid(value) {
            return Err(self.violation(value));
        }
        check::check(&self.plan.root, value)
    }

    /// Converts validated datums into one record batch of [`JsonPayload::arrow_schema`].
    pub fn to_arrow(&self, datums: &[&[u8]]) -> Result<RecordBatch, ToArrowError> {
        arrow::convert(&self.plan, datums)
    }

    /// The Arrow schema of the payload's columns.
    pub fn arrow_schema(&self) -> SchemaRef {
        self.plan.schema.clone()
    }

    /// Where the value first breaks the schema, and the failing keyword's message.
    #[cold]
    fn violation(&self, value: Val<'_>) -> ValidateError {
        let detail = match self.validator.validate(value) {
            Err(e) => format!("at #{}: {e}", e.instance_path().as_str()),
            Ok(()) => "the schema refuses the value".to_owned(),
        };
        ValidateError::SchemaViolation(bounded(detail))
    }
}

/// The mapping of `schema` to Arrow, reading it with its references.
fn plan(schema: &JsonSchema) -> Result<Plan, CompileError> {
    let registry = schema.registry()?;
    let root = Loc {
        schema: &schema.root,
        resolver: registry.resolver(schema.base_uri()?),
        draft: schema.draft.engine(),
    };
    Plan::build(root)
}

/// The datum's JSON value, on a tape.
#[inline]
fn read(datum: &[u8]) -> Result<Tape<'_>, ValidateError> {
    if datum.len() > MAX_DATUM_BYTES {
        return Err(ValidateError::TooLarge(datum.len()));
    }
    let mut tape = Tape::with_capacity(datum.len() / 8 + 4);
    parse::parse(&mut tape, datum).map_err(|e| ValidateError::InvalidJson(bounded(e.0.into())))?;
    Ok(tape)
}
