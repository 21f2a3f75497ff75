//! JSON Schema compatibility, as Confluent's registry decides it.
//!
//! # The model
//! Comparing an ORIGINAL schema with an UPDATE lists [`Difference`]s: a [`DifferenceType`] (Confluent's
//! names, such as `TYPE_NARROWED` or `OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`) at a JSON path
//! in the schemas (`#/` is the root, then keyword segments: `#/properties/foo/items`,
//! `#/allOf/1/enum`, `#/items/2` for the third entry of an item list). The update is compatible
//! with the original when every difference is in the compatible set of the [`CompatibilityPolicy`]:
//! STRICT is Confluent's historical set; LENIENT adds the changes that only matter to data nobody
//! writes, such as an optional property added to an open content model, or a property removed from
//! a closed one (see [`DifferenceType::is_compatible`]). As in Confluent, BACKWARD compares the old
//! schema (original) with the new one (update), FORWARD the new with the old.
//!
//! Schemas are first loaded into everit's schema classes, because Confluent's rules are written
//! against them (`model.rs`): a schema with `properties` and no `type` is an object schema, a `type`
//! array is an `anyOf`, `{"type": "string", "enum": [..]}` is an `allOf` of a string and an enum
//! schema, `true` and `{}` accept anything. Then the two are compared class by class (`compare.rs`):
//! annotations, numbers, strings, `enum`/`const`, `not` (whose roles swap), combined schemas
//! (`combined.rs`), objects (`object.rs`) and arrays (`array.rs`). Objects and arrays have a *content
//! model* deciding what they accept beyond what they declare: open (anything), partially open (a
//! schema from `additionalProperties`, `patternProperties`, `unevaluatedProperties`,
//! `additionalItems`, 2020-12 `items` or `unevaluatedItems`) or closed. A property or item declared
//! on one side only is judged against the other side's content model.
//!
//! `$ref`s (local pointers such as `#/definitions/a` or `#/$defs/a`, anchors, and other documents
//! by the name the `$ref` uses, with `name#/pointer` too; see `resolve.rs`) are followed to the schema
//! they name. A pair of subschemas met again while it is being compared is a cycle and is assumed
//! compatible; results are memoized per pair and the comparison iterated to a fixed point, so
//! recursive schemas terminate without hiding a real change. Depth and total work are bounded.
//!
//! # Where this knowingly differs from Confluent
//! - **Chains of `$ref`s** are followed to the end. Confluent follows one hop, so a `$ref` to a
//!   `$ref` compares as a bare reference: equal to any other such reference, whatever it names.
//! - **EXCLUSIVE_MAXIMUM_DECREASED** compares the two `exclusiveMaximum` values. Confluent compares
//!   the original's with the update's `maximum` (and fails when the update has none).
//! - **Drafts 2019-09 and 2020-12** are loaded like drafts 4 to 7, with their keywords mapped as
//!   Confluent's translation from json-sKema maps them (`prefixItems` is the item list, `items` the
//!   rest or every item, `dependentRequired`/`dependentSchemas` the dependencies, `contains` brings
//!   `minContains` 1, `$id` is not kept, `format` and an empty `properties` make no schema, and a
//!   `$ref` with sibling keywords is an `allOf` of both). Where the translation depends on keyword
//!   order (a keyword merges into a `type` array's member only if it comes after `type`), keywords
//!   always merge. 2019-09 keeps its own `items` array and `additionalItems`, which Confluent's
//!   2020-12 loader does not read.
//! - **A `$ref` that resolves to nothing** is an `UNRESOLVED_REFERENCE` difference and **a schema
//!   too deep or too complex to compare** a `COMPARISON_LIMIT_REACHED` one, both incompatible and
//!   both Murron's own: Confluent refuses such schemas when loading them or runs out of time.
//! - **`$ref`s resolve against the `$id` of their document's root**, not of a nested subschema.
//! - **The parts of a schema that mixes kinds** (the synthetic `allOf` above) come in a fixed order:
//!   enum, combinations, not, const, type, the other kinds by keywords, if/then/else. everit keeps
//!   them in a hash set, so only the index in an `allOf/<i>` path can differ.
//! - **Duplicate subschemas** of a combination collapse when their JSON is equal as written (Confluent
//!   compares everit's re-serialization), and `const`, `enum` and `default` values compare as JSON.
//! - **Long lists of differences are shortened**, never their verdict: one subschema pair lists at
//!   most 1,000 differences (a subschema reached along many paths would otherwise repeat its own once
//!   per path), and a pair reached again lists only its first 8 incompatible ones. Confluent lists
//!   every one, every time.
//! - **`patternProperties`** are matched with ECMA-262 regexes (Java's in Confluent): the same for
//!   the patterns people write, such as `^S_`.

mod array;
mod combined;
mod compare;
mod difference;
mod model;
mod object;
mod resolve;
mod scalar;

#[cfg(test)]
mod cases;

pub use difference::DifferenceType;

use super::{CompatibilityLevel, CompatibilityPolicy, diff_pairs};
use crate::schema::json::JsonSchema;

/// One difference between two schemas: what changed, and where (`#/...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Difference {
    pub kind: DifferenceType,
    pub path: String,
}

/// The differences from `original` to `update` as Confluent's `SchemaDiff.compare` lists them by
/// default (nested changes judged under STRICT).
pub fn differences(original: &JsonSchema, update: &JsonSchema) -> Vec<Difference> {
    differences_under(CompatibilityPolicy::Strict, original, update)
}

/// The differences from `original` to `update`, with the nested changes that decide a rule (is a
/// removed property covered by the content model? which subschemas match?) judged under `policy`,
/// as Confluent's registry does when it checks under that policy.
pub fn differences_under(policy: CompatibilityPolicy, original: &JsonSchema, update: &JsonSchema) -> Vec<Difference> {
    let mut model = model::Model::default();
    let original = model.load(original);
    let update = model.load(update);
    compare::run(&model, original, update, policy)
        .into_iter()
        .map(|d| Difference {
            kind: d.kind,
            path: format!("#/{}", d.path),
        })
        .collect()
}

/// Whether `update` may replace `original` under `policy`: every difference is compatible.
pub fn is_compatible(policy: CompatibilityPolicy, original: &JsonSchema, update: &JsonSchema) -> bool {
    differences_under(policy, original, update)
        .iter()
        .all(|d| d.kind.is_compatible(policy))
}

/// Checks `new` against `existing` (OLDEST FIRST, live versions only) at `level` under `policy`.
/// Returns one Confluent-like verbose message per incompatible difference; empty = compatible.
pub fn check(
    level: CompatibilityLevel,
    policy: CompatibilityPolicy,
    new: &JsonSchema,
    existing: &[(i32, &JsonSchema)],
) -> Vec<String> {
    let mut out = Vec::new();
    for pair in diff_pairs(level, new, existing) {
        for d in differences_under(policy, pair.original, pair.update) {
            if !d.kind.is_compatible(policy) {
                let description = d.kind.describe(&d.path, pair.original_role, pair.update_role);
                out.push(pair.message(d.kind.as_str(), &d.path, &description));
            }
        }
    }
    out
}
