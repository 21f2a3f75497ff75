//! Why a Protobuf schema cannot be compiled, and why bytes are not a payload of it; shared by the
//! framing, the validator and the converter.

use std::sync::Arc;

use arrow_schema::ArrowError;
use murron_schema_types::schema::SchemaError;

use super::limits::{MAX_COLUMNS, MAX_DEPTH};
use super::wire::WireError;

/// Why a Protobuf schema cannot be used for payloads. Not retryable: the same text fails again.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The text (with its references) is not a Protobuf schema the registry would accept.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The file declares no message, so no payload can be of it.
    #[error("the schema declares no message")]
    NoMessages,
    /// A message type whose columns nest deeper than the sink stores (a chain of message types).
    #[error("the columns of message {0} nest deeper than {MAX_DEPTH} levels")]
    TooDeep(String),
    /// A message type with more columns, nested ones included, than the sink stores.
    #[error("message {0} has more than {MAX_COLUMNS} columns, nested ones included")]
    TooWide(String),
    /// More message or enum types, or fields, than a `u32` can index.
    #[error("schema too large to compile")]
    TooLarge,
}

/// Why bytes are not a payload of the schema. [`ValidateError::reason`] is the stable code for
/// dead-letter records and metric labels (docs/PROTOCOL.md lists them). None is worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    #[error("malformed message-index array")]
    BadMessageIndex,
    #[error("message index {index} out of range: {within} has {count} message(s)")]
    MessageIndexOutOfRange { index: i64, within: Arc<str>, count: usize },
    #[error("datum is shorter than its encoding says")]
    Truncated,
    #[error("malformed variable-length integer")]
    BadVarint,
    #[error("field number 0 or a tag beyond 32 bits")]
    BadTag,
    #[error("field {number} of {message} has wire type {wire}, which its type cannot take")]
    BadWireType { message: Arc<str>, number: u32, wire: u8 },
    #[error("field {number} is not declared in {message}")]
    UnknownField { message: Arc<str>, number: u32 },
    #[error("field {number} of {message}: value out of its 32-bit range")]
    IntOutOfRange { message: Arc<str>, number: u32 },
    #[error("field {number} of {message}: boolean varint is neither 0 nor 1")]
    InvalidBoolean { message: Arc<str>, number: u32 },
    #[error("field {number} of {message}: string is not valid UTF-8")]
    InvalidUtf8 { message: Arc<str>, number: u32 },
    #[error("field {number} of {message}: {value} is not a value of enum {enum_name}")]
    UnknownEnumValue {
        message: Arc<str>,
        number: u32,
        enum_name: Arc<str>,
        value: i32,
    },
    #[error("field {number} of {message} is a message and occurs more than once")]
    DuplicateField { message: Arc<str>, number: u32 },
    #[error("required field {number} of {message} is missing")]
    MissingRequiredField { message: Arc<str>, number: u32 },
    #[error("not a valid google.protobuf.Timestamp (seconds {seconds}, nanos {nanos})")]
    InvalidTimestamp { seconds: i64, nanos: i32 },
    #[error("timestamp (seconds {seconds}) is outside 1677-09-21..2262-04-11, the range of nanoseconds in 64 bits")]
    TimestampOutOfRange { seconds: i64 },
    #[error("not a valid google.protobuf.Duration (seconds {seconds}, nanos {nanos})")]
    InvalidDuration { seconds: i64, nanos: i32 },
    #[error("duration (seconds {seconds}) is longer than about 292 years, the range of nanoseconds in 64 bits")]
    DurationOutOfRange { seconds: i64 },
    #[error("a google.protobuf.Value number is NaN or infinite, which JSON cannot hold")]
    InvalidJsonValue,
    #[error("messages nest deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("the datum expands to more Arrow values than its size allows")]
    TooManyItems,
}

impl ValidateError {
    /// A short, stable code for metrics labels and dead-letter records.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadMessageIndex => "bad_message_index",
            Self::MessageIndexOutOfRange { .. } => "message_index_out_of_range",
            Self::Truncated => "truncated",
            Self::BadVarint => "bad_varint",
            Self::BadTag => "bad_tag",
            Self::BadWireType { .. } => "bad_wire_type",
            Self::UnknownField { .. } => "unknown_field",
            Self::IntOutOfRange { .. } => "int_out_of_range",
            Self::InvalidBoolean { .. } => "invalid_boolean",
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::UnknownEnumValue { .. } => "unknown_enum_value",
            Self::DuplicateField { .. } => "duplicate_field",
            Self::MissingRequiredField { .. } => "missing_required_field",
            Self::InvalidTimestamp { .. } => "invalid_timestamp",
            Self::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            Self::InvalidDuration { .. } => "invalid_duration",
            Self::DurationOutOfRange { .. } => "duration_out_of_range",
            Self::InvalidJsonValue => "invalid_json_value",
            Self::TooDeep => "too_deep",
            Self::TooManyItems => "too_many_items",
        }
    }
}

impl From<WireError> for ValidateError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated => Self::Truncated,
            WireError::BadVarint => Self::BadVarint,
            WireError::BadTag => Self::BadTag,
            WireError::TooDeep => Self::TooDeep,
        }
    }
}

/// A [`ValidateError`] on the validator's hot path: boxed, so that every `Result` the walk returns
/// fits a register (the error, rare, pays an allocation).
pub(super) type Fail = Box<ValidateError>;

impl From<WireError> for Box<ValidateError> {
    fn from(e: WireError) -> Self {
        Box::new(e.into())
    }
}

/// Why the converter could not append a datum (its own error, which `to_arrow` reports as a
/// [`crate::ToArrowError`]). Boxed for the same reason as [`Fail`].
pub(super) type Fault = Box<FaultKind>;

#[derive(Debug)]
pub(super) enum FaultKind {
    /// The bytes are not valid (they were not validated, or the validator and this walk disagree).
    Invalid(&'static str),
    /// A column outgrew its 32-bit offsets.
    Overflow,
    Arrow(ArrowError),
}

/// The fault of bytes that are not valid, for this reason code.
pub(super) fn invalid(reason: &'static str) -> Fault {
    Box::new(FaultKind::Invalid(reason))
}

impl From<ValidateError> for Box<FaultKind> {
    fn from(e: ValidateError) -> Self {
        invalid(e.reason())
    }
}

impl From<Box<ValidateError>> for Box<FaultKind> {
    fn from(e: Box<ValidateError>) -> Self {
        invalid(e.reason())
    }
}

impl From<WireError> for Box<FaultKind> {
    fn from(e: WireError) -> Self {
        invalid(ValidateError::from(e).reason())
    }
}

impl From<ArrowError> for Box<FaultKind> {
    fn from(e: ArrowError) -> Self {
        Box::new(FaultKind::Arrow(e))
    }
}
