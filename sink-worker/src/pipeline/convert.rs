//! Conversion: valid events of one payload schema become an Arrow `RecordBatch`: the payload's fields,
//! decoded by the schema's kind ([`murron_payload`]), then the `_murron_*`, `_kafka_*` and `_schema_id`
//! columns every output shares. Encoding a batch as a file is [`crate::format`]'s job.

use std::sync::Arc;

use arrow_array::builder::{MapBuilder, StringBuilder};
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{ArrowError, Field, Schema};
use murron_payload::{PayloadSchema, ToArrowError, Variant};
use murron_wire::envelope;

use crate::parallel::{cpus, in_parallel};

/// Why events could not be converted. Not retryable: the same input fails again.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error(transparent)]
    Payload(ToArrowError),
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

/// Decodes the payload datums of `rows` (all of `schema`, already validated) and appends the metadata
/// columns. Large groups are decoded in shares on every CPU the worker may use.
pub fn to_record_batch(
    schema: &PayloadSchema,
    variant: Variant,
    rows: &[RowMeta<'_>],
) -> Result<RecordBatch, ConvertError> {
    to_record_batch_on(schema, variant, rows, cpus())
}

/// Below this many rows per thread, one thread decodes them all: the shares' decoders and the
/// concatenation would cost more than they save.
const MIN_ROWS_PER_THREAD: usize = 4096;

/// [`to_record_batch`] on at most `threads` threads.
pub fn to_record_batch_on(
    schema: &PayloadSchema,
    variant: Variant,
    rows: &[RowMeta<'_>],
    threads: usize,
) -> Result<RecordBatch, ConvertError> {
    let threads = threads.min(rows.len() / MIN_ROWS_PER_THREAD).max(1);
    let payload = if threads == 1 {
        decode_payloads(schema, variant, rows)?
    } else {
        let shares = rows.chunks(rows.len().div_ceil(threads)).collect();
        let parts = in_parallel(shares, threads, |share| decode_payloads(schema, variant, share))
            .ok_or_else(|| ConvertError::Arrow(ArrowError::ComputeError("a share of rows was not decoded".into())))?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let schema = parts
            .first()
            .map(RecordBatch::schema)
            .ok_or_else(|| ConvertError::Arrow(ArrowError::ComputeError("no share of rows was decoded".into())))?;
        arrow_select::concat::concat_batches(&schema, &parts)?
    };
    append_metadata(payload, schema.id(), rows)
}

/// Decodes the payload datums of `rows` with the schema's converter.
fn decode_payloads(
    schema: &PayloadSchema,
    variant: Variant,
    rows: &[RowMeta<'_>],
) -> Result<RecordBatch, ConvertError> {
    let datums: Vec<&[u8]> = rows.iter().map(|r| r.datum).collect();
    schema.to_arrow(variant, &datums).map_err(|e| match e {
        ToArrowError::Partial(i) => ConvertError::Partial(rows.get(i).map_or(-1, |r| r.kafka_offset)),
        e => ConvertError::Payload(e),
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

#[cfg(test)]
mod tests {
    use murron_payload::{SchemaType, Variant};

    use super::*;

    #[test]
    fn decoding_in_shares_gives_the_batch_one_decoder_gives() {
        use apache_avro::writer::datum::GenericDatumWriter;

        use murron_payload::avro::sample::{PayloadGenerator, SplitMix64};
        use murron_wire::envelope::{KeyRing, NewEnvelope};
        use murron_wire::framing::MAGIC_BYTE;

        let text = include_str!("../../../schemas/client/api_call.avsc");
        let schema_7 = PayloadSchema::compile(7, SchemaType::Avro, text, &[]).expect("the example schema compiles");
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
        let whole = to_record_batch_on(&schema_7, Variant(0), &rows, 1).expect("the rows decode");
        assert_eq!(whole.num_rows(), rows.len());
        for threads in [2, 3, 8] {
            let shared = to_record_batch_on(&schema_7, Variant(0), &rows, threads).expect("the rows decode");
            assert!(shared == whole, "{threads} threads");
        }
    }
}
