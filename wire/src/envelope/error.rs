//! Why bytes are not a valid envelope.

use crate::framing::FramingError;

/// Why bytes are not a valid envelope. [`DecodeError::reason`] is the stable dead-letter reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record is shorter than its encoding says")]
    Truncated,
    #[error("first byte is not the Confluent magic byte 0")]
    BadMagic,
    #[error("malformed variable-length integer")]
    BadVarint,
    #[error("int field out of 32-bit range")]
    IntOutOfRange,
    #[error("negative length")]
    NegativeLength,
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("{0} bytes left over after the envelope")]
    TrailingBytes(usize),
}

impl From<FramingError> for DecodeError {
    fn from(e: FramingError) -> Self {
        match e {
            FramingError::Truncated => Self::Truncated,
            FramingError::BadMagic => Self::BadMagic,
        }
    }
}

impl DecodeError {
    /// A short, stable code for metrics labels and dead-letter records.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::BadMagic => "bad_magic",
            Self::BadVarint => "bad_varint",
            Self::IntOutOfRange => "int_out_of_range",
            Self::NegativeLength => "negative_length",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::TrailingBytes(_) => "trailing_bytes",
        }
    }
}
