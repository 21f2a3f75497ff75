//! What a file format is: [`FileFormat`], and why encoding can fail.

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;

/// Why a record batch could not be encoded. Not retryable: the same input fails again.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("avro: {0}")]
    Avro(#[from] arrow_avro::errors::AvroError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// A file format: how a record batch becomes one whole file.
pub trait FileFormat: Send + Sync + std::fmt::Debug {
    /// The file name extension, without the dot; also the format's name in metrics and errors.
    fn extension(&self) -> &'static str;
    /// Encodes `batch` as one whole file. CPU-heavy: call it off the async reactor.
    fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>, FormatError>;
}
