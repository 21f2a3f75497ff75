//! The difference rules as a table of ORIGINAL/UPDATE cases, written from the rules (not from
//! Confluent's case files), then the behaviours a table cannot hold: references across documents,
//! recursion, limits and the level check.
//!
//! Each table case is its own test, named after the rule it pins down, and lists every difference
//! expected (as a set) and the verdict under both policies; `CASES` keeps the table for the test
//! that every difference type is covered.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{DifferenceType, DifferenceType::*, check, differences, differences_under};
use crate::compatibility::{CompatibilityLevel, CompatibilityPolicy};
use crate::schema::json::{Draft, JsonSchema};

/// The verdict of a case under STRICT and LENIENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Compatible,
    LenientOnly,
    Incompatible,
}
use Expect::{Compatible, Incompatible, LenientOnly};

#[derive(Debug)]
struct Case {
    name: &'static str,
    draft: Draft,
    original: &'static str,
    update: &'static str,
    differences: &'static [(DifferenceType, &'static str)],
    expect: Expect,
}

fn schema(draft: Draft, text: &str) -> JsonSchema {
    JsonSchema {
        root: serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}")),
        documents: BTreeMap::new(),
        draft,
    }
}

fn compatible(policy: CompatibilityPolicy, original: &JsonSchema, update: &JsonSchema) -> bool {
    differences_under(policy, original, update)
        .iter()
        .all(|d| d.kind.is_compatible(policy))
}

fn found(original: &JsonSchema, update: &JsonSchema) -> BTreeSet<(DifferenceType, String)> {
    differences(original, update)
        .into_iter()
        .map(|d| (d.kind, d.path))
        .collect()
}

fn run(case: &Case) {
    let (original, update) = (schema(case.draft, case.original), schema(case.draft, case.update));
    let expected: BTreeSet<_> = case.differences.iter().map(|(k, p)| (*k, p.to_string())).collect();
    assert_eq!(found(&original, &update), expected, "{}", case.name);
    let verdict = (
        compatible(CompatibilityPolicy::Strict, &original, &update),
        compatible(CompatibilityPolicy::Lenient, &original, &update),
    );
    let wanted = match case.expect {
        Compatible => (true, true),
        LenientOnly => (false, true),
        Incompatible => (false, false),
    };
    assert_eq!(verdict, wanted, "{}: (STRICT, LENIENT) verdicts", case.name);
}

macro_rules! cases {
    ($($name:ident: $draft:ident, $original:expr => $update:expr, [$($kind:ident $path:literal),* $(,)?], $expect:expr;)+) => {
        $(
            #[test]
            fn $name() {
                run(CASES.iter().find(|c| c.name == stringify!($name)).expect("listed"));
            }
        )+
        const CASES: &[Case] = &[$(Case {
            name: stringify!($name),
            draft: Draft::$draft,
            original: $original,
            update: $update,
            differences: &[$(($kind, $path)),*],
            expect: $expect,
        },)+];
    };
}

cases! {
    // Annotations and the schema's class.
    annotation_changes_are_compatible: Draft7,
        r#"{"$id": "a", "title": "t", "description": "d", "default": 1}"#
        => r#"{"$id": "b", "title": "u", "description": "e", "default": 2}"#,
        [IdChanged "#/", TitleChanged "#/", DescriptionChanged "#/", DefaultChanged "#/"], Compatible;
    ids_of_2020_12_schemas_are_not_compared: Draft202012,
        r#"{"$id": "a", "type": "string"}"# => r#"{"$id": "b", "type": "string"}"#, [], Compatible;
    changing_the_type_is_incompatible: Draft7,
        r#"{"type": "string"}"# => r#"{"type": "object"}"#, [TypeChanged "#/"], Incompatible;
    any_schema_may_become_the_empty_schema: Draft7,
        r#"{"type": "string", "minLength": 1}"# => r#"{}"#, [], Compatible;
    any_schema_may_become_true: Draft7,
        r#"{"type": "object", "properties": {"a": {"type": "string"}}}"# => "true", [], Compatible;
    the_false_schema_may_become_anything: Draft7, "false" => r#"{"type": "string"}"#, [], Compatible;
    a_schema_may_not_become_false: Draft7, r#"{"type": "string"}"# => "false", [TypeChanged "#/"], Incompatible;
    connect_bytes_fields_may_change_type: Draft7,
        r#"{"type": "string", "connect.type": "bytes"}"# => r#"{"type": "number", "connect.type": "bytes"}"#,
        [], Compatible;

    // Strings.
    string_constraints_relaxed_are_compatible: Draft7,
        r#"{"type": "string", "maxLength": 5, "minLength": 2, "pattern": "^a"}"#
        => r#"{"type": "string", "maxLength": 6, "minLength": 1}"#,
        [MaxLengthIncreased "#/maxLength", MinLengthDecreased "#/minLength", PatternRemoved "#/pattern"], Compatible;
    string_constraints_dropped_are_compatible: Draft7,
        r#"{"type": "string", "maxLength": 5, "minLength": 2}"# => r#"{"type": "string"}"#,
        [MaxLengthRemoved "#/maxLength", MinLengthRemoved "#/minLength"], Compatible;
    string_constraints_added_are_incompatible: Draft7,
        r#"{"type": "string"}"# => r#"{"type": "string", "maxLength": 5, "minLength": 2, "pattern": "^a"}"#,
        [MaxLengthAdded "#/maxLength", MinLengthAdded "#/minLength", PatternAdded "#/pattern"], Incompatible;
    string_constraints_tightened_are_incompatible: Draft7,
        r#"{"type": "string", "maxLength": 5, "minLength": 2, "pattern": "^a"}"#
        => r#"{"type": "string", "maxLength": 4, "minLength": 3, "pattern": "^b"}"#,
        [MaxLengthDecreased "#/maxLength", MinLengthIncreased "#/minLength", PatternChanged "#/pattern"], Incompatible;
    string_keywords_without_a_type_make_a_string_schema: Draft7,
        r#"{"maxLength": 5}"# => r#"{"maxLength": 4}"#, [MaxLengthDecreased "#/maxLength"], Incompatible;

    // Numbers.
    number_bounds_relaxed_are_compatible: Draft7,
        r#"{"type": "number", "maximum": 10, "minimum": 1, "exclusiveMaximum": 10, "exclusiveMinimum": 0}"#
        => r#"{"type": "number", "maximum": 11, "minimum": 0, "exclusiveMaximum": 12, "exclusiveMinimum": -1}"#,
        [MaximumIncreased "#/maximum", MinimumDecreased "#/minimum",
         ExclusiveMaximumIncreased "#/exclusiveMaximum", ExclusiveMinimumDecreased "#/exclusiveMinimum"], Compatible;
    number_bounds_dropped_are_compatible: Draft7,
        r#"{"type": "number", "maximum": 10, "minimum": 1, "exclusiveMaximum": 10, "exclusiveMinimum": 0, "multipleOf": 2}"#
        => r#"{"type": "number"}"#,
        [MaximumRemoved "#/maximum", MinimumRemoved "#/minimum", ExclusiveMaximumRemoved "#/exclusiveMaximum",
         ExclusiveMinimumRemoved "#/exclusiveMinimum", MultipleOfRemoved "#/multipleOf"], Compatible;
    number_bounds_added_are_incompatible: Draft7,
        r#"{"type": "number"}"#
        => r#"{"type": "number", "maximum": 10, "minimum": 1, "exclusiveMaximum": 10, "exclusiveMinimum": 0, "multipleOf": 2}"#,
        [MaximumAdded "#/maximum", MinimumAdded "#/minimum", ExclusiveMaximumAdded "#/exclusiveMaximum",
         ExclusiveMinimumAdded "#/exclusiveMinimum", MultipleOfAdded "#/multipleOf"], Incompatible;
    number_bounds_tightened_are_incompatible: Draft7,
        r#"{"type": "number", "maximum": 10, "minimum": 1, "exclusiveMaximum": 10, "exclusiveMinimum": 0}"#
        => r#"{"type": "number", "maximum": 9, "minimum": 2, "exclusiveMaximum": 8, "exclusiveMinimum": 1}"#,
        [MaximumDecreased "#/maximum", MinimumIncreased "#/minimum",
         ExclusiveMaximumDecreased "#/exclusiveMaximum", ExclusiveMinimumIncreased "#/exclusiveMinimum"], Incompatible;
    multiple_of_a_divisor_is_compatible: Draft7,
        r#"{"type": "number", "multipleOf": 10}"# => r#"{"type": "number", "multipleOf": 2.5}"#,
        [MultipleOfReduced "#/multipleOf"], Compatible;
    multiple_of_a_multiple_is_incompatible: Draft7,
        r#"{"type": "number", "multipleOf": 0.5}"# => r#"{"type": "number", "multipleOf": 10}"#,
        [MultipleOfExpanded "#/multipleOf"], Incompatible;
    multiple_of_an_unrelated_number_is_incompatible: Draft7,
        r#"{"type": "number", "multipleOf": 4}"# => r#"{"type": "number", "multipleOf": 6}"#,
        [MultipleOfChanged "#/multipleOf"], Incompatible;
    integer_to_number_is_compatible: Draft7,
        r#"{"type": "integer"}"# => r#"{"type": "number"}"#, [TypeExtended "#/"], Compatible;
    number_to_integer_is_incompatible: Draft7,
        r#"{"type": "number"}"# => r#"{"type": "integer"}"#, [TypeNarrowed "#/"], Incompatible;
    draft_4_boolean_exclusive_bounds_are_not_compared: Draft4,
        r#"{"type": "number", "maximum": 5, "exclusiveMaximum": true}"# => r#"{"type": "number", "maximum": 5}"#,
        [], Compatible;

    // Enumerations, constants and negations.
    enum_extended_is_compatible: Draft7,
        r#"{"enum": ["a", "b"]}"# => r#"{"enum": ["b", "a", "c"]}"#, [EnumArrayExtended "#/enum"], Compatible;
    enum_narrowed_is_incompatible: Draft7,
        r#"{"enum": ["a", "b"]}"# => r#"{"enum": ["a"]}"#, [EnumArrayNarrowed "#/enum"], Incompatible;
    enum_changed_is_incompatible: Draft7,
        r#"{"enum": ["a", "b"]}"# => r#"{"enum": ["a", "c"]}"#, [EnumArrayChanged "#/enum"], Incompatible;
    enum_order_does_not_matter: Draft7, r#"{"enum": [1, "b"]}"# => r#"{"enum": ["b", 1]}"#, [], Compatible;
    const_changed_is_incompatible: Draft7,
        r#"{"const": {"a": 1}}"# => r#"{"const": {"a": 2}}"#, [EnumArrayChanged "#/const"], Incompatible;
    dropping_the_enum_of_a_typed_schema_narrows_a_product: Draft7,
        r#"{"type": "string", "enum": ["a"]}"# => r#"{"type": "string"}"#, [ProductTypeNarrowed "#/"], Compatible;
    adding_an_enum_to_a_typed_schema_changes_its_type: Draft7,
        r#"{"type": "string"}"# => r#"{"type": "string", "enum": ["a"]}"#, [TypeChanged "#/"], Incompatible;
    excluding_less_is_compatible: Draft7,
        r#"{"not": {"type": "number"}}"# => r#"{"not": {"type": "integer"}}"#, [NotTypeNarrowed "#/not"], Compatible;
    excluding_more_is_incompatible: Draft7,
        r#"{"not": {"type": "integer"}}"# => r#"{"not": {"type": "number"}}"#, [NotTypeExtended "#/not"], Incompatible;

    // Combined schemas.
    a_type_may_become_a_sum_that_includes_it: Draft7,
        r#"{"type": "string", "maxLength": 3}"# => r#"{"anyOf": [{"type": "number"}, {"type": "string"}]}"#,
        [MaxLengthRemoved "#/maxLength", SumTypeExtended "#/"], Compatible;
    a_type_array_is_a_sum: Draft7,
        r#"{"type": ["string", "null"]}"# => r#"{"type": ["string", "null", "number"]}"#,
        [SumTypeExtended "#/"], Compatible;
    a_type_array_member_reads_its_keywords: Draft7,
        r#"{"type": ["string", "null"], "maxLength": 3}"# => r#"{"type": ["null", "string"], "maxLength": 4}"#,
        [MaxLengthIncreased "#/anyOf/0/maxLength"], Compatible;
    an_incompatible_change_inside_a_subschema_leaves_it_unmatched: Draft7,
        r#"{"type": ["string", "null"], "maxLength": 3}"# => r#"{"type": ["null", "string"], "maxLength": 2}"#,
        [CombinedTypeSubschemasChanged "#/"], Incompatible;
    a_sum_narrowed_is_incompatible: Draft7,
        r#"{"oneOf": [{"type": "string"}, {"type": "number"}]}"# => r#"{"oneOf": [{"type": "string"}]}"#,
        [SumTypeNarrowed "#/"], Incompatible;
    a_single_subschema_stands_for_itself: Draft7,
        r#"{"oneOf": [{"type": "string", "maxLength": 3}]}"# => r#"{"type": "string"}"#,
        [MaxLengthRemoved "#/maxLength"], Compatible;
    a_product_extended_is_incompatible: Draft7,
        r#"{"allOf": [{"type": "string"}]}"# => r#"{"allOf": [{"type": "string"}, {"maxLength": 3}]}"#,
        [ProductTypeExtended "#/"], Incompatible;
    a_product_narrowed_is_compatible: Draft7,
        r#"{"allOf": [{"type": "string"}, {"maxLength": 3}]}"# => r#"{"allOf": [{"type": "string"}]}"#,
        [ProductTypeNarrowed "#/"], Compatible;
    loosening_the_criterion_is_compatible: Draft7,
        r#"{"oneOf": [{"type": "string"}, {"type": "number"}]}"# => r#"{"anyOf": [{"type": "string"}, {"type": "number"}]}"#,
        [CombinedTypeExtended "#/"], Compatible;
    tightening_the_criterion_is_incompatible: Draft7,
        r#"{"anyOf": [{"type": "string"}, {"type": "number"}]}"# => r#"{"allOf": [{"type": "string"}, {"type": "number"}]}"#,
        [CombinedTypeChanged "#/"], Incompatible;
    a_subschema_no_subschema_reads_is_incompatible: Draft7,
        r#"{"anyOf": [{"type": "string"}, {"type": "number"}]}"# => r#"{"anyOf": [{"type": "string"}, {"type": "boolean"}]}"#,
        [CombinedTypeSubschemasChanged "#/"], Incompatible;
    subschemas_match_in_any_order_under_the_original_index: Draft7,
        r#"{"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 3}]}"#
        => r#"{"anyOf": [{"type": "string", "maxLength": 4}, {"type": "number"}]}"#,
        [MaxLengthIncreased "#/anyOf/1/maxLength"], Compatible;
    duplicate_subschemas_collapse: Draft7,
        r#"{"anyOf": [{"type": "string"}, {"type": "string"}]}"# => r#"{"anyOf": [{"type": "string"}]}"#,
        [], Compatible;

    // Objects: properties against content models.
    optional_property_added_to_an_open_model_is_compatible_under_lenient: Draft7,
        r#"{"type": "object", "properties": {"a": {"type": "string"}}}"#
        => r#"{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}}"#,
        [OptionalPropertyAddedToOpenContentModel "#/properties/b"], LenientOnly;
    required_property_added_to_an_open_model_is_incompatible: Draft7,
        r#"{"type": "object", "properties": {"a": {"type": "string"}}}"#
        => r#"{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}, "required": ["b"]}"#,
        [RequiredPropertyAddedToOpenContentModel "#/properties/b"], Incompatible;
    required_property_with_default_added_to_an_open_model_is_compatible_under_lenient: Draft7,
        r#"{"type": "object"}"#
        => r#"{"type": "object", "properties": {"b": {"type": "number", "default": 0}}, "required": ["b"]}"#,
        [RequiredPropertyWithDefaultAddedToOpenContentModel "#/properties/b"], LenientOnly;
    property_accepting_anything_added_to_an_open_model_is_compatible: Draft7,
        r#"{"type": "object", "additionalProperties": true}"#
        => r#"{"type": "object", "additionalProperties": true, "properties": {"b": {}}}"#,
        [PropertyWithEmptySchemaAddedToOpenContentModel "#/properties/b"], Compatible;
    optional_property_removed_from_an_open_model_is_compatible: Draft7,
        r#"{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}}"#
        => r#"{"type": "object", "properties": {"a": {"type": "string"}}}"#,
        [PropertyRemovedFromOpenContentModel "#/properties/b"], Compatible;
    optional_property_added_to_a_closed_model_is_compatible: Draft7,
        r#"{"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}"#
        => r#"{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}, "additionalProperties": false}"#,
        [OptionalPropertyAddedToUnopenContentModel "#/properties/b"], Compatible;
    required_property_added_to_a_closed_model_is_incompatible: Draft7,
        r#"{"type": "object", "additionalProperties": false}"#
        => r#"{"type": "object", "properties": {"b": {"type": "number"}}, "required": ["b"], "additionalProperties": false}"#,
        [RequiredPropertyAddedToUnopenContentModel "#/properties/b"], Incompatible;
    required_property_with_default_added_to_a_closed_model_is_compatible: Draft7,
        r#"{"type": "object", "additionalProperties": false}"#
        => r#"{"type": "object", "properties": {"b": {"type": "number", "default": 1}}, "required": ["b"], "additionalProperties": false}"#,
        [RequiredPropertyWithDefaultAddedToUnopenContentModel "#/properties/b"], Compatible;
    property_removed_from_a_closed_model_is_compatible_under_lenient: Draft7,
        r#"{"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}"#
        => r#"{"type": "object", "additionalProperties": false}"#,
        [PropertyRemovedFromClosedContentModel "#/properties/a"], LenientOnly;
    forbidden_property_removed_from_a_closed_model_is_compatible: Draft7,
        r#"{"type": "object", "properties": {"a": false}, "additionalProperties": false}"#
        => r#"{"type": "object", "additionalProperties": false}"#,
        [PropertyWithFalseRemovedFromClosedContentModel "#/properties/a"], Compatible;
    property_added_under_a_matching_pattern_is_covered: Draft7,
        r#"{"type": "object", "patternProperties": {"^n_": {"type": "integer"}}, "additionalProperties": false}"#
        => r#"{"type": "object", "properties": {"n_1": {"type": "number"}}, "patternProperties": {"^n_": {"type": "integer"}}, "additionalProperties": false}"#,
        [TypeExtended "#/properties/n_1", PropertyAddedIsCoveredByPartiallyOpenContentModel "#/properties/n_1",
         OptionalPropertyAddedToUnopenContentModel "#/properties/n_1"], Compatible;
    property_added_outside_a_partially_open_model_is_compatible_under_lenient: Draft7,
        r#"{"type": "object", "additionalProperties": {"type": "object"}}"#
        => r#"{"type": "object", "properties": {"b": {"type": "object", "properties": {"x": {"type": "string"}}}}, "additionalProperties": {"type": "object"}}"#,
        [OptionalPropertyAddedToOpenContentModel "#/properties/b/properties/x",
         PropertyAddedNotCoveredByPartiallyOpenContentModel "#/properties/b",
         OptionalPropertyAddedToUnopenContentModel "#/properties/b"], LenientOnly;
    property_added_against_the_additional_schema_is_incompatible: Draft7,
        r#"{"type": "object", "additionalProperties": {"type": "string"}}"#
        => r#"{"type": "object", "properties": {"b": {"type": "number"}}, "additionalProperties": {"type": "string"}}"#,
        [TypeChanged "#/properties/b", PropertyAddedNotCoveredByPartiallyOpenContentModel "#/properties/b",
         OptionalPropertyAddedToUnopenContentModel "#/properties/b"], Incompatible;
    property_removed_into_the_additional_schema_is_covered: Draft7,
        r#"{"type": "object", "properties": {"b": {"type": "string"}}, "additionalProperties": false}"#
        => r#"{"type": "object", "additionalProperties": {"type": "string"}}"#,
        [PropertyRemovedIsCoveredByPartiallyOpenContentModel "#/properties/b",
         AdditionalPropertiesAdded "#/additionalProperties"], Compatible;
    property_removed_against_the_additional_schema_is_incompatible: Draft7,
        r#"{"type": "object", "properties": {"b": {"type": "number"}}, "additionalProperties": false}"#
        => r#"{"type": "object", "additionalProperties": {"type": "string"}}"#,
        [TypeChanged "#/properties/b", PropertyRemovedNotCoveredByPartiallyOpenContentModel "#/properties/b",
         AdditionalPropertiesAdded "#/additionalProperties"], Incompatible;
    property_removed_into_a_wider_pattern_schema_is_covered: Draft7,
        r#"{"type": "object", "properties": {"n_1": {"type": "integer"}}, "additionalProperties": false}"#
        => r#"{"type": "object", "patternProperties": {"^n_": {"type": "number"}}, "additionalProperties": false}"#,
        [TypeExtended "#/properties/n_1", PropertyRemovedIsCoveredByPartiallyOpenContentModel "#/properties/n_1"],
        Compatible;
    properties_without_a_type_make_an_object_schema: Draft7,
        r#"{"properties": {"a": {"type": "string"}}}"# => r#"{"properties": {"a": {"type": "number"}}}"#,
        [TypeChanged "#/properties/a"], Incompatible;
    empty_2020_12_properties_make_no_object_schema: Draft202012,
        r#"{"properties": {}, "maxProperties": 1}"# => r#"{"properties": {}}"#, [], Compatible;

    // Objects: required, dependencies, additional and unevaluated properties, counts.
    required_added_is_incompatible: Draft7,
        r#"{"properties": {"a": {"type": "string"}}}"# => r#"{"properties": {"a": {"type": "string"}}, "required": ["a"]}"#,
        [RequiredAttributeAdded "#/required/a"], Incompatible;
    required_with_a_default_added_is_compatible: Draft7,
        r#"{"properties": {"a": {"type": "string", "default": "x"}}}"#
        => r#"{"properties": {"a": {"type": "string", "default": "x"}}, "required": ["a"]}"#,
        [RequiredAttributeWithDefaultAdded "#/required/a"], Compatible;
    required_removed_is_compatible: Draft7,
        r#"{"properties": {"a": {"type": "string"}}, "required": ["a"]}"# => r#"{"properties": {"a": {"type": "string"}}}"#,
        [RequiredAttributeRemoved "#/required/a"], Compatible;
    dependencies_loosened_are_compatible: Draft7,
        r#"{"dependencies": {"a": ["b", "c"], "d": ["e"], "f": {"type": "object"}}}"#
        => r#"{"dependencies": {"a": ["b"]}}"#,
        [DependencyArrayNarrowed "#/dependencies/a", DependencyArrayRemoved "#/dependencies/d",
         DependencySchemaRemoved "#/dependencies/f"], Compatible;
    dependencies_tightened_are_incompatible: Draft7,
        r#"{"dependencies": {"a": ["b"], "d": ["e"], "f": {"required": ["a"]}}}"#
        => r#"{"dependencies": {"a": ["b", "c"], "d": ["x"], "g": ["h"], "i": {"type": "object"}, "f": {"required": ["a", "b"]}}}"#,
        [DependencyArrayExtended "#/dependencies/a", DependencyArrayChanged "#/dependencies/d",
         DependencyArrayAdded "#/dependencies/g", DependencySchemaAdded "#/dependencies/i"], Incompatible;
    dependent_keywords_of_2019_09_are_dependencies: Draft201909,
        r#"{"dependentRequired": {"a": ["b"]}, "dependentSchemas": {"c": {"type": "string"}}}"#
        => r#"{"dependentRequired": {"a": ["b", "c"]}, "dependentSchemas": {"c": {"type": "number"}}}"#,
        [DependencyArrayExtended "#/dependencies/a", TypeChanged "#/dependencies/c"], Incompatible;
    opening_additional_properties_is_compatible: Draft7,
        r#"{"type": "object", "additionalProperties": false}"# => r#"{"type": "object"}"#,
        [AdditionalPropertiesAdded "#/additionalProperties"], Compatible;
    closing_additional_properties_is_compatible_under_lenient: Draft7,
        r#"{"type": "object", "additionalProperties": true}"# => r#"{"type": "object", "additionalProperties": false}"#,
        [AdditionalPropertiesRemoved "#/additionalProperties"], LenientOnly;
    dropping_the_additional_properties_schema_is_compatible: Draft7,
        r#"{"type": "object", "additionalProperties": {"type": "string"}}"# => r#"{"type": "object"}"#,
        [AdditionalPropertiesExtended "#/additionalProperties"], Compatible;
    adding_an_additional_properties_schema_is_compatible_under_lenient: Draft7,
        r#"{"type": "object"}"# => r#"{"type": "object", "additionalProperties": {"type": "string"}}"#,
        [AdditionalPropertiesNarrowed "#/additionalProperties"], LenientOnly;
    opening_unevaluated_properties_is_compatible: Draft202012,
        r#"{"type": "object", "unevaluatedProperties": false}"# => r#"{"type": "object"}"#,
        [UnevaluatedPropertiesAdded "#/unevaluatedProperties"], Compatible;
    closing_unevaluated_properties_is_compatible_under_lenient: Draft202012,
        r#"{"type": "object"}"# => r#"{"type": "object", "unevaluatedProperties": false}"#,
        [UnevaluatedPropertiesRemoved "#/unevaluatedProperties"], LenientOnly;
    dropping_the_unevaluated_properties_schema_is_compatible: Draft202012,
        r#"{"type": "object", "unevaluatedProperties": {"type": "string"}}"# => r#"{"type": "object"}"#,
        [UnevaluatedPropertiesExtended "#/unevaluatedProperties"], Compatible;
    adding_an_unevaluated_properties_schema_is_compatible_under_lenient: Draft202012,
        r#"{"type": "object"}"# => r#"{"type": "object", "unevaluatedProperties": {"type": "string"}}"#,
        [UnevaluatedPropertiesNarrowed "#/unevaluatedProperties"], LenientOnly;
    property_added_to_an_unevaluated_closed_model_is_compatible: Draft202012,
        r#"{"properties": {"a": {"type": "string"}}, "unevaluatedProperties": false}"#
        => r#"{"properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "unevaluatedProperties": false}"#,
        [OptionalPropertyAddedToUnopenContentModel "#/properties/b"], Compatible;
    property_counts_relaxed_are_compatible: Draft7,
        r#"{"type": "object", "maxProperties": 3, "minProperties": 2}"# => r#"{"type": "object", "maxProperties": 4}"#,
        [MaxPropertiesIncreased "#/maxProperties", MinPropertiesRemoved "#/minProperties"], Compatible;
    property_counts_loosened_are_compatible: Draft7,
        r#"{"type": "object", "maxProperties": 3, "minProperties": 2}"# => r#"{"type": "object", "minProperties": 1}"#,
        [MaxPropertiesRemoved "#/maxProperties", MinPropertiesDecreased "#/minProperties"], Compatible;
    property_counts_tightened_are_incompatible: Draft7,
        r#"{"type": "object", "maxProperties": 3, "minProperties": 2}"# => r#"{"type": "object", "maxProperties": 2, "minProperties": 3}"#,
        [MaxPropertiesDecreased "#/maxProperties", MinPropertiesIncreased "#/minProperties"], Incompatible;
    property_counts_added_are_incompatible: Draft7,
        r#"{"type": "object"}"# => r#"{"type": "object", "maxProperties": 2, "minProperties": 1}"#,
        [MaxPropertiesAdded "#/maxProperties", MinPropertiesAdded "#/minProperties"], Incompatible;

    // Arrays.
    an_items_schema_added_is_incompatible: Draft7,
        r#"{"type": "array"}"# => r#"{"type": "array", "items": {"type": "string"}}"#,
        [SchemaAdded "#/items"], Incompatible;
    an_items_schema_removed_is_compatible: Draft7,
        r#"{"type": "array", "items": {"type": "string"}}"# => r#"{"type": "array"}"#,
        [SchemaRemoved "#/items"], Compatible;
    a_2020_12_items_schema_covers_every_item: Draft202012,
        r#"{"type": "array", "items": {"type": "string"}}"# => r#"{"type": "array", "items": {"type": "number"}}"#,
        [TypeChanged "#/items"], Incompatible;
    item_removed_from_an_open_tuple_is_compatible: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}, {"type": "number"}]}"#
        => r#"{"type": "array", "items": [{"type": "string"}]}"#,
        [ItemRemovedFromOpenContentModel "#/items/1"], Compatible;
    item_added_to_an_open_tuple_is_incompatible: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}]}"#
        => r#"{"type": "array", "items": [{"type": "string"}, {"type": "number"}]}"#,
        [ItemAddedToOpenContentModel "#/items/1"], Incompatible;
    item_accepting_anything_added_to_an_open_tuple_is_compatible: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}]}"# => r#"{"type": "array", "items": [{"type": "string"}, true]}"#,
        [ItemWithEmptySchemaAddedToOpenContentModel "#/items/1"], Compatible;
    item_added_to_a_closed_tuple_is_compatible: Draft202012,
        r#"{"type": "array", "prefixItems": [{"type": "string"}], "items": false}"#
        => r#"{"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}], "items": false}"#,
        [ItemAddedToClosedContentModel "#/items/1"], Compatible;
    item_removed_from_a_closed_tuple_is_incompatible: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}, {"type": "number"}], "additionalItems": false}"#
        => r#"{"type": "array", "items": [{"type": "string"}], "additionalItems": false}"#,
        [ItemRemovedFromClosedContentModel "#/items/1"], Incompatible;
    forbidden_item_removed_from_a_closed_tuple_is_compatible: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}, false], "additionalItems": false}"#
        => r#"{"type": "array", "items": [{"type": "string"}], "additionalItems": false}"#,
        [ItemWithFalseRemovedFromClosedContentModel "#/items/1"], Compatible;
    item_added_within_the_additional_items_is_covered: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "number"}}"#
        => r#"{"type": "array", "items": [{"type": "string"}, {"type": "number"}], "additionalItems": {"type": "number"}}"#,
        [ItemAddedIsCoveredByPartiallyOpenContentModel "#/items/1"], Compatible;
    item_added_against_the_additional_items_is_incompatible: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "number"}}"#
        => r#"{"type": "array", "items": [{"type": "string"}, {"type": "string"}], "additionalItems": {"type": "number"}}"#,
        [TypeChanged "#/items/1", ItemAddedNotCoveredByPartiallyOpenContentModel "#/items/1"], Incompatible;
    item_removed_into_the_additional_items_is_covered: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": {"type": "number"}}"#
        => r#"{"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "number"}}"#,
        [TypeExtended "#/items/1", ItemRemovedIsCoveredByPartiallyOpenContentModel "#/items/1"], Compatible;
    item_removed_against_the_unevaluated_items_is_incompatible: Draft202012,
        r#"{"type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}], "unevaluatedItems": {"type": "number"}}"#
        => r#"{"type": "array", "prefixItems": [{"type": "string"}], "unevaluatedItems": {"type": "number"}}"#,
        [TypeChanged "#/items/1", ItemRemovedNotCoveredByPartiallyOpenContentModel "#/items/1"], Incompatible;
    opening_additional_items_is_compatible: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}], "additionalItems": false}"#
        => r#"{"type": "array", "items": [{"type": "string"}], "additionalItems": true}"#,
        [AdditionalItemsAdded "#/additionalItems"], Compatible;
    closing_additional_items_is_incompatible: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}]}"#
        => r#"{"type": "array", "items": [{"type": "string"}], "additionalItems": false}"#,
        [AdditionalItemsRemoved "#/additionalItems"], Incompatible;
    dropping_the_additional_items_schema_is_compatible: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "number"}}"#
        => r#"{"type": "array", "items": [{"type": "string"}]}"#,
        [AdditionalItemsExtended "#/additionalItems"], Compatible;
    adding_an_additional_items_schema_is_incompatible: Draft7,
        r#"{"type": "array", "items": [{"type": "string"}]}"#
        => r#"{"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "number"}}"#,
        [AdditionalItemsNarrowed "#/additionalItems"], Incompatible;
    forbidding_additional_items_beside_an_items_schema_is_no_change: Draft7,
        r#"{"type": "array", "items": {"type": "string"}}"#
        => r#"{"type": "array", "items": {"type": "string"}, "additionalItems": false}"#,
        [], Compatible;
    opening_unevaluated_items_is_compatible: Draft202012,
        r#"{"type": "array", "unevaluatedItems": false}"# => r#"{"type": "array"}"#,
        [UnevaluatedItemsAdded "#/unevaluatedItems"], Compatible;
    closing_unevaluated_items_is_incompatible: Draft202012,
        r#"{"type": "array"}"# => r#"{"type": "array", "unevaluatedItems": false}"#,
        [UnevaluatedItemsRemoved "#/unevaluatedItems"], Incompatible;
    dropping_the_unevaluated_items_schema_is_compatible: Draft202012,
        r#"{"type": "array", "unevaluatedItems": {"type": "string"}}"# => r#"{"type": "array", "unevaluatedItems": true}"#,
        [UnevaluatedItemsExtended "#/unevaluatedItems"], Compatible;
    adding_an_unevaluated_items_schema_is_incompatible: Draft202012,
        r#"{"type": "array"}"# => r#"{"type": "array", "unevaluatedItems": {"type": "string"}}"#,
        [UnevaluatedItemsNarrowed "#/unevaluatedItems"], Incompatible;
    item_counts_relaxed_are_compatible: Draft7,
        r#"{"type": "array", "maxItems": 3, "minItems": 2, "uniqueItems": true}"# => r#"{"type": "array", "maxItems": 4}"#,
        [MaxItemsIncreased "#/maxItems", MinItemsRemoved "#/minItems", UniqueItemsRemoved "#/uniqueItems"], Compatible;
    item_counts_loosened_are_compatible: Draft7,
        r#"{"type": "array", "maxItems": 3, "minItems": 2}"# => r#"{"type": "array", "minItems": 1}"#,
        [MaxItemsRemoved "#/maxItems", MinItemsDecreased "#/minItems"], Compatible;
    item_counts_tightened_are_incompatible: Draft7,
        r#"{"type": "array", "maxItems": 3, "minItems": 2}"# => r#"{"type": "array", "maxItems": 2, "minItems": 3, "uniqueItems": true}"#,
        [MaxItemsDecreased "#/maxItems", MinItemsIncreased "#/minItems", UniqueItemsAdded "#/uniqueItems"], Incompatible;
    item_counts_added_are_incompatible: Draft7,
        r#"{"type": "array"}"# => r#"{"type": "array", "maxItems": 2, "minItems": 1}"#,
        [MaxItemsAdded "#/maxItems", MinItemsAdded "#/minItems"], Incompatible;
    contains_counts_relaxed_are_compatible: Draft202012,
        r#"{"type": "array", "contains": {"type": "number"}, "minContains": 2, "maxContains": 3}"#
        => r#"{"type": "array", "contains": {"type": "number"}, "maxContains": 4}"#,
        [MinContainsDecreased "#/minContains", MaxContainsIncreased "#/maxContains"], Compatible;
    contains_counts_tightened_are_incompatible: Draft202012,
        r#"{"type": "array", "contains": {"type": "number"}}"#
        => r#"{"type": "array", "contains": {"type": "number"}, "minContains": 2, "maxContains": 3}"#,
        [MinContainsIncreased "#/minContains", MaxContainsAdded "#/maxContains"], Incompatible;
    contains_counts_in_draft_7_are_compared_as_written: Draft7,
        r#"{"type": "array", "minContains": 1, "maxContains": 3}"# => r#"{"type": "array", "maxContains": 2}"#,
        [MinContainsRemoved "#/minContains", MaxContainsDecreased "#/maxContains"], Incompatible;
    contains_counts_added_in_draft_7_are_incompatible: Draft7,
        r#"{"type": "array", "maxContains": 3}"# => r#"{"type": "array", "minContains": 1}"#,
        [MinContainsAdded "#/minContains", MaxContainsRemoved "#/maxContains"], Incompatible;

    // References.
    referenced_schemas_are_compared: Draft7,
        r##"{"type": "array", "items": {"$ref": "#/definitions/a"}, "definitions": {"a": {"type": "string"}}}"##
        => r##"{"type": "array", "items": {"$ref": "#/definitions/a"}, "definitions": {"a": {"type": "number"}}}"##,
        [TypeChanged "#/items"], Incompatible;
    moving_a_schema_behind_a_reference_is_no_change: Draft202012,
        r#"{"type": "string"}"# => r##"{"$ref": "#/$defs/s", "$defs": {"s": {"type": "string"}}}"##, [], Compatible;
    defs_references_find_definitions: Draft7,
        r##"{"$ref": "#/$defs/s", "definitions": {"s": {"type": "string", "maxLength": 2}}}"##
        => r#"{"type": "string"}"#, [MaxLengthRemoved "#/maxLength"], Compatible;
    draft_7_ignores_keywords_beside_a_reference: Draft7,
        r##"{"$ref": "#/definitions/s", "maxLength": 2, "definitions": {"s": {"type": "string"}}}"##
        => r#"{"type": "string"}"#, [], Compatible;
    chains_of_references_are_followed: Draft7,
        r##"{"$ref": "#/definitions/a", "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"type": "string"}}}"##
        => r#"{"type": "number"}"#, [TypeChanged "#/"], Incompatible;
    anchors_are_references: Draft202012,
        r##"{"type": "object", "properties": {"a": {"$ref": "#s"}}, "$defs": {"s": {"$anchor": "s", "type": "string"}}}"##
        => r#"{"type": "object", "properties": {"a": {"type": "integer"}}}"#,
        [TypeChanged "#/properties/a"], Incompatible;
    an_unresolved_reference_is_incompatible: Draft7,
        r##"{"properties": {"a": {"$ref": "#/definitions/missing"}}}"## => r#"{"properties": {"a": {}}}"#,
        [UnresolvedReference "#/properties/a"], Incompatible;
    a_cycle_of_bare_references_is_unresolved: Draft7,
        r##"{"$ref": "#/definitions/a", "definitions": {"a": {"$ref": "#/definitions/a"}}}"## => r#"{}"#,
        [UnresolvedReference "#/"], Incompatible;
    a_recursive_schema_equals_itself: Draft7,
        r##"{"type": "object", "properties": {"v": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}}}"##
        => r##"{"type": "object", "properties": {"v": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}}}"##,
        [], Compatible;
    a_cycle_across_two_definitions_equals_itself: Draft7,
        r##"{"$ref": "#/definitions/a", "definitions": {
            "a": {"type": "object", "properties": {"b": {"$ref": "#/definitions/b"}}},
            "b": {"type": "object", "properties": {"a": {"$ref": "#/definitions/a"}}}}}"##
        => r##"{"$ref": "#/definitions/a", "definitions": {
            "a": {"type": "object", "properties": {"b": {"$ref": "#/definitions/b"}}},
            "b": {"type": "object", "properties": {"a": {"$ref": "#/definitions/a"}}}}}"##,
        [], Compatible;
}

#[test]
fn every_difference_type_is_in_the_table() {
    let covered: BTreeSet<DifferenceType> = CASES
        .iter()
        .flat_map(|c| c.differences.iter().map(|(k, _)| *k))
        .collect();
    // Reached only by inputs a table of texts cannot hold; tested below.
    let elsewhere = [ComparisonLimitReached];
    let missing: Vec<_> = DifferenceType::ALL
        .iter()
        .filter(|k| !covered.contains(k) && !elsewhere.contains(k))
        .collect();
    assert!(missing.is_empty(), "difference types without a case: {missing:?}");
}

#[test]
fn every_difference_type_has_a_confluent_name_and_a_description() {
    let names: BTreeSet<&str> = DifferenceType::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names.len(), DifferenceType::ALL.len(), "names are unique");
    for kind in DifferenceType::ALL {
        assert!(
            kind.as_str().chars().all(|c| c.is_ascii_uppercase() || c == '_'),
            "{kind}"
        );
        let sentence = kind.describe("#/properties/a", "old schema", "new schema");
        assert!(sentence.contains("#/properties/a"), "{kind}: {sentence}");
    }
}

#[test]
fn lenient_accepts_exactly_confluents_additional_changes() {
    let lenient_only: BTreeSet<&str> = DifferenceType::ALL
        .iter()
        .filter(|k| !k.is_compatible(CompatibilityPolicy::Strict) && k.is_compatible(CompatibilityPolicy::Lenient))
        .map(|k| k.as_str())
        .collect();
    let expected = [
        "ADDITIONAL_PROPERTIES_NARROWED",
        "ADDITIONAL_PROPERTIES_REMOVED",
        "UNEVALUATED_PROPERTIES_NARROWED",
        "UNEVALUATED_PROPERTIES_REMOVED",
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL",
        "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    ];
    assert_eq!(lenient_only, expected.into_iter().collect());
    for kind in DifferenceType::ALL {
        assert!(
            !kind.is_compatible(CompatibilityPolicy::Strict) || kind.is_compatible(CompatibilityPolicy::Lenient),
            "{kind}: LENIENT accepts all STRICT accepts"
        );
    }
}

fn with_documents(draft: Draft, root: Value, documents: &[(&str, Value)]) -> JsonSchema {
    JsonSchema {
        root,
        documents: documents.iter().map(|(n, d)| (n.to_string(), d.clone())).collect(),
        draft,
    }
}

#[test]
fn references_to_other_documents_resolve_by_name() {
    let root = json!({"type": "object", "properties": {
        "home": {"$ref": "address.json"},
        "id": {"$ref": "common.json#/definitions/id"}
    }});
    let address = |street: &str| json!({"type": "object", "properties": {"street": {"type": street}}});
    let common = |id: &str| json!({"definitions": {"id": {"type": id}}});
    let old = with_documents(
        Draft::Draft7,
        root.clone(),
        &[("address.json", address("string")), ("common.json", common("string"))],
    );
    let new = with_documents(
        Draft::Draft7,
        root,
        &[("address.json", address("number")), ("common.json", common("integer"))],
    );
    assert_eq!(
        found(&old, &new),
        BTreeSet::from([
            (TypeChanged, "#/properties/home/properties/street".to_string()),
            (TypeChanged, "#/properties/id".to_string()),
        ])
    );
    assert!(found(&old, &old).is_empty());
}

#[test]
fn references_to_other_documents_resolve_against_the_root_id() {
    let root = json!({"$id": "https://example.com/schemas/order.json", "properties": {"c": {"$ref": "customer.json"}}});
    let old = with_documents(
        Draft::Draft7,
        root.clone(),
        &[("customer.json", json!({"type": "string"}))],
    );
    let absolute = json!({"$id": "https://example.com/schemas/order.json",
        "properties": {"c": {"$ref": "https://example.com/schemas/customer.json"}}});
    let new = with_documents(Draft::Draft7, absolute, &[("customer.json", json!({"type": "string"}))]);
    assert!(found(&old, &new).is_empty());
}

fn tree(value_type: &str) -> JsonSchema {
    with_documents(
        Draft::Draft7,
        json!({"type": "object", "properties": {
            "value": {"type": value_type},
            "children": {"type": "array", "items": {"$ref": "#"}}
        }}),
        &[],
    )
}

#[test]
fn a_change_inside_a_recursive_schema_is_found_and_the_comparison_terminates() {
    let diffs = found(&tree("string"), &tree("number"));
    assert!(
        diffs.contains(&(TypeChanged, "#/properties/value".to_string())),
        "{diffs:?}"
    );
    assert!(!compatible(
        CompatibilityPolicy::Lenient,
        &tree("string"),
        &tree("number")
    ));
    assert!(found(&tree("string"), &tree("string")).is_empty());
}

/// Two definitions that reach each other through a `oneOf`, the shape where a memoized result
/// resting on an assumed-compatible cycle could hide a change seen through another branch.
fn mutual(first_id: &str, second_id: &str) -> JsonSchema {
    let node = |id: &str, next: &str| {
        json!({"type": "object", "properties": {
            "id": {"type": id},
            "next": {"oneOf": [{"$ref": format!("#/definitions/{next}")}]}
        }})
    };
    with_documents(
        Draft::Draft7,
        json!({
            "oneOf": [{"$ref": "#/definitions/t0"}, {"$ref": "#/definitions/t1"}],
            "definitions": {"t0": node(first_id, "t2"), "t1": node(second_id, "t2"), "t2": node("string", "t0")}
        }),
        &[],
    )
}

#[test]
fn a_cycle_across_definitions_does_not_hide_a_change_seen_through_another_branch() {
    let (old, new) = (mutual("integer", "boolean"), mutual("boolean", "number"));
    assert!(!compatible(CompatibilityPolicy::Strict, &old, &new));
    assert!(compatible(
        CompatibilityPolicy::Strict,
        &old,
        &mutual("integer", "boolean")
    ));
}

fn nested_objects(depth: usize) -> Value {
    let mut schema = json!({"type": "string"});
    for _ in 0..depth {
        schema = json!({"type": "object", "properties": {"a": schema}});
    }
    schema
}

#[test]
fn an_absurdly_deep_schema_is_refused_without_exhausting_the_stack() {
    let deep = with_documents(Draft::Draft7, nested_objects(300), &[]);
    let diffs = differences(&deep, &deep);
    assert!(diffs.iter().any(|d| d.kind == ComparisonLimitReached), "{diffs:?}");
    assert!(!compatible(CompatibilityPolicy::Lenient, &deep, &deep));
    let reasonable = with_documents(Draft::Draft7, nested_objects(40), &[]);
    assert!(differences(&reasonable, &reasonable).is_empty());
}

#[test]
fn a_long_chain_of_definitions_is_refused_without_exhausting_the_stack() {
    let mut definitions = serde_json::Map::new();
    for i in 0..5_000 {
        let next = json!({"$ref": format!("#/definitions/d{}", i + 1)});
        definitions.insert(format!("d{i}"), json!({"type": "object", "properties": {"next": next}}));
    }
    definitions.insert("d5000".to_string(), json!({"type": "string"}));
    let chain = with_documents(
        Draft::Draft7,
        json!({"$ref": "#/definitions/d0", "definitions": definitions}),
        &[],
    );
    let diffs = differences(&chain, &chain);
    assert!(diffs.iter().any(|d| d.kind == ComparisonLimitReached), "{diffs:?}");
}

#[test]
fn wide_combinations_compare_within_the_work_budget() {
    let alternatives = |n: usize, t: &str| {
        let list: Vec<Value> = (0..n)
            .map(|i| json!({"type": "object", "properties": {format!("p{i}"): {"type": t}}, "required": [format!("p{i}")]}))
            .collect();
        with_documents(Draft::Draft7, json!({"anyOf": list}), &[])
    };
    let (old, new) = (alternatives(60, "string"), alternatives(60, "string"));
    assert!(differences(&old, &new).is_empty());
    let changed = alternatives(60, "number");
    assert!(!compatible(CompatibilityPolicy::Strict, &old, &changed));
}

#[test]
fn combinations_too_costly_to_compare_are_refused() {
    // Every pair of alternatives compares two long enums: far beyond the work budget.
    let alternatives = |n: usize, shift: usize| {
        let list: Vec<Value> = (0..n)
            .map(|i| json!({"enum": (0..200).map(|v| v * 1000 + i + shift).collect::<Vec<_>>()}))
            .collect();
        with_documents(Draft::Draft7, json!({"oneOf": list}), &[])
    };
    let diffs = differences(&alternatives(300, 0), &alternatives(300, 1));
    assert!(
        diffs.iter().any(|d| d.kind == ComparisonLimitReached),
        "{} differences",
        diffs.len()
    );
}

fn draft7(value: Value) -> JsonSchema {
    with_documents(Draft::Draft7, value, &[])
}

#[test]
fn backward_checks_the_new_schema_as_the_update_of_each_old_one() {
    let old = draft7(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
    let new = draft7(json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}}));
    let strict = check(
        CompatibilityLevel::Backward,
        CompatibilityPolicy::Strict,
        &new,
        &[(3, &old)],
    );
    assert_eq!(strict.len(), 1, "{strict:?}");
    for expected in [
        "oldSchemaVersion: 3",
        "direction: BACKWARD",
        "type: OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
        "path: '#/properties/b'",
        "new schema",
    ] {
        assert!(strict[0].contains(expected), "{expected} in {}", strict[0]);
    }
    assert!(
        check(
            CompatibilityLevel::Backward,
            CompatibilityPolicy::Lenient,
            &new,
            &[(3, &old)]
        )
        .is_empty()
    );
}

#[test]
fn removing_an_optional_property_from_an_open_model_is_backward_but_not_forward_compatible() {
    let old = draft7(json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}}));
    let new = draft7(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
    let existing = [(1, &old)];
    let strict = CompatibilityPolicy::Strict;
    assert!(check(CompatibilityLevel::Backward, strict, &new, &existing).is_empty());
    let forward = check(CompatibilityLevel::Forward, strict, &new, &existing);
    assert_eq!(forward.len(), 1, "{forward:?}");
    assert!(
        forward[0].contains("direction: FORWARD")
            && forward[0].contains("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
    );
    assert!(check(CompatibilityLevel::Full, CompatibilityPolicy::Lenient, &new, &existing).is_empty());
}

#[test]
fn transitive_levels_check_every_version_and_others_the_latest() {
    let v1 = draft7(json!({"type": "string", "maxLength": 3}));
    let v2 = draft7(json!({"type": "string", "maxLength": 10}));
    let new = draft7(json!({"type": "string", "maxLength": 5}));
    let existing = [(1, &v1), (2, &v2)];
    let strict = CompatibilityPolicy::Strict;
    let latest = check(CompatibilityLevel::Backward, strict, &new, &existing);
    assert_eq!(latest.len(), 1);
    assert!(latest[0].contains("oldSchemaVersion: 2") && latest[0].contains("MAX_LENGTH_DECREASED"));
    assert_eq!(
        check(CompatibilityLevel::BackwardTransitive, strict, &new, &existing).len(),
        1
    );
    let full = check(CompatibilityLevel::FullTransitive, strict, &new, &existing);
    assert_eq!(full.len(), 2, "{full:?}");
    assert!(
        full.iter()
            .any(|m| m.contains("oldSchemaVersion: 1") && m.contains("direction: FORWARD"))
    );
    assert!(check(CompatibilityLevel::None, strict, &new, &existing).is_empty());
}

/// Definitions d0..d40 where each refers to the next twice: 2^40 paths reach the last one.
fn diamond_chain(leaf: Value) -> JsonSchema {
    let mut definitions = serde_json::Map::new();
    for i in 0..40 {
        let next = json!({"$ref": format!("#/definitions/d{}", i + 1)});
        definitions.insert(
            format!("d{i}"),
            json!({"type": "object", "properties": {"l": next.clone(), "r": next}}),
        );
    }
    definitions.insert("d40".to_string(), leaf);
    draft7(json!({"$ref": "#/definitions/d0", "definitions": definitions}))
}

#[test]
fn a_subschema_reached_along_many_paths_is_listed_a_bounded_number_of_times() {
    let old = diamond_chain(json!({"type": "string", "description": "a"}));
    let described = diamond_chain(json!({"type": "string", "description": "b"}));
    let diffs = differences(&old, &described);
    assert!(!diffs.is_empty() && diffs.len() <= 1_000, "{} differences", diffs.len());
    assert!(diffs.iter().all(|d| d.kind == DescriptionChanged));
    let retyped = diamond_chain(json!({"type": "number"}));
    assert!(!compatible(CompatibilityPolicy::Lenient, &old, &retyped));
}
