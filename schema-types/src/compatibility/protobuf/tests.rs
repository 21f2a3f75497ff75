//! The rules one at a time: each difference type from a change that shows it, and the check's
//! directions and messages.

use super::*;
use crate::schema::protobuf::parse_stored;
use crate::schema::{Referenced, SchemaType};

fn schema(text: &str) -> ProtobufSchema {
    parse_stored(text, &[]).unwrap()
}

fn with_refs(text: &str, refs: &[(&str, &str)]) -> ProtobufSchema {
    let refs: Vec<Referenced> = refs
        .iter()
        .map(|(name, text)| Referenced {
            name: name.to_string(),
            schema_type: SchemaType::Protobuf,
            text: text.to_string(),
        })
        .collect();
    parse_stored(text, &refs).unwrap()
}

/// The differences from `original` to `update`, as `KIND path`, sorted.
fn diff(original: &str, update: &str) -> Vec<String> {
    let mut found: Vec<String> = differences(&schema(original), &schema(update))
        .iter()
        .map(ToString::to_string)
        .collect();
    found.sort();
    found
}

fn proto3(body: &str) -> String {
    format!("syntax = \"proto3\";\n{body}")
}

fn proto2(body: &str) -> String {
    format!("syntax = \"proto2\";\n{body}")
}

#[test]
fn identical_schemas_have_no_differences() {
    let text = proto3("package p; message A { int32 x = 1; oneof o { string s = 2; } map<string, A> m = 3; }");
    assert_eq!(diff(&text, &text), Vec::<String>::new());
}

#[test]
fn a_package_change_is_incompatible() {
    let found = diff(&proto3("package a; message M {}"), &proto3("package b; message M {}"));
    assert_eq!(found, ["PACKAGE_CHANGED #/"]);
    assert!(!DifferenceType::PackageChanged.is_compatible());
}

#[test]
fn adding_a_message_is_compatible_and_removing_one_is_not() {
    let (one, two) = (proto3("message A {}"), proto3("message A {} message B {}"));
    assert_eq!(diff(&one, &two), ["MESSAGE_ADDED #/B"]);
    assert_eq!(diff(&two, &one), ["MESSAGE_REMOVED #/B"]);
    assert!(DifferenceType::MessageAdded.is_compatible());
    assert!(!DifferenceType::MessageRemoved.is_compatible());
}

#[test]
fn reordering_messages_moves_them_compatibly() {
    let found = diff(
        &proto3("message A {} message B {}"),
        &proto3("message B {} message A {}"),
    );
    assert_eq!(found, ["MESSAGE_MOVED #/A", "MESSAGE_MOVED #/B"]);
    assert!(DifferenceType::MessageMoved.is_compatible());
}

#[test]
fn nested_messages_are_compared_at_their_paths_and_map_entries_are_not_messages() {
    let found = diff(
        &proto3("message A { message N { int32 x = 1; } }"),
        &proto3("message A { message N { int32 x = 1; int32 y = 2; } map<string, int32> m = 1; }"),
    );
    assert_eq!(found, ["FIELD_ADDED #/A/1", "FIELD_ADDED #/A/N/2"]);
}

#[test]
fn enums_and_their_values_change_compatibly() {
    let original = proto3("enum E { A = 0; B = 1; C = 2; } message M {}");
    let update = proto3("enum E { A = 0; BEE = 1; D = 3; } enum F { F0 = 0; } message M {}");
    assert_eq!(
        diff(&original, &update),
        [
            "ENUM_ADDED #/F",
            "ENUM_CONST_ADDED #/E/3",
            "ENUM_CONST_CHANGED #/E/1",
            "ENUM_CONST_REMOVED #/E/2"
        ]
    );
    assert_eq!(
        diff(&update, &original),
        [
            "ENUM_CONST_ADDED #/E/2",
            "ENUM_CONST_CHANGED #/E/1",
            "ENUM_CONST_REMOVED #/E/3",
            "ENUM_REMOVED #/F"
        ]
    );
    for kind in [
        DifferenceType::EnumAdded,
        DifferenceType::EnumRemoved,
        DifferenceType::EnumConstAdded,
        DifferenceType::EnumConstChanged,
        DifferenceType::EnumConstRemoved,
    ] {
        assert!(kind.is_compatible(), "{kind}");
    }
}

#[test]
fn optional_fields_come_and_go_compatibly_and_renaming_one_is_compatible() {
    let (one, two) = (
        proto3("message M { int32 a = 1; }"),
        proto3("message M { int32 a = 1; string b = 2; }"),
    );
    assert_eq!(diff(&one, &two), ["FIELD_ADDED #/M/2"]);
    assert_eq!(diff(&two, &one), ["FIELD_REMOVED #/M/2"]);
    assert_eq!(
        diff(&one, &proto3("message M { int32 renamed = 1; }")),
        ["FIELD_NAME_CHANGED #/M/1"]
    );
    for kind in [
        DifferenceType::FieldAdded,
        DifferenceType::FieldRemoved,
        DifferenceType::FieldNameChanged,
    ] {
        assert!(kind.is_compatible(), "{kind}");
    }
}

#[test]
fn required_fields_may_neither_come_nor_go() {
    let (one, two) = (
        proto2("message M { optional int32 a = 1; }"),
        proto2("message M { optional int32 a = 1; required string b = 2; }"),
    );
    assert_eq!(diff(&one, &two), ["REQUIRED_FIELD_ADDED #/M/2"]);
    assert_eq!(diff(&two, &one), ["REQUIRED_FIELD_REMOVED #/M/2"]);
    assert!(!DifferenceType::RequiredFieldAdded.is_compatible());
    assert!(!DifferenceType::RequiredFieldRemoved.is_compatible());
}

#[test]
fn a_field_changing_between_scalar_message_and_map_changes_kind() {
    let scalar = proto3("message M { int32 f = 1; } message N {}");
    let message = proto3("message M { N f = 1; } message N {}");
    let map = proto3("message M { map<string, int32> f = 1; } message N {}");
    assert_eq!(diff(&scalar, &message), ["FIELD_KIND_CHANGED #/M/1"]);
    assert_eq!(diff(&message, &map), ["FIELD_KIND_CHANGED #/M/1"]);
    assert_eq!(diff(&map, &scalar), ["FIELD_KIND_CHANGED #/M/1"]);
    assert!(!DifferenceType::FieldKindChanged.is_compatible());
}

#[test]
fn scalars_of_one_wire_group_read_each_other_both_ways() {
    let groups: [&[&str]; 7] = [
        &["int32", "int64", "uint32", "uint64", "bool", ".E"],
        &["sint32", "sint64"],
        &["string", "bytes"],
        &["fixed32", "sfixed32"],
        &["fixed64", "sfixed64"],
        &["float"],
        &["double"],
    ];
    let file = |t: &str| proto3(&format!("enum E {{ Z = 0; }} message M {{ {t} f = 1; }}"));
    for (i, group) in groups.iter().enumerate() {
        for a in *group {
            for (j, other) in groups.iter().enumerate() {
                for b in *other {
                    let found = diff(&file(a), &file(b));
                    if i == j {
                        assert_eq!(found, Vec::<String>::new(), "{a} -> {b}");
                    } else {
                        assert_eq!(found, ["FIELD_SCALAR_KIND_CHANGED #/M/1"], "{a} -> {b}");
                    }
                }
            }
        }
    }
    assert!(!DifferenceType::FieldScalarKindChanged.is_compatible());
}

#[test]
fn map_values_are_compared_as_field_types() {
    let found = diff(
        &proto3("message M { map<string, int32> m = 1; }"),
        &proto3("message M { map<string, string> m = 1; }"),
    );
    assert_eq!(found, ["FIELD_SCALAR_KIND_CHANGED #/M/1"]);
    let found = diff(
        &proto3("message M { map<string, int32> m = 1; }"),
        &proto3("message M { map<int64, int32> m = 1; }"),
    );
    assert_eq!(found, ["FIELD_SCALAR_KIND_CHANGED #/M/1"]);
}

#[test]
fn a_field_of_another_message_type_is_a_named_type_change() {
    let found = diff(
        &proto3("message M { A f = 1; } message A {} message B {}"),
        &proto3("message M { B f = 1; } message A {} message B {}"),
    );
    assert_eq!(found, ["FIELD_NAMED_TYPE_CHANGED #/M/1"]);
    assert!(!DifferenceType::FieldNamedTypeChanged.is_compatible());
}

#[test]
fn labels_of_numbers_must_stay_but_those_of_strings_and_bytes_may_change() {
    let found = diff(
        &proto3("message M { optional int32 f = 1; }"),
        &proto3("message M { repeated int32 f = 1; }"),
    );
    assert_eq!(found, ["FIELD_NUMERIC_LABEL_CHANGED #/M/1"]);
    let found = diff(
        &proto2("message M { optional bytes f = 1; }"),
        &proto2("message M { repeated bytes f = 1; }"),
    );
    assert_eq!(found, ["FIELD_STRING_OR_BYTES_LABEL_CHANGED #/M/1"]);
    assert!(!DifferenceType::FieldNumericLabelChanged.is_compatible());
    assert!(DifferenceType::FieldStringOrBytesLabelChanged.is_compatible());
}

#[test]
fn a_proto3_field_without_a_label_is_not_compared_by_label_as_in_confluent() {
    let found = diff(
        &proto3("message M { int32 f = 1; }"),
        &proto3("message M { repeated int32 f = 1; }"),
    );
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn oneofs_come_and_go_with_their_members() {
    let none = proto3("message M { int32 a = 1; }");
    let one = proto3("message M { int32 a = 1; oneof o { string b = 2; int32 c = 3; } }");
    assert_eq!(
        diff(&none, &one),
        [
            "ONEOF_ADDED #/M/o",
            "ONEOF_FIELD_ADDED #/M/o/2",
            "ONEOF_FIELD_ADDED #/M/o/3"
        ]
    );
    assert_eq!(diff(&one, &none), ["ONEOF_REMOVED #/M/o"], "a oneof deleted whole");
    let fewer = proto3("message M { int32 a = 1; oneof o { string b = 2; } }");
    assert_eq!(diff(&one, &fewer), ["ONEOF_FIELD_REMOVED #/M/o/3"]);
    assert!(DifferenceType::OneofAdded.is_compatible());
    assert!(DifferenceType::OneofRemoved.is_compatible());
    assert!(DifferenceType::OneofFieldAdded.is_compatible());
    assert!(!DifferenceType::OneofFieldRemoved.is_compatible());
}

#[test]
fn moving_one_field_into_a_new_oneof_is_compatible_but_joining_fields_that_were_apart_is_not() {
    let apart = proto3("message M { int32 a = 1; int32 b = 2; oneof o { int32 c = 3; } }");
    let one_moved = proto3("message M { int32 a = 1; oneof n { int32 b = 2; } oneof o { int32 c = 3; } }");
    assert_eq!(diff(&apart, &one_moved), ["ONEOF_ADDED #/M/n"]);
    let into_existing = proto3("message M { int32 a = 1; oneof o { int32 c = 3; int32 b = 2; } }");
    assert_eq!(diff(&apart, &into_existing), ["FIELD_MOVED_TO_EXISTING_ONEOF #/M/o"]);
    let two_moved = proto3("message M { oneof n { int32 a = 1; int32 b = 2; } oneof o { int32 c = 3; } }");
    assert_eq!(
        diff(&apart, &two_moved),
        ["MULTIPLE_FIELDS_MOVED_TO_ONEOF #/M/n", "ONEOF_ADDED #/M/n"]
    );
    assert!(!DifferenceType::FieldMovedToExistingOneof.is_compatible());
    assert!(!DifferenceType::MultipleFieldsMovedToOneof.is_compatible());
}

#[test]
fn leaving_a_oneof_for_the_top_level_is_compatible_and_changes_are_still_seen() {
    let inside = proto3("message M { oneof o { int32 a = 1; int32 b = 2; } }");
    let out = proto3("message M { oneof o { int32 a = 1; } int32 b = 2; }");
    assert_eq!(diff(&inside, &out), ["ONEOF_FIELD_MOVED_TO_TOP_LEVEL #/M/2"]);
    assert!(DifferenceType::OneofFieldMovedToTopLevel.is_compatible());
    let changed = proto3("message M { oneof o { int32 a = 1; } string b = 2; }");
    assert_eq!(
        diff(&inside, &changed),
        [
            "FIELD_SCALAR_KIND_CHANGED #/M/2",
            "ONEOF_FIELD_MOVED_TO_TOP_LEVEL #/M/2"
        ]
    );
    let renamed = proto3("message M { oneof p { int32 a = 1; string b = 2; } }");
    assert_eq!(
        diff(&inside, &renamed),
        [
            "FIELD_SCALAR_KIND_CHANGED #/M/p/2",
            "ONEOF_ADDED #/M/p",
            "ONEOF_REMOVED #/M/o"
        ]
    );
}

#[test]
fn synthetic_oneofs_of_proto3_optional_are_not_oneofs() {
    let found = diff(
        &proto3("message M { int32 a = 1; }"),
        &proto3("message M { optional int32 a = 1; }"),
    );
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn recursive_messages_are_compared_without_recursing_forever() {
    let original = proto3(
        "message Tree { Tree left = 1; Tree right = 2; repeated Node nodes = 3; } message Node { Tree t = 1; Node next = 2; }",
    );
    let update = proto3(
        "message Tree { Tree left = 1; Tree right = 2; repeated Node nodes = 3; } message Node { Tree t = 1; Node next = 2; string s = 3; }",
    );
    assert_eq!(diff(&original, &update), ["FIELD_ADDED #/Node/3"]);
}

#[test]
fn imported_messages_are_compared_and_an_incompatible_change_changes_the_field_type() {
    let before = "syntax = \"proto3\"; package lib; message Home { int32 id = 1; Home parent = 2; }";
    let after = "syntax = \"proto3\"; package lib; message Home { string id = 1; Home parent = 2; }";
    let text = "syntax = \"proto3\"; import \"lib.proto\"; message M { lib.Home a = 1; lib.Home b = 2; }";
    let original = with_refs(text, &[("lib.proto", before)]);
    let same = with_refs(text, &[("lib.proto", before)]);
    let update = with_refs(text, &[("lib.proto", after)]);
    assert_eq!(differences(&original, &same), []);
    let mut found: Vec<String> = differences(&original, &update)
        .iter()
        .map(ToString::to_string)
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "FIELD_NAMED_TYPE_CHANGED #/M/1",
            "FIELD_NAMED_TYPE_CHANGED #/M/2",
            "FIELD_SCALAR_KIND_CHANGED #/Home/1"
        ],
        "listed once though two fields use it"
    );
}

#[test]
fn a_long_chain_of_imported_messages_is_cut_off_as_a_type_change() {
    let chain = |id_type: &str| {
        let mut text = String::from("syntax = \"proto3\"; package lib;");
        for i in 0..100 {
            text.push_str(&format!(" message M{i} {{ M{} next = 1; }}", i + 1));
        }
        text.push_str(&format!(" message M100 {{ {id_type} id = 1; }}"));
        text
    };
    let text = "syntax = \"proto3\"; import \"lib.proto\"; message Root { lib.M0 head = 1; }";
    let original = with_refs(text, &[("lib.proto", &chain("int32"))]);
    let update = with_refs(text, &[("lib.proto", &chain("int64"))]);
    let found = differences(&original, &update);
    assert!(
        found
            .iter()
            .any(|d| d.kind == DifferenceType::FieldNamedTypeChanged && d.path == "#/Root/1"),
        "{found:?}"
    );
}

#[test]
fn backward_takes_the_old_version_as_the_original_and_forward_the_new_one() {
    let old = schema(&proto2("message M { optional int32 a = 1; }"));
    let new = schema(&proto2("message M { optional int32 a = 1; required int32 b = 2; }"));
    let backward = check(CompatibilityLevel::Backward, &new, &[(1, &old)]);
    assert_eq!(backward.len(), 1, "{backward:?}");
    assert!(
        backward[0].starts_with("{oldSchemaVersion: 1, direction: BACKWARD, type: REQUIRED_FIELD_ADDED, path: '#/M/2'"),
        "{}",
        backward[0]
    );
    assert!(
        backward[0]
            .contains("the new schema requires the field at '#/M/2', which data written with the old schema lacks")
    );
    let forward = check(CompatibilityLevel::Forward, &new, &[(1, &old)]);
    assert_eq!(forward.len(), 1, "{forward:?}");
    assert!(
        forward[0].contains("direction: FORWARD, type: REQUIRED_FIELD_REMOVED"),
        "{}",
        forward[0]
    );
    assert_eq!(check(CompatibilityLevel::Full, &new, &[(1, &old)]).len(), 2);
    assert_eq!(
        check(CompatibilityLevel::None, &new, &[(1, &old)]),
        Vec::<String>::new()
    );
}

#[test]
fn transitive_levels_check_every_version_newest_first() {
    let v1 = schema(&proto3("message M { int32 a = 1; }"));
    let v2 = schema(&proto3("message M { int32 a = 1; int32 b = 2; }"));
    let new = schema(&proto3("message M { string a = 1; int32 b = 2; }"));
    let found = check(CompatibilityLevel::BackwardTransitive, &new, &[(1, &v1), (2, &v2)]);
    assert_eq!(found.len(), 2);
    assert!(found[0].starts_with("{oldSchemaVersion: 2"));
    assert!(found[1].starts_with("{oldSchemaVersion: 1"));
    assert_eq!(
        check(CompatibilityLevel::Backward, &new, &[(1, &v1), (2, &v2)]).len(),
        1
    );
}

#[test]
fn changes_compatible_both_ways_pass_every_level() {
    let old = schema(&proto3("message M { int32 a = 1; }"));
    let new = schema(&proto3("message M { int64 renamed = 1; string b = 2; }"));
    for level in CompatibilityLevel::ALL {
        assert_eq!(check(level, &new, &[(1, &old)]), Vec::<String>::new(), "{level}");
    }
}

#[test]
fn every_difference_type_has_its_confluent_name_once() {
    let names: std::collections::HashSet<&str> = DifferenceType::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names.len(), 26);
    let compatible = DifferenceType::ALL.iter().filter(|k| k.is_compatible()).count();
    assert_eq!(compatible, 15, "Confluent's compatible set");
}

#[test]
fn reserved_names_may_not_be_dropped_or_used_by_a_top_level_field() {
    let new = schema(&proto3("message M { string name = 1; oneof o { string city = 2; } }"));
    assert_eq!(
        reserved_field_violations(&new, &["cost", "city"], Some(&["cost"])),
        Vec::<String>::new()
    );
    let found = reserved_field_violations(&new, &["name"], Some(&["cost"]));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("\"cost\""));
    assert!(found[1].contains("\"name\""));
}
