//! Avro object container files, deflate-compressed, written by arrow-avro.
//!
//! Every payload kind is written faithfully. Avro payloads map back to the types they came from; the
//! few Arrow types that JSON Schema and Protobuf payloads produce but Avro lacks are widened first,
//! losslessly: `UInt64` becomes `decimal(20,0)` (Avro's `long` is signed), a map whose keys are
//! not strings (Protobuf's `map<int32, …>`) becomes an array of `{key, value}` records (Avro's maps
//! have string keys only), and a dictionary of names that does not carry Avro enum symbols (a
//! Protobuf enum) becomes its names as strings.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, ArrayRef, Decimal128Array, ListArray, MapArray, RecordBatch, StructArray};
use arrow_avro::schema::AVRO_ENUM_SYMBOLS_METADATA_KEY;
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Schema};

use super::file_format::{FileFormat, FormatError};

/// Avro container files (`.avro`).
#[derive(Debug)]
pub struct AvroContainer;

impl FileFormat for AvroContainer {
    fn extension(&self) -> &'static str {
        "avro"
    }

    fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>, FormatError> {
        let batch = widened(batch)?;
        let mut writer = arrow_avro::writer::WriterBuilder::new(batch.schema().as_ref().clone())
            .with_compression(Some(arrow_avro::compression::CompressionCodec::Deflate))
            .build::<_, arrow_avro::writer::format::AvroOcfFormat>(Vec::new())?;
        writer.write(&batch)?;
        writer.finish()?;
        Ok(writer.into_inner())
    }
}

/// Precision of a decimal that holds every `u64`.
const U64_DIGITS: u8 = 20;

/// `batch` with the types Avro lacks widened; the batch itself when it has none (every Avro payload).
fn widened(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch.schema().fields().iter().any(|f| needs_widening(f)) {
        return Ok(batch.clone());
    }
    let (fields, columns): (Vec<FieldRef>, Vec<ArrayRef>) = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| widen(f, c))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, batch.schema().metadata().clone())),
        columns,
    )
}

fn needs_widening(field: &Field) -> bool {
    match field.data_type() {
        DataType::UInt64 => true,
        // arrow-avro writes a dictionary as an Avro enum, whose symbols it takes from this key.
        DataType::Dictionary(_, _) => !field.metadata().contains_key(AVRO_ENUM_SYMBOLS_METADATA_KEY),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) => {
                !matches!(kv[0].data_type(), DataType::Utf8 | DataType::LargeUtf8)
                    || kv.iter().any(|f| needs_widening(f))
            }
            _ => false,
        },
        DataType::Struct(fields) => fields.iter().any(|f| needs_widening(f)),
        DataType::List(item) | DataType::LargeList(item) => needs_widening(item),
        _ => false,
    }
}

/// One column and its field, widened where Avro needs it.
fn widen(field: &FieldRef, array: &ArrayRef) -> Result<(FieldRef, ArrayRef), ArrowError> {
    if !needs_widening(field) {
        return Ok((field.clone(), array.clone()));
    }
    let (data_type, widened): (DataType, ArrayRef) = match field.data_type() {
        DataType::UInt64 => {
            let decimals = Decimal128Array::from_unary(array.as_primitive::<UInt64Type>(), i128::from)
                .with_precision_and_scale(U64_DIGITS, 0)?;
            (decimals.data_type().clone(), Arc::new(decimals))
        }
        DataType::Dictionary(_, _) => {
            let names = arrow_cast::cast(array, &DataType::Utf8)?;
            (DataType::Utf8, names)
        }
        DataType::Struct(_) => {
            let s = array.as_struct();
            let widened = widen_struct(s)?;
            (widened.data_type().clone(), Arc::new(widened))
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let (item, values) = widen(&list_item(field)?, list.values())?;
            let widened = ListArray::try_new(item, list.offsets().clone(), values, list.nulls().cloned())?;
            (widened.data_type().clone(), Arc::new(widened))
        }
        DataType::Map(entries_field, sorted) => {
            let map = array.as_map();
            let entries = widen_struct(map.entries())?;
            if matches!(entries.column(0).data_type(), DataType::Utf8 | DataType::LargeUtf8) {
                let entries_field = Arc::new(Field::new(entries_field.name(), entries.data_type().clone(), false));
                let widened = MapArray::try_new(
                    entries_field,
                    map.offsets().clone(),
                    entries,
                    map.nulls().cloned(),
                    *sorted,
                )?;
                (widened.data_type().clone(), Arc::new(widened))
            } else {
                // An array of {key, value} records: the map's entries as they are, one list per row.
                let item = Arc::new(Field::new("entry", entries.data_type().clone(), false));
                let widened = ListArray::try_new(item, map.offsets().clone(), Arc::new(entries), map.nulls().cloned())?;
                (widened.data_type().clone(), Arc::new(widened))
            }
        }
        other => {
            return Err(ArrowError::NotYetImplemented(format!("widening {other} for Avro")));
        }
    };
    let field = Field::new(field.name(), data_type, field.is_nullable()).with_metadata(field.metadata().clone());
    Ok((Arc::new(field), widened))
}

fn widen_struct(s: &StructArray) -> Result<StructArray, ArrowError> {
    let (fields, columns): (Vec<FieldRef>, Vec<ArrayRef>) = s
        .fields()
        .iter()
        .zip(s.columns())
        .map(|(f, c)| widen(f, c))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    StructArray::try_new(fields.into(), columns, s.nulls().cloned())
}

fn list_item(field: &Field) -> Result<FieldRef, ArrowError> {
    match field.data_type() {
        DataType::List(item) => Ok(item.clone()),
        other => Err(ArrowError::SchemaError(format!("{other} is not a list"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Int32Builder, MapBuilder, StringBuilder};
    use arrow_array::{Int64Array, UInt64Array};
    use arrow_avro::reader::ReaderBuilder;

    fn read_back(bytes: &[u8]) -> RecordBatch {
        let mut reader = ReaderBuilder::new()
            .build(std::io::Cursor::new(bytes.to_vec()))
            .expect("an Avro container file");
        reader.next().expect("one batch").expect("the batch decodes")
    }

    #[test]
    fn uint64_beyond_the_signed_range_is_written_as_an_exact_decimal() {
        let schema = Schema::new(vec![
            Field::new("big", DataType::UInt64, false),
            Field::new("n", DataType::Int64, false),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(UInt64Array::from(vec![u64::MAX, 0, 1 << 63])),
                Arc::new(Int64Array::from(vec![1, 2, 3])),
            ],
        )
        .expect("a batch");
        let back = read_back(&AvroContainer.encode(&batch).expect("encodes"));
        let big = back.column(0).as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(big.values().to_vec(), vec![i128::from(u64::MAX), 0, 1 << 63]);
        assert_eq!(
            back.column(1)
                .as_primitive::<arrow_array::types::Int64Type>()
                .values()
                .to_vec(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn a_map_with_integer_keys_is_written_as_key_value_records() {
        let mut map = MapBuilder::new(None, Int32Builder::new(), StringBuilder::new());
        map.keys().append_value(7);
        map.values().append_value("seven");
        map.keys().append_value(-1);
        map.values().append_value("minus one");
        map.append(true).expect("a row");
        map.append(true).expect("an empty row");
        let map = map.finish();
        let schema = Schema::new(vec![Field::new("m", map.data_type().clone(), false)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(map)]).expect("a batch");
        let back = read_back(&AvroContainer.encode(&batch).expect("encodes"));
        let rows = back.column(0).as_list::<i32>();
        assert_eq!(rows.value_length(0), 2);
        assert_eq!(rows.value_length(1), 0);
        let entries = rows.value(0);
        let entries = entries.as_struct();
        assert_eq!(
            entries
                .column(0)
                .as_primitive::<arrow_array::types::Int32Type>()
                .values()
                .to_vec(),
            vec![7, -1]
        );
        assert_eq!(
            entries.column(1).as_string::<i32>().iter().collect::<Vec<_>>(),
            vec![Some("seven"), Some("minus one")]
        );
    }

    #[test]
    fn a_string_keyed_map_stays_a_map_with_its_values_widened() {
        let mut map = MapBuilder::new(None, StringBuilder::new(), arrow_array::builder::UInt64Builder::new());
        map.keys().append_value("max");
        map.values().append_value(u64::MAX);
        map.append(true).expect("a row");
        let map = map.finish();
        let schema = Schema::new(vec![Field::new("m", map.data_type().clone(), false)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(map)]).expect("a batch");
        let back = read_back(&AvroContainer.encode(&batch).expect("encodes"));
        let map = back.column(0).as_map();
        assert_eq!(map.keys().as_string::<i32>().value(0), "max");
        assert_eq!(
            map.values()
                .as_primitive::<arrow_array::types::Decimal128Type>()
                .value(0),
            i128::from(u64::MAX)
        );
    }

    #[test]
    fn a_dictionary_without_enum_symbols_is_written_as_its_names() {
        use arrow_array::DictionaryArray;
        use arrow_array::types::Int32Type;
        let names: DictionaryArray<Int32Type> =
            vec![Some("GET"), None, Some("POST"), Some("GET")].into_iter().collect();
        let schema = Schema::new(vec![Field::new("method", names.data_type().clone(), true)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(names)]).expect("a batch");
        let back = read_back(&AvroContainer.encode(&batch).expect("encodes"));
        assert_eq!(
            back.column(0).as_string::<i32>().iter().collect::<Vec<_>>(),
            vec![Some("GET"), None, Some("POST"), Some("GET")]
        );
    }

    #[test]
    fn every_payload_kind_of_the_api_call_is_written_and_avro_enums_stay_enums() {
        use murron_payload::sample::{SampleSource, SplitMix64};
        use murron_payload::{PayloadSchema, SchemaType, Variant};
        let kinds = [
            (SchemaType::Avro, include_str!("../../../schemas/client/api_call.avsc")),
            (
                SchemaType::Json,
                include_str!("../../../schemas/client/api_call.schema.json"),
            ),
            (
                SchemaType::Protobuf,
                include_str!("../../../schemas/client/api_call.proto"),
            ),
        ];
        for (kind, text) in kinds {
            let source = SampleSource::parse(kind, text, &[]).expect("the schema parses");
            let sampler = source.sampler(1_764_115_200_000_000).expect("a sampler");
            let mut rng = SplitMix64::new(1);
            let datums: Vec<Vec<u8>> = (0..20)
                .map(|_| {
                    let mut d = Vec::new();
                    sampler.sample_into(&mut rng, &mut d).expect("a sample");
                    d
                })
                .collect();
            let refs: Vec<&[u8]> = datums.iter().map(Vec::as_slice).collect();
            let schema = PayloadSchema::compile(1, kind, text, &[]).expect("the schema compiles");
            let batch = schema.to_arrow(Variant(0), &refs).expect("converts");
            let back = read_back(&AvroContainer.encode(&batch).unwrap_or_else(|e| panic!("{kind:?}: {e}")));
            assert_eq!(back.num_rows(), 20, "{kind:?}");
            let method = back
                .schema()
                .field_with_name("http_method")
                .expect("http_method")
                .data_type()
                .clone();
            if kind == SchemaType::Avro {
                assert!(matches!(method, DataType::Dictionary(_, _)), "{method}");
            }
        }
    }

    #[test]
    fn a_batch_avro_can_hold_is_written_unchanged() {
        let schema = Schema::new(vec![Field::new("n", DataType::Int64, true)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Int64Array::from(vec![Some(1), None]))])
            .expect("a batch");
        assert_eq!(widened(&batch).expect("widens").schema(), batch.schema());
    }
}
