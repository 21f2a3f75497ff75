//! Round trips of the canonical text, detection of the input's form, and references.

use prost::Message;
use prost_reflect::DescriptorPool;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto};

use super::*;
use crate::schema::SchemaType;

pub(crate) const RICH: &str = r#"
// A file that uses most of what proto3 can say.
syntax = "proto3";
package acme.orders.v1;

import "google/protobuf/timestamp.proto";
import public "google/protobuf/duration.proto";
import "google/protobuf/descriptor.proto";

option java_package = "com.acme.orders";
option java_multiple_files = true;
option go_package = "acme/orders;orders";
option optimize_for = CODE_SIZE;
option (file_tag) = "tagged ünïcode ✓";

extend google.protobuf.FileOptions { string file_tag = 50001; }
extend google.protobuf.FieldOptions {
  Rule rule = 50002;
  repeated int32 weights = 50003;
}

message Rule { int64 min = 1; string pattern = 2; repeated string tags = 3; map<string, int32> limits = 4; Rule inner = 5; }

message Order {
  option deprecated = true;
  reserved 8, 10 to 12, 100 to max;
  reserved "legacy", "old_total";

  message Line {
    string sku = 1;
    uint32 quantity = 2 [(rule) = { min: 1, pattern: "x\"y", tags: ["a", "b"], limits { key: "k" value: 3 }, inner { min: 2 } }];
    enum Kind { KIND_UNSPECIFIED = 0; PHYSICAL = 1; DIGITAL = 2 [deprecated = true]; }
    Kind kind = 3;
  }
  string id = 1 [json_name = "orderId"];
  repeated Line lines = 2;
  map<string, Line> lines_by_sku = 3;
  google.protobuf.Timestamp placed_at = 4;
  optional string note = 5;
  oneof payment {
    string card_token = 6;
    Wallet wallet = 7 [deprecated = true];
  }
  repeated int32 codes = 9 [packed = false, (weights) = 1, (weights) = 2];
  Status status = 13;
  double total = 14;
  bytes blob = 15;
  sint64 delta = 16;
  fixed32 f32 = 17;
  sfixed64 sf64 = 18;
  float ratio = 19;
  bool paid = 20;
  message Wallet { string provider = 1; }
  map<int64, Status> history = 21;
  google.protobuf.Duration ttl = 22;
}

enum Status {
  option allow_alias = true;
  reserved 5, 7 to 9;
  reserved "GONE";
  STATUS_UNSPECIFIED = 0;
  OPEN = 1;
  STARTED = 1;
  CLOSED = 2 [deprecated = true];
  NEGATIVE = -3;
}

service Orders {
  option deprecated = true;
  rpc Get (Order) returns (Order);
  rpc Watch (Order) returns (stream Order) { option deprecated = true; option idempotency_level = NO_SIDE_EFFECTS; }
  rpc Upload (stream Order.Line) returns (Order);
  rpc Chat (stream Order) returns (stream Order);
}
"#;

pub(crate) const PROTO2: &str = r#"
syntax = "proto2";
package legacy;

message Box {
  message Before { optional int32 a = 1; }
  required string id = 1;
  optional int32 count = 2 [default = -7];
  optional string label = 3 [default = "say \"hi\"\n é"];
  optional bytes raw = 4 [default = "\001\377a"];
  optional double ratio = 5 [default = -inf];
  optional float weight = 6 [default = 1.5];
  optional Color color = 7 [default = GREEN];
  repeated int32 packed_codes = 8 [packed = true];
  map<string, Before> by_name = 9;
  optional group Extra = 10 {
    optional string note = 1;
  }
  oneof choice {
    string text = 11;
    group Pick = 12 { optional int32 n = 1; }
  }
  extensions 100 to 199, 300;
  extend Box { optional int32 boxed = 150; }
  message After { optional bool b = 1; }
}

enum Color { RED = 1; GREEN = 2; }

extend Box {
  repeated string tags = 101;
  optional group Ext = 102 { optional int32 e = 1; }
}
"#;

fn referenced(name: &str, text: &str) -> Referenced {
    Referenced {
        name: name.to_string(),
        schema_type: SchemaType::Protobuf,
        text: text.to_string(),
    }
}

/// The descriptor without what notation leaves out: source locations, `json_name`s that are the
/// default, and empty option messages.
fn comparable(file: &FileDescriptor) -> FileDescriptorProto {
    fn empty_to_none<T: Default + PartialEq>(options: &mut Option<T>) {
        if options.as_ref() == Some(&T::default()) {
            *options = None;
        }
    }
    fn enumeration(e: &mut EnumDescriptorProto) {
        empty_to_none(&mut e.options);
        e.value.iter_mut().for_each(|v| empty_to_none(&mut v.options));
    }
    fn message(m: &mut DescriptorProto) {
        empty_to_none(&mut m.options);
        for f in m.field.iter_mut().chain(m.extension.iter_mut()) {
            empty_to_none(&mut f.options);
            if f.json_name.is_none() {
                f.json_name = Some(print::default_json_name(f.name()));
            }
        }
        m.oneof_decl.iter_mut().for_each(|o| empty_to_none(&mut o.options));
        m.enum_type.iter_mut().for_each(enumeration);
        m.nested_type.iter_mut().for_each(message);
    }
    let mut proto = FileDescriptorProto::decode(file.encode_to_vec().as_slice()).unwrap();
    proto.source_code_info = None;
    proto.name = None;
    if proto.syntax.is_none() {
        proto.syntax = Some("proto2".into());
    }
    proto.message_type.iter_mut().for_each(message);
    proto.enum_type.iter_mut().for_each(enumeration);
    empty_to_none(&mut proto.options);
    for f in &mut proto.extension {
        if f.json_name.is_none() {
            f.json_name = Some(print::default_json_name(f.name()));
        }
    }
    proto
}

fn assert_round_trip(text: &str, refs: &[Referenced]) -> ProtobufSchema {
    let original = compile::compile(text, refs).unwrap().0;
    let schema = parse_stored(text, refs).unwrap();
    let canonical = schema.canonical();
    let again = compile::compile(canonical, refs).unwrap().0;
    let (before, after) = (
        format!("{:#?}", comparable(&original)),
        format!("{:#?}", comparable(&again)),
    );
    if before != after {
        let first = before.lines().zip(after.lines()).position(|(a, b)| a != b).unwrap_or(0);
        let context = |s: &str| {
            s.lines()
                .skip(first.saturating_sub(15))
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "canonical text:\n{canonical}\nbefore:\n{}\nafter:\n{}",
            context(&before),
            context(&after)
        );
    }
    assert_eq!(
        parse_stored(canonical, refs).unwrap().canonical(),
        canonical,
        "a fixpoint"
    );
    schema
}

#[test]
fn a_rich_proto3_file_prints_to_text_that_compiles_to_the_same_descriptor() {
    assert_round_trip(RICH, &[]);
}

#[test]
fn a_rich_proto2_file_prints_to_text_that_compiles_to_the_same_descriptor() {
    assert_round_trip(PROTO2, &[]);
}

#[test]
fn google_well_known_files_print_to_text_that_compiles_to_the_same_descriptor() {
    let global = DescriptorPool::global();
    let mut names: Vec<String> = global.files().map(|f| f.name().to_string()).collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let file = global.get_file_by_name(&name).unwrap();
        let base64 = STANDARD.encode(file.encode_to_vec());
        let schema = assert_round_trip(&base64, &[]);
        assert!(schema.canonical().starts_with("syntax = "), "{name}");
    }
}

fn fingerprint(text: &str, refs: &[Referenced]) -> [u8; 32] {
    crate::schema::normalize(Some("PROTOBUF"), text, Vec::new(), refs)
        .unwrap()
        .fingerprint
}

/// `text` compiled under another name, without source locations, custom options kept: as a
/// client's serializer would send it.
fn as_client_descriptor(text: &str, refs: &[Referenced]) -> String {
    let file = compile::compile(text, refs).unwrap().0;
    let mut message = DynamicMessage::decode(
        FileDescriptorProto::default().descriptor(),
        file.encode_to_vec().as_slice(),
    )
    .unwrap();
    message.set_field_by_name("name", prost_reflect::Value::String("orders/v1/orders.proto".into()));
    message.clear_field_by_name("source_code_info");
    STANDARD.encode(message.encode_to_vec())
}

#[test]
fn text_and_base64_descriptor_of_the_same_file_get_the_same_identity() {
    let base64 = as_client_descriptor(RICH, &[]);
    assert_eq!(
        parse_stored(&base64, &[]).unwrap().canonical(),
        parse_stored(RICH, &[]).unwrap().canonical()
    );
    assert_eq!(fingerprint(&base64, &[]), fingerprint(RICH, &[]));
}

#[test]
fn notation_does_not_change_the_identity() {
    let terse = "syntax=\"proto3\";package p;message A{B b=1;message B{}}";
    let spelled_out =
        "// comment\nsyntax = \"proto3\";\npackage p;\n\nmessage A {\n  /* the b */ .p.A.B b = 1;\n  message B {}\n}\n";
    assert_eq!(fingerprint(terse, &[]), fingerprint(spelled_out, &[]));
    assert_eq!(
        fingerprint("message A { optional int32 x = 1; }", &[]),
        fingerprint("syntax = \"proto2\"; message A { optional int32 x = 1; }", &[]),
        "proto2 is the default syntax"
    );
    assert_ne!(
        fingerprint(terse, &[]),
        fingerprint("syntax=\"proto3\";package q;message A{B b=1;message B{}}", &[])
    );
}

#[test]
fn the_serialized_form_is_a_descriptor_named_default_that_imports_references_by_name() {
    let other = referenced(
        "shared/money.proto",
        "syntax = \"proto3\"; package shared; message Money { int64 cents = 1; }",
    );
    let text = "syntax = \"proto3\"; import \"shared/money.proto\"; message Price { shared.Money amount = 1; }";
    let schema = parse_stored(text, std::slice::from_ref(&other)).unwrap();
    let bytes = STANDARD.decode(schema.serialized()).unwrap();
    let proto = FileDescriptorProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(proto.name(), "default");
    assert_eq!(proto.dependency, ["shared/money.proto"]);
    assert!(proto.source_code_info.is_none());
    // What a client fetches with format=serialized registers back as the same schema.
    assert_eq!(
        parse_stored(&schema.serialized(), &[other]).unwrap().canonical(),
        schema.canonical()
    );
}

#[test]
fn custom_options_survive_the_serialized_form() {
    let schema = parse_stored(RICH, &[]).unwrap();
    let again = parse_stored(&schema.serialized(), &[]).unwrap();
    assert!(
        again.canonical().contains("(.acme.orders.v1.rule) = { min: 1"),
        "{}",
        again.canonical()
    );
    assert_eq!(again.canonical(), schema.canonical());
}

#[test]
fn well_known_types_are_imported_without_a_reference() {
    let text = "syntax = \"proto3\"; import \"google/protobuf/timestamp.proto\"; import \"google/protobuf/any.proto\"; message E { google.protobuf.Timestamp at = 1; google.protobuf.Any body = 2; }";
    let schema = parse_stored(text, &[]).unwrap();
    assert!(schema.canonical().contains(".google.protobuf.Timestamp at = 1;"));
}

#[test]
fn imports_resolve_through_references_given_as_text_or_as_descriptors() {
    let money = "syntax = \"proto3\"; package shared; message Money { int64 cents = 1; }";
    let text = "syntax = \"proto3\"; import \"money.proto\"; message Price { shared.Money amount = 1; }";
    let as_text = parse_stored(text, &[referenced("money.proto", money)]).unwrap();
    let as_descriptor = parse_stored(text, &[referenced("money.proto", &as_client_descriptor(money, &[]))]).unwrap();
    assert!(as_text.canonical().contains(".shared.Money amount = 1;"));
    assert_eq!(as_text, as_descriptor);
    // References are transitive: a referenced file's own imports are in the list too.
    let wrapper = "syntax = \"proto3\"; import \"money.proto\"; package shop; message Cart { shared.Money total = 1; }";
    let top = "syntax = \"proto3\"; import \"cart.proto\"; message Order { shop.Cart cart = 1; }";
    let refs = [referenced("cart.proto", wrapper), referenced("money.proto", money)];
    assert!(parse_stored(top, &refs).is_ok());
    let err = parse_stored(top, &refs[..1]).unwrap_err().to_string();
    assert!(err.contains("money.proto"), "{err}");
}

#[test]
fn an_invalid_schema_is_refused_with_the_parsers_location_and_message() {
    let err = parse_stored("syntax = \"proto3\";\nmessage A {\n  int32 x = 1\n}", &[]).unwrap_err();
    assert!(matches!(err, SchemaError::InvalidProtobuf(_)));
    let message = err.to_string();
    assert!(message.contains("default:4:1: expected ';'"), "{message}");
    let message = parse_stored("syntax = \"proto3\"; message A { Missing m = 1; }", &[])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("default:1:") && message.contains("Missing"),
        "{message}"
    );
    let message = parse_stored("syntax = \"proto3\"; import \"nope.proto\"; message A {}", &[])
        .unwrap_err()
        .to_string();
    assert!(message.contains("import 'nope.proto' not found"), "{message}");
    let message = parse_stored("edition = \"2023\"; message A {}", &[])
        .unwrap_err()
        .to_string();
    assert!(message.contains("default:1:1"), "{message}");
}

#[test]
fn a_referenced_file_that_does_not_compile_is_named_in_the_error() {
    let text = "syntax = \"proto3\"; import \"bad.proto\"; message A {}";
    let message = parse_stored(text, &[referenced("bad.proto", "message {")])
        .unwrap_err()
        .to_string();
    assert!(message.contains("bad.proto:1:9"), "{message}");
}

#[test]
fn a_descriptor_whose_names_are_not_identifiers_is_refused() {
    let mut proto = FileDescriptorProto::decode(
        STANDARD
            .decode(as_client_descriptor(
                "syntax = \"proto3\"; message A { int32 x = 1; }",
                &[],
            ))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    proto.message_type[0].field[0].name = Some("x = 1; int32 y".into());
    let message = parse_stored(&STANDARD.encode(proto.encode_to_vec()), &[])
        .unwrap_err()
        .to_string();
    assert!(message.contains("is not an identifier"), "{message}");
}

#[test]
fn an_editions_descriptor_is_refused() {
    let proto = FileDescriptorProto {
        syntax: Some("editions".into()),
        message_type: vec![DescriptorProto {
            name: Some("A".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let message = parse_stored(&STANDARD.encode(proto.encode_to_vec()), &[])
        .unwrap_err()
        .to_string();
    assert!(message.contains("\"editions\" is not supported"), "{message}");
}

#[test]
fn base64_that_is_no_descriptor_reports_the_source_error() {
    // "AAAA" is valid base64 (three zero bytes), not a descriptor that declares anything.
    let message = parse_stored("AAAA", &[]).unwrap_err().to_string();
    assert!(message.contains("default:1:1"), "{message}");
}

#[test]
fn nesting_beyond_the_limit_is_refused_without_recursing() {
    let text = format!(
        "syntax = \"proto3\"; import \"google/protobuf/descriptor.proto\"; message R {{ R r = 1; }} \
         extend google.protobuf.MessageOptions {{ R deep = 50000; }} message A {{ option (deep) = {}{}; }}",
        "{ r ".repeat(10_000),
        "}".repeat(10_000)
    );
    let message = parse_stored(&text, &[]).unwrap_err().to_string();
    assert!(message.contains("at most 64"), "{message}");
}

#[test]
fn message_names_are_in_declaration_order_with_nested_ones_after_their_parent() {
    let schema = parse_stored(
        "syntax = \"proto3\"; package p; message A { message B {} map<string, int32> m = 1; } message C {}",
        &[],
    )
    .unwrap();
    assert_eq!(schema.message_names(), ["p.A", "p.A.B", "p.A.MEntry", "p.C"]);
}

#[test]
fn top_level_fields_are_those_of_top_level_messages_outside_oneofs() {
    let schema = parse_stored(
        "syntax = \"proto3\"; message A { string name = 1; optional int32 age = 2; oneof o { string city = 3; } message N { string zip = 1; } }",
        &[],
    )
    .unwrap();
    assert!(schema.has_top_level_field("name"));
    assert!(schema.has_top_level_field("age"));
    assert!(!schema.has_top_level_field("city"));
    assert!(!schema.has_top_level_field("zip"));
}

#[test]
fn an_empty_file_reads_back_from_its_serialized_form() {
    let schema = parse_stored("", &[]).unwrap();
    assert_eq!(schema.canonical(), "syntax = \"proto2\";\n");
    assert_eq!(parse_stored(&schema.serialized(), &[]).unwrap(), schema);
}

#[test]
fn a_map_entry_written_by_hand_or_malformed_is_refused() {
    let message = parse_stored(
        "syntax = \"proto3\"; message M { option map_entry = true; int32 x = 3; } message N { repeated M m = 1; }",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("map_entry is not set by hand"), "{message}");
    let mut proto = FileDescriptorProto::decode(
        STANDARD
            .decode(as_client_descriptor(
                "syntax = \"proto3\"; message N { map<string, int32> m = 1; }",
                &[],
            ))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    proto.message_type[0].nested_type[0].field[0].number = Some(3);
    let message = parse_stored(&STANDARD.encode(proto.encode_to_vec()), &[])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("must have a key field 1 and a value field 2"),
        "{message}"
    );
}

#[test]
fn a_descriptor_with_an_empty_syntax_is_read_as_proto2() {
    let proto = FileDescriptorProto {
        syntax: Some(String::new()),
        message_type: vec![DescriptorProto {
            name: Some("A".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let schema = parse_stored(&STANDARD.encode(proto.encode_to_vec()), &[]).unwrap();
    assert_eq!(schema.canonical(), "syntax = \"proto2\";\n\nmessage A {\n}\n");
}

#[test]
fn a_descriptor_with_uninterpreted_options_is_refused() {
    // Parsed but not compiled, the option is uninterpreted; deeply nested, reading it would
    // overflow the stack.
    let text = "syntax = \"proto2\"; import \"google/protobuf/descriptor.proto\"; message R { optional R r = 1; } \
                extend google.protobuf.FileOptions { optional R deep = 50000; } option (deep) = { r {} };";
    let mut proto = protox::file::File::from_source("x.proto", text)
        .unwrap()
        .file_descriptor_proto()
        .clone();
    let option = &mut proto.options.as_mut().unwrap().uninterpreted_option[0];
    option.aggregate_value = Some(format!("{}{}", "r {".repeat(100_000), "}".repeat(100_000)));
    let message = parse_stored(&STANDARD.encode(proto.encode_to_vec()), &[])
        .unwrap_err()
        .to_string();
    assert!(message.contains("uninterpreted options"), "{message}");
}

#[test]
fn a_bytes_default_that_is_no_c_literal_is_refused() {
    let text = "syntax = \"proto2\"; message A { optional bytes b = 1 [default = \"ok\"]; }";
    for bad in [r"\777", "\\x1\u{e9}", r"\q"] {
        let mut proto =
            FileDescriptorProto::decode(STANDARD.decode(as_client_descriptor(text, &[])).unwrap().as_slice()).unwrap();
        proto.message_type[0].field[0].default_value = Some(bad.to_string());
        let message = parse_stored(&STANDARD.encode(proto.encode_to_vec()), &[])
            .unwrap_err()
            .to_string();
        assert!(message.contains("is not a valid bytes literal"), "{bad}: {message}");
    }
    let message = parse_stored(
        "syntax = \"proto2\"; message A { optional bytes b = 1 [default = \"\\777\"]; }",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("default:1:"), "{message}");
}
