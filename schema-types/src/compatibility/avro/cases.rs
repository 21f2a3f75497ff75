//! The "Schema Resolution" section of the Avro specification as a table of reader/writer cases.
//!
//! Each case is its own test, named after the rule it pins down; `CASES` keeps the whole table for the
//! coverage test at the end. An incompatible case names the kind and path of the first finding.

use apache_avro::Schema;
use apache_avro::schema::Name;

use super::can_read;
use crate::compatibility::IncompatibilityKind::{self, *};

#[derive(Debug, Clone, Copy)]
enum Expect {
    Compatible,
    Incompatible(IncompatibilityKind, &'static str),
}
use Expect::Compatible;

const fn fails(kind: IncompatibilityKind, path: &'static str) -> Expect {
    Expect::Incompatible(kind, path)
}

#[derive(Debug)]
struct Case {
    name: &'static str,
    reader: &'static str,
    writer: &'static str,
    expect: Expect,
}

/// Every case of the table as (name, reader, writer).
pub(super) fn pairs() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    CASES.iter().map(|c| (c.name, c.reader, c.writer))
}

fn parse(json: &str) -> Schema {
    Schema::parse_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn run(case: &Case) {
    let found = can_read(&parse(case.reader), &parse(case.writer));
    match case.expect {
        Compatible => assert!(found.is_empty(), "{}: expected compatible, found {found:#?}", case.name),
        Expect::Incompatible(kind, path) => {
            let first = found
                .first()
                .unwrap_or_else(|| panic!("{}: expected {kind} at {path}, found none", case.name));
            assert_eq!(
                (first.kind, first.path.as_str()),
                (kind, path),
                "{}: {found:#?}",
                case.name
            );
            assert!(!first.message.is_empty());
        }
    }
}

macro_rules! cases {
    ($($name:ident: $reader:expr, $writer:expr => $expect:expr;)+) => {
        const CASES: &[Case] = &[$(Case { name: stringify!($name), reader: $reader, writer: $writer, expect: $expect },)+];
        $(
            #[test]
            fn $name() {
                run(&Case { name: stringify!($name), reader: $reader, writer: $writer, expect: $expect });
            }
        )+
    };
}

cases! {
    // Primitives: equal types, and the promotions of the specification (writer → reader).
    null_reads_null: r#""null""#, r#""null""# => Compatible;
    boolean_reads_boolean: r#""boolean""#, r#""boolean""# => Compatible;
    int_is_promoted_to_long: r#""long""#, r#""int""# => Compatible;
    int_is_promoted_to_float: r#""float""#, r#""int""# => Compatible;
    int_is_promoted_to_double: r#""double""#, r#""int""# => Compatible;
    long_is_promoted_to_float: r#""float""#, r#""long""# => Compatible;
    long_is_promoted_to_double: r#""double""#, r#""long""# => Compatible;
    float_is_promoted_to_double: r#""double""#, r#""float""# => Compatible;
    string_is_read_as_bytes: r#""bytes""#, r#""string""# => Compatible;
    bytes_are_read_as_string: r#""string""#, r#""bytes""# => Compatible;
    long_is_not_narrowed_to_int: r#""int""#, r#""long""# => fails(TypeMismatch, "/");
    float_is_not_narrowed_to_int: r#""int""#, r#""float""# => fails(TypeMismatch, "/");
    double_is_not_narrowed_to_float: r#""float""#, r#""double""# => fails(TypeMismatch, "/");
    double_is_not_narrowed_to_long: r#""long""#, r#""double""# => fails(TypeMismatch, "/");
    float_is_not_read_as_long: r#""long""#, r#""float""# => fails(TypeMismatch, "/");
    boolean_is_not_promoted_to_int: r#""int""#, r#""boolean""# => fails(TypeMismatch, "/");
    int_is_not_read_as_boolean: r#""boolean""#, r#""int""# => fails(TypeMismatch, "/");
    null_is_not_read_as_string: r#""string""#, r#""null""# => fails(TypeMismatch, "/");
    string_is_not_read_as_null: r#""null""#, r#""string""# => fails(TypeMismatch, "/");
    string_is_not_parsed_as_int: r#""int""#, r#""string""# => fails(TypeMismatch, "/");
    int_is_not_formatted_as_string: r#""string""#, r#""int""# => fails(TypeMismatch, "/");
    bytes_are_not_read_as_double: r#""double""#, r#""bytes""# => fails(TypeMismatch, "/");

    // Different kinds of complex types never match.
    record_is_not_read_as_a_primitive:
        r#""string""#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#
        => fails(TypeMismatch, "/");
    primitive_is_not_read_as_a_record:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#,
        r#""string""#
        => fails(TypeMismatch, "/");
    array_is_not_read_as_a_map:
        r#"{"type":"map","values":"int"}"#, r#"{"type":"array","items":"int"}"# => fails(TypeMismatch, "/");
    map_is_not_read_as_an_array:
        r#"{"type":"array","items":"int"}"#, r#"{"type":"map","values":"int"}"# => fails(TypeMismatch, "/");
    array_is_not_read_as_its_item_type:
        r#""int""#, r#"{"type":"array","items":"int"}"# => fails(TypeMismatch, "/");
    enum_is_not_read_as_string:
        r#""string""#, r#"{"type":"enum","name":"E","symbols":["A"]}"# => fails(TypeMismatch, "/");
    string_is_not_read_as_enum:
        r#"{"type":"enum","name":"E","symbols":["A"]}"#, r#""string""# => fails(TypeMismatch, "/");
    fixed_is_not_read_as_bytes:
        r#""bytes""#, r#"{"type":"fixed","name":"F","size":4}"# => fails(TypeMismatch, "/");
    bytes_are_not_read_as_fixed:
        r#"{"type":"fixed","name":"F","size":4}"#, r#""bytes""# => fails(TypeMismatch, "/");
    record_is_not_read_as_an_enum_of_the_same_name:
        r#"{"type":"enum","name":"R","symbols":["A"]}"#,
        r#"{"type":"record","name":"R","fields":[]}"#
        => fails(TypeMismatch, "/");
    enum_is_not_read_as_a_fixed_of_the_same_name:
        r#"{"type":"fixed","name":"N","size":1}"#,
        r#"{"type":"enum","name":"N","symbols":["A"]}"#
        => fails(TypeMismatch, "/");

    // Records: fields are matched by name, in any order.
    identical_records_are_compatible:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    reader_field_added_with_default_is_filled_from_the_default:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    reader_field_added_without_default_is_missing_its_default:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => fails(ReaderFieldMissingDefaultValue, "/fields/1");
    reader_field_added_with_null_default_is_compatible:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    reader_nullable_field_added_without_default_still_needs_a_default:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"]}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => fails(ReaderFieldMissingDefaultValue, "/fields/1");
    writer_field_unknown_to_the_reader_is_skipped:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#
        => Compatible;
    field_order_does_not_matter:
        r#"{"type":"record","name":"R","fields":[{"name":"b","type":"string"},{"name":"a","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#
        => Compatible;
    missing_default_path_uses_the_reader_field_position:
        r#"{"type":"record","name":"R","fields":[{"name":"x","type":"int","default":1},{"name":"a","type":"int"},{"name":"c","type":"string"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => fails(ReaderFieldMissingDefaultValue, "/fields/2");
    first_reader_field_without_default_is_reported_first:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int"}]}"#
        => fails(ReaderFieldMissingDefaultValue, "/fields/0");
    renamed_field_is_matched_through_the_reader_field_alias:
        r#"{"type":"record","name":"R","fields":[{"name":"full_name","type":"string","aliases":["name"]}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"name","type":"string"}]}"#
        => Compatible;
    renamed_field_without_alias_or_default_is_missing_its_default:
        r#"{"type":"record","name":"R","fields":[{"name":"full_name","type":"string"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"name","type":"string"}]}"#
        => fails(ReaderFieldMissingDefaultValue, "/fields/0");
    renamed_field_without_alias_but_with_default_uses_the_default:
        r#"{"type":"record","name":"R","fields":[{"name":"full_name","type":"string","default":""}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"name","type":"string"}]}"#
        => Compatible;
    writer_field_aliases_are_not_used_to_match:
        r#"{"type":"record","name":"R","fields":[{"name":"name","type":"string"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"full_name","type":"string","aliases":["name"]}]}"#
        => fails(ReaderFieldMissingDefaultValue, "/fields/0");
    field_name_match_wins_over_an_alias_match:
        r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int","aliases":["a"]}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int"}]}"#
        => Compatible;
    field_matched_through_an_alias_is_resolved_recursively:
        r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int","aliases":["a"]}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#
        => fails(TypeMismatch, "/fields/0/type");
    field_type_promotion_applies_inside_records:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    field_type_change_is_reported_at_the_field_type:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#
        => fails(TypeMismatch, "/fields/1/type");
    field_type_path_uses_the_reader_position_not_the_writer_position:
        r#"{"type":"record","name":"R","fields":[{"name":"c","type":"int"},{"name":"a","type":"int"},{"name":"b","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"boolean"},{"name":"c","type":"int"}]}"#
        => fails(TypeMismatch, "/fields/2/type");
    record_typed_default_is_a_default:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"p","type":{"type":"record","name":"P","fields":[{"name":"x","type":"int"}]},"default":{"x":1}}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    enum_typed_field_with_default_missing_in_writer_uses_the_default:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]},"default":"X"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    empty_reader_record_reads_any_record_of_its_name:
        r#"{"type":"record","name":"R","fields":[]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#
        => Compatible;
    reader_record_of_defaults_reads_an_empty_writer_record:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1},{"name":"b","type":"string","default":""}]}"#,
        r#"{"type":"record","name":"R","fields":[]}"#
        => Compatible;
    nested_record_field_added_without_default_is_reported_inside_it:
        r#"{"type":"record","name":"Outer","fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}}]}"#,
        r#"{"type":"record","name":"Outer","fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"a","type":"int"}]}}]}"#
        => fails(ReaderFieldMissingDefaultValue, "/fields/0/type/fields/1");
    nested_record_field_added_with_default_is_compatible:
        r#"{"type":"record","name":"Outer","fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":0}]}}]}"#,
        r#"{"type":"record","name":"Outer","fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"a","type":"int"}]}}]}"#
        => Compatible;
    nested_record_type_change_is_reported_at_depth:
        r#"{"type":"record","name":"Outer","fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"a","type":"long"}]}}]}"#,
        r#"{"type":"record","name":"Outer","fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"a","type":"string"}]}}]}"#
        => fails(TypeMismatch, "/fields/0/type/fields/0/type");
    record_in_array_items_is_reported_under_items:
        r#"{"type":"array","items":{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}}"#,
        r#"{"type":"array","items":{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}}"#
        => fails(ReaderFieldMissingDefaultValue, "/items/fields/1");
    record_in_map_values_is_reported_under_values:
        r#"{"type":"map","values":{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}}"#,
        r#"{"type":"map","values":{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}}"#
        => fails(ReaderFieldMissingDefaultValue, "/values/fields/1");

    // Named types: unqualified names, or an alias of the reader's type.
    record_name_change_is_a_name_mismatch:
        r#"{"type":"record","name":"S","fields":[{"name":"a","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => fails(NameMismatch, "/name");
    record_names_are_compared_unqualified:
        r#"{"type":"record","name":"R","namespace":"a","fields":[{"name":"a","type":"int"}]}"#,
        r#"{"type":"record","name":"b.R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    record_reader_alias_matches_the_writer_full_name:
        r#"{"type":"record","name":"S","namespace":"n","aliases":["old.R"],"fields":[{"name":"a","type":"int"}]}"#,
        r#"{"type":"record","name":"old.R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    record_reader_alias_matches_the_writer_unqualified_name:
        r#"{"type":"record","name":"S","namespace":"n","aliases":["R"],"fields":[{"name":"a","type":"int"}]}"#,
        r#"{"type":"record","name":"other.R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    record_writer_alias_does_not_rename_the_writer:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
        r#"{"type":"record","name":"S","aliases":["R"],"fields":[{"name":"a","type":"int"}]}"#
        => fails(NameMismatch, "/name");
    record_name_mismatch_is_reported_before_field_problems:
        r#"{"type":"record","name":"S","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => fails(NameMismatch, "/name");
    nested_record_name_change_is_reported_at_its_name:
        r#"{"type":"record","name":"Outer","fields":[{"name":"inner","type":{"type":"record","name":"In2","fields":[]}}]}"#,
        r#"{"type":"record","name":"Outer","fields":[{"name":"inner","type":{"type":"record","name":"In","fields":[]}}]}"#
        => fails(NameMismatch, "/fields/0/type/name");
    namespaces_of_nested_types_do_not_matter:
        r#"{"type":"record","name":"Outer","namespace":"a","fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}}]}"#,
        r#"{"type":"record","name":"Outer","namespace":"b","fields":[{"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}}]}"#
        => Compatible;

    // Enums: unknown writer symbols need a reader default.
    identical_enums_are_compatible:
        r#"{"type":"enum","name":"E","symbols":["A","B"]}"#,
        r#"{"type":"enum","name":"E","symbols":["A","B"]}"#
        => Compatible;
    reader_enum_with_more_symbols_reads_the_writer:
        r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#,
        r#"{"type":"enum","name":"E","symbols":["A","B"]}"#
        => Compatible;
    enum_symbol_order_does_not_matter:
        r#"{"type":"enum","name":"E","symbols":["B","A"]}"#,
        r#"{"type":"enum","name":"E","symbols":["A","B"]}"#
        => Compatible;
    writer_enum_symbol_unknown_to_the_reader_is_missing:
        r#"{"type":"enum","name":"E","symbols":["A","B"]}"#,
        r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#
        => fails(MissingEnumSymbols, "/symbols");
    writer_enum_symbol_unknown_to_the_reader_maps_to_the_reader_default:
        r#"{"type":"enum","name":"E","symbols":["A","B","UNKNOWN"],"default":"UNKNOWN"}"#,
        r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#
        => Compatible;
    reader_enum_default_covers_entirely_different_symbols:
        r#"{"type":"enum","name":"E","symbols":["X","Y"],"default":"X"}"#,
        r#"{"type":"enum","name":"E","symbols":["A","B"]}"#
        => Compatible;
    writer_enum_default_does_not_help_the_reader:
        r#"{"type":"enum","name":"E","symbols":["A"]}"#,
        r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#
        => fails(MissingEnumSymbols, "/symbols");
    enum_name_change_is_a_name_mismatch:
        r#"{"type":"enum","name":"F","symbols":["A"]}"#,
        r#"{"type":"enum","name":"E","symbols":["A"]}"#
        => fails(NameMismatch, "/name");
    enum_default_does_not_excuse_a_name_mismatch:
        r#"{"type":"enum","name":"F","symbols":["A"],"default":"A"}"#,
        r#"{"type":"enum","name":"E","symbols":["A"]}"#
        => fails(NameMismatch, "/name");
    enum_names_are_compared_unqualified:
        r#"{"type":"enum","name":"x.E","symbols":["A"]}"#,
        r#"{"type":"enum","name":"y.E","symbols":["A"]}"#
        => Compatible;
    enum_reader_alias_matches_the_writer_name:
        r#"{"type":"enum","name":"F","aliases":["E"],"symbols":["A"]}"#,
        r#"{"type":"enum","name":"E","symbols":["A"]}"#
        => Compatible;
    enum_in_a_record_field_reports_its_symbols_path:
        r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}]}"#
        => fails(MissingEnumSymbols, "/fields/0/type/symbols");
    enum_in_array_items_reports_its_symbols_path:
        r#"{"type":"array","items":{"type":"enum","name":"E","symbols":["A"]}}"#,
        r#"{"type":"array","items":{"type":"enum","name":"E","symbols":["A","B"]}}"#
        => fails(MissingEnumSymbols, "/items/symbols");

    // Fixed: names and sizes match.
    identical_fixed_are_compatible:
        r#"{"type":"fixed","name":"F","size":4}"#, r#"{"type":"fixed","name":"F","size":4}"# => Compatible;
    fixed_size_change_is_a_size_mismatch:
        r#"{"type":"fixed","name":"F","size":8}"#, r#"{"type":"fixed","name":"F","size":4}"#
        => fails(FixedSizeMismatch, "/size");
    fixed_name_change_is_a_name_mismatch:
        r#"{"type":"fixed","name":"G","size":4}"#, r#"{"type":"fixed","name":"F","size":4}"#
        => fails(NameMismatch, "/name");
    fixed_name_is_reported_before_size:
        r#"{"type":"fixed","name":"G","size":8}"#, r#"{"type":"fixed","name":"F","size":4}"#
        => fails(NameMismatch, "/name");
    fixed_names_are_compared_unqualified:
        r#"{"type":"fixed","name":"a.F","size":4}"#, r#"{"type":"fixed","name":"b.F","size":4}"# => Compatible;
    fixed_reader_alias_matches_the_writer_name:
        r#"{"type":"fixed","name":"G","aliases":["F"],"size":4}"#, r#"{"type":"fixed","name":"F","size":4}"#
        => Compatible;
    fixed_in_a_record_field_reports_its_size_path:
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":2}}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":3}}]}"#
        => fails(FixedSizeMismatch, "/fields/0/type/size");
    fixed_in_map_values_reports_its_size_path:
        r#"{"type":"map","values":{"type":"fixed","name":"F","size":2}}"#,
        r#"{"type":"map","values":{"type":"fixed","name":"F","size":3}}"#
        => fails(FixedSizeMismatch, "/values/size");

    // Arrays and maps: items and values resolve recursively.
    array_items_are_promoted:
        r#"{"type":"array","items":"long"}"#, r#"{"type":"array","items":"int"}"# => Compatible;
    array_items_are_not_narrowed:
        r#"{"type":"array","items":"int"}"#, r#"{"type":"array","items":"long"}"#
        => fails(TypeMismatch, "/items");
    nested_array_items_mismatch_is_reported_at_depth:
        r#"{"type":"array","items":{"type":"array","items":"int"}}"#,
        r#"{"type":"array","items":{"type":"array","items":"string"}}"#
        => fails(TypeMismatch, "/items/items");
    array_of_records_evolves_like_its_records:
        r#"{"type":"array","items":{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":0}]}}"#,
        r#"{"type":"array","items":{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}}"#
        => Compatible;
    array_of_nullable_items_reads_plain_items:
        r#"{"type":"array","items":["null","int"]}"#, r#"{"type":"array","items":"int"}"# => Compatible;
    map_values_are_promoted:
        r#"{"type":"map","values":"double"}"#, r#"{"type":"map","values":"float"}"# => Compatible;
    map_values_are_not_narrowed:
        r#"{"type":"map","values":"float"}"#, r#"{"type":"map","values":"double"}"#
        => fails(TypeMismatch, "/values");
    map_of_arrays_mismatch_is_reported_at_depth:
        r#"{"type":"map","values":{"type":"array","items":"int"}}"#,
        r#"{"type":"map","values":{"type":"array","items":"boolean"}}"#
        => fails(TypeMismatch, "/values/items");
    map_string_values_are_read_as_bytes:
        r#"{"type":"map","values":"bytes"}"#, r#"{"type":"map","values":"string"}"# => Compatible;

    // Unions on both sides: every writer branch needs a reader branch.
    identical_unions_are_compatible: r#"["null","string"]"#, r#"["null","string"]"# => Compatible;
    reader_union_with_an_extra_branch_reads_the_writer_union:
        r#"["null","string","int"]"#, r#"["null","string"]"# => Compatible;
    writer_union_branch_unknown_to_the_reader_is_a_missing_branch:
        r#"["null","string"]"#, r#"["null","string","int"]"# => fails(MissingUnionBranch, "/2");
    union_branch_order_does_not_matter: r#"["string","null"]"#, r#"["null","string"]"# => Compatible;
    writer_union_branches_may_be_promoted_into_reader_branches:
        r#"["null","long"]"#, r#"["null","int"]"# => Compatible;
    writer_union_branch_needing_narrowing_is_missing:
        r#"["null","int"]"#, r#"["null","long"]"# => fails(MissingUnionBranch, "/1");
    missing_first_writer_branch_is_reported_at_index_zero:
        r#"["string"]"#, r#"["int","string"]"# => fails(MissingUnionBranch, "/0");
    union_in_a_record_field_reports_the_missing_writer_branch:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","string"]}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","string","boolean"]}]}"#
        => fails(MissingUnionBranch, "/fields/0/type/2");
    union_record_branches_are_matched_by_name:
        r#"[{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]},{"type":"record","name":"B","fields":[{"name":"y","type":"string"}]}]"#,
        r#"[{"type":"record","name":"B","fields":[{"name":"y","type":"string"}]}]"#
        => Compatible;
    union_record_branch_evolved_without_default_is_missing:
        r#"["null",{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}]"#,
        r#"["null",{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}]"#
        => fails(MissingUnionBranch, "/1");
    union_record_branch_evolved_with_default_is_compatible:
        r#"["null",{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":0}]}]"#,
        r#"["null",{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}]"#
        => Compatible;
    union_named_branches_match_by_unqualified_name:
        r#"["null",{"type":"enum","name":"x.E","symbols":["A"]}]"#,
        r#"["null",{"type":"enum","name":"y.E","symbols":["A"]}]"#
        => Compatible;
    union_array_branches_promote_their_items:
        r#"["null",{"type":"array","items":"long"}]"#, r#"["null",{"type":"array","items":"int"}]"# => Compatible;

    // Only the writer is a union: the reader must read every branch.
    every_writer_union_branch_promotes_to_the_reader: r#""double""#, r#"["int","long","float"]"# => Compatible;
    writer_union_branch_the_reader_cannot_read_is_a_type_mismatch:
        r#""string""#, r#"["null","string"]"# => fails(TypeMismatch, "/");
    writer_single_branch_union_reads_as_its_branch: r#""string""#, r#"["string"]"# => Compatible;
    writer_union_of_one_record_is_read_by_the_evolved_record:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":0}]}"#,
        r#"[{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}]"#
        => Compatible;
    writer_union_in_a_record_field_is_reported_at_the_reader_field:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","string"]}]}"#
        => fails(TypeMismatch, "/fields/0/type");

    // Only the reader is a union: some branch must read the writer.
    reader_union_reads_a_writer_type_it_contains: r#"["null","string"]"#, r#""string""# => Compatible;
    reader_union_reads_a_promoted_writer_type: r#"["null","double"]"#, r#""int""# => Compatible;
    reader_union_reads_bytes_into_its_string_branch: r#"["null","string"]"#, r#""bytes""# => Compatible;
    reader_union_without_a_readable_branch_is_a_missing_branch:
        r#"["null","string"]"#, r#""int""# => fails(MissingUnionBranch, "/");
    reader_union_reads_an_evolved_record_branch:
        r#"["null",{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":0}]}]"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    reader_union_record_branch_that_cannot_read_is_a_missing_branch:
        r#"["null",{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}]"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => fails(MissingUnionBranch, "/");
    reader_union_uses_any_branch_that_reads_the_writer:
        r#"[{"type":"record","name":"R","namespace":"a","fields":[{"name":"a","type":"int"},{"name":"needs","type":"int"}]},{"type":"record","name":"R","namespace":"b","fields":[{"name":"a","type":"int"}]}]"#,
        r#"{"type":"record","name":"c.R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    reader_union_enum_branch_needs_every_writer_symbol:
        r#"["null",{"type":"enum","name":"E","symbols":["A"]}]"#,
        r#"{"type":"enum","name":"E","symbols":["A","B"]}"#
        => fails(MissingUnionBranch, "/");
    reader_union_in_a_record_field_is_reported_at_the_field_type:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"]}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#
        => fails(MissingUnionBranch, "/fields/0/type");

    // Nullable evolution.
    making_a_field_nullable_is_backward_compatible:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"]}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    making_a_nullable_field_required_cannot_read_nulls:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"]}]}"#
        => fails(TypeMismatch, "/fields/0/type");
    null_last_nullable_reads_null_first_nullable:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["int","null"],"default":0}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"],"default":null}]}"#
        => Compatible;
    nullable_field_branch_may_be_promoted:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","long"]}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        => Compatible;
    removing_a_nullable_field_is_compatible:
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}]}"#
        => Compatible;

    // Recursive types: references are followed; a pair met again is assumed compatible.
    linked_list_reads_itself:
        r#"{"type":"record","name":"LongList","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","LongList"]}]}"#,
        r#"{"type":"record","name":"LongList","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","LongList"]}]}"#
        => Compatible;
    linked_list_with_an_added_defaulted_field_reads_the_old_list:
        r#"{"type":"record","name":"LongList","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","LongList"]},{"name":"label","type":"string","default":""}]}"#,
        r#"{"type":"record","name":"LongList","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","LongList"]}]}"#
        => Compatible;
    linked_list_with_an_added_required_field_fails_at_the_head:
        r#"{"type":"record","name":"LongList","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","LongList"]},{"name":"label","type":"string"}]}"#,
        r#"{"type":"record","name":"LongList","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","LongList"]}]}"#
        => fails(ReaderFieldMissingDefaultValue, "/fields/2");
    linked_list_value_promotion_applies_to_every_node:
        r#"{"type":"record","name":"List","fields":[{"name":"value","type":"double"},{"name":"next","type":["null","List"]}]}"#,
        r#"{"type":"record","name":"List","fields":[{"name":"value","type":"int"},{"name":"next","type":["null","List"]}]}"#
        => Compatible;
    linked_list_value_narrowing_is_reported_at_the_head:
        r#"{"type":"record","name":"List","fields":[{"name":"value","type":"int"},{"name":"next","type":["null","List"]}]}"#,
        r#"{"type":"record","name":"List","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","List"]}]}"#
        => fails(TypeMismatch, "/fields/0/type");
    renamed_linked_list_matches_through_its_alias:
        r#"{"type":"record","name":"List","aliases":["LongList"],"fields":[{"name":"value","type":"long"},{"name":"next","type":["null","List"]}]}"#,
        r#"{"type":"record","name":"LongList","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","LongList"]}]}"#
        => Compatible;
    linked_list_whose_next_becomes_another_record_misses_a_branch:
        r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#,
        r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null",{"type":"record","name":"Other","fields":[]}]}]}"#
        => fails(MissingUnionBranch, "/fields/0/type/1");
    mutually_recursive_tree_reads_itself:
        r#"{"type":"record","name":"Tree","fields":[{"name":"nodes","type":{"type":"array","items":{"type":"record","name":"Node","fields":[{"name":"value","type":"int"},{"name":"subtree","type":["null","Tree"]}]}}}]}"#,
        r#"{"type":"record","name":"Tree","fields":[{"name":"nodes","type":{"type":"array","items":{"type":"record","name":"Node","fields":[{"name":"value","type":"int"},{"name":"subtree","type":["null","Tree"]}]}}}]}"#
        => Compatible;
    mutually_recursive_tree_reports_an_inner_record_change:
        r#"{"type":"record","name":"Tree","fields":[{"name":"nodes","type":{"type":"array","items":{"type":"record","name":"Node","fields":[{"name":"value","type":"int"},{"name":"subtree","type":["null","Tree"]}]}}}]}"#,
        r#"{"type":"record","name":"Tree","fields":[{"name":"nodes","type":{"type":"array","items":{"type":"record","name":"Node","fields":[{"name":"value","type":"string"},{"name":"subtree","type":["null","Tree"]}]}}}]}"#
        => fails(TypeMismatch, "/fields/0/type/items/fields/0/type");
    recursive_map_of_itself_evolves_with_defaults:
        r#"{"type":"record","name":"Json","fields":[{"name":"children","type":{"type":"map","values":"Json"}},{"name":"text","type":"string","default":""}]}"#,
        r#"{"type":"record","name":"Json","fields":[{"name":"children","type":{"type":"map","values":"Json"}}]}"#
        => Compatible;
    recursive_map_of_itself_needs_defaults:
        r#"{"type":"record","name":"Json","fields":[{"name":"children","type":{"type":"map","values":"Json"}},{"name":"text","type":"string"}]}"#,
        r#"{"type":"record","name":"Json","fields":[{"name":"children","type":{"type":"map","values":"Json"}}]}"#
        => fails(ReaderFieldMissingDefaultValue, "/fields/1");

    // References to named types defined earlier in the same schema.
    named_type_referenced_by_name_is_resolved:
        r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},{"name":"f","type":"E"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},{"name":"f","type":"E"}]}"#
        => Compatible;
    reader_reference_is_reported_where_it_is_used:
        r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},{"name":"f","type":"E"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},{"name":"f","type":"string"}]}"#
        => fails(TypeMismatch, "/fields/1/type");
    writer_reference_is_resolved_to_its_definition:
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"enum","name":"E","symbols":["A","B"]}}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"g","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},{"name":"f","type":"E"}]}"#
        => fails(MissingEnumSymbols, "/fields/0/type/symbols");
    reference_through_a_type_alias_is_resolved:
        r#"{"type":"record","name":"R","aliases":["Old"],"fields":[{"name":"next","type":["null","Old"]}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"]}]}"#
        => Compatible;

    // Logical types are annotations: resolution uses the physical type.
    timestamp_millis_reads_long: r#"{"type":"long","logicalType":"timestamp-millis"}"#, r#""long""# => Compatible;
    long_reads_timestamp_micros: r#""long""#, r#"{"type":"long","logicalType":"timestamp-micros"}"# => Compatible;
    timestamp_micros_reads_timestamp_millis_as_the_same_long:
        r#"{"type":"long","logicalType":"timestamp-micros"}"#, r#"{"type":"long","logicalType":"timestamp-millis"}"#
        => Compatible;
    timestamp_nanos_reads_local_timestamp_nanos:
        r#"{"type":"long","logicalType":"timestamp-nanos"}"#, r#"{"type":"long","logicalType":"local-timestamp-nanos"}"#
        => Compatible;
    local_timestamp_millis_reads_a_promoted_int:
        r#"{"type":"long","logicalType":"local-timestamp-millis"}"#, r#""int""# => Compatible;
    local_timestamp_micros_reads_time_micros:
        r#"{"type":"long","logicalType":"local-timestamp-micros"}"#, r#"{"type":"long","logicalType":"time-micros"}"#
        => Compatible;
    date_reads_int: r#"{"type":"int","logicalType":"date"}"#, r#""int""# => Compatible;
    int_reads_date: r#""int""#, r#"{"type":"int","logicalType":"date"}"# => Compatible;
    date_is_promoted_to_long: r#""long""#, r#"{"type":"int","logicalType":"date"}"# => Compatible;
    time_millis_is_promoted_to_double: r#""double""#, r#"{"type":"int","logicalType":"time-millis"}"# => Compatible;
    time_micros_is_not_narrowed_to_int:
        r#""int""#, r#"{"type":"long","logicalType":"time-micros"}"# => fails(TypeMismatch, "/");
    date_is_not_read_as_string:
        r#""string""#, r#"{"type":"int","logicalType":"date"}"# => fails(TypeMismatch, "/");
    timestamp_is_not_narrowed_to_time_millis:
        r#"{"type":"int","logicalType":"time-millis"}"#, r#"{"type":"long","logicalType":"timestamp-millis"}"#
        => fails(TypeMismatch, "/");
    uuid_string_reads_string: r#"{"type":"string","logicalType":"uuid"}"#, r#""string""# => Compatible;
    string_reads_uuid_string: r#""string""#, r#"{"type":"string","logicalType":"uuid"}"# => Compatible;
    uuid_string_reads_bytes_by_promotion: r#"{"type":"string","logicalType":"uuid"}"#, r#""bytes""# => Compatible;
    uuid_fixed_reads_a_fixed_of_its_name_and_size:
        r#"{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}"#, r#"{"type":"fixed","name":"U","size":16}"#
        => Compatible;
    uuid_fixed_is_not_read_as_uuid_string:
        r#"{"type":"string","logicalType":"uuid"}"#, r#"{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}"#
        => fails(TypeMismatch, "/");
    uuid_fixed_needs_a_matching_name:
        r#"{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}"#, r#"{"type":"fixed","name":"V","size":16}"#
        => fails(NameMismatch, "/name");
    decimals_with_equal_precision_and_scale_are_compatible:
        r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#,
        r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#
        => Compatible;
    decimal_precision_change_is_a_decimal_mismatch:
        r#"{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}"#,
        r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#
        => fails(DecimalMismatch, "/precision");
    decimal_scale_change_is_a_decimal_mismatch:
        r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":3}"#,
        r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#
        => fails(DecimalMismatch, "/scale");
    decimal_reads_plain_bytes:
        r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#, r#""bytes""# => Compatible;
    plain_bytes_reads_a_decimal:
        r#""bytes""#, r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"# => Compatible;
    decimal_bytes_are_read_as_string_by_physical_promotion:
        r#""string""#, r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"# => Compatible;
    fixed_decimals_with_equal_attributes_are_compatible:
        r#"{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":10,"scale":2}"#,
        r#"{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":10,"scale":2}"#
        => Compatible;
    fixed_decimal_is_not_read_as_bytes_decimal:
        r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#,
        r#"{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":10,"scale":2}"#
        => fails(TypeMismatch, "/");
    fixed_decimal_size_change_is_a_size_mismatch:
        r#"{"type":"fixed","name":"D","size":16,"logicalType":"decimal","precision":10,"scale":2}"#,
        r#"{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":10,"scale":2}"#
        => fails(FixedSizeMismatch, "/size");
    fixed_decimal_reads_a_plain_fixed_of_its_name:
        r#"{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":10,"scale":2}"#,
        r#"{"type":"fixed","name":"D","size":8}"#
        => Compatible;
    decimal_scale_change_in_a_record_field_is_reported_at_its_scale:
        r#"{"type":"record","name":"R","fields":[{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":3}}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}]}"#
        => fails(DecimalMismatch, "/fields/0/type/scale");
    big_decimal_reads_bytes: r#"{"type":"bytes","logicalType":"big-decimal"}"#, r#""bytes""# => Compatible;
    big_decimal_reads_big_decimal:
        r#"{"type":"bytes","logicalType":"big-decimal"}"#, r#"{"type":"bytes","logicalType":"big-decimal"}"#
        => Compatible;
    big_decimal_is_not_read_as_decimal:
        r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#,
        r#"{"type":"bytes","logicalType":"big-decimal"}"#
        => fails(DecimalMismatch, "/");
    duration_reads_a_fixed_of_its_name_and_size:
        r#"{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}"#, r#"{"type":"fixed","name":"Dur","size":12}"#
        => Compatible;
    duration_needs_a_matching_name:
        r#"{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}"#, r#"{"type":"fixed","name":"Other","size":12}"#
        => fails(NameMismatch, "/name");
    duration_is_not_read_as_bytes:
        r#""bytes""#, r#"{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}"# => fails(TypeMismatch, "/");
    nullable_timestamp_reads_long:
        r#"["null",{"type":"long","logicalType":"timestamp-millis"}]"#, r#""long""# => Compatible;
    unknown_logical_type_resolves_as_its_physical_type:
        r#"{"type":"string","logicalType":"email"}"#, r#""string""# => Compatible;
    unknown_logical_type_does_not_hide_a_type_change:
        r#"{"type":"string","logicalType":"email"}"#, r#""int""# => fails(TypeMismatch, "/");
}

#[test]
fn table_has_at_least_120_cases_and_covers_every_schema_kind_of_finding() {
    assert!(CASES.len() >= 120, "{} cases", CASES.len());
    for kind in [
        TypeMismatch,
        NameMismatch,
        FixedSizeMismatch,
        MissingEnumSymbols,
        MissingUnionBranch,
        ReaderFieldMissingDefaultValue,
        DecimalMismatch,
    ] {
        assert!(
            CASES
                .iter()
                .any(|c| matches!(c.expect, Expect::Incompatible(k, _) if k == kind)),
            "{kind}"
        );
    }
    let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len());
}

#[test]
fn primitive_resolution_matrix_is_the_specification_s() {
    const TYPES: [&str; 8] = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];
    // Rows: reader; columns: writer, in the order of TYPES. 'Y': the reader reads the writer's data.
    const MATRIX: [&str; 8] = [
        "Y.......", // null
        ".Y......", // boolean
        "..Y.....", // int
        "..YY....", // long    <- int
        "..YYY...", // float   <- int, long
        "..YYYY..", // double  <- int, long, float
        "......YY", // bytes   <- string
        "......YY", // string  <- bytes
    ];
    for (r, row) in MATRIX.iter().enumerate() {
        for (w, cell) in row.chars().enumerate() {
            let found = can_read(
                &parse(&format!("\"{}\"", TYPES[r])),
                &parse(&format!("\"{}\"", TYPES[w])),
            );
            let readable = cell == 'Y';
            assert_eq!(
                found.is_empty(),
                readable,
                "reader {} writer {}: {found:?}",
                TYPES[r],
                TYPES[w]
            );
            if !readable {
                assert_eq!((found[0].kind, found[0].path.as_str()), (TypeMismatch, "/"));
            }
        }
    }
}

fn found(reader: &str, writer: &str) -> Vec<(IncompatibilityKind, String)> {
    can_read(&parse(reader), &parse(writer))
        .into_iter()
        .map(|i| (i.kind, i.path))
        .collect()
}

#[test]
fn every_reader_field_without_default_is_reported() {
    assert_eq!(
        found(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"int"}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"b","type":"int"}]}"#,
        ),
        [
            (ReaderFieldMissingDefaultValue, "/fields/0".into()),
            (ReaderFieldMissingDefaultValue, "/fields/2".into())
        ]
    );
}

#[test]
fn name_mismatch_and_field_problems_are_both_reported() {
    assert_eq!(
        found(
            r#"{"type":"record","name":"S","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#,
        ),
        [
            (NameMismatch, "/name".into()),
            (TypeMismatch, "/fields/0/type".into()),
            (ReaderFieldMissingDefaultValue, "/fields/1".into())
        ]
    );
}

#[test]
fn each_unreadable_writer_union_branch_is_reported() {
    assert_eq!(
        found(r#""string""#, r#"["int","string","boolean"]"#),
        [(TypeMismatch, "/".into()), (TypeMismatch, "/".into())]
    );
    assert_eq!(
        found(r#"["null","string"]"#, r#"["int","string","boolean"]"#),
        [(MissingUnionBranch, "/0".into()), (MissingUnionBranch, "/2".into())]
    );
}

#[test]
fn repeated_named_type_is_reported_at_every_use() {
    let reader = r#"{"type":"record","name":"Outer","fields":[
        {"name":"a","type":{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]}},
        {"name":"b","type":"In"},
        {"name":"c","type":{"type":"array","items":"In"}}]}"#;
    let writer = reader.replace(r#"{"name":"x","type":"int"}"#, r#"{"name":"x","type":"string"}"#);
    assert_eq!(
        found(reader, &writer),
        [
            (TypeMismatch, "/fields/0/type/fields/0/type".into()),
            (TypeMismatch, "/fields/1/type/fields/0/type".into()),
            (TypeMismatch, "/fields/2/type/items/fields/0/type".into()),
        ]
    );
}

#[test]
fn missing_union_branch_message_explains_the_closest_reader_branch() {
    let reader = parse(
        r#"["null",{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}]"#,
    );
    let writer = parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#);
    let found = can_read(&reader, &writer);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].message,
        "The reader schema's union at path '/' has no branch that reads the writer schema's type record 'R'; \
         its closest branch 1 (record 'R') fails with READER_FIELD_MISSING_DEFAULT_VALUE at '/1/fields/1': \
         The field 'b' at path '/1/fields/1' in the reader schema has no default value and is missing in the \
         writer schema"
    );
}

#[test]
fn every_message_names_the_path_it_is_reported_at() {
    for case in CASES {
        for incompatibility in can_read(&parse(case.reader), &parse(case.writer)) {
            assert!(
                incompatibility.message.contains(&format!("'{}'", incompatibility.path)),
                "{}: {incompatibility:?}",
                case.name
            );
        }
    }
}

#[test]
fn undefined_reference_is_reported_not_ignored() {
    let dangling = Schema::Ref {
        name: Name::new("x.Missing").unwrap(),
    };
    let found = can_read(&dangling, &parse(r#""int""#));
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].kind, found[0].path.as_str()), (UnresolvedReference, "/"));
    assert!(found[0].message.contains("'x.Missing'"), "{}", found[0].message);
}

/// `R0` has two fields of type `R1`, which has two of type `R2`, and so on: 2^depth paths to the last
/// record. With `back_reference`, every record also refers back to `R0`, so every pair is in one cycle.
fn shared_chain(depth: usize, last_type: &str, back_reference: bool) -> String {
    let mut schema = format!(r#"{{"type":"record","name":"R{depth}","fields":[{{"name":"x","type":"{last_type}"}}]}}"#);
    for level in (0..depth).rev() {
        let back = if back_reference && level > 0 {
            r#",{"name":"back","type":["null","R0"]}"#
        } else {
            ""
        };
        schema = format!(
            r#"{{"type":"record","name":"R{level}","fields":[{{"name":"a","type":{schema}}},{{"name":"b","type":"R{}"}}{back}]}}"#,
            level + 1
        );
    }
    schema
}

#[test]
fn types_shared_along_exponentially_many_paths_are_compared_once() {
    let reader = shared_chain(36, "long", false);
    assert_eq!(found(&reader, &shared_chain(36, "int", false)), []);
    let incompatible = found(&reader, &shared_chain(36, "string", false));
    assert_eq!(
        incompatible.len(),
        super::resolution::MAX_FINDINGS,
        "reporting is capped"
    );
    assert_eq!(
        incompatible[0],
        (TypeMismatch, format!("{}/fields/0/type", "/fields/0/type".repeat(36)))
    );
}

#[test]
fn shared_types_inside_one_recursive_cycle_are_compared_once() {
    let reader = shared_chain(36, "long", true);
    assert_eq!(found(&reader, &shared_chain(36, "int", true)), []);
    assert!(!found(&reader, &shared_chain(36, "string", true)).is_empty());
}

#[test]
fn assumptions_made_inside_a_failed_union_branch_are_not_reused() {
    // Trying branch `a.Y` compares `X` while assuming `a.Y` compatible; `a.Y` then fails (no `bad`).
    // `X` reads `a.Y` through `back`, so `X` is incompatible too: neither branch `b.Y` (which holds an
    // `X`) nor the field `later` may reuse the result computed under the failed assumption.
    let reader = r#"{"type":"record","name":"Top","fields":[
        {"name":"u","type":[
            {"type":"record","name":"a.Y","fields":[
                {"name":"x","type":{"type":"record","name":"X","fields":[{"name":"back","type":["null","a.Y"]}]}},
                {"name":"bad","type":"int"}]},
            {"type":"record","name":"b.Y","fields":[{"name":"x","type":"a.X"}]}]},
        {"name":"later","type":"a.X"}]}"#;
    let writer = r#"{"type":"record","name":"Top","fields":[
        {"name":"u","type":{"type":"record","name":"c.Y","fields":[
            {"name":"x","type":{"type":"record","name":"X","fields":[{"name":"back","type":["null","c.Y"]}]}}]}},
        {"name":"later","type":"c.X"}]}"#;
    assert_eq!(
        found(reader, writer),
        [
            (MissingUnionBranch, "/fields/0/type".into()),
            (MissingUnionBranch, "/fields/1/type/fields/0/type/1".into())
        ]
    );
}
