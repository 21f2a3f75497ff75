//! Conversion: valid events of one payload schema become an Arrow `RecordBatch` (the payload's fields,
//! decoded by arrow-avro, plus the `_murron_*`, `_kafka_*` and `_schema_id` columns), and a record
//! batch becomes the bytes of a file in one of the output formats.

use std::sync::Arc;

use arrow_array::builder::{MapBuilder, StringBuilder};
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_avro::reader::{DecoderMode, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};
use arrow_schema::{ArrowError, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::envelope;

/// File format of a file output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Apache Parquet, zstd-compressed.
    #[default]
    Parquet,
    /// Avro object container file, deflate-compressed.
    Avro,
    /// JSON, one object per line.
    Jsonl,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Avro => "avro",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Why events could not be converted or encoded. Not retryable: the same input fails again.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("avro: {0}")]
    Avro(#[from] arrow_avro::errors::AvroError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("payload field {0:?} clashes with a metadata column")]
    ReservedName(String),
    #[error("payload datum at Kafka offset {0} was not consumed whole by the decoder")]
    Partial(i64),
}

/// One row's metadata, from the envelope and the Kafka record.
#[derive(Debug)]
pub struct RowMeta<'a> {
    pub envelope: envelope::Envelope<'a>,
    pub datum: &'a [u8],
    pub kafka_topic: &'a str,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
}

/// Names of the metadata columns, in order.
pub const METADATA_COLUMNS: [&str; 9] = [
    "_murron_timestamp",
    "_murron_host",
    "_murron_pid",
    "_murron_offset",
    "_murron_tags",
    "_kafka_topic",
    "_kafka_partition",
    "_kafka_offset",
    "_schema_id",
];

/// Decodes the payload datums of `rows` (all of schema `schema_id`, already validated) and appends
/// the metadata columns.
pub fn to_record_batch(schema_id: u32, schema_text: &str, rows: &[RowMeta<'_>]) -> Result<RecordBatch, ConvertError> {
    let mut store = SchemaStore::new_with_type(FingerprintAlgorithm::Id);
    let fingerprint = Fingerprint::Id(schema_id);
    store.set(fingerprint, AvroSchema::new(schema_text.to_owned()))?;
    let mut decoder = ReaderBuilder::new()
        .with_writer_schema_store(store)
        .with_active_fingerprint(fingerprint)
        .with_decoder_mode(DecoderMode::UnframedDatum)
        .with_batch_size(rows.len().max(1))
        .build_decoder()?;
    for row in rows {
        if decoder.decode(row.datum)? != row.datum.len() {
            return Err(ConvertError::Partial(row.kafka_offset));
        }
    }
    let payload = match decoder.flush()? {
        Some(b) => b,
        None => RecordBatch::new_empty(decoder.schema()),
    };
    append_metadata(payload, schema_id, rows)
}

fn append_metadata(payload: RecordBatch, schema_id: u32, rows: &[RowMeta<'_>]) -> Result<RecordBatch, ConvertError> {
    let payload_schema = payload.schema();
    if let Some(f) = payload_schema
        .fields()
        .iter()
        .find(|f| METADATA_COLUMNS.contains(&f.name().as_str()))
    {
        return Err(ConvertError::ReservedName(f.name().clone()));
    }
    let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for r in rows {
        for (k, v) in r.envelope.tags.iter() {
            tags.keys().append_value(k);
            tags.values().append_value(v);
        }
        tags.append(true)?;
    }
    let tags = tags.finish();
    let columns: [ArrayRef; 9] = [
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.envelope.timestamp))
                .with_timezone("+00:00"),
        ),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.envelope.host))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.envelope.pid))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.envelope.offset))),
        Arc::new(tags),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.kafka_topic))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.kafka_partition))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.kafka_offset))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| schema_id as i32))),
    ];
    let mut fields: Vec<Arc<Field>> = payload_schema.fields().iter().cloned().collect();
    for (name, column) in METADATA_COLUMNS.iter().zip(&columns) {
        fields.push(Arc::new(Field::new(*name, column.data_type().clone(), false)));
    }
    let mut arrays: Vec<ArrayRef> = payload.columns().to_vec();
    arrays.extend(columns);
    // Schema-level metadata (the payload's Avro schema) no longer describes the extended batch.
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// Encodes `batch` as one whole file.
pub fn encode(format: Format, batch: &RecordBatch) -> Result<Vec<u8>, ConvertError> {
    match format {
        Format::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props))?;
            writer.write(batch)?;
            Ok(writer.into_inner()?)
        }
        Format::Avro => {
            let mut writer = arrow_avro::writer::WriterBuilder::new(batch.schema().as_ref().clone())
                .with_compression(Some(arrow_avro::compression::CompressionCodec::Deflate))
                .build::<_, arrow_avro::writer::format::AvroOcfFormat>(Vec::new())?;
            writer.write(batch)?;
            writer.finish()?;
            Ok(writer.into_inner())
        }
        Format::Jsonl => {
            let mut writer = arrow_json::LineDelimitedWriter::new(Vec::new());
            writer.write(batch)?;
            writer.finish()?;
            Ok(writer.into_inner())
        }
    }
}
