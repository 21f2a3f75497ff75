//! Why valid payloads could not become Arrow; shared by every schema kind's converter.

/// Why valid payloads could not become Arrow (a construct the converter does not support). Not
/// retryable: the same input fails again.
#[derive(Debug, thiserror::Error)]
pub enum ToArrowError {
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("avro: {0}")]
    Avro(#[from] arrow_avro::errors::AvroError),
    /// The datum at this index of the input was not consumed whole by the decoder.
    #[error("payload datum {0} was not consumed whole by the decoder")]
    Partial(usize),
}
