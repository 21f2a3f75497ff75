//! Why a JSON schema cannot be used, and why a datum is not a valid payload of its schema.

use murron_schema_types::schema::SchemaError;

/// The largest datum taken, in bytes. The sink bounds whole records earlier (`max_event_bytes`);
/// this keeps the parsed tree's memory bounded wherever the payload crate is used.
pub const MAX_DATUM_BYTES: usize = 8 << 20;

/// How long a dead-letter detail may grow: a message quoting a large value is cut there.
pub(super) const MAX_DETAIL_BYTES: usize = 240;

/// Why a JSON schema cannot be compiled. Not retryable: the same text fails again.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The text, a referenced schema, or a `$ref` in them, is not usable (as the registry would say).
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The schema maps to more Arrow fields, or takes more steps to read, than the bounds allow.
    #[error("the schema is too large to map to Arrow: {0}")]
    TooLarge(&'static str),
}

/// Why bytes are not a valid JSON payload of the schema. [`ValidateError::reason`] is the stable
/// code for dead-letter records and metric labels. None is worth retrying: the bytes are bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    #[error("datum is {0} bytes, more than {MAX_DATUM_BYTES}")]
    TooLarge(usize),
    /// Not UTF-8, not JSON, nested deeper than 128, or followed by more than whitespace.
    #[error("not JSON: {0}")]
    InvalidJson(String),
    /// Valid JSON that the schema refuses: where, and the first failing keyword's message.
    #[error("{0}")]
    SchemaViolation(String),
    /// A string under `format: date-time` that is not an RFC 3339 date-time.
    #[error("at {at}: {value} is not an RFC 3339 date-time")]
    InvalidDateTime { at: String, value: String },
    /// A string under `format: date` that is not an RFC 3339 full-date.
    #[error("at {at}: {value} is not an RFC 3339 date")]
    InvalidDate { at: String, value: String },
    /// An `integer` that does not fit 64 signed bits.
    #[error("at {at}: {value} does not fit a 64-bit signed integer")]
    IntegerOutOfRange { at: String, value: String },
    /// A value the schema accepts but whose kind the column derived from the schema cannot hold.
    /// The mapping is built so that this cannot happen; it is checked so that it never fails later.
    #[error("at {at}: {value} does not fit the column the schema maps it to")]
    Unmappable { at: String, value: String },
}

impl ValidateError {
    /// A short, stable code for metrics labels and dead-letter records.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "too_large",
            Self::InvalidJson(_) => "invalid_json",
            Self::SchemaViolation(_) => "schema_violation",
            Self::InvalidDateTime { .. } => "invalid_date_time",
            Self::InvalidDate { .. } => "invalid_date",
            Self::IntegerOutOfRange { .. } => "integer_out_of_range",
            Self::Unmappable { .. } => "unmappable",
        }
    }
}

/// `text` cut to at most [`MAX_DETAIL_BYTES`] on a character boundary, marked with `…` when cut.
pub(super) fn bounded(mut text: String) -> String {
    if text.len() > MAX_DETAIL_BYTES {
        let mut end = MAX_DETAIL_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
