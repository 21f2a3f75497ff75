//! Avro object container files, deflate-compressed, written by arrow-avro.

use arrow_array::RecordBatch;

use super::file_format::{FileFormat, FormatError};

/// Avro container files (`.avro`).
#[derive(Debug)]
pub struct AvroContainer;

impl FileFormat for AvroContainer {
    fn extension(&self) -> &'static str {
        "avro"
    }

    fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>, FormatError> {
        let mut writer = arrow_avro::writer::WriterBuilder::new(batch.schema().as_ref().clone())
            .with_compression(Some(arrow_avro::compression::CompressionCodec::Deflate))
            .build::<_, arrow_avro::writer::format::AvroOcfFormat>(Vec::new())?;
        writer.write(batch)?;
        writer.finish()?;
        Ok(writer.into_inner())
    }
}
