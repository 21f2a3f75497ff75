//! Avro payloads: a validator compiled from the writer schema ([`validate`]), decoding to Arrow with
//! arrow-avro ([`arrow`]), and deterministic sample datums for demos, tests and benchmarks ([`sample`]).

mod arrow;
pub mod sample;
pub mod validate;

pub use validate::{CompileError, MAX_DEPTH, MAX_ZERO_WIDTH_ITEMS, ValidateError, Validator};

use arrow_array::RecordBatch;

use crate::to_arrow::ToArrowError;

/// An Avro writer schema, compiled.
#[derive(Debug)]
pub struct AvroPayload {
    /// The registered text, as the Arrow decoder wants it.
    text: String,
    validator: Validator,
}

impl AvroPayload {
    pub fn compile(text: &str) -> Result<Self, CompileError> {
        let schema = apache_avro::Schema::parse_str(text).map_err(|e| CompileError::Parse(e.to_string()))?;
        let validator = Validator::new(&schema)?;
        Ok(Self {
            text: text.to_owned(),
            validator,
        })
    }

    /// The registered schema text.
    pub fn text(&self) -> &str {
        &self.text
    }

    #[inline]
    pub fn validate(&self, datum: &[u8]) -> Result<(), ValidateError> {
        self.validator.validate(datum)
    }

    pub fn to_arrow(&self, schema_id: u32, datums: &[&[u8]]) -> Result<RecordBatch, ToArrowError> {
        arrow::decode(schema_id, &self.text, datums)
    }
}
