//! Tests of the Protobuf payload kind: framing against confluent-kafka's, the mapping type by type,
//! datums written by Python's protobuf, every reason code, and random and mutated datums checked
//! against prost-reflect's decoder.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    DurationNanosecondType, Float32Type, Float64Type, Int32Type, Int64Type, TimestampNanosecondType, UInt32Type,
    UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field as ArrowField, Fields, TimeUnit};
use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind as RKind, MapKey, MessageDescriptor, ReflectMessage, Value};

use super::sample::Sampler;
use super::*;
use crate::avro::sample::SplitMix64;

const EVERYTHING: &str = include_str!("testdata/everything.proto");
const LEGACY: &str = include_str!("testdata/legacy.proto");
const NOW_NANOS: i64 = 1_764_115_200_123_456_789;

fn example(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../schemas/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn compile(text: &str) -> ProtobufPayload {
    ProtobufPayload::compile(text, &[]).unwrap()
}

fn descriptor(text: &str, name: &str) -> MessageDescriptor {
    let schema = parse_stored(text, &[]).unwrap();
    schema.file().parent_pool().get_message_by_name(name).unwrap()
}

fn convert(p: &ProtobufPayload, variant: u32, datums: &[Vec<u8>]) -> RecordBatch {
    let refs: Vec<&[u8]> = datums.iter().map(Vec::as_slice).collect();
    p.to_arrow(variant, &refs).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// Hand-written wire bytes.

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

fn tag(number: u32, wire_type: u8) -> Vec<u8> {
    varint(u64::from(number) << 3 | u64::from(wire_type))
}

fn field_varint(number: u32, v: u64) -> Vec<u8> {
    cat(&[&tag(number, 0), &varint(v)])
}

fn field_len(number: u32, bytes: &[u8]) -> Vec<u8> {
    cat(&[&tag(number, 2), &varint(bytes.len() as u64), bytes])
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A datum of the first top-level message.
fn first(body: &[u8]) -> Vec<u8> {
    cat(&[&[0], body])
}

mod framing_tests {
    use super::*;

    const NESTED: &str = r#"syntax = "proto3";
        message A { message B { message C { int32 c = 1; } int32 b = 1; } int32 a = 1; }
        message D { message E {} message F {} int32 d = 1; }"#;

    #[test]
    fn index_arrays_are_written_and_read_as_confluent_kafka_does() {
        let p = compile(NESTED);
        let names: Vec<&str> = p.message_names().collect();
        assert_eq!(names, ["A", "A.B", "A.B.C", "D", "D.E", "D.F"]);
        // confluent-kafka 2.x: SchemaId("PROTOBUF", 1, None, indexes).id_to_bytes()[5:]
        let confluent: [(&[i64], &str, &str); 5] = [
            (&[0], "00", "A"),
            (&[0, 0], "040000", "A.B"),
            (&[0, 0, 0], "06000000", "A.B.C"),
            (&[1], "0202", "D"),
            (&[1, 1], "040202", "D.F"),
        ];
        for (indexes, bytes, name) in confluent {
            let variant = p.variant_of(name).unwrap();
            assert_eq!(framing::encode(&p.plan, variant), hex(bytes), "{indexes:?}");
            assert_eq!(framing::split(&p.plan, &hex(bytes)), Ok((variant, bytes.len() / 2)));
        }
        // Larger indexes are zig-zag varints of more than one byte: [127] and [64] as Python writes them.
        let many = (0..130)
            .map(|i| format!("message M{i} {{}}"))
            .collect::<Vec<_>>()
            .join("\n");
        let p = compile(&format!("syntax = \"proto3\";\n{many}"));
        assert_eq!(framing::split(&p.plan, &hex("02fe01")), Ok((127, 3)));
        assert_eq!(framing::split(&p.plan, &hex("028001")), Ok((64, 3)));
        assert_eq!(framing::encode(&p.plan, 127), hex("02fe01"));
        // A count of 0, however it is written, is [0]; so is an explicit [0].
        assert_eq!(framing::split(&p.plan, &hex("8000")), Ok((0, 2)));
        assert_eq!(framing::split(&p.plan, &hex("0200")), Ok((0, 2)));
    }

    #[test]
    fn bad_index_arrays_and_indexes_out_of_range_are_refused() {
        let p = compile(NESTED);
        for bad in ["", "01", "03", "80", "ffffffffffffffffffff01", "02"] {
            assert_eq!(p.validate(&hex(bad)), Err(ValidateError::BadMessageIndex), "{bad}");
        }
        for (bad, index, count) in [("0204", 2, 2), ("0201", -1, 2), ("040002", 1, 1), ("06000002", 1, 1)] {
            match p.validate(&hex(bad)) {
                Err(e @ ValidateError::MessageIndexOutOfRange { .. }) => {
                    assert_eq!(e.reason(), "message_index_out_of_range");
                    assert!(
                        matches!(e, ValidateError::MessageIndexOutOfRange { index: i, count: c, .. } if i == index && c == count),
                        "{bad}: {e}"
                    );
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        // Past the deepest level nothing is nested: the walk stops there, whatever the count says.
        let deep = cat(&[&varint(2 * 1_000_000), &[0, 0, 0, 0]]);
        assert!(matches!(
            p.validate(&deep),
            Err(ValidateError::MessageIndexOutOfRange { .. })
        ));
    }

    #[test]
    fn datums_written_by_python_pick_nested_and_non_first_messages() {
        let p = compile(EVERYTHING);
        // testdata/vectors.py: Everything.Inner (index [0, 5]) and Node (index [1]).
        let inner = hex("04000a0a066e6573746564");
        let variant = p.validate(&inner).unwrap();
        assert_eq!(p.message_names().nth(variant as usize), Some("t.Everything.Inner"));
        let batch = convert(&p, variant, &[inner]);
        assert_eq!(batch.column(0).as_string::<i32>().value(0), "nested");
        let node = hex("02020809");
        assert_eq!(p.validate(&node), Ok(p.variant_of("t.Node").unwrap()));
        // A datum converted with another variant's group is refused, not misread.
        let refs: [&[u8]; 1] = [&node];
        assert!(matches!(p.to_arrow(0, &refs), Err(crate::ToArrowError::Invalid { .. })));
    }
}

mod mapping_tests {
    use super::*;

    fn column_type(batch_schema: &arrow_schema::Schema, name: &str) -> DataType {
        batch_schema.field_with_name(name).unwrap().data_type().clone()
    }

    fn nullable(batch_schema: &arrow_schema::Schema, name: &str) -> bool {
        batch_schema.field_with_name(name).unwrap().is_nullable()
    }

    #[test]
    fn scalars_map_to_their_arrow_types_with_implicit_presence_not_null() {
        let p = compile(EVERYTHING);
        let schema = p.arrow_schema(p.variant_of("t.Scalars").unwrap()).unwrap();
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let expected = [
            ("i32", DataType::Int32),
            ("i64", DataType::Int64),
            ("u32", DataType::UInt32),
            ("u64", DataType::UInt64),
            ("s32", DataType::Int32),
            ("s64", DataType::Int64),
            ("f32", DataType::UInt32),
            ("f64", DataType::UInt64),
            ("sf32", DataType::Int32),
            ("sf64", DataType::Int64),
            ("fl", DataType::Float32),
            ("db", DataType::Float64),
            ("b", DataType::Boolean),
            ("s", DataType::Utf8),
            ("by", DataType::Binary),
            ("color", dict),
            ("opt", DataType::Int32),
        ];
        assert_eq!(schema.fields().len(), expected.len());
        for (name, t) in expected {
            assert_eq!(column_type(&schema, name), t, "{name}");
            assert_eq!(
                nullable(&schema, name),
                name == "opt",
                "{name}: only `optional` is nullable"
            );
        }
    }

    #[test]
    fn messages_collections_and_well_known_types_map_as_documented() {
        let p = compile(EVERYTHING);
        let schema = p.arrow_schema(0).unwrap();
        let scalars = column_type(&p.arrow_schema(p.variant_of("t.Scalars").unwrap()).unwrap(), "i32");
        assert_eq!(scalars, DataType::Int32);
        let list = |t: DataType| DataType::List(Arc::new(ArrowField::new("item", t, false)));
        let map = |k: DataType, v: DataType| {
            DataType::Map(
                Arc::new(ArrowField::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        ArrowField::new("keys", k, false),
                        ArrowField::new("values", v, false),
                    ])),
                    false,
                )),
                false,
            )
        };
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let scalars_struct = column_type(&schema, "scalars");
        let DataType::Struct(fields) = &scalars_struct else {
            panic!("{scalars_struct}")
        };
        assert_eq!(fields.len(), 17);
        let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()));
        let expected: Vec<(&str, DataType, bool)> = vec![
            ("scalars", scalars_struct.clone(), true),
            ("ints", list(DataType::Int32), false),
            ("strings", list(DataType::Utf8), false),
            ("items", list(scalars_struct.clone()), false),
            ("by_name", map(DataType::Utf8, DataType::Int64), false),
            ("by_id", map(DataType::Int32, DataType::Utf8), false),
            ("by_flag", map(DataType::Boolean, dict.clone()), false),
            ("by_number", map(DataType::UInt64, scalars_struct.clone()), false),
            ("text", DataType::Utf8, true),
            ("number", DataType::Int64, true),
            ("message", scalars_struct.clone(), true),
            ("ts", ts.clone(), true),
            ("dur", DataType::Duration(TimeUnit::Nanosecond), true),
            ("w_i32", DataType::Int32, true),
            ("w_str", DataType::Utf8, true),
            ("w_u64", DataType::UInt64, true),
            ("w_bool", DataType::Boolean, true),
            ("w_bytes", DataType::Binary, true),
            ("w_double", DataType::Float64, true),
            ("st", DataType::Utf8, true),
            ("val", DataType::Utf8, true),
            ("lv", DataType::Utf8, true),
            (
                "any",
                DataType::Struct(Fields::from(vec![
                    ArrowField::new("type_url", DataType::Utf8, false),
                    ArrowField::new("value", DataType::Binary, false),
                ])),
                true,
            ),
            ("empty", DataType::Boolean, true),
            (
                "tree",
                DataType::Struct(Fields::from(vec![
                    ArrowField::new("value", DataType::Int32, false),
                    ArrowField::new("next", DataType::Binary, true),
                    ArrowField::new("children", list(DataType::Binary), false),
                ])),
                true,
            ),
            ("stamps", list(ts), false),
            ("colors", list(dict), false),
            ("json_map", map(DataType::Utf8, DataType::Utf8), false),
            (
                "inner",
                DataType::Struct(Fields::from(vec![ArrowField::new("note", DataType::Utf8, false)])),
                true,
            ),
        ];
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, expected.iter().map(|e| e.0).collect::<Vec<_>>());
        for (name, t, null) in expected {
            assert_eq!(column_type(&schema, name), t, "{name}");
            assert_eq!(nullable(&schema, name), null, "{name}");
        }
        // The recursive type as a root keeps its own recursive fields as bytes too.
        let node = p.arrow_schema(p.variant_of("t.Node").unwrap()).unwrap();
        assert_eq!(column_type(&node, "next"), DataType::Binary);
    }

    /// testdata/vectors.py: every field of Everything set by Python's protobuf.
    const PYTHON_EVERYTHING: &str = "000a7608fbffffffffffffffff01108080808080e0ffffff0118ffffffff0f20ffffffffffffffffff01280d30ffffffffffffffff7f3d00286bee4105000000000000804df7ffffff51000000000000fcff5d0000c03f6100000000000002c06801720b68c3a96c6c6f202271220a7a0200ff800105880100120d01ffffffffffffffffff01ac021a01611a002202080122002a0e0a017810ffffffffffffffffff01321808fdffffffffffffffff01120b6d696e75732074687265653a0408011001421208ffffffffffffffffff01120572036d61785053620b08808699c90610959aef3a6a1608ffffffffffffffffff011080b6ca91feffffffff0172007a030a017782010b08ffffffffffffffffff018a010208019201030a0101a201390a110a0163120c2a0a0a080a016412031a01650a0e0a0161120911000000000000f83f0a140a0162120f320d0a0220010a0208000a031a0173aa01031a0176b201120a0911000000000000f03f0a051a0374776fba01200a1a747970652e676f6f676c65617069732e636f6d2f742e4e6f646512020803c20100ca010a0801120208021a020803d201021001da0103000501e201070a016b12020800ea01030a016e";

    #[test]
    fn a_datum_written_by_python_converts_to_the_values_written() {
        let p = compile(EVERYTHING);
        let datum = hex(PYTHON_EVERYTHING);
        assert_eq!(p.validate(&datum), Ok(0));
        let b = convert(&p, 0, &[datum]);
        let col = |name: &str| b.column_by_name(name).unwrap().clone();
        let s = col("scalars");
        let s = s.as_struct();
        let f = |name: &str| s.column_by_name(name).unwrap().clone();
        assert_eq!(f("i32").as_primitive::<Int32Type>().value(0), -5);
        assert_eq!(f("i64").as_primitive::<Int64Type>().value(0), -(1 << 40));
        assert_eq!(f("u32").as_primitive::<UInt32Type>().value(0), u32::MAX);
        assert_eq!(f("u64").as_primitive::<UInt64Type>().value(0), u64::MAX);
        assert_eq!(f("s32").as_primitive::<Int32Type>().value(0), -7);
        assert_eq!(f("s64").as_primitive::<Int64Type>().value(0), -(1 << 62));
        assert_eq!(f("f32").as_primitive::<UInt32Type>().value(0), 4_000_000_000);
        assert_eq!(f("f64").as_primitive::<UInt64Type>().value(0), (1 << 63) + 5);
        assert_eq!(f("sf32").as_primitive::<Int32Type>().value(0), -9);
        assert_eq!(f("sf64").as_primitive::<Int64Type>().value(0), -(1 << 50));
        assert_eq!(f("fl").as_primitive::<Float32Type>().value(0), 1.5);
        assert_eq!(f("db").as_primitive::<Float64Type>().value(0), -2.25);
        assert!(f("b").as_boolean().value(0));
        assert_eq!(f("s").as_string::<i32>().value(0), "héllo \"q\"\n");
        assert_eq!(f("by").as_binary::<i32>().value(0), b"\x00\xff");
        assert_eq!(enum_name(&f("color"), 0), "BLUE");
        // `optional` set to its default is present, not null.
        assert_eq!(f("opt").as_primitive::<Int32Type>().value(0), 0);
        assert!(f("opt").is_valid(0));

        let ints = col("ints");
        assert_eq!(list_values::<Int32Type>(&ints, 0), [1, -1, 300]);
        let strings = col("strings");
        let strings = strings.as_list::<i32>().value(0);
        assert_eq!(
            strings.as_string::<i32>().iter().flatten().collect::<Vec<_>>(),
            ["a", ""]
        );
        let items = col("items");
        let items = items.as_list::<i32>().value(0);
        let items = items.as_struct();
        assert_eq!(items.len(), 2);
        assert_eq!(items.column(0).as_primitive::<Int32Type>().values(), &[1, 0]);

        let entries = |name: &str| {
            let m = col(name);
            let m = m.as_map();
            (m.value(0).column(0).clone(), m.value(0).column(1).clone())
        };
        let (k, v) = entries("by_name");
        assert_eq!(k.as_string::<i32>().value(0), "x");
        assert_eq!(v.as_primitive::<Int64Type>().value(0), -1);
        let (k, v) = entries("by_id");
        assert_eq!(k.as_primitive::<Int32Type>().value(0), -3);
        assert_eq!(v.as_string::<i32>().value(0), "minus three");
        let (k, v) = entries("by_flag");
        assert!(k.as_boolean().value(0));
        assert_eq!(enum_name(&v, 0), "GREEN");
        let (k, v) = entries("by_number");
        assert_eq!(k.as_primitive::<UInt64Type>().value(0), u64::MAX);
        assert_eq!(
            v.as_struct().column_by_name("s").unwrap().as_string::<i32>().value(0),
            "max"
        );

        // The oneof: only the member set.
        assert!(col("text").is_null(0));
        assert_eq!(col("number").as_primitive::<Int64Type>().value(0), -42);
        assert!(col("message").is_null(0));

        assert_eq!(
            col("ts").as_primitive::<TimestampNanosecondType>().value(0),
            1_764_115_200_123_456_789
        );
        assert_eq!(
            col("dur").as_primitive::<DurationNanosecondType>().value(0),
            -1_500_000_000
        );
        // A wrapper holding its default is present: 0, not null.
        assert_eq!(col("w_i32").as_primitive::<Int32Type>().value(0), 0);
        assert!(col("w_i32").is_valid(0));
        assert_eq!(col("w_str").as_string::<i32>().value(0), "w");
        assert_eq!(col("w_u64").as_primitive::<UInt64Type>().value(0), u64::MAX);
        assert!(col("w_bool").as_boolean().value(0));
        assert_eq!(col("w_bytes").as_binary::<i32>().value(0), b"\x01");
        assert!(col("w_double").is_null(0));

        let json =
            |name: &str| serde_json::from_str::<serde_json::Value>(col(name).as_string::<i32>().value(0)).unwrap();
        assert_eq!(
            json("st"),
            serde_json::json!({"a": 1.5, "b": [true, null, "s"], "c": {"d": "e"}})
        );
        assert_eq!(json("val"), serde_json::json!("v"));
        assert_eq!(json("lv"), serde_json::json!([1.0, "two"]));

        let any = col("any");
        let any = any.as_struct();
        assert_eq!(any.column(0).as_string::<i32>().value(0), "type.googleapis.com/t.Node");
        assert_eq!(any.column(1).as_binary::<i32>().value(0), [0x08, 0x03]);
        assert!(col("empty").as_boolean().value(0));

        let tree = col("tree");
        let tree = tree.as_struct();
        assert_eq!(tree.column(0).as_primitive::<Int32Type>().value(0), 1);
        // The recursive fields hold the sub-messages' bytes: Node{value: 2} and [Node{value: 3}].
        assert_eq!(tree.column(1).as_binary::<i32>().value(0), [0x08, 0x02]);
        let kids = tree.column(2).as_list::<i32>().value(0);
        assert_eq!(kids.as_binary::<i32>().value(0), [0x08, 0x03]);

        let stamps = col("stamps");
        assert_eq!(list_values::<TimestampNanosecondType>(&stamps, 0), [1]);
        let colors = col("colors");
        let colors = colors.as_list::<i32>().value(0);
        assert_eq!(
            (0..3).map(|i| enum_name(&colors, i)).collect::<Vec<_>>(),
            ["RED", "BLUE", "GREEN"]
        );
        let (k, v) = entries("json_map");
        assert_eq!(k.as_string::<i32>().value(0), "k");
        assert_eq!(v.as_string::<i32>().value(0), "null");
        let inner = col("inner");
        assert_eq!(inner.as_struct().column(0).as_string::<i32>().value(0), "n");
    }

    #[test]
    fn absent_fields_are_null_default_or_empty_as_their_presence_says() {
        let p = compile(EVERYTHING);
        let b = convert(&p, 0, &[first(&[])]);
        for name in [
            "scalars", "text", "number", "message", "ts", "dur", "w_i32", "st", "val", "any", "empty", "tree",
        ] {
            assert!(b.column_by_name(name).unwrap().is_null(0), "{name}");
        }
        for name in ["ints", "items", "stamps"] {
            let c = b.column_by_name(name).unwrap();
            assert!(c.is_valid(0) && c.as_list::<i32>().value(0).is_empty(), "{name}");
        }
        assert!(b.column_by_name("by_name").unwrap().as_map().value(0).is_empty());
        // Under the null struct, non-null children hold their defaults, never unmasked nulls.
        let scalars = b.column_by_name("scalars").unwrap();
        let scalars = scalars.as_struct();
        assert_eq!(scalars.column_by_name("i32").unwrap().null_count(), 0);
        assert_eq!(enum_name(scalars.column_by_name("color").unwrap(), 0), "RED");

        let s = p.variant_of("t.Scalars").unwrap();
        let b = convert(&p, s, &[framing_of(&p, s, &[])]);
        assert_eq!(b.column_by_name("s").unwrap().as_string::<i32>().value(0), "");
        assert_eq!(
            b.column_by_name("u64").unwrap().as_primitive::<UInt64Type>().value(0),
            0
        );
        assert!(!b.column_by_name("b").unwrap().as_boolean().value(0));
        assert!(b.column_by_name("opt").unwrap().is_null(0));
    }

    #[test]
    fn a_map_entry_without_key_or_value_holds_the_defaults() {
        let p = compile(EVERYTHING);
        // by_number (8): one entry with neither; json_map (28): an entry with only a key.
        let body = cat(&[&field_len(8, &[]), &field_len(28, &field_len(1, b"k"))]);
        let b = convert(&p, 0, &[first(&body)]);
        let m = b.column_by_name("by_number").unwrap();
        let entry = m.as_map().value(0);
        assert_eq!(entry.column(0).as_primitive::<UInt64Type>().value(0), 0);
        assert!(entry.column(1).is_valid(0));
        let m = b.column_by_name("json_map").unwrap();
        assert_eq!(m.as_map().value(0).column(1).as_string::<i32>().value(0), "null");
    }

    #[test]
    fn proto2_required_defaults_groups_and_packed_fields() {
        let p = compile(LEGACY);
        let schema = p.arrow_schema(0).unwrap();
        assert!(!nullable(&schema, "id"), "required");
        assert!(
            !nullable(&schema, "name") && !nullable(&schema, "count"),
            "declared defaults"
        );
        assert!(
            nullable(&schema, "ratio") && nullable(&schema, "kind"),
            "optional without a default"
        );
        assert_eq!(
            column_type(&schema, "extra"),
            DataType::Struct(Fields::from(vec![ArrowField::new("x", DataType::Int32, true)]))
        );
        // testdata/vectors.py: id 1, one Item "l", packed [-1, 2], Extra.x 3. Group fields are named
        // for their group, lowercased.
        let datum = hex("0008013b40033c4b52016c4c5a0bffffffffffffffffff0102");
        assert_eq!(p.validate(&datum), Ok(0));
        let b = convert(&p, 0, &[datum]);
        let col = |name: &str| b.column_by_name(name).unwrap().clone();
        assert_eq!(col("id").as_primitive::<Int32Type>().value(0), 1);
        assert_eq!(col("name").as_string::<i32>().value(0), "anon");
        assert_eq!(col("count").as_primitive::<Int32Type>().value(0), 7);
        assert!(col("ratio").is_null(0));
        assert!(col("kind").is_null(0));
        assert_eq!(enum_name(&col("kind_b"), 0), "B");
        assert_eq!(col("blob").as_binary::<i32>().value(0), [1, 2]);
        assert_eq!(col("inf").as_primitive::<Float32Type>().value(0), f32::INFINITY);
        assert_eq!(
            col("extra").as_struct().column(0).as_primitive::<Int32Type>().value(0),
            3
        );
        let items = col("item");
        let items = items.as_list::<i32>().value(0);
        assert_eq!(items.as_struct().column(0).as_string::<i32>().value(0), "l");
        assert_eq!(list_values::<Int32Type>(&col("packed"), 0), [-1, 2]);

        // Required fields must be there, in groups too; proto2 enums are closed.
        assert_eq!(
            p.validate(&first(&[])).map_err(|e| e.reason()),
            Err("missing_required_field")
        );
        let item_without_label = cat(&[&field_varint(1, 1), &tag(9, 3), &tag(9, 4)]);
        assert_eq!(
            p.validate(&first(&item_without_label)).map_err(|e| e.reason()),
            Err("missing_required_field")
        );
        let kind_zero = cat(&[&field_varint(1, 1), &field_varint(5, 0)]);
        assert_eq!(
            p.validate(&first(&kind_zero)).map_err(|e| e.reason()),
            Err("unknown_enum_value")
        );
        // A group must end with its own end tag.
        for bad in [
            cat(&[&field_varint(1, 1), &tag(7, 3)]),
            cat(&[&field_varint(1, 1), &tag(7, 3), &tag(9, 4)]),
            cat(&[&field_varint(1, 1), &tag(7, 4)]),
        ] {
            assert!(p.validate(&first(&bad)).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn the_oneof_member_written_last_is_the_one_set() {
        let p = compile(EVERYTHING);
        let body = cat(&[&field_len(9, b"first"), &field_varint(10, 4), &field_len(9, b"last")]);
        assert_eq!(p.validate(&first(&body)), Ok(0));
        let b = convert(&p, 0, &[first(&body)]);
        assert_eq!(b.column_by_name("text").unwrap().as_string::<i32>().value(0), "last");
        assert!(b.column_by_name("number").unwrap().is_null(0));
        check_against_reference(&p, "t.Everything", 0, &[first(&body)]);
    }

    #[test]
    fn a_single_scalar_written_twice_keeps_the_last_and_repeated_values_concatenate() {
        let p = compile(EVERYTHING);
        let s = p.variant_of("t.Scalars").unwrap();
        let body = cat(&[&field_varint(1, 1), &field_len(14, b"a"), &field_varint(1, 2)]);
        let b = convert(&p, s, &[framing_of(&p, s, &body)]);
        assert_eq!(b.column(0).as_primitive::<Int32Type>().value(0), 2);
        // ints (2): unpacked 1, packed [2, 3], unpacked 4, interleaved with another field.
        let body = cat(&[
            &field_varint(2, 1),
            &field_len(2, &[2, 3]),
            &field_len(3, b"x"),
            &field_varint(2, 4),
        ]);
        let b = convert(&p, 0, &[first(&body)]);
        assert_eq!(
            list_values::<Int32Type>(b.column_by_name("ints").unwrap(), 0),
            [1, 2, 3, 4]
        );
        check_against_reference(&p, "t.Everything", 0, &[first(&body)]);
    }

    #[test]
    fn the_api_call_proto_has_the_avro_fields() {
        let p = compile(&example("client/api_call.proto"));
        let schema = p.arrow_schema(0).unwrap();
        let avro: serde_json::Value = serde_json::from_str(&example("client/api_call.avsc")).unwrap();
        let avro_names: Vec<&str> = avro["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, avro_names);
        assert!(nullable(&schema, "error_code") && !nullable(&schema, "region"));
        assert_eq!(
            column_type(&schema, "ts"),
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))
        );
    }

    fn list_values<T: arrow_array::ArrowPrimitiveType>(list: &ArrayRef, row: usize) -> Vec<T::Native> {
        list.as_list::<i32>().value(row).as_primitive::<T>().values().to_vec()
    }
}

fn framing_of(p: &ProtobufPayload, variant: u32, body: &[u8]) -> Vec<u8> {
    cat(&[&framing::encode(&p.plan, variant), body])
}

fn enum_name(array: &ArrayRef, row: usize) -> String {
    let dict = array.as_dictionary::<Int32Type>();
    let key = dict.keys().value(row) as usize;
    dict.values().as_string::<i32>().value(key).to_owned()
}

mod validation_tests {
    use super::*;

    /// Each reason code with a crafted datum (of t.Everything unless said).
    #[test]
    fn each_error_has_a_crafted_example_and_a_reason_code() {
        let p = compile(EVERYTHING);
        let scalars = |body: &[u8]| framing_of(&p, p.variant_of("t.Scalars").unwrap(), body);
        let timestamp = |seconds: i64, nanos: i64| {
            field_len(
                12,
                &cat(&[&field_varint(1, seconds as u64), &field_varint(2, nanos as u64)]),
            )
        };
        let duration = |seconds: i64, nanos: i64| {
            field_len(
                13,
                &cat(&[&field_varint(1, seconds as u64), &field_varint(2, nanos as u64)]),
            )
        };
        let node = p.variant_of("t.Node").unwrap();
        let mut deep = Vec::new();
        for _ in 0..MAX_DEPTH {
            deep = field_len(2, &deep);
        }
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "bad_message_index"),
            (hex("0206"), "message_index_out_of_range"),
            (first(&[0x10]), "truncated"),
            (first(&[0x1a, 0x05, b'a']), "truncated"),
            (scalars(&cat(&[&tag(7, 5), &[1, 2]])), "truncated"),
            (first(&field_len(2, &[0, 0x80])), "truncated"),
            (first(&cat(&[&tag(2, 0), &[0xff; 10], &[0x01]])), "bad_varint"),
            (first(&cat(&[&tag(2, 0), &[0xff; 9], &[0x02]])), "bad_varint"),
            (first(&[0x00]), "bad_tag"),
            (first(&varint(1 << 35)), "bad_tag"),
            (first(&field_varint(1, 0)), "bad_wire_type"),
            (
                scalars(
                    &field_len(14, b"")
                        .iter()
                        .map(|&b| if b == 0x72 { 0x70 } else { b })
                        .collect::<Vec<_>>(),
                ),
                "bad_wire_type",
            ),
            (scalars(&cat(&[&tag(1, 7)])), "bad_wire_type"),
            (scalars(&field_len(1, &[1])), "bad_wire_type"),
            (scalars(&cat(&[&tag(1, 4)])), "bad_wire_type"),
            (first(&field_varint(99, 1)), "unknown_field"),
            (scalars(&field_varint(18, 1)), "unknown_field"),
            (scalars(&field_varint(1, 1 << 32)), "int_out_of_range"),
            (scalars(&field_varint(3, 1 << 32)), "int_out_of_range"),
            (scalars(&field_varint(13, 2)), "invalid_boolean"),
            (scalars(&field_len(14, &[0xc3, 0x28])), "invalid_utf8"),
            (scalars(&field_varint(16, 2)), "unknown_enum_value"),
            (first(&field_len(27, &[1, 2])), "unknown_enum_value"),
            (
                first(&cat(&[&field_len(1, &[]), &field_len(1, &[])])),
                "duplicate_field",
            ),
            (first(&timestamp(0, -1)), "invalid_timestamp"),
            (first(&timestamp(0, 1_000_000_000)), "invalid_timestamp"),
            (first(&timestamp(253_402_300_800, 0)), "invalid_timestamp"),
            (first(&timestamp(-9_223_372_037, 0)), "timestamp_out_of_range"),
            (first(&timestamp(9_223_372_036, 900_000_000)), "timestamp_out_of_range"),
            (first(&duration(1, -1)), "invalid_duration"),
            (first(&duration(315_576_000_001, 0)), "invalid_duration"),
            (first(&duration(9_223_372_037, 0)), "duration_out_of_range"),
            (
                first(&field_len(21, &cat(&[&tag(2, 1), &f64::NAN.to_le_bytes()]))),
                "invalid_json_value",
            ),
            (framing_of(&p, node, &field_len(2, &deep)), "too_deep"),
        ];
        for (datum, reason) in &cases {
            let got = p.validate(datum);
            match &got {
                Err(e) => {
                    assert_eq!(e.reason(), *reason, "{datum:02x?}: {e}");
                    assert!(!e.to_string().is_empty());
                }
                Ok(v) => panic!("{reason}: {datum:02x?} validated as variant {v}"),
            }
        }
        let legacy = compile(LEGACY);
        assert_eq!(
            legacy.validate(&first(&[])).map_err(|e| e.reason()),
            Err("missing_required_field")
        );
        assert_eq!(
            compile(&wide_schema())
                .validate(&first(&field_len(1, &[]).repeat(5_000)))
                .map_err(|e| e.reason()),
            Err("too_many_items")
        );
        let mut reasons: Vec<&str> = cases.iter().map(|c| c.1).collect();
        reasons.extend(["missing_required_field", "too_many_items"]);
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), 20, "one case at least per variant: {reasons:?}");
        assert!(reasons.iter().all(|r| {
            r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }));
    }

    /// A message of 100 `int32` fields, repeated in another.
    fn wide_schema() -> String {
        let fields: String = (1..=100).map(|i| format!("int32 f{i} = {i}; ")).collect();
        format!("syntax = \"proto3\"; message Outer {{ repeated Wide w = 1; }} message Wide {{ {fields} }}")
    }

    #[test]
    fn recursion_is_bounded_by_depth_and_nesting_up_to_it_converts() {
        let p = compile(EVERYTHING);
        let node = p.variant_of("t.Node").unwrap();
        let nest = |levels: u32| {
            let mut body = field_varint(1, 7);
            for _ in 1..levels {
                body = field_len(2, &body);
            }
            framing_of(&p, node, &body)
        };
        let ok = nest(MAX_DEPTH);
        assert_eq!(p.validate(&ok), Ok(node));
        assert_eq!(
            p.validate(&nest(MAX_DEPTH + 1)).map_err(|e| e.reason()),
            Err("too_deep")
        );
        let b = convert(&p, node, &[ok]);
        assert_eq!(b.num_rows(), 1);
        // Groups nest too.
        let legacy = compile("syntax = \"proto2\"; message G { optional group In = 1 { optional G g = 2; } }");
        let mut body = Vec::new();
        for _ in 0..MAX_DEPTH {
            body = cat(&[&tag(1, 3), &field_len(2, &body), &tag(1, 4)]);
        }
        assert_eq!(legacy.validate(&first(&body)).map_err(|e| e.reason()), Err("too_deep"));
    }

    #[test]
    fn hostile_lengths_and_counts_are_refused_without_walking_them() {
        let p = compile(EVERYTHING);
        for body in [
            cat(&[&tag(3, 2), &varint(u64::MAX >> 1)]),
            cat(&[&tag(3, 2), &varint(1 << 40), b"abc"]),
            cat(&[&tag(2, 2), &varint(1 << 30), &[1]]),
        ] {
            assert_eq!(p.validate(&first(&body)).map_err(|e| e.reason()), Err("truncated"));
        }
        // Empty elements fill a column per field each: what a datum expands to is bounded by its
        // size. An element of 100 fields takes 2 bytes and fills 100 values, 84 more than its bytes
        // allow: the base allowance runs out after about 1,560 of them.
        let wide = compile(&wide_schema());
        let item = field_len(1, &[]);
        assert!(wide.validate(&first(&item.repeat(1_500))).is_ok());
        assert_eq!(
            wide.validate(&first(&item.repeat(1_600))).map_err(|e| e.reason()),
            Err("too_many_items")
        );
        // Elements as wide as their bytes are never refused for it.
        let ints = cat(&[&tag(2, 2), &varint(1 << 20), &vec![1; 1 << 20]]);
        assert!(p.validate(&first(&ints)).is_ok());
    }

    #[test]
    fn schemas_that_cannot_be_compiled_say_why() {
        let err = |text: &str| ProtobufPayload::compile(text, &[]).unwrap_err();
        assert!(matches!(
            err("syntax = \"proto3\"; enum E { A = 0; }"),
            CompileError::NoMessages
        ));
        assert!(matches!(err("syntax = \"proto3\"; message {"), CompileError::Schema(_)));
        // A chain of 70 message types nests 70 levels of columns.
        let chain: String = (0..70)
            .map(|i| format!("message M{i} {{ M{} next = 1; }}\n", i + 1))
            .collect::<String>()
            + "message M70 { int32 x = 1; }";
        assert!(matches!(
            err(&format!("syntax = \"proto3\";\n{chain}")),
            CompileError::TooDeep(_)
        ));
        // Doubling at each of 20 levels: a million columns.
        let wide: String = (0..20)
            .map(|i| format!("message W{i} {{ W{n} a = 1; W{n} b = 2; }}\n", n = i + 1))
            .collect::<String>()
            + "message W20 { int32 x = 1; }";
        assert!(matches!(
            err(&format!("syntax = \"proto3\";\n{wide}")),
            CompileError::TooWide(_)
        ));
    }
}

mod reference_tests {
    use super::*;

    /// Schemas and the messages to sample in each.
    fn corpus() -> Vec<(String, Vec<&'static str>)> {
        vec![
            (
                EVERYTHING.to_owned(),
                vec![
                    "t.Everything",
                    "t.Scalars",
                    "t.Node",
                    "t.Everything.Inner",
                    "t.Everything.ByNumberEntry",
                ],
            ),
            (LEGACY.to_owned(), vec!["p2.Legacy", "p2.Legacy.Item"]),
            (example("client/api_call.proto"), vec!["client.ApiCall"]),
        ]
    }

    #[test]
    fn samples_validate_decode_with_prost_reflect_and_convert_to_its_values() {
        for (text, names) in corpus() {
            let p = compile(&text);
            for name in names {
                let variant = p.variant_of(name).unwrap();
                let sampler = Sampler::new(&p, variant, NOW_NANOS).unwrap();
                let mut rng = SplitMix64::new(11);
                let datums: Vec<Vec<u8>> = (0..300).map(|_| sampler.sample(&mut rng)).collect();
                for d in &datums {
                    assert_eq!(p.validate(d), Ok(variant), "{name}: {d:02x?}");
                }
                check_against_reference(&p, name, variant, &datums);
            }
        }
    }

    #[test]
    fn same_seed_gives_same_datums() {
        let p = compile(&example("client/api_call.proto"));
        let s = Sampler::new(&p, 0, NOW_NANOS).unwrap();
        assert_eq!(s.sample(&mut SplitMix64::new(3)), s.sample(&mut SplitMix64::new(3)));
        assert_ne!(s.sample(&mut SplitMix64::new(3)), s.sample(&mut SplitMix64::new(4)));
        assert!(Sampler::new(&p, 99, NOW_NANOS).is_none());
    }

    /// xorshift64*: enough to drive a mutation loop without a new crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Random and mutated datums never panic; whatever validates, prost-reflect decodes with no
    /// unknown fields, and it converts to exactly the values prost-reflect reads.
    #[test]
    fn mutants_that_validate_decode_and_convert_like_the_reference() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut accepted = 0usize;
        for (text, names) in corpus() {
            let p = compile(&text);
            for name in names {
                let variant = p.variant_of(name).unwrap();
                let sampler = Sampler::new(&p, variant, NOW_NANOS).unwrap();
                let mut seeds = SplitMix64::new(5);
                let datums: Vec<Vec<u8>> = (0..20).map(|_| sampler.sample(&mut seeds)).collect();
                for _ in 0..2_000 {
                    let mut bytes = datums[rng.below(datums.len())].clone();
                    for _ in 0..=rng.below(3) {
                        match rng.below(4) {
                            0 | 1 if bytes.len() > 1 => {
                                let i = 1 + rng.below(bytes.len() - 1);
                                bytes[i] = rng.next() as u8;
                            }
                            2 => {
                                let i = rng.below(bytes.len() + 1);
                                bytes.insert(i, rng.next() as u8);
                            }
                            _ if bytes.len() > 1 => {
                                bytes.remove(1 + rng.below(bytes.len() - 1));
                            }
                            _ => {}
                        }
                    }
                    if let Ok(v) = p.validate(&bytes) {
                        accepted += 1;
                        let desc = p.message_names().nth(v as usize).unwrap().to_owned();
                        check_against_reference(&p, &desc, v, &[bytes]);
                    }
                }
            }
        }
        assert!(accepted > 1_000, "only {accepted} mutants were valid");
    }
}

/// Decodes each datum with prost-reflect and checks the converted row holds its values.
fn check_against_reference(p: &ProtobufPayload, name: &str, variant: u32, datums: &[Vec<u8>]) {
    let text = p_text(p);
    let md = descriptor(&text, name);
    let batch = convert(p, variant, datums);
    assert_eq!(batch.num_rows(), datums.len());
    let columns = batch.columns();
    for (row, datum) in datums.iter().enumerate() {
        let (_, start) = framing::split(&p.plan, datum).unwrap();
        let message = DynamicMessage::decode(md.clone(), &datum[start..])
            .unwrap_or_else(|e| panic!("prost-reflect refuses what validated: {e}: {datum:02x?}"));
        assert_unknown_free(&message);
        check_message(&md, &message, columns, row);
    }
}

/// The schema text a payload was compiled from, found again by its messages (tests only).
fn p_text(p: &ProtobufPayload) -> String {
    let first = p.message_names().next().unwrap_or_default();
    if first.starts_with("t.") {
        EVERYTHING.to_owned()
    } else if first.starts_with("p2.") {
        LEGACY.to_owned()
    } else {
        example("client/api_call.proto")
    }
}

fn assert_unknown_free(m: &DynamicMessage) {
    assert_eq!(m.unknown_fields().count(), 0, "{m:?}");
    for (_, v) in m.fields() {
        match v {
            Value::Message(sub) => assert_unknown_free(sub),
            Value::List(items) => items.iter().for_each(|i| {
                if let Value::Message(sub) = i {
                    assert_unknown_free(sub)
                }
            }),
            Value::Map(entries) => entries.values().for_each(|i| {
                if let Value::Message(sub) = i {
                    assert_unknown_free(sub)
                }
            }),
            _ => {}
        }
    }
}

fn check_message(md: &MessageDescriptor, m: &DynamicMessage, columns: &[ArrayRef], row: usize) {
    assert_eq!(columns.len(), md.fields().len(), "{}", md.full_name());
    for (f, col) in md.fields().zip(columns) {
        check_field(&f, m, col, row);
    }
}

fn check_field(f: &FieldDescriptor, m: &DynamicMessage, col: &ArrayRef, row: usize) {
    let what = f.full_name();
    if f.is_map() {
        let RKind::Message(entry) = f.kind() else {
            unreachable!()
        };
        let value_kind = entry.map_entry_value_field().kind();
        let map = m.get_field(f);
        let map = map.as_map().unwrap();
        let entries = col.as_map().value(row);
        // Duplicate keys (from mutants) keep every entry here; the reference keeps the last.
        let mut seen = std::collections::HashMap::new();
        for i in 0..entries.len() {
            seen.insert(map_key(entries.column(0), i), i);
        }
        assert_eq!(seen.len(), map.len(), "{what}");
        for (k, i) in seen {
            let v = map
                .get(&k)
                .unwrap_or_else(|| panic!("{what}: key {k:?} not in the reference"));
            check_value(&value_kind, v, entries.column(1), i, what);
        }
    } else if f.is_list() {
        let items = m.get_field(f);
        let items = items.as_list().unwrap();
        let list = col.as_list::<i32>().value(row);
        assert_eq!(list.len(), items.len(), "{what}");
        for (i, v) in items.iter().enumerate() {
            check_value(&f.kind(), v, &list, i, what);
        }
    } else if col.is_null(row) {
        assert!(!m.has_field(f), "{what} is null but set");
    } else {
        assert!(col.is_valid(row));
        let in_oneof = f.containing_oneof().is_some_and(|o| !o.is_synthetic());
        if (f.supports_presence() && f.field_descriptor_proto().default_value.is_none()) || in_oneof {
            assert!(m.has_field(f), "{what} is not null but not set");
        }
        check_value(&f.kind(), &m.get_field(f), col, row, what);
    }
}

fn map_key(keys: &ArrayRef, i: usize) -> MapKey {
    match keys.data_type() {
        DataType::Utf8 => MapKey::String(keys.as_string::<i32>().value(i).to_owned()),
        DataType::Int32 => MapKey::I32(keys.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => MapKey::I64(keys.as_primitive::<Int64Type>().value(i)),
        DataType::UInt32 => MapKey::U32(keys.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => MapKey::U64(keys.as_primitive::<UInt64Type>().value(i)),
        DataType::Boolean => MapKey::Bool(keys.as_boolean().value(i)),
        t => panic!("key type {t}"),
    }
}

fn check_value(kind: &RKind, v: &Value, col: &ArrayRef, row: usize, what: &str) {
    match (kind, v) {
        (RKind::Message(md), Value::Message(m)) => check_message_value(md, m, col, row, what),
        (RKind::Enum(e), Value::EnumNumber(n)) => {
            let name = e
                .get_value(*n)
                .unwrap_or_else(|| panic!("{what}: {n} undeclared"))
                .name()
                .to_owned();
            assert_eq!(enum_name(col, row), name, "{what}");
        }
        (_, Value::I32(x)) => assert_eq!(col.as_primitive::<Int32Type>().value(row), *x, "{what}"),
        (_, Value::I64(x)) => assert_eq!(col.as_primitive::<Int64Type>().value(row), *x, "{what}"),
        (_, Value::U32(x)) => assert_eq!(col.as_primitive::<UInt32Type>().value(row), *x, "{what}"),
        (_, Value::U64(x)) => assert_eq!(col.as_primitive::<UInt64Type>().value(row), *x, "{what}"),
        (_, Value::F32(x)) => assert_eq!(
            col.as_primitive::<Float32Type>().value(row).to_bits(),
            x.to_bits(),
            "{what}"
        ),
        (_, Value::F64(x)) => assert_eq!(
            col.as_primitive::<Float64Type>().value(row).to_bits(),
            x.to_bits(),
            "{what}"
        ),
        (_, Value::Bool(x)) => assert_eq!(col.as_boolean().value(row), *x, "{what}"),
        (_, Value::String(x)) => assert_eq!(col.as_string::<i32>().value(row), x, "{what}"),
        (_, Value::Bytes(x)) => assert_eq!(col.as_binary::<i32>().value(row), x.as_ref(), "{what}"),
        (k, v) => panic!("{what}: {k:?} {v:?}"),
    }
}

fn check_message_value(md: &MessageDescriptor, m: &DynamicMessage, col: &ArrayRef, row: usize, what: &str) {
    let get = |n: u32| m.get_field_by_number(n).unwrap().into_owned();
    match md.full_name() {
        "google.protobuf.Timestamp" | "google.protobuf.Duration" => {
            let nanos = get(1).as_i64().unwrap() * 1_000_000_000 + i64::from(get(2).as_i32().unwrap());
            let got = match col.data_type() {
                DataType::Timestamp(..) => col.as_primitive::<TimestampNanosecondType>().value(row),
                _ => col.as_primitive::<DurationNanosecondType>().value(row),
            };
            assert_eq!(got, nanos, "{what}");
        }
        "google.protobuf.DoubleValue"
        | "google.protobuf.FloatValue"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.Int32Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.BoolValue"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => {
            let inner = md.get_field(1).unwrap();
            check_value(&inner.kind(), &get(1), col, row, what);
        }
        "google.protobuf.Struct" | "google.protobuf.Value" | "google.protobuf.ListValue" => {
            let text = col.as_string::<i32>().value(row);
            let got: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
            assert_eq!(got, to_json(m), "{what}: {text}");
        }
        _ if col.data_type() == &DataType::Binary => {
            // A recursive field: the sub-message's bytes.
            let bytes = col.as_binary::<i32>().value(row);
            assert_eq!(&DynamicMessage::decode(md.clone(), bytes).unwrap(), m, "{what}");
        }
        _ if md.fields().len() == 0 => assert!(col.as_boolean().value(row), "{what}"),
        _ => {
            let s: &StructArray = col.as_struct();
            check_message(md, m, s.columns(), row);
        }
    }
}

/// Protobuf's JSON of a Struct, Value or ListValue.
fn to_json(m: &DynamicMessage) -> serde_json::Value {
    use serde_json::Value as J;
    match m.descriptor().full_name() {
        "google.protobuf.Struct" => {
            let fields = m.get_field_by_number(1).unwrap();
            let map = fields.as_map().unwrap();
            J::Object(
                map.iter()
                    .map(|(k, v)| {
                        let MapKey::String(k) = k else { panic!() };
                        (k.clone(), to_json(v.as_message().unwrap()))
                    })
                    .collect(),
            )
        }
        "google.protobuf.ListValue" => {
            let values = m.get_field_by_number(1).unwrap();
            J::Array(
                values
                    .as_list()
                    .unwrap()
                    .iter()
                    .map(|v| to_json(v.as_message().unwrap()))
                    .collect(),
            )
        }
        _ => {
            let set = (1..=6).find(|&n| m.has_field_by_number(n));
            let get = |n: u32| m.get_field_by_number(n).unwrap().into_owned();
            match set {
                Some(2) => serde_json::json!(get(2).as_f64().unwrap()),
                Some(3) => J::String(get(3).as_str().unwrap().to_owned()),
                Some(4) => J::Bool(get(4).as_bool().unwrap()),
                Some(5) | Some(6) => to_json(get(set.unwrap_or(5)).as_message().unwrap()),
                _ => J::Null,
            }
        }
    }
}

#[test]
fn a_reference_message_encoded_by_prost_reflect_validates() {
    // An independent encoder: prost-reflect writes fields in number order, packed where proto3 packs.
    let md = descriptor(EVERYTHING, "t.Everything");
    let mut m = DynamicMessage::new(md.clone());
    m.set_field_by_name("ints", Value::List(vec![Value::I32(-1), Value::I32(5)]));
    m.set_field_by_name("text", Value::String("t".into()));
    let p = compile(EVERYTHING);
    let datum = first(&m.encode_to_vec());
    assert_eq!(p.validate(&datum), Ok(0));
    check_against_reference(&p, "t.Everything", 0, &[datum]);
}
