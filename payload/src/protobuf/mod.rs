//! Protobuf payloads: a datum is Confluent's message-index array ([`framing`]) then one message of
//! the type it names. The schema (one `.proto` file and its imports) is compiled once into a decode
//! plan (`plan.rs`); the validator (`validate.rs`) and the converter to Arrow (`arrow.rs`, along a
//! per-type column layout, `layout.rs`) walk the wire format along it directly, without building
//! dynamic messages. [`sample`] writes deterministic datums for demos, tests and benchmarks.
//!
//! Each of the file's messages, nested ones and map entries included, is a variant: its ordinal in
//! Confluent's index order (a message, then its nested messages, depth first), so the first
//! top-level message is variant 0. Datums of one variant share one Arrow schema.
//!
//! The mapping to Arrow is documented in `layout.rs` and docs/SINK.md, the reason codes in
//! docs/PROTOCOL.md.

mod arrow;
mod error;
pub mod framing;
mod json;
mod layout;
mod limits;
mod plan;
pub mod sample;
mod validate;
mod wellknown;
mod wire;

use std::sync::OnceLock;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use murron_schema_types::schema::Referenced;
use murron_schema_types::schema::protobuf::parse_stored;

pub use error::{CompileError, ValidateError};
pub use limits::{BASE_VALUES, MAX_COLUMNS, MAX_DEPTH, VALUES_PER_BYTE};

use crate::to_arrow::ToArrowError;
use error::{Fault, FaultKind};
use layout::Layout;
use plan::Plan;

/// A Protobuf schema, compiled.
#[derive(Debug)]
pub struct ProtobufPayload {
    plan: Plan,
    /// Each variant's columns, laid out on first use.
    layouts: Vec<OnceLock<Layout>>,
}

impl ProtobufPayload {
    /// Compiles `text` (`.proto` source or a serialized descriptor) with the schemas it imports.
    pub fn compile(text: &str, referenced: &[Referenced]) -> Result<Self, CompileError> {
        let schema = parse_stored(text, referenced)?;
        let plan = Plan::compile(schema.file())?;
        let layouts = (0..plan.file_messages).map(|_| OnceLock::new()).collect();
        Ok(Self { plan, layouts })
    }

    /// Checks that `datum` (the payload after the magic byte and schema id) is a message-index array
    /// and exactly one valid message of the type it names; that type's variant.
    ///
    /// Hot path: runs once per event.
    #[inline]
    pub fn validate(&self, datum: &[u8]) -> Result<u32, ValidateError> {
        let (id, start) = framing::split(&self.plan, datum)?;
        validate::validate(&self.plan, id, &datum[start..])?;
        Ok(id)
    }

    /// Converts validated datums, all of `variant`, to one record batch of its fields.
    pub fn to_arrow(&self, variant: u32, datums: &[&[u8]]) -> Result<RecordBatch, ToArrowError> {
        let layout = self.layout(variant).ok_or(ToArrowError::Invalid {
            index: 0,
            reason: "no such message type",
        })?;
        let mut converter = arrow::Converter::new(&self.plan, layout, variant, datums.len());
        for (index, datum) in datums.iter().enumerate() {
            let fault = |f: Fault| match *f {
                FaultKind::Invalid(reason) => ToArrowError::Invalid { index, reason },
                FaultKind::Overflow => ToArrowError::Overflow,
                FaultKind::Arrow(e) => ToArrowError::Arrow(e),
            };
            let (id, start) = framing::split(&self.plan, datum).map_err(|e| fault(e.into()))?;
            if id != variant {
                return Err(ToArrowError::Invalid {
                    index,
                    reason: "of another message type than its group",
                });
            }
            converter.append(&datum[start..]).map_err(fault)?;
        }
        converter.finish().map_err(|f| match *f {
            FaultKind::Arrow(e) => ToArrowError::Arrow(e),
            FaultKind::Overflow => ToArrowError::Overflow,
            FaultKind::Invalid(reason) => ToArrowError::Invalid { index: 0, reason },
        })
    }

    /// The Arrow schema of `variant`'s batches.
    pub fn arrow_schema(&self, variant: u32) -> Option<SchemaRef> {
        self.layout(variant).map(|l| l.schema.clone())
    }

    /// The full names of the file's messages, by variant.
    pub fn message_names(&self) -> impl Iterator<Item = &str> {
        self.plan.messages[..self.plan.file_messages as usize]
            .iter()
            .map(|m| &*m.name)
    }

    /// The variant of the message named `full_name`.
    pub fn variant_of(&self, full_name: &str) -> Option<u32> {
        self.message_names().position(|n| n == full_name).map(|i| i as u32)
    }

    fn layout(&self, variant: u32) -> Option<&Layout> {
        let cell = self.layouts.get(variant as usize)?;
        Some(cell.get_or_init(|| Layout::new(&self.plan, variant)))
    }
}

#[cfg(test)]
mod tests;
