//! Avro datums to Arrow: arrow-avro's decoder built for one writer schema decodes a whole group of
//! datums straight into Arrow columns.

use arrow_array::RecordBatch;
use arrow_avro::reader::{DecoderMode, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};

use crate::to_arrow::ToArrowError;

/// Decodes `datums`, all written with the schema `schema_text` registered as `schema_id`.
pub(super) fn decode(schema_id: u32, schema_text: &str, datums: &[&[u8]]) -> Result<RecordBatch, ToArrowError> {
    let mut store = SchemaStore::new_with_type(FingerprintAlgorithm::Id);
    let fingerprint = Fingerprint::Id(schema_id);
    store.set(fingerprint, AvroSchema::new(schema_text.to_owned()))?;
    let mut decoder = ReaderBuilder::new()
        .with_writer_schema_store(store)
        .with_active_fingerprint(fingerprint)
        .with_decoder_mode(DecoderMode::UnframedDatum)
        .with_batch_size(datums.len().max(1))
        .build_decoder()?;
    for (i, datum) in datums.iter().enumerate() {
        if decoder.decode(datum)? != datum.len() {
            return Err(ToArrowError::Partial(i));
        }
    }
    Ok(match decoder.flush()? {
        Some(b) => b,
        None => RecordBatch::new_empty(decoder.schema()),
    })
}
