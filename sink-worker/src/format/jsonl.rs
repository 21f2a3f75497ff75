//! JSON lines: one object per row, written by arrow-json.

use arrow_array::RecordBatch;

use super::file_format::{FileFormat, FormatError};

/// JSON lines (`.jsonl`).
#[derive(Debug)]
pub struct JsonLines;

impl FileFormat for JsonLines {
    fn extension(&self) -> &'static str {
        "jsonl"
    }

    fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>, FormatError> {
        let mut writer = arrow_json::LineDelimitedWriter::new(Vec::new());
        writer.write(batch)?;
        writer.finish()?;
        Ok(writer.into_inner())
    }
}
