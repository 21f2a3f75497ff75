//! Payload schemas: the schema an event's `message` was written with, compiled once per registry id
//! for the hot path. [`PayloadSchema`] is one type over the schema kinds; each kind is a module of
//! its own ([`avro`]) with its validator and its conversion to Arrow, and [`Compiled`] is the one place
//! that lists them. Pure code: no I/O.
//!
//! Hot path: [`PayloadSchema::validate`] runs once per event and [`PayloadSchema::to_arrow`] once per
//! group of valid events.

pub mod avro;
mod to_arrow;

use arrow_array::RecordBatch;

pub use to_arrow::ToArrowError;

/// A schema kind, as the registry's `schemaType` names it (absent means Avro).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaKind {
    Avro,
}

impl SchemaKind {
    /// The kind the registry's `schemaType` names; `None` (the field left out) is Avro.
    pub fn from_registry(schema_type: Option<&str>) -> Result<Self, CompileError> {
        match schema_type {
            None | Some("AVRO") => Ok(Self::Avro),
            Some(other) => Err(CompileError::UnsupportedKind(other.to_owned())),
        }
    }
}

/// Why a schema cannot be used for payloads. Not retryable: the same text fails again.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("schema type {0} is not supported")]
    UnsupportedKind(String),
    #[error(transparent)]
    Avro(#[from] avro::CompileError),
}

/// Why bytes are not a valid payload of their schema. [`ValidateError::reason`] is the stable code for
/// dead-letter records and metric labels. Never worth retrying: the bytes are bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Avro(#[from] avro::ValidateError),
}

impl ValidateError {
    /// A short, stable code for metrics labels and dead-letter records.
    #[inline]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Avro(e) => e.reason(),
        }
    }
}

/// A compiled schema of one kind: the one place where the kinds are listed.
#[derive(Debug)]
pub enum Compiled {
    Avro(avro::AvroPayload),
}

/// A payload schema ready for the hot path.
#[derive(Debug)]
pub struct PayloadSchema {
    id: u32,
    compiled: Compiled,
}

impl PayloadSchema {
    /// Compiles the schema registered as `id`.
    pub fn compile(id: u32, kind: SchemaKind, text: &str) -> Result<Self, CompileError> {
        let compiled = match kind {
            SchemaKind::Avro => Compiled::Avro(avro::AvroPayload::compile(text)?),
        };
        Ok(Self { id, compiled })
    }

    /// The registry id.
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn kind(&self) -> SchemaKind {
        match &self.compiled {
            Compiled::Avro(_) => SchemaKind::Avro,
        }
    }

    /// Checks that `datum` (the payload without its framing) is exactly one valid value.
    // Inlined: the hot path then calls the kind's validator directly, as before kinds were a type.
    #[inline]
    pub fn validate(&self, datum: &[u8]) -> Result<(), ValidateError> {
        match &self.compiled {
            Compiled::Avro(a) => Ok(a.validate(datum)?),
        }
    }

    /// Decodes already validated datums into one record batch of the payload's fields.
    pub fn to_arrow(&self, datums: &[&[u8]]) -> Result<RecordBatch, ToArrowError> {
        match &self.compiled {
            Compiled::Avro(a) => a.to_arrow(self.id, datums),
        }
    }
}
