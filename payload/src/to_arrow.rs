//! Why valid payloads could not become Arrow; shared by every schema kind's converter.

/// Why valid payloads could not become Arrow (a construct the converter does not support). Not
/// retryable: the same input fails again.
#[derive(Debug, thiserror::Error)]
pub enum ToArrowError {
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("avro: {0}")]
    Avro(#[from] arrow_avro::errors::AvroError),
    /// The JSON datum at this index did not parse or fit the schema's columns (validation rules
    /// that out).
    #[error("json: payload datum {index}: {detail}")]
    Json { index: usize, detail: String },
    /// The datum at this index of the input was not consumed whole by the decoder.
    #[error("payload datum {0} was not consumed whole by the decoder")]
    Partial(usize),
    /// The datum at this index is not a valid payload of its group's type (it was not validated).
    #[error("payload datum {index} cannot be converted: {reason}")]
    Invalid { index: usize, reason: &'static str },
    /// A column of the group would outgrow its 32-bit offsets (2 GiB of strings, 2^31 list items).
    #[error("a column of the group is too large for 32-bit offsets")]
    Overflow,
}
