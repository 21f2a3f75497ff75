//! File formats of the file outputs: a record batch becomes the bytes of one whole file. Each format is
//! a module implementing [`FileFormat`]; [`Format::file_format`] is the one place where the
//! configuration's names (`format = "parquet"`) are mapped to them.

mod avro;
mod jsonl;
mod parquet;

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;

pub use crate::config::outputs::Format;
pub use parquet::encode_parquet;

/// Why a record batch could not be encoded. Not retryable: the same input fails again.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("avro: {0}")]
    Avro(#[from] arrow_avro::errors::AvroError),
    #[error("parquet: {0}")]
    Parquet(#[from] ::parquet::errors::ParquetError),
}

/// A file format: how a record batch becomes one whole file.
pub trait FileFormat: Send + Sync + std::fmt::Debug {
    /// The file name extension, without the dot; also the format's name in metrics and errors.
    fn extension(&self) -> &'static str;
    /// Encodes `batch` as one whole file. CPU-heavy: call it off the async reactor.
    fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>, FormatError>;
}

impl Format {
    /// The implementation of the format.
    pub fn file_format(self) -> &'static dyn FileFormat {
        match self {
            Format::Parquet => &parquet::Parquet,
            Format::Avro => &avro::AvroContainer,
            Format::Jsonl => &jsonl::JsonLines,
        }
    }

    pub fn extension(self) -> &'static str {
        self.file_format().extension()
    }

    /// Encodes `batch` as one whole file of this format.
    pub fn encode(self, batch: &RecordBatch) -> Result<Vec<u8>, FormatError> {
        self.file_format().encode(batch)
    }
}
