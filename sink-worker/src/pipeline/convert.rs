//! Conversion: valid events of one payload schema become an Arrow `RecordBatch` (the payload's fields,
//! decoded by arrow-avro, plus the `_murron_*`, `_kafka_*` and `_schema_id` columns), and a record
//! batch becomes the bytes of a file in one of the output formats.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use arrow_array::builder::{MapBuilder, StringBuilder};
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_avro::reader::{DecoderMode, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};
use arrow_schema::{ArrowError, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, compute_leaves};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
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
/// the metadata columns. Large groups are decoded in shares on every CPU the worker may use.
pub fn to_record_batch(schema_id: u32, schema_text: &str, rows: &[RowMeta<'_>]) -> Result<RecordBatch, ConvertError> {
    to_record_batch_on(schema_id, schema_text, rows, cpus())
}

/// Below this many rows per thread, one thread decodes them all: the shares' decoders and the
/// concatenation would cost more than they save.
const MIN_ROWS_PER_THREAD: usize = 4096;

/// [`to_record_batch`] on at most `threads` threads.
pub fn to_record_batch_on(
    schema_id: u32,
    schema_text: &str,
    rows: &[RowMeta<'_>],
    threads: usize,
) -> Result<RecordBatch, ConvertError> {
    let threads = threads.min(rows.len() / MIN_ROWS_PER_THREAD).max(1);
    let payload = if threads == 1 {
        decode_payloads(schema_id, schema_text, rows)?
    } else {
        let shares = rows.chunks(rows.len().div_ceil(threads)).collect();
        let parts = in_parallel(shares, threads, |share| decode_payloads(schema_id, schema_text, share))
            .ok_or_else(|| ConvertError::Arrow(ArrowError::ComputeError("a share of rows was not decoded".into())))?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let schema = parts
            .first()
            .map(RecordBatch::schema)
            .ok_or_else(|| ConvertError::Arrow(ArrowError::ComputeError("no share of rows was decoded".into())))?;
        arrow_select::concat::concat_batches(&schema, &parts)?
    };
    append_metadata(payload, schema_id, rows)
}

/// Decodes the payload datums of `rows` with a decoder of their writer schema.
fn decode_payloads(schema_id: u32, schema_text: &str, rows: &[RowMeta<'_>]) -> Result<RecordBatch, ConvertError> {
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
    Ok(match decoder.flush()? {
        Some(b) => b,
        None => RecordBatch::new_empty(decoder.schema()),
    })
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
        Format::Parquet => encode_parquet(batch, cpus()),
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

/// How many threads convert and encode a batch: the CPUs this process may use (a container's CPU
/// quota included).
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Runs `work` on every job, on up to `threads` threads that each take the next job when they finish
/// one (jobs may cost very different amounts); returns the results in job order, or None if one is
/// missing. A panic in `work` reaches the caller once every thread has stopped.
fn in_parallel<J: Send, R: Send>(jobs: Vec<J>, threads: usize, work: impl Fn(J) -> R + Sync) -> Option<Vec<R>> {
    let count = jobs.len();
    let queue = Mutex::new(jobs.into_iter().enumerate());
    let (done, finished) = mpsc::channel();
    let run = || {
        loop {
            // Taking the next job cannot leave the iterator half-updated, so a poisoned lock is fine.
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((i, job)) = next else { break };
            if done.send((i, work(job))).is_err() {
                break;
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.clamp(1, count.max(1)) {
            scope.spawn(run);
        }
        run();
    });
    drop(done);
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(count).collect();
    for (i, result) in finished {
        results[i] = Some(result);
    }
    results.into_iter().collect()
}

/// Encodes `batch` as one Parquet file (zstd), the columns of each row group on up to `threads`
/// threads at once. The file is the one `ArrowWriter` writes; only the column chunks are encoded in
/// parallel, and the chunks of a row group are already all held in memory by either way.
pub fn encode_parquet(batch: &RecordBatch, threads: usize) -> Result<Vec<u8>, ConvertError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    encode_parquet_with(batch, props, threads)
}

fn encode_parquet_with(batch: &RecordBatch, props: WriterProperties, threads: usize) -> Result<Vec<u8>, ConvertError> {
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
    use arrow_array::builder::{MapBuilder, StringBuilder};
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};

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
    fn decoding_in_shares_gives_the_batch_one_decoder_gives() {
        use apache_avro::writer::datum::GenericDatumWriter;

        use crate::envelope::{KeyRing, MAGIC_BYTE, NewEnvelope};
        use crate::generate::{PayloadGenerator, SplitMix64};

        let text = include_str!("../../../schemas/client/api_call.avsc");
        let schema = apache_avro::Schema::parse_str(text).expect("the example schema parses");
        let writer = GenericDatumWriter::builder(&schema).build().expect("a writer");
        let generator = PayloadGenerator::new(&schema, 1_764_115_200_000_000);
        let mut rng = SplitMix64::new(7);
        let keys = KeyRing::new([("default".to_string(), b"k".to_vec())]);
        let values: Vec<Vec<u8>> = (0..MIN_ROWS_PER_THREAD * 3 + 17)
            .map(|n| {
                let mut message = vec![MAGIC_BYTE, 0, 0, 0, 7];
                let sample = generator.sample(&mut rng).expect("the schema can be sampled");
                writer.write_value_ref(&mut message, &sample).expect("a sample encodes");
                let mut value = Vec::new();
                NewEnvelope {
                    timestamp: 1_764_115_200_000_000 + n as i64,
                    host: "h",
                    event_type: "client.api_call",
                    offset: n as i64,
                    pid: 1,
                    message: &message,
                    tags: &[("murron.key", "default")],
                }
                .encode_signed(1, &keys, &mut value)
                .expect("the key is in the ring");
                value
            })
            .collect();
        let rows: Vec<RowMeta<'_>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (_, envelope) = envelope::decode(v).expect("the envelope decodes");
                RowMeta {
                    envelope,
                    datum: &envelope.message[5..],
                    kafka_topic: "t",
                    kafka_partition: 0,
                    kafka_offset: i as i64,
                }
            })
            .collect();
        let whole = to_record_batch_on(7, text, &rows, 1).expect("the rows decode");
        assert_eq!(whole.num_rows(), rows.len());
        for threads in [2, 3, 8] {
            let shared = to_record_batch_on(7, text, &rows, threads).expect("the rows decode");
            assert!(shared == whole, "{threads} threads");
        }
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
