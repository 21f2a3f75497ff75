//! JSON lines: one object per row, written by arrow-json.
//!
//! A map is a JSON object, and arrow-json writes only maps with string keys: maps with other keys
//! (Protobuf's integer and boolean keys) are cast to string keys first, `7` to `"7"` and `true` to
//! `"true"`, as Protobuf's JSON mapping and the warehouse's `jsonb` write them.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Fields, Schema};

use super::file_format::{FileFormat, FormatError};

/// JSON lines (`.jsonl`).
#[derive(Debug)]
pub struct JsonLines;

impl FileFormat for JsonLines {
    fn extension(&self) -> &'static str {
        "jsonl"
    }

    fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>, FormatError> {
        let batch = with_string_map_keys(batch)?;
        let mut writer = arrow_json::LineDelimitedWriter::new(Vec::new());
        writer.write(&batch)?;
        writer.finish()?;
        Ok(writer.into_inner())
    }
}

/// `batch` with the keys of every map, nested ones included, as strings; `batch` itself when all
/// its maps have string keys already (Avro's always do).
fn with_string_map_keys(batch: &RecordBatch) -> Result<Cow<'_, RecordBatch>, FormatError> {
    let schema = batch.schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(string_keys(f.data_type())))
        .collect();
    if fields
        .iter()
        .zip(schema.fields())
        .all(|(to, from)| to.data_type() == from.data_type())
    {
        return Ok(Cow::Borrowed(batch));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(&fields)
        .map(|(column, to)| arrow_cast::cast(column, to.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    let schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    Ok(Cow::Owned(RecordBatch::try_new(Arc::new(schema), columns)?))
}

/// `data_type` with the key type of every map in it made Utf8, unless it is a string type already.
fn string_keys(data_type: &DataType) -> DataType {
    let field = |f: &Field| f.clone().with_data_type(string_keys(f.data_type()));
    match data_type {
        DataType::Map(entries, sorted) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                let key = match kv[0].data_type() {
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => kv[0].as_ref().clone(),
                    _ => kv[0].as_ref().clone().with_data_type(DataType::Utf8),
                };
                let kv = Fields::from(vec![key, field(&kv[1])]);
                let entries = entries.as_ref().clone().with_data_type(DataType::Struct(kv));
                DataType::Map(Arc::new(entries), *sorted)
            }
            _ => data_type.clone(),
        },
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| field(f)).collect()),
        DataType::List(item) => DataType::List(Arc::new(field(item))),
        DataType::LargeList(item) => DataType::LargeList(Arc::new(field(item))),
        DataType::FixedSizeList(item, n) => DataType::FixedSizeList(Arc::new(field(item)), *n),
        _ => data_type.clone(),
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::builder::{BooleanBuilder, Int32Builder, Int64Builder, MapBuilder, StringBuilder};
    use arrow_array::{Array, ArrayRef, ListArray, StructArray};
    use arrow_buffer::OffsetBuffer;
    use arrow_schema::Field;

    use super::*;

    fn lines(batch: &RecordBatch) -> Vec<serde_json::Value> {
        let bytes = JsonLines.encode(batch).expect("the batch encodes");
        let text = String::from_utf8(bytes).expect("JSON lines are UTF-8");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn maps_with_integer_and_boolean_keys_are_objects_with_the_keys_as_text() {
        let mut by_id = MapBuilder::new(None, Int64Builder::new(), StringBuilder::new());
        by_id.keys().append_value(7);
        by_id.values().append_value("seven");
        by_id.keys().append_value(-1);
        by_id.values().append_value("minus one");
        by_id.append(true).expect("pairs");
        by_id.append(true).expect("pairs"); // an empty map
        let mut flags = MapBuilder::new(None, BooleanBuilder::new(), Int32Builder::new());
        flags.keys().append_value(true);
        flags.values().append_value(1);
        flags.append(true).expect("pairs");
        flags.append(false).expect("pairs"); // null
        let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        tags.keys().append_value("k");
        tags.values().append_value("v");
        tags.append(true).expect("pairs");
        tags.append(true).expect("pairs");
        let by_id: ArrayRef = Arc::new(by_id.finish());
        let flags: ArrayRef = Arc::new(flags.finish());
        let tags: ArrayRef = Arc::new(tags.finish());
        let batch = RecordBatch::try_from_iter([("by_id", by_id), ("flags", flags), ("tags", tags)])
            .expect("columns of one length");

        assert_eq!(
            lines(&batch),
            [
                serde_json::json!({"by_id": {"7": "seven", "-1": "minus one"}, "flags": {"true": 1}, "tags": {"k": "v"}}),
                serde_json::json!({"by_id": {}, "tags": {}}),
            ]
        );
    }

    #[test]
    fn maps_nested_in_lists_and_structs_get_string_keys_too() {
        let mut counts = MapBuilder::new(None, Int32Builder::new(), Int64Builder::new());
        counts.keys().append_value(3);
        counts.values().append_value(30);
        counts.append(true).expect("pairs");
        let counts: ArrayRef = Arc::new(counts.finish());
        let parcel = StructArray::from(vec![(
            Arc::new(Field::new("counts", counts.data_type().clone(), true)),
            counts,
        )]);
        let item = Arc::new(Field::new("item", parcel.data_type().clone(), false));
        let parcels: ArrayRef = Arc::new(ListArray::new(
            item,
            OffsetBuffer::from_lengths([1]),
            Arc::new(parcel),
            None,
        ));
        let batch = RecordBatch::try_from_iter([("parcels", parcels)]).expect("one column");

        assert_eq!(lines(&batch), [serde_json::json!({"parcels": [{"counts": {"3": 30}}]})]);
    }

    #[test]
    fn a_batch_whose_maps_have_string_keys_is_written_as_it_is() {
        let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        tags.append(true).expect("pairs");
        let tags: ArrayRef = Arc::new(tags.finish());
        let batch = RecordBatch::try_from_iter([("tags", tags)]).expect("one column");
        assert!(matches!(with_string_map_keys(&batch), Ok(Cow::Borrowed(_))));
    }
}
