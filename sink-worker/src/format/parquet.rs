//! Apache Parquet, zstd-compressed: the default file format. A file's column chunks are encoded in
//! parallel; the file is byte for byte the one `ArrowWriter` writes.

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::Field;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, compute_leaves};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use super::file_format::{FileFormat, FormatError};
use crate::parallel::{cpus, in_parallel};

/// Parquet files (`.parquet`).
#[derive(Debug)]
pub struct Parquet;

impl FileFormat for Parquet {
    fn extension(&self) -> &'static str {
        "parquet"
    }

    fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>, FormatError> {
        encode_parquet(batch, cpus())
    }
}

/// Encodes `batch` as one Parquet file (zstd), the columns of each row group on up to `threads`
/// threads at once. The file is the one `ArrowWriter` writes; only the column chunks are encoded in
/// parallel, and the chunks of a row group are already all held in memory by either way.
pub fn encode_parquet(batch: &RecordBatch, threads: usize) -> Result<Vec<u8>, FormatError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    encode_parquet_with(batch, props, threads)
}

fn encode_parquet_with(batch: &RecordBatch, props: WriterProperties, threads: usize) -> Result<Vec<u8>, FormatError> {
    let rows_per_group = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
    let schema = batch.schema();
    let (mut file, columns) =
        ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?.into_serialized_writer()?;
    let mut start = 0;
    while start < batch.num_rows() {
        let group = batch.slice(start, rows_per_group.min(batch.num_rows() - start));
        start += group.num_rows();
        // The writers come one per leaf column, in order; a field (a map, say) may have several.
        let mut jobs: Vec<FieldJob> = schema
            .fields()
            .iter()
            .zip(group.columns())
            .map(|(field, column)| (Vec::new(), field.as_ref(), column.clone()))
            .collect();
        for (leaf, writer) in columns
            .create_column_writers(file.flushed_row_groups().len())?
            .into_iter()
            .enumerate()
        {
            let field = file.schema_descr().get_column_root_idx(leaf);
            jobs.get_mut(field)
                .ok_or_else(|| ParquetError::General(format!("leaf column {leaf} has no field")))?
                .0
                .push(writer);
        }
        let mut row_group = file.next_row_group()?;
        for chunk in encode_fields(jobs, threads)? {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    Ok(file.into_inner()?)
}

/// One field of a row group: the writers of its leaf columns, the field and its values.
type FieldJob<'a> = (Vec<ArrowColumnWriter>, &'a Field, ArrayRef);

/// Encodes each field's column chunks on up to `threads` threads; returns the chunks in column order.
fn encode_fields(jobs: Vec<FieldJob<'_>>, threads: usize) -> Result<Vec<ArrowColumnChunk>, ParquetError> {
    let fields = in_parallel(jobs, threads, |(writers, field, column)| {
        encode_field(writers, field, &column)
    })
    .ok_or_else(|| ParquetError::General("a field was not encoded".into()))?;
    let mut chunks = Vec::new();
    for field in fields {
        chunks.extend(field?);
    }
    Ok(chunks)
}

fn encode_field(
    writers: Vec<ArrowColumnWriter>,
    field: &Field,
    column: &ArrayRef,
) -> Result<Vec<ArrowColumnChunk>, ParquetError> {
    let leaves = compute_leaves(field, column)?;
    if leaves.len() != writers.len() {
        return Err(ParquetError::General(format!(
            "field {:?} has {} leaf columns but {} writers",
            field.name(),
            leaves.len(),
            writers.len()
        )));
    }
    writers
        .into_iter()
        .zip(&leaves)
        .map(|(mut writer, leaf)| {
            writer.write(leaf)?;
            writer.close()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{MapBuilder, StringBuilder};
    use arrow_array::{Float64Array, Int64Array, StringArray};

    use super::*;

    /// A batch with the column kinds events have: strings, nullable strings, longs, doubles, a map.
    fn batch(rows: usize) -> RecordBatch {
        let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for i in 0..rows {
            for j in 0..i % 3 {
                tags.keys().append_value(format!("k{j}"));
                tags.values().append_value(format!("v{i}"));
            }
            tags.append(true).expect("keys and values are appended in pairs");
        }
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| i * 7))),
            ),
            (
                "path",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("/v1/items/{}", i % 97)),
                )),
            ),
            (
                "note",
                Arc::new(StringArray::from_iter(
                    (0..rows).map(|i| (i % 5 == 0).then(|| format!("n{i}"))),
                )),
            ),
            (
                "latency",
                Arc::new(Float64Array::from_iter_values((0..rows).map(|i| i as f64 / 3.0))),
            ),
            ("tags", Arc::new(tags.finish())),
        ];
        RecordBatch::try_from_iter(columns).expect("columns of equal length")
    }

    fn serial(batch: &RecordBatch, props: WriterProperties) -> Vec<u8> {
        let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).expect("the schema maps");
        writer.write(batch).expect("the batch encodes");
        writer.into_inner().expect("the file closes")
    }

    #[test]
    fn parallel_encoding_writes_the_same_file_as_the_arrow_writer() {
        for (rows, group) in [(5_000, None), (5_000, Some(1_024)), (1_024, Some(1_024)), (0, None)] {
            let props = || {
                let b = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()));
                match group {
                    Some(n) => b.set_max_row_group_row_count(Some(n)).build(),
                    None => b.build(),
                }
            };
            let batch = batch(rows);
            let expected = serial(&batch, props());
            for threads in [1, 2, 8] {
                let file = encode_parquet_with(&batch, props(), threads).expect("the batch encodes");
                assert!(
                    file == expected,
                    "{rows} rows, row groups of {group:?}, {threads} threads"
                );
            }
        }
    }
}
