//! The JSON Schema payload kind end to end: the mapping type by type, validation's reasons, and
//! many generated datums that must convert and read back as what was sent.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Fields, TimeUnit};
use murron_schema_types::schema::json::parse_stored;
use murron_schema_types::schema::{Referenced, SchemaType};
use serde_json::{Map, Value, json};

use super::datetime::{parse_date, parse_date_time};
use super::plan::{Node, Struct};
use super::sample::{JsonGenerator, SplitMix64};
use super::*;

fn compile(schema: Value) -> JsonPayload {
    JsonPayload::compile(&schema.to_string(), &[]).unwrap_or_else(|e| panic!("{schema}: {e}"))
}

fn compile_with(schema: Value, referenced: &[(&str, Value)]) -> JsonPayload {
    let referenced: Vec<Referenced> = referenced
        .iter()
        .map(|(name, text)| Referenced {
            name: (*name).to_owned(),
            schema_type: SchemaType::Json,
            text: text.to_string(),
        })
        .collect();
    JsonPayload::compile(&schema.to_string(), &referenced).unwrap_or_else(|e| panic!("{schema}: {e}"))
}

/// Validates each value's text and converts them all.
fn convert(payload: &JsonPayload, values: &[Value]) -> RecordBatch {
    let datums: Vec<Vec<u8>> = values.iter().map(|v| v.to_string().into_bytes()).collect();
    for (datum, value) in datums.iter().zip(values) {
        if let Err(e) = payload.validate(datum) {
            panic!("{value} is refused: {e}");
        }
    }
    let refs: Vec<&[u8]> = datums.iter().map(Vec::as_slice).collect();
    let batch = payload.to_arrow(&refs).expect("valid datums convert");
    assert_eq!(batch.schema(), payload.arrow_schema());
    batch
}

fn refused(payload: &JsonPayload, datum: &[u8]) -> ValidateError {
    match payload.validate(datum) {
        Ok(()) => panic!("{} is accepted", String::from_utf8_lossy(datum)),
        Err(e) => e,
    }
}

fn object(properties: Value) -> Value {
    json!({"type": "object", "properties": properties})
}

/// The type of the payload column `name`.
fn column_type(payload: &JsonPayload, name: &str) -> DataType {
    let schema = payload.arrow_schema();
    let field = schema
        .field_with_name(name)
        .unwrap_or_else(|_| panic!("no column {name}: {schema:?}"));
    assert!(field.is_nullable(), "{name} is nullable");
    field.data_type().clone()
}

fn names(payload: &JsonPayload) -> Vec<String> {
    payload
        .arrow_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

fn map_of(value: DataType) -> DataType {
    let entries = Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", value, true),
    ]);
    DataType::Map(Arc::new(Field::new("entries", DataType::Struct(entries), false)), false)
}

#[test]
fn scalars_map_to_their_arrow_types() {
    let payload = compile(object(json!({
        "b": {"type": "boolean"},
        "i": {"type": "integer"},
        "n": {"type": "number"},
        "s": {"type": "string", "format": "email"},
        "ts": {"type": "string", "format": "date-time"},
        "d": {"type": "string", "format": "date"},
        "e": {"enum": ["GET", "POST"]},
        "c": {"const": "fixed"},
        "ni": {"type": ["integer", "null"]},
        "ne": {"enum": ["a", null]},
        "ie": {"enum": [1, 2, 3]},
    })));
    let expected = [
        ("b", DataType::Boolean),
        ("i", DataType::Int64),
        ("n", DataType::Float64),
        ("s", DataType::Utf8),
        ("ts", utc()),
        ("d", DataType::Date32),
        ("e", DataType::Utf8),
        ("c", DataType::Utf8),
        ("ni", DataType::Int64),
        ("ne", DataType::Utf8),
        ("ie", DataType::Int64),
    ];
    for (name, data_type) in expected {
        assert_eq!(column_type(&payload, name), data_type, "{name}");
    }
    let batch = convert(
        &payload,
        &[
            json!({"b": true, "i": -7, "n": 2.5, "s": "a@b.c", "ts": "2025-11-26T01:00:00+01:00", "d": "1970-01-02",
                   "e": "POST", "c": "fixed", "ni": null, "ne": "a", "ie": 3}),
            json!({"n": 3, "i": 1.0}),
        ],
    );
    let col = |name: &str| batch.column_by_name(name).expect("column").clone();
    assert!(col("b").as_boolean().value(0));
    assert_eq!(col("i").as_primitive::<Int64Type>().values(), &[-7, 1]);
    assert_eq!(col("n").as_primitive::<Float64Type>().values(), &[2.5, 3.0]);
    assert_eq!(col("s").as_string::<i32>().value(0), "a@b.c");
    assert_eq!(
        col("ts").as_primitive::<TimestampMicrosecondType>().value(0),
        1_764_115_200_000_000
    );
    assert_eq!(col("d").as_primitive::<Date32Type>().value(0), 1);
    assert_eq!(col("e").as_string::<i32>().value(0), "POST");
    assert_eq!(col("ie").as_primitive::<Int64Type>().value(0), 3);
    assert!(col("ni").is_null(0));
    for name in ["b", "s", "ts", "d", "e", "c", "ni", "ne", "ie"] {
        assert!(col(name).is_null(1), "{name} is absent in row 1");
    }
}

#[test]
fn objects_become_structs_with_their_properties_in_name_order() {
    let payload = compile(object(json!({
        "zeta": {"type": "string"},
        "alpha": {"type": ["object", "null"], "properties": {"y": {"type": "integer"}, "x": {"type": "boolean"}}},
    })));
    assert_eq!(names(&payload), ["alpha", "zeta", "_extra"]);
    let inner = Fields::from(vec![
        Field::new("x", DataType::Boolean, true),
        Field::new("y", DataType::Int64, true),
        Field::new("_extra", DataType::Utf8, true),
    ]);
    assert_eq!(column_type(&payload, "alpha"), DataType::Struct(inner));
    let batch = convert(
        &payload,
        &[json!({"alpha": {"y": 5}, "zeta": "z"}), json!({"alpha": null})],
    );
    let alpha = batch.column(0).as_struct();
    assert!(alpha.is_valid(0) && alpha.is_null(1));
    assert_eq!(alpha.column(1).as_primitive::<Int64Type>().value(0), 5);
    assert!(alpha.column(0).is_null(0));
}

#[test]
fn undeclared_properties_are_kept_in_the_extra_column() {
    let payload = compile(object(
        json!({"a": {"type": "integer"}, "nested": object(json!({"b": {"type": "string"}}))}),
    ));
    let batch = convert(
        &payload,
        &[
            json!({"a": 1, "z": [1, {"k": "v"}], "m": null, "nested": {"b": "x", "c": 2.5}}),
            json!({"a": 2}),
        ],
    );
    let extra = batch.column_by_name("_extra").expect("extra column").as_string::<i32>();
    let kept: Value = serde_json::from_str(extra.value(0)).expect("JSON text");
    assert_eq!(kept, json!({"z": [1, {"k": "v"}], "m": null}));
    assert!(extra.is_null(1), "no undeclared property, no extra");
    let nested = batch.column_by_name("nested").expect("nested").as_struct();
    let nested_extra = nested
        .column_by_name("_extra")
        .expect("nested extra")
        .as_string::<i32>();
    assert_eq!(nested_extra.value(0), r#"{"c":2.5}"#);
}

#[test]
fn closed_objects_have_no_extra_column_unless_patterns_or_odd_names_allow_more() {
    let closed =
        compile(json!({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": false}));
    assert_eq!(names(&closed), ["a"]);
    let patterned = compile(json!({"type": "object", "properties": {"a": {"type": "integer"}},
        "patternProperties": {"^x_": {"type": "string"}}, "additionalProperties": false}));
    assert_eq!(names(&patterned), ["a", "_extra"]);
    let batch = convert(&patterned, &[json!({"a": 1, "x_1": "kept"})]);
    assert_eq!(batch.column(1).as_string::<i32>().value(0), r#"{"x_1":"kept"}"#);
    // A property name that cannot name a column is kept with the undeclared ones.
    let odd = compile(
        json!({"type": "object", "properties": {"": {"type": "integer"}, "ok": {"type": "integer"}},
        "additionalProperties": false}),
    );
    assert_eq!(names(&odd), ["ok", "_extra"]);
    let batch = convert(&odd, &[json!({"": 4, "ok": 5})]);
    assert_eq!(batch.column(1).as_string::<i32>().value(0), r#"{"":4}"#);
}

#[test]
fn the_extra_column_steps_aside_for_a_declared_property_of_its_name() {
    let payload = compile(object(
        json!({"_extra": {"type": "string"}, "__extra": {"type": "integer"}}),
    ));
    assert_eq!(names(&payload), ["__extra", "_extra", "___extra"]);
    let batch = convert(&payload, &[json!({"_extra": "mine", "other": true})]);
    assert_eq!(batch.column(1).as_string::<i32>().value(0), "mine");
    assert_eq!(batch.column(2).as_string::<i32>().value(0), r#"{"other":true}"#);
}

#[test]
fn arrays_with_one_items_schema_become_lists_and_tuples_json_text() {
    let payload = compile(object(json!({
        "ints": {"type": "array", "items": {"type": "integer"}},
        "rows": {"type": "array", "items": {"type": ["object", "null"], "properties": {"k": {"type": "string"}}}},
        "any": {"type": "array"},
        "tuple": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
    })));
    assert_eq!(column_type(&payload, "ints"), list_of(DataType::Int64));
    assert!(matches!(column_type(&payload, "rows"), DataType::List(f) if matches!(f.data_type(), DataType::Struct(_))));
    assert_eq!(column_type(&payload, "any"), DataType::Utf8);
    assert_eq!(column_type(&payload, "tuple"), DataType::Utf8);
    let batch = convert(
        &payload,
        &[
            json!({"ints": [1, 2, 3], "rows": [{"k": "a"}, null], "any": [1, "x"], "tuple": ["a", 1]}),
            json!({"ints": []}),
        ],
    );
    let ints = batch.column_by_name("ints").expect("ints").as_list::<i32>();
    assert_eq!(ints.value(0).as_primitive::<Int64Type>().values(), &[1, 2, 3]);
    assert_eq!(ints.value(1).len(), 0);
    let rows = batch.column_by_name("rows").expect("rows").as_list::<i32>();
    assert!(rows.value(0).is_null(1));
    assert_eq!(
        batch
            .column_by_name("tuple")
            .expect("tuple")
            .as_string::<i32>()
            .value(0),
        r#"["a",1]"#
    );
    let prefixed = compile(
        json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "array",
        "prefixItems": [{"type": "string"}], "items": {"type": "integer"}}),
    );
    assert_eq!(column_type(&prefixed, VALUE_COLUMN), DataType::Utf8);
}

#[test]
fn objects_of_additional_properties_only_become_maps() {
    let payload = compile(object(json!({
        "attributes": {"type": "object", "additionalProperties": {"type": "string"}},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "open": {"type": "object"},
        "mixed": {"type": "object", "additionalProperties": {"type": "string"}, "patternProperties": {"^n": {"type": "integer"}}},
    })));
    assert_eq!(column_type(&payload, "attributes"), map_of(DataType::Utf8));
    assert_eq!(column_type(&payload, "counts"), map_of(DataType::Int64));
    assert_eq!(column_type(&payload, "open"), DataType::Utf8);
    assert_eq!(column_type(&payload, "mixed"), DataType::Utf8);
    let batch = convert(
        &payload,
        &[json!({"attributes": {"a": "1", "b": "2"}, "counts": {}, "open": {"x": 1}})],
    );
    let attributes = batch.column_by_name("attributes").expect("attributes").as_map();
    assert_eq!(attributes.value(0).column(0).as_string::<i32>().value(1), "b");
    assert_eq!(attributes.value(0).column(1).as_string::<i32>().value(1), "2");
    assert_eq!(
        batch.column_by_name("open").expect("open").as_string::<i32>().value(0),
        r#"{"x":1}"#
    );
}

#[test]
fn unions_of_unlike_kinds_are_json_text_and_a_null_branch_makes_nullable() {
    let payload = compile(object(json!({
        "either": {"type": ["string", "integer"]},
        "one": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "opt": {"anyOf": [object(json!({"v": {"type": "integer"}})), {"type": "null"}]},
        "same": {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "string", "minLength": 5}]},
        "num": {"type": ["integer", "number"]},
    })));
    assert_eq!(column_type(&payload, "either"), DataType::Utf8);
    assert_eq!(column_type(&payload, "one"), DataType::Utf8);
    assert!(matches!(column_type(&payload, "opt"), DataType::Struct(_)));
    assert_eq!(column_type(&payload, "same"), DataType::Utf8);
    assert_eq!(column_type(&payload, "num"), DataType::Float64);
    let batch = convert(
        &payload,
        &[
            json!({"either": 5, "one": {"a": 1}, "opt": {"v": 2}}),
            json!({"either": "5", "one": "s", "opt": null}),
        ],
    );
    let either = batch.column_by_name("either").expect("either").as_string::<i32>();
    assert_eq!((either.value(0), either.value(1)), ("5", r#""5""#));
    assert_eq!(
        batch.column_by_name("one").expect("one").as_string::<i32>().value(0),
        r#"{"a":1}"#
    );
    assert!(batch.column_by_name("opt").expect("opt").is_null(1));
}

#[test]
fn refs_are_followed_locally_and_into_referenced_schemas() {
    let payload = compile_with(
        json!({
            "type": "object",
            "definitions": {"money": object(json!({"cents": {"type": "integer"}, "currency": {"type": "string"}}))},
            "properties": {
                "price": {"$ref": "#/definitions/money"},
                "address": {"$ref": "address.json"},
                "street": {"$ref": "address.json#/properties/street"},
            },
        }),
        &[(
            "address.json",
            object(json!({"street": {"type": "string"}, "zip": {"type": "integer"}})),
        )],
    );
    assert!(matches!(column_type(&payload, "price"), DataType::Struct(f) if f.len() == 3));
    assert!(matches!(column_type(&payload, "address"), DataType::Struct(f) if f[1].data_type() == &DataType::Int64));
    assert_eq!(column_type(&payload, "street"), DataType::Utf8);
    convert(
        &payload,
        &[json!({"price": {"cents": 5, "currency": "EUR"}, "address": {"zip": 1}, "street": "s"})],
    );
}

#[test]
fn recursion_is_json_text_at_the_point_of_recursion() {
    let payload = compile(json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
    }));
    assert_eq!(column_type(&payload, "children"), list_of(DataType::Utf8));
    let batch = convert(
        &payload,
        &[json!({"name": "root", "children": [{"name": "leaf", "children": []}]})],
    );
    let children = batch.column_by_name("children").expect("children").as_list::<i32>();
    let child: Value = serde_json::from_str(children.value(0).as_string::<i32>().value(0)).expect("JSON");
    assert_eq!(child, json!({"name": "leaf", "children": []}));
    // Through definitions and a nullable branch, as code generators write linked lists.
    let list = compile(json!({
        "$ref": "#/definitions/node",
        "definitions": {"node": object(json!({"v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/definitions/node"}, {"type": "null"}]}}))},
    }));
    assert_eq!(names(&list), ["next", "v", "_extra"]);
    assert_eq!(column_type(&list, "next"), DataType::Utf8);
    // A definition shared by a parent and its child is not recursion.
    let shared = compile(json!({
        "definitions": {"base": object(json!({"id": {"type": "string"}}))},
        "allOf": [{"$ref": "#/definitions/base"}, object(json!({"child": {"allOf": [{"$ref": "#/definitions/base"}, object(json!({"n": {"type": "integer"}}))]}}))],
    }));
    assert!(matches!(column_type(&shared, "child"), DataType::Struct(f) if f.len() == 3));
}

#[test]
fn all_of_is_merged_and_its_kinds_intersected() {
    let payload = compile(json!({
        "allOf": [
            object(json!({"a": {"type": "integer"}})),
            {"properties": {"b": {"type": "string"}, "a": {"minimum": 0}}},
            {"type": ["object", "null"]},
        ],
    }));
    assert_eq!(names(&payload), ["a", "b", "_extra"]);
    assert_eq!(column_type(&payload, "a"), DataType::Int64);
    let closed_by_one = compile(
        json!({"allOf": [object(json!({"a": {"type": "integer"}})), {"properties": {"a": true}, "additionalProperties": false}]}),
    );
    assert_eq!(names(&closed_by_one), ["a"]);
}

#[test]
fn true_empty_and_untyped_schemas_are_json_text_and_other_roots_one_value_column() {
    let payload = compile(object(
        json!({"t": true, "e": {}, "p": {"properties": {"x": {"type": "string"}}}}),
    ));
    for name in ["t", "e", "p"] {
        assert_eq!(column_type(&payload, name), DataType::Utf8, "{name}");
    }
    let batch = convert(&payload, &[json!({"t": [1], "e": {"k": null}, "p": 3})]);
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "{\"k\":null}");
    for (root, data_type) in [
        (json!({"type": "integer"}), DataType::Int64),
        (
            json!({"type": "array", "items": {"type": "string"}}),
            list_of(DataType::Utf8),
        ),
        (json!(true), DataType::Utf8),
        (json!({"type": "object"}), DataType::Utf8),
        (
            json!({"type": "object", "additionalProperties": {"type": "number"}}),
            map_of(DataType::Float64),
        ),
    ] {
        let payload = compile(root.clone());
        assert_eq!(names(&payload), [VALUE_COLUMN], "{root}");
        assert_eq!(column_type(&payload, VALUE_COLUMN), data_type, "{root}");
    }
    let scalar = compile(json!({"type": "integer"}));
    let batch = convert(&scalar, &[json!(5), json!(-1)]);
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().values(), &[5, -1]);
}

#[test]
fn draft_4_ids_and_2019_refs_beside_keywords_are_read_as_their_draft_reads_them() {
    // Draft 2019-09 applies a `$ref` together with its siblings; draft 7 ignores the siblings.
    let draft2019 = compile(json!({"$schema": "https://json-schema.org/draft/2019-09/schema",
        "$defs": {"base": object(json!({"a": {"type": "integer"}}))},
        "$ref": "#/$defs/base", "properties": {"b": {"type": "boolean"}}}));
    assert_eq!(names(&draft2019), ["a", "b", "_extra"]);
    let draft7 = compile(
        json!({"definitions": {"base": object(json!({"a": {"type": "integer"}}))},
        "$ref": "#/definitions/base", "properties": {"b": {"type": "boolean"}}}),
    );
    assert_eq!(names(&draft7), ["a", "_extra"]);
    let draft4 = compile(
        json!({"$schema": "http://json-schema.org/draft-04/schema#", "id": "http://example.com/root.json",
        "type": "object", "properties": {"x": {"$ref": "#/definitions/x"}}, "definitions": {"x": {"type": "number"}}}),
    );
    assert_eq!(column_type(&draft4, "x"), DataType::Float64);
}

#[test]
fn date_times_are_checked_and_converted_to_utc_microseconds() {
    // Draft 2020-12 does not assert formats: the check here does.
    let payload = compile(
        json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": {"ts": {"type": "string", "format": "date-time"}, "day": {"type": "string", "format": "date"}}}),
    );
    let err = refused(&payload, br#"{"ts": "yesterday"}"#);
    assert_eq!(err.reason(), "invalid_date_time");
    assert_eq!(err.to_string(), r#"at #/ts: "yesterday" is not an RFC 3339 date-time"#);
    assert_eq!(refused(&payload, br#"{"day": "2024-02-30"}"#).reason(), "invalid_date");
    let batch = convert(
        &payload,
        &[
            json!({"ts": "2016-12-31T23:59:60Z", "day": "2024-02-29"}),
            json!({"ts": "1999-12-31T19:00:00.1234567-05:00"}),
        ],
    );
    let ts = batch.column(1).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), parse_date_time("2017-01-01T00:00:00Z").expect("date-time"));
    assert_eq!(
        ts.value(1),
        parse_date_time("2000-01-01T00:00:00.123456Z").expect("date-time")
    );
    assert_eq!(
        batch.column(0).as_primitive::<Date32Type>().value(0),
        parse_date("2024-02-29").expect("date")
    );
}

#[test]
fn integers_past_64_bits_are_refused_and_numbers_take_any() {
    let payload = compile(object(json!({"i": {"type": "integer"}, "n": {"type": "number"}})));
    let err = refused(&payload, br#"{"i": 9223372036854775808}"#);
    assert_eq!(err.reason(), "integer_out_of_range");
    assert_eq!(
        err.to_string(),
        "at #/i: 9223372036854775808 does not fit a 64-bit signed integer"
    );
    assert_eq!(refused(&payload, br#"{"i": 1e19}"#).reason(), "integer_out_of_range");
    let batch = convert(
        &payload,
        &[json!({"i": -9223372036854775808i64, "n": 18446744073709551615u64})],
    );
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), i64::MIN);
    assert_eq!(
        batch.column(1).as_primitive::<Float64Type>().value(0),
        18_446_744_073_709_551_615.0
    );
}

#[test]
fn datums_that_are_not_one_json_value_are_invalid_json() {
    let payload = compile(json!({}));
    for bad in [
        &b""[..],
        b"{",
        b"{} {}",
        b"1 x",
        b"\xff",
        b"\"\xc3\x28\"",
        br#""\ud800""#,
        b"NaN",
        b"1e400",
        b"\xef\xbb\xbf{}",
    ] {
        assert_eq!(
            refused(&payload, bad).reason(),
            "invalid_json",
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    payload
        .validate(b" {\"a\": [1, 2.5e3, null]}\n\t")
        .expect("whitespace around a value");
    let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
    assert_eq!(refused(&payload, deep.as_bytes()).reason(), "invalid_json");
    let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
    payload.validate(ok.as_bytes()).expect("127 levels");
    let huge = vec![b' '; MAX_DATUM_BYTES + 1];
    assert_eq!(refused(&payload, &huge).reason(), "too_large");
}

#[test]
fn schema_violations_say_where_and_why_briefly() {
    let payload = compile(json!({"type": "object", "required": ["id"],
        "properties": {"id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}}));
    let err = refused(&payload, br#"{"id": 1, "tags": ["a", 2]}"#);
    assert_eq!(err.reason(), "schema_violation");
    assert_eq!(err.to_string(), r#"at #/tags/1: 2 is not of type "string""#);
    assert_eq!(
        refused(&payload, b"{}").to_string(),
        r#"at #: "id" is a required property"#
    );
    let long = format!(r#"{{"id": "{}"}}"#, "x".repeat(10_000));
    let err = refused(&payload, long.as_bytes());
    assert!(
        err.to_string().len() <= error::MAX_DETAIL_BYTES + '…'.len_utf8(),
        "{err}"
    );
}

#[test]
fn schemas_that_map_to_too_many_fields_are_refused() {
    // Each level doubles the fields: 2^14 leaves.
    let mut definitions = Map::new();
    definitions.insert("d0".into(), json!({"type": "integer"}));
    for i in 1..15 {
        let below = format!("#/definitions/d{}", i - 1);
        definitions.insert(
            format!("d{i}"),
            object(json!({"l": {"$ref": below}, "r": {"$ref": below}})),
        );
    }
    let schema = json!({"definitions": definitions, "$ref": "#/definitions/d14"});
    match JsonPayload::compile(&schema.to_string(), &[]) {
        Err(CompileError::TooLarge(_)) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn the_api_call_schema_maps_like_its_avro_twin() {
    let payload = compile(api_call_schema());
    let expected = [
        ("attributes", map_of(DataType::Utf8)),
        ("bytes_in", DataType::Int64),
        ("bytes_out", DataType::Int64),
        ("error_code", DataType::Utf8),
        ("http_method", DataType::Utf8),
        ("latency_ms", DataType::Float64),
        ("method", DataType::Utf8),
        ("region", DataType::Utf8),
        ("request_id", DataType::Utf8),
        ("status", DataType::Int64),
        ("ts", utc()),
        ("user_id", DataType::Utf8),
        ("workspace_id", DataType::Utf8),
        ("_extra", DataType::Utf8),
    ];
    assert_eq!(names(&payload), expected.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    for (name, data_type) in expected {
        assert_eq!(column_type(&payload, name), data_type, "{name}");
    }
}

fn api_call_schema() -> Value {
    let text = include_str!("../../../schemas/client/api_call.schema.json");
    serde_json::from_str(text).expect("the example schema is JSON")
}

/// Reads row `row` of `array` (of `node`) back as JSON, nulls as absent.
fn read_back(node: &Node, array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match node {
        Node::Boolean => json!(array.as_boolean().value(row)),
        Node::Integer => json!(array.as_primitive::<Int64Type>().value(row)),
        Node::Number => json!(array.as_primitive::<Float64Type>().value(row)),
        Node::String => json!(array.as_string::<i32>().value(row)),
        Node::Json => serde_json::from_str(array.as_string::<i32>().value(row)).expect("JSON text"),
        Node::DateTime => json!(array.as_primitive::<TimestampMicrosecondType>().value(row)),
        Node::Date => json!(array.as_primitive::<Date32Type>().value(row)),
        Node::Struct(s) => {
            let columns: Vec<&dyn Array> = array.as_struct().columns().iter().map(|c| c.as_ref()).collect();
            read_struct(s, &columns, row)
        }
        Node::List(item) => {
            let items = array.as_list::<i32>().value(row);
            Value::Array((0..items.len()).map(|i| read_back(item, items.as_ref(), i)).collect())
        }
        Node::Map(value) => {
            let entries = array.as_map().value(row);
            let keys = entries.column(0).as_string::<i32>();
            let values = entries.column(1);
            let map = (0..entries.len())
                .map(|i| (keys.value(i).to_owned(), read_back(value, values.as_ref(), i)))
                .collect();
            Value::Object(map)
        }
    }
}

fn read_struct(s: &Struct, columns: &[&dyn Array], row: usize) -> Value {
    let mut object = Map::new();
    for ((name, node), column) in s.fields.iter().zip(columns) {
        let v = read_back(node, *column, row);
        if !v.is_null() {
            object.insert(name.clone(), v);
        }
    }
    if let Some(extra) = s.extra.as_ref().and(columns.get(s.fields.len()))
        && !extra.is_null(row)
    {
        let Value::Object(undeclared) = serde_json::from_str(extra.as_string::<i32>().value(row)).expect("JSON") else {
            panic!("the extra column holds an object");
        };
        object.extend(undeclared.into_iter().filter(|(_, v)| !v.is_null()));
    }
    Value::Object(object)
}

/// `value` as the mapping keeps it: nulls dropped from objects (a null and an absent property read
/// the same), numbers as the column holds them, date-times and dates as their epoch counts.
fn normalized(node: &Node, value: &Value) -> Value {
    match (node, value) {
        (_, Value::Null) => Value::Null,
        (Node::Integer, v) => json!(v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))),
        (Node::Number, v) => json!(v.as_f64()),
        (Node::DateTime, Value::String(s)) => json!(parse_date_time(s)),
        (Node::Date, Value::String(s)) => json!(parse_date(s)),
        (Node::Struct(s), Value::Object(o)) => {
            let mut out = Map::new();
            for (name, v) in o {
                let v = match s.field(name) {
                    Some(i) => normalized(&s.fields[i].1, v),
                    None => v.clone(),
                };
                if !v.is_null() {
                    out.insert(name.clone(), v);
                }
            }
            Value::Object(out)
        }
        (Node::List(item), Value::Array(items)) => Value::Array(items.iter().map(|v| normalized(item, v)).collect()),
        (Node::Map(value), Value::Object(o)) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), normalized(value, v))).collect())
        }
        (_, v) => v.clone(),
    }
}

/// Converts `values` (all valid) and checks that each row reads back as its value.
fn assert_round_trip(payload: &JsonPayload, values: &[Value]) {
    let batch = convert(payload, values);
    assert_eq!(batch.num_rows(), values.len());
    let columns: Vec<&dyn Array> = batch.columns().iter().map(|c| c.as_ref()).collect();
    for (row, value) in values.iter().enumerate() {
        let (read, expected) = match &payload.plan.root {
            Node::Struct(s) => (read_struct(s, &columns, row), normalized(&payload.plan.root, value)),
            other => (read_back(other, columns[0], row), normalized(other, value)),
        };
        let expected = if expected.is_null() && matches!(payload.plan.root, Node::Struct(_)) {
            json!({})
        } else {
            expected
        };
        assert_eq!(read, expected, "row {row}: {value}");
    }
}

/// Schemas that use most of the constructs the mapping reads, with what they reference.
fn mapping_corpus() -> Vec<(Value, Vec<(&'static str, Value)>)> {
    vec![
        (api_call_schema(), vec![]),
        (
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                "$defs": {"tag": {"type": "string", "enum": ["a", "b", "c"]}, "tree": {"type": "object",
                    "properties": {"v": {"type": "number"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}},
                "properties": {
                    "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
                    "tree": {"$ref": "#/$defs/tree"},
                    "when": {"type": ["string", "null"], "format": "date-time"},
                    "day": {"type": "string", "format": "date"},
                    "score": {"type": "number", "minimum": -5, "maximum": 5},
                    "mixed": {"type": ["string", "integer", "boolean"]},
                    "counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                    "nested": {"type": "object", "properties": {"deep": {"type": "object", "properties": {"x": {"type": "boolean"}}}},
                        "additionalProperties": false},
                    "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
                    "anything": true,
                },
                "required": ["tags"]}),
            vec![],
        ),
        (
            json!({"type": "object", "properties": {"home": {"$ref": "address.json"}, "work": {"oneOf": [{"$ref": "address.json"}, {"type": "null"}]}},
                "patternProperties": {"^x-": {"type": "string"}}}),
            vec![(
                "address.json",
                json!({"type": "object", "properties": {"street": {"type": "string"}, "zip": {"type": "integer"}},
                "required": ["street"]}),
            )],
        ),
        (
            json!({"type": "array", "items": {"type": ["object", "null"], "properties": {"id": {"type": "integer"}}}}),
            vec![],
        ),
        (json!({"type": ["integer", "null"]}), vec![]),
        (
            json!({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}),
            vec![],
        ),
        (
            json!({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string", "format": "date-time"}}}),
            vec![],
        ),
    ]
}

/// Changes one random place of `value` into another random value, to find datums at the edge of
/// what the schema accepts.
fn mutate(value: &mut Value, rng: &mut SplitMix64, depth: usize) {
    let replacement = |rng: &mut SplitMix64| match rng.below(12) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 1),
        2 => json!(rng.below(1_000) as i64 - 500),
        3 => json!(rng.below(1_000) as f64 / 8.0),
        4 => json!("2025-11-26T00:00:00Z"),
        5 => json!("2024-02-29"),
        6 => json!("not a date"),
        7 => json!([1, "two", null]),
        8 => json!({"k": "v", "n": 1}),
        9 => json!(u64::MAX),
        10 => json!(1.0),
        _ => json!("GET"),
    };
    match value {
        Value::Object(o) if !o.is_empty() && depth < 6 && rng.below(3) != 0 => {
            let i = rng.below(o.len() as u64) as usize;
            if let Some(v) = o.values_mut().nth(i) {
                mutate(v, rng, depth + 1);
            }
        }
        Value::Object(o) if rng.below(2) == 0 => {
            o.insert(format!("new{}", rng.below(3)), replacement(rng));
        }
        Value::Array(a) if !a.is_empty() && depth < 6 && rng.below(3) != 0 => {
            let i = rng.below(a.len() as u64) as usize;
            mutate(&mut a[i], rng, depth + 1);
        }
        other => *other = replacement(rng),
    }
}

/// The tape validator agrees with `jsonschema` on a `serde_json::Value`: it accepts what that
/// accepts but for the values the mapping refuses (past 64 bits, date-times that do not parse).
fn assert_agrees_with_reference(verdict: &Result<(), ValidateError>, reference: bool, value: &Value) {
    match verdict {
        Ok(()) => assert!(reference, "accepted, but the reference validator refuses {value}"),
        Err(ValidateError::SchemaViolation(e)) => {
            assert!(!reference, "refused ({e}), but the reference accepts {value}")
        }
        Err(
            ValidateError::IntegerOutOfRange { .. }
            | ValidateError::InvalidDateTime { .. }
            | ValidateError::InvalidDate { .. },
        ) => {}
        Err(e) => panic!("{value} is refused: {e}"),
    }
}

#[test]
fn samples_and_their_mutations_that_validate_convert_and_read_back_as_sent() {
    let mut accepted_mutations = 0;
    for (schema, referenced) in mapping_corpus() {
        let payload = compile_with(schema.clone(), &referenced);
        let named: Vec<Referenced> = referenced
            .iter()
            .map(|(name, text)| Referenced {
                name: (*name).to_owned(),
                schema_type: SchemaType::Json,
                text: text.to_string(),
            })
            .collect();
        let parsed = parse_stored(&schema.to_string(), &named).expect("schema parses");
        let generator = JsonGenerator::new(&parsed, 1_764_115_200_000_000).expect("generator");
        let reference = parsed.validator::<jsonschema::json::SerdeJson>().expect("validator");
        let mut rng = SplitMix64::new(11);
        let mut valid = Vec::new();
        for _ in 0..300 {
            let sample = generator.sample(&mut rng).expect("sample");
            let datum = sample.to_string();
            if let Err(e) = payload.validate(datum.as_bytes()) {
                panic!("{schema}: the sample {datum} is refused: {e}");
            }
            valid.push(sample.clone());
            for _ in 0..4 {
                let mut mutated = sample.clone();
                mutate(&mut mutated, &mut rng, 0);
                let verdict = payload.validate(mutated.to_string().as_bytes());
                assert_agrees_with_reference(&verdict, reference.is_valid(&mutated), &mutated);
                if verdict.is_ok() {
                    valid.push(mutated);
                    accepted_mutations += 1;
                }
            }
        }
        assert_round_trip(&payload, &valid);
    }
    assert!(
        accepted_mutations > 1_000,
        "mutations explore the accepted edge: {accepted_mutations}"
    );
}

#[test]
fn samples_are_the_same_for_the_same_seed() {
    let schema = parse_stored(&api_call_schema().to_string(), &[]).expect("schema");
    let generator = JsonGenerator::new(&schema, 0).expect("generator");
    let a = generator.datum(&mut SplitMix64::new(42)).expect("sample");
    let b = generator.datum(&mut SplitMix64::new(42)).expect("sample");
    assert_eq!(a, b);
    let value: Value = serde_json::from_slice(&a).expect("JSON");
    assert!(value["request_id"].as_str().is_some_and(|id| id.len() == 36));
    assert!(
        String::from_utf8_lossy(&a).contains("\", \""),
        "written as Python's json.dumps writes"
    );
}

#[test]
fn sample_datums_escape_what_is_past_ascii_as_python_does() {
    let schema = json!({"type": "object", "properties": {"k": {"const": "é😀"}}, "required": ["k"]});
    let parsed = parse_stored(&schema.to_string(), &[]).expect("schema");
    let generator = JsonGenerator::new(&parsed, 0).expect("generator");
    let datum = generator.datum(&mut SplitMix64::new(1)).expect("datum");
    assert_eq!(datum, br#"{"k": "\u00e9\ud83d\ude00"}"#);
    compile(schema).validate(&datum).expect("valid");
}

#[test]
fn a_schema_without_a_finite_value_is_refused_by_the_generator() {
    let schema = json!({"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]});
    let parsed = parse_stored(&schema.to_string(), &[]).expect("schema");
    let generator = JsonGenerator::new(&parsed, 0).expect("generator");
    assert!(generator.sample(&mut SplitMix64::new(1)).is_err());
}

#[test]
fn payload_schemas_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<JsonPayload>();
    shared::<crate::PayloadSchema>();
}

#[test]
#[ignore = "timing by hand: cargo test --release -p murron-payload -- --ignored phase_timing --nocapture"]
fn phase_timing() {
    use std::hint::black_box;
    use std::time::Instant;
    let schema = parse_stored(&api_call_schema().to_string(), &[]).expect("schema");
    let generator = JsonGenerator::new(&schema, 1_764_115_200_000_000).expect("generator");
    let mut rng = SplitMix64::new(42);
    let datums: Vec<Vec<u8>> = (0..10_000).map(|_| generator.datum(&mut rng).expect("datum")).collect();
    let payload = compile(api_call_schema());
    let time = |name: &str, f: &mut dyn FnMut()| {
        for _ in 0..3 {
            let start = Instant::now();
            f();
            let ns = start.elapsed().as_nanos() as f64 / datums.len() as f64;
            eprintln!("{name:>24}: {ns:8.0} ns/event");
        }
    };
    time("parse+drop", &mut || {
        for d in &datums {
            black_box(serde_json::from_slice::<Value>(d).expect("json"));
        }
    });
    time("tape parse", &mut || {
        for d in &datums {
            let mut tape = super::tape::Tape::default();
            super::parse::parse(&mut tape, black_box(d)).expect("json");
            black_box(&tape);
        }
    });
    let mut reused = super::tape::Tape::default();
    time("tape parse, reused", &mut || {
        for d in &datums {
            super::parse::parse(&mut reused, black_box(d)).expect("json");
        }
    });
    time("utf-8 check", &mut || {
        for d in &datums {
            black_box(std::str::from_utf8(black_box(d)).is_ok());
        }
    });
    let tapes: Vec<super::tape::Tape<'_>> = datums
        .iter()
        .map(|d| {
            let mut tape = super::tape::Tape::default();
            super::parse::parse(&mut tape, d).expect("json");
            tape
        })
        .collect();
    time("is_valid", &mut || {
        for t in &tapes {
            assert!(payload.validator.is_valid(black_box(t.root())));
        }
    });
    time("check", &mut || {
        for t in &tapes {
            check::check(&payload.plan.root, black_box(t.root())).expect("fits");
        }
    });
    time("validate", &mut || {
        for d in &datums {
            payload.validate(black_box(d)).expect("valid");
        }
    });
    let refs: Vec<&[u8]> = datums.iter().map(Vec::as_slice).collect();
    time("to_arrow", &mut || {
        black_box(payload.to_arrow(&refs).expect("converts"));
    });
}
