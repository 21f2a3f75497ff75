//! Avro schema compatibility: can one Avro schema read data written with another?
//!
//! This is Confluent's compatibility check for AVRO, done from first principles: [`can_read`] applies the
//! "Schema Resolution" rules of the Avro 1.11 specification to one reader and one writer schema and
//! lists every reason the reader cannot read the writer's data. [`check`] applies a subject's
//! [`CompatibilityLevel`] to a new schema and the subject's live versions, and renders Confluent-like
//! verbose messages; [`Digest`] proves transitive checks without comparing every version. The module
//! is pure: no I/O, no state. [`super`] dispatches to it for schemas of type AVRO.
//!
//! # Decisions where the specification leaves room
//! - **Logical types are annotations** on their physical type, as in Java Avro: a `long` writer is read by a
//!   `timestamp-micros` reader, and `timestamp-millis` by `timestamp-micros` (same physical `long`).
//!   Promotions apply to the physical types (`date` is an `int`, so it promotes to `long`).
//! - **Decimals** follow the specification's logical-type section: two decimals match only if precision
//!   and scale are equal ([`super::IncompatibilityKind::DecimalMismatch`], path `…/precision` or `…/scale`).
//!   A plain `bytes`/`fixed` and a decimal on the same physical type match. `big-decimal` and `decimal`
//!   never match each other: `big-decimal` carries its scale inside each value, so the bytes differ.
//! - **Named types** (record, enum, fixed) match when their unqualified names are equal, or when an alias
//!   of the reader's type has the writer's unqualified name (an alias's full name equal to the writer's full
//!   name is a special case of that). Only the reader's aliases count, as in the specification.
//! - **Record fields** match by name first, then by the reader field's aliases in order. The writer's
//!   field aliases are not used.
//! - **A reader union** reads a writer type if *some* branch reads it fully (Java's `SchemaCompatibility`,
//!   which Confluent runs). The specification's literal "first branch that matches, then resolve" differs
//!   only when two reader branches share an unqualified name and the first fails.
//! - **Recursive types** are compared co-inductively: a (reader name, writer name) pair met again while it
//!   is being compared is assumed compatible; any real difference is reported where the pair was entered.
//!
//! # Paths
//! A path locates an incompatibility in the **reader** schema, following referenced named types to where
//! they are used, JSON-pointer style as Confluent does: `/` is the root; field `i` of a record is
//! `/fields/i` (where a missing default is reported) and its type `/fields/i/type`; array items
//! `/items`; map values `/values`; a record, enum or fixed name `/name`; a fixed size `/size`; enum
//! symbols `/symbols`; decimal attributes `/precision` and `/scale`. For `MISSING_UNION_BRANCH` between
//! two unions the last segment is the index of the **writer's** branch that no reader branch reads (the
//! reader has no branch to point at); when only the reader is a union the path is the union itself.
//! When only the writer is a union, each unreadable writer branch is reported at the reader's path.

mod digest;
mod resolution;

#[cfg(test)]
mod cases;

pub use digest::Digest;

/// The parsed Avro schema the rules work on (re-exported: callers hand it to [`Digest`]).
pub use apache_avro::Schema;

use super::{CompatibilityLevel, Direction, Incompatibility, VersionIncompatibility, compared_versions};
use resolution::Roles;

/// Can data written with `writer` be read with `reader` (Avro schema resolution)? Empty Vec = yes.
pub fn can_read(reader: &Schema, writer: &Schema) -> Vec<Incompatibility> {
    let roles = Roles {
        reader: "reader schema",
        writer: "writer schema",
    };
    resolution::resolve(reader, writer)
        .iter()
        .map(|found| found.render(roles))
        .collect()
}

/// Checks `new` against `existing` (OLDEST FIRST, live versions only) at `level`, with structured results.
/// Non-transitive levels check only the newest existing version; transitive levels check every one,
/// newest first; for each version, backward before forward.
pub fn check_detailed(
    level: CompatibilityLevel,
    new: &Schema,
    existing: &[(i32, &Schema)],
) -> Vec<VersionIncompatibility> {
    let mut out = Vec::new();
    for &(version, old) in compared_versions(level, existing) {
        for &direction in level.directions() {
            let (reader, writer, roles) = match direction {
                Direction::Backward => (
                    new,
                    old,
                    Roles {
                        reader: "new schema",
                        writer: "old schema",
                    },
                ),
                Direction::Forward => (
                    old,
                    new,
                    Roles {
                        reader: "old schema",
                        writer: "new schema",
                    },
                ),
            };
            out.extend(
                resolution::resolve(reader, writer)
                    .iter()
                    .map(|found| VersionIncompatibility {
                        version,
                        direction,
                        incompatibility: found.render(roles),
                    }),
            );
        }
    }
    out
}

/// Check `new` against `existing` (ordered OLDEST FIRST, live versions only) at `level`.
/// BACKWARD: new reads old. FORWARD: old reads new. FULL: both. Transitive levels check every version.
/// Returns Confluent-like verbose messages, one per incompatibility; empty = compatible.
pub fn check(level: CompatibilityLevel, new: &Schema, existing: &[(i32, &Schema)]) -> Vec<String> {
    check_detailed(level, new, existing)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compatibility::IncompatibilityKind;

    fn parse(json: &str) -> Schema {
        Schema::parse_str(json).unwrap()
    }

    /// A record `R` with the given fields (JSON field objects).
    fn record(fields: &str) -> Schema {
        parse(&format!(r#"{{"type":"record","name":"R","fields":[{fields}]}}"#))
    }

    /// Three versions and a new schema where every transitive level differs from its non-transitive one:
    /// v1 has `c` without a default and no `b`; v2 and v3 have both with defaults; new drops `c` and
    /// requires `b`. New reads v3 and v3 reads new, but new cannot read v1 (no `b`), and v1 cannot read
    /// new (no `c`).
    struct History {
        v1: Schema,
        v2: Schema,
        v3: Schema,
        new: Schema,
    }

    fn history() -> History {
        History {
            v1: record(r#"{"name":"a","type":"string"},{"name":"c","type":"int"}"#),
            v2: record(
                r#"{"name":"a","type":"string"},{"name":"b","type":"int","default":0},{"name":"c","type":"int","default":0}"#,
            ),
            v3: record(
                r#"{"name":"a","type":"string"},{"name":"b","type":"int","default":0},{"name":"c","type":"int","default":0}"#,
            ),
            new: record(r#"{"name":"a","type":"string"},{"name":"b","type":"int"}"#),
        }
    }

    fn run(level: CompatibilityLevel, h: &History) -> Vec<VersionIncompatibility> {
        check_detailed(level, &h.new, &[(1, &h.v1), (2, &h.v2), (3, &h.v3)])
    }

    fn summary(found: &[VersionIncompatibility]) -> Vec<(i32, Direction, IncompatibilityKind, &str)> {
        found
            .iter()
            .map(|f| {
                (
                    f.version,
                    f.direction,
                    f.incompatibility.kind,
                    f.incompatibility.path.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn backward_checks_only_the_latest_version() {
        assert_eq!(summary(&run(CompatibilityLevel::Backward, &history())), []);
    }

    #[test]
    fn backward_transitive_checks_that_the_new_schema_reads_every_version() {
        let h = history();
        assert_eq!(
            summary(&run(CompatibilityLevel::BackwardTransitive, &h)),
            [(
                1,
                Direction::Backward,
                IncompatibilityKind::ReaderFieldMissingDefaultValue,
                "/fields/1"
            )]
        );
    }

    #[test]
    fn forward_checks_only_that_the_latest_version_reads_the_new_schema() {
        assert_eq!(summary(&run(CompatibilityLevel::Forward, &history())), []);
    }

    #[test]
    fn forward_transitive_checks_that_every_version_reads_the_new_schema() {
        assert_eq!(
            summary(&run(CompatibilityLevel::ForwardTransitive, &history())),
            [(
                1,
                Direction::Forward,
                IncompatibilityKind::ReaderFieldMissingDefaultValue,
                "/fields/1"
            )]
        );
    }

    #[test]
    fn full_checks_both_directions_against_the_latest_version_only() {
        assert_eq!(summary(&run(CompatibilityLevel::Full, &history())), []);
    }

    #[test]
    fn full_transitive_checks_both_directions_against_every_version() {
        assert_eq!(
            summary(&run(CompatibilityLevel::FullTransitive, &history())),
            [
                (
                    1,
                    Direction::Backward,
                    IncompatibilityKind::ReaderFieldMissingDefaultValue,
                    "/fields/1"
                ),
                (
                    1,
                    Direction::Forward,
                    IncompatibilityKind::ReaderFieldMissingDefaultValue,
                    "/fields/1"
                ),
            ]
        );
    }

    #[test]
    fn none_accepts_anything() {
        let h = history();
        let unrelated = parse(r#""boolean""#);
        assert_eq!(run(CompatibilityLevel::None, &h), []);
        assert_eq!(
            check(CompatibilityLevel::None, &unrelated, &[(1, &h.v1), (2, &h.v3)]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn non_transitive_levels_fail_when_the_latest_version_is_incompatible() {
        let h = history();
        let string_b = record(r#"{"name":"a","type":"string"},{"name":"b","type":"string"}"#);
        for level in [
            CompatibilityLevel::Backward,
            CompatibilityLevel::Forward,
            CompatibilityLevel::Full,
        ] {
            let found = check_detailed(level, &string_b, &[(1, &h.v1), (2, &h.v2), (3, &h.v3)]);
            assert!(!found.is_empty(), "{level}");
            assert!(found.iter().all(|f| f.version == 3), "{level}: {found:?}");
        }
    }

    #[test]
    fn every_level_accepts_a_first_version() {
        let h = history();
        for level in CompatibilityLevel::ALL {
            assert_eq!(check(level, &h.new, &[]), Vec::<String>::new(), "{level}");
        }
    }

    #[test]
    fn transitive_levels_report_versions_newest_first() {
        let boolean = record(r#"{"name":"a","type":"boolean"}"#);
        let string = record(r#"{"name":"a","type":"string"}"#);
        let found = check_detailed(
            CompatibilityLevel::BackwardTransitive,
            &string,
            &[(1, &boolean), (2, &boolean), (3, &string)],
        );
        assert_eq!(
            summary(&found),
            [
                (
                    2,
                    Direction::Backward,
                    IncompatibilityKind::TypeMismatch,
                    "/fields/0/type"
                ),
                (
                    1,
                    Direction::Backward,
                    IncompatibilityKind::TypeMismatch,
                    "/fields/0/type"
                ),
            ]
        );
    }

    #[test]
    fn verbose_message_names_version_direction_kind_and_path() {
        let old = record(r#"{"name":"a","type":"string"}"#);
        let new = record(r#"{"name":"a","type":"string"},{"name":"b","type":"int"}"#);
        assert_eq!(
            check(CompatibilityLevel::Backward, &new, &[(1, &old), (2, &old)]),
            [
                "{oldSchemaVersion: 2, direction: BACKWARD, type: READER_FIELD_MISSING_DEFAULT_VALUE, path: '/fields/1', \
              description: 'The field 'b' at path '/fields/1' in the new schema has no default value and is missing in \
              the old schema'}"
            ]
        );
    }

    #[test]
    fn forward_messages_call_the_reader_the_old_schema() {
        let old = record(r#"{"name":"a","type":"string"},{"name":"b","type":"int"}"#);
        let new = record(r#"{"name":"a","type":"string"}"#);
        let messages = check(CompatibilityLevel::Forward, &new, &[(7, &old)]);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].starts_with("{oldSchemaVersion: 7, direction: FORWARD, "),
            "{}",
            messages[0]
        );
        assert!(messages[0].contains("path: '/fields/1'"), "{}", messages[0]);
        assert!(
            messages[0].contains("in the old schema has no default value and is missing in the new schema"),
            "{}",
            messages[0]
        );
    }

    #[test]
    fn can_read_speaks_of_reader_and_writer() {
        let found = can_read(&parse(r#""int""#), &parse(r#""long""#));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "/");
        assert_eq!(
            found[0].message,
            "The reader schema has type int at path '/', which cannot read the writer schema's type long"
        );
    }
}
