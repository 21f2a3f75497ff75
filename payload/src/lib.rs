//! Payload schemas: the schema an event's `message` was written with, compiled once per registry id
//! for the hot path. [`PayloadSchema`] is one type over the schema kinds; each kind is a module of
//! its own ([`avro`], [`json`], [`protobuf`]) with its validator and its conversion to Arrow, and [`Compiled`] is the one place
//! that lists them. Pure code: no I/O.
//!
//! Hot path: [`PayloadSchema::validate`] runs once per event and [`PayloadSchema::to_arrow`] once per
//! group of valid events.

pub mod avro;
pub mod json;
pub mod protobuf;
mod to_arrow;

use arrow_array::RecordBatch;

pub use to_arrow::ToArrowError;

/// The schema types, as the registry names them; the sink takes every one.
pub use murron_schema_types::schema::{Referenced, SchemaType};

/// Which of a schema's message types a datum holds. Avro and JSON Schema datums are always of the
/// schema's one type (`Variant(0)`); a Protobuf datum's framing names one of the file's messages.
/// Datums of one schema and one variant share one Arrow schema, so they are converted together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Variant(pub u32);

/// Why a schema cannot be used for payloads. Not retryable: the same text fails again.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("schema type {} is not supported yet", .0.as_str())]
    Unsupported(SchemaType),
    #[error(transparent)]
    Avro(#[from] avro::CompileError),
    #[error(transparent)]
    Json(#[from] json::CompileError),
    #[error("not a usable Protobuf schema: {0}")]
    Protobuf(#[from] protobuf::CompileError),
}

/// Why bytes are not a valid payload of their schema. [`ValidateError::reason`] is the stable code for
/// dead-letter records and metric labels. Never worth retrying: the bytes are bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Avro(#[from] avro::ValidateError),
    #[error(transparent)]
    Json(#[from] json::ValidateError),
    #[error(transparent)]
    Protobuf(#[from] protobuf::ValidateError),
}

impl ValidateError {
    /// A short, stable code for metrics labels and dead-letter records.
    #[inline]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Avro(e) => e.reason(),
            Self::Json(e) => e.reason(),
            Self::Protobuf(e) => e.reason(),
        }
    }
}

/// A compiled schema of one kind: the one place where the kinds are listed.
#[derive(Debug)]
pub enum Compiled {
    Avro(avro::AvroPayload),
    Json(json::JsonPayload),
    Protobuf(protobuf::ProtobufPayload),
}

/// A payload schema ready for the hot path.
#[derive(Debug)]
pub struct PayloadSchema {
    id: u32,
    compiled: Compiled,
}

impl PayloadSchema {
    /// Compiles the schema registered as `id`, whose references (transitively, closest first) are
    /// `referenced`.
    pub fn compile(id: u32, kind: SchemaType, text: &str, referenced: &[Referenced]) -> Result<Self, CompileError> {
        let compiled = match kind {
            SchemaType::Avro => Compiled::Avro(avro::AvroPayload::compile(text)?),
            SchemaType::Json => Compiled::Json(json::JsonPayload::compile(text, referenced)?),
            SchemaType::Protobuf => Compiled::Protobuf(protobuf::ProtobufPayload::compile(text, referenced)?),
        };
        Ok(Self { id, compiled })
    }

    /// The registry id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The schema type, as the registry names it.
    pub fn kind(&self) -> SchemaType {
        match &self.compiled {
            Compiled::Avro(_) => SchemaType::Avro,
            Compiled::Json(_) => SchemaType::Json,
            Compiled::Protobuf(_) => SchemaType::Protobuf,
        }
    }

    /// Checks that `datum` (the payload after the magic byte and schema id) is exactly one valid
    /// value, and says which of the schema's message types it holds.
    // Inlined: the hot path then calls the kind's validator directly, as before kinds were a type.
    #[inline]
    pub fn validate(&self, datum: &[u8]) -> Result<Variant, ValidateError> {
        match &self.compiled {
            Compiled::Avro(a) => {
                a.validate(datum)?;
                Ok(Variant(0))
            }
            Compiled::Json(j) => {
                j.validate(datum)?;
                Ok(Variant(0))
            }
            Compiled::Protobuf(p) => Ok(Variant(p.validate(datum)?)),
        }
    }

    /// Decodes already validated datums, all of `variant`, into one record batch of the payload's
    /// fields.
    pub fn to_arrow(&self, variant: Variant, datums: &[&[u8]]) -> Result<RecordBatch, ToArrowError> {
        match &self.compiled {
            Compiled::Avro(a) => {
                debug_assert_eq!(variant, Variant(0));
                a.to_arrow(self.id, datums)
            }
            Compiled::Json(j) => {
                debug_assert_eq!(variant, Variant(0));
                j.to_arrow(datums)
            }
            Compiled::Protobuf(p) => p.to_arrow(variant.0, datums),
        }
    }
}
