//! File formats of the file outputs: a record batch becomes the bytes of one whole file. Each format is
//! a module implementing [`FileFormat`]; [`file_format`] is the one place where the configuration's
//! names (`format = "parquet"`, [`Format`]) are mapped to them.

mod avro;
mod file_format;
mod jsonl;
pub mod parquet;

pub use file_format::{FileFormat, FormatError};

use crate::config::outputs::Format;

/// The implementation of a configured format.
pub fn file_format(format: Format) -> &'static dyn FileFormat {
    match format {
        Format::Parquet => &parquet::Parquet,
        Format::Avro => &avro::AvroContainer,
        Format::Jsonl => &jsonl::JsonLines,
    }
}
