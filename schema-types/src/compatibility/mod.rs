//! Schema compatibility: may a new schema version be registered under a subject?
//!
//! This module holds what every schema type shares: Confluent's seven [`CompatibilityLevel`]s,
//! which versions a level compares with ([`compared_versions`]) and in which [`Direction`]s, and
//! the results ([`Incompatibility`], [`VersionIncompatibility`]) with their Confluent-like verbose
//! messages. The rules of each schema type live in a folder of their own: [`avro`] is Avro's schema
//! resolution, [`json`] and [`protobuf`] are Confluent's difference rules for JSON Schema and
//! Protobuf. The module is pure: no I/O, no state; the service layer calls it at registration time.
//!
//! [`check`] dispatches on the schema type. A schema of one type is never compatible with a version
//! of another type, as in Confluent's registry.

pub mod avro;
pub mod json;
pub mod protobuf;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::schema::ParsedSchema;

/// Confluent's compatibility levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityLevel {
    /// The new schema reads data written with the latest version (Confluent's default).
    #[default]
    Backward,
    /// The new schema reads data written with every version.
    BackwardTransitive,
    /// The latest version reads data written with the new schema.
    Forward,
    /// Every version reads data written with the new schema.
    ForwardTransitive,
    /// Backward and forward against the latest version.
    Full,
    /// Backward and forward against every version.
    FullTransitive,
    /// No check.
    None,
}

impl CompatibilityLevel {
    /// Every level, in Confluent's documentation order.
    pub const ALL: [CompatibilityLevel; 7] = [
        Self::Backward,
        Self::BackwardTransitive,
        Self::Forward,
        Self::ForwardTransitive,
        Self::Full,
        Self::FullTransitive,
        Self::None,
    ];

    /// The name used in Confluent's API, e.g. `"BACKWARD_TRANSITIVE"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
            Self::None => "NONE",
        }
    }

    /// Parses an exact uppercase name, as Confluent's API accepts it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == s)
    }

    /// Whether every live version is checked, not only the latest.
    pub fn is_transitive(&self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }

    /// The directions this level checks, backward first.
    pub fn directions(&self) -> &'static [Direction] {
        match self {
            Self::Backward | Self::BackwardTransitive => &[Direction::Backward],
            Self::Forward | Self::ForwardTransitive => &[Direction::Forward],
            Self::Full | Self::FullTransitive => &[Direction::Backward, Direction::Forward],
            Self::None => &[],
        }
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How strictly JSON Schema differences are judged (Confluent's `compatibilityPolicy`). Only JSON
/// Schema has rules that depend on it; Avro and Protobuf ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityPolicy {
    /// Confluent's rules as they were before the policy existed (the default).
    #[default]
    Strict,
    /// Also accepts the changes that are safe for the data that producers actually write, such as
    /// adding an optional property to a closed content model.
    Lenient,
}

impl CompatibilityPolicy {
    /// Both policies.
    pub const ALL: [CompatibilityPolicy; 2] = [Self::Strict, Self::Lenient];

    /// The name used in Confluent's API: `"STRICT"` or `"LENIENT"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Strict => "STRICT",
            Self::Lenient => "LENIENT",
        }
    }

    /// Parses a name as Confluent's config API does (case-insensitively).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for CompatibilityPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of resolution rule two schemas break (Confluent's names where Confluent has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncompatibilityKind {
    /// The reader's type cannot read the writer's type, even by promotion.
    TypeMismatch,
    /// Two named types of the same kind whose names (and the reader's aliases) do not match.
    NameMismatch,
    /// Two fixed types of different sizes.
    FixedSizeMismatch,
    /// The writer's enum has symbols the reader's lacks, and the reader's enum has no default.
    MissingEnumSymbols,
    /// No branch of the reader's union reads a type the writer may write.
    MissingUnionBranch,
    /// A reader field absent from the writer's record has no default.
    ReaderFieldMissingDefaultValue,
    /// Two decimals with different precision or scale, or a `decimal` and a `big-decimal`.
    DecimalMismatch,
    /// A reference to a named type that the schema does not define (the schema is incomplete).
    UnresolvedReference,
}

impl IncompatibilityKind {
    /// The Confluent-like name, e.g. `"READER_FIELD_MISSING_DEFAULT_VALUE"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::TypeMismatch => "TYPE_MISMATCH",
            Self::NameMismatch => "NAME_MISMATCH",
            Self::FixedSizeMismatch => "FIXED_SIZE_MISMATCH",
            Self::MissingEnumSymbols => "MISSING_ENUM_SYMBOLS",
            Self::MissingUnionBranch => "MISSING_UNION_BRANCH",
            Self::ReaderFieldMissingDefaultValue => "READER_FIELD_MISSING_DEFAULT_VALUE",
            Self::DecimalMismatch => "DECIMAL_MISMATCH",
            Self::UnresolvedReference => "UNRESOLVED_REFERENCE",
        }
    }
}

impl fmt::Display for IncompatibilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason two schemas are incompatible. `path` is a JSON-pointer-like location in the READER
/// schema, e.g. "/fields/3/type/items" (root is "/"); see the module docs for the path grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    pub kind: IncompatibilityKind,
    pub path: String,
    /// A sentence naming both schemas' sides of the difference.
    pub message: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at '{}': {}", self.kind, self.path, self.message)
    }
}

/// Which schema reads which in one half of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The new schema reads data written with the old one.
    Backward,
    /// The old schema reads data written with the new one.
    Forward,
}

impl Direction {
    /// `"BACKWARD"` or `"FORWARD"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Backward => "BACKWARD",
            Self::Forward => "FORWARD",
        }
    }
}

/// One incompatibility of a new schema with one existing version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionIncompatibility {
    /// The existing version checked against.
    pub version: i32,
    pub direction: Direction,
    /// Its message speaks of "the new schema" and "the old schema"; its path is in the reader of `direction`.
    pub incompatibility: Incompatibility,
}

impl fmt::Display for VersionIncompatibility {
    /// Confluent-like verbose message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&verbose_message(
            self.version,
            self.direction,
            self.incompatibility.kind.as_str(),
            &self.incompatibility.path,
            &self.incompatibility.message,
        ))
    }
}

/// The verbose message of one incompatibility with one existing version, the same for every schema
/// type: `kind` is the rule broken (a difference type for JSON Schema and Protobuf), `path` where.
pub fn verbose_message(version: i32, direction: Direction, kind: &str, path: &str, description: &str) -> String {
    format!(
        "{{oldSchemaVersion: {version}, direction: {}, type: {kind}, path: '{path}', description: '{description}'}}",
        direction.as_str()
    )
}

/// One comparison of a check by difference rules (JSON Schema, Protobuf): BACKWARD takes the old
/// version as the original and the new schema as the update, FORWARD the other way round, as in
/// Confluent.
#[derive(Debug)]
pub struct DiffPair<'s, S: ?Sized> {
    pub version: i32,
    pub direction: Direction,
    pub original: &'s S,
    pub update: &'s S,
    /// How messages name the original and the update: "old schema" or "new schema".
    pub original_role: &'static str,
    pub update_role: &'static str,
}

impl<S: ?Sized> DiffPair<'_, S> {
    /// The verbose message of an incompatible difference of `kind` at `path` found in this pair.
    pub fn message(&self, kind: &str, path: &str, description: &str) -> String {
        verbose_message(self.version, self.direction, kind, path, description)
    }
}

/// The comparisons a check at `level` makes by difference rules, for each version
/// [`compared_versions`] picks and each direction of the level, in that order.
pub fn diff_pairs<'s, S: ?Sized>(
    level: CompatibilityLevel,
    new: &'s S,
    existing: &[(i32, &'s S)],
) -> Vec<DiffPair<'s, S>> {
    let mut pairs = Vec::new();
    for &(version, old) in compared_versions(level, existing) {
        for &direction in level.directions() {
            let (original, update, original_role, update_role) = match direction {
                Direction::Backward => (old, new, "old schema", "new schema"),
                Direction::Forward => (new, old, "new schema", "old schema"),
            };
            pairs.push(DiffPair {
                version,
                direction,
                original,
                update,
                original_role,
                update_role,
            });
        }
    }
    pairs
}

/// Checks `new` against `existing` (ordered OLDEST FIRST, live versions only) at `level`, by the
/// rules of `new`'s schema type (`policy` applies to JSON Schema). Returns Confluent-like verbose
/// messages, one per incompatibility; empty = compatible.
pub fn check(
    level: CompatibilityLevel,
    policy: CompatibilityPolicy,
    new: &ParsedSchema,
    existing: &[(i32, &ParsedSchema)],
) -> Vec<String> {
    // A version of another type can never be read as this one: Confluent says so, and so do we.
    let mut other_type = Vec::new();
    for &(version, old) in compared_versions(level, existing) {
        if old.schema_type() != new.schema_type() {
            other_type.push(format!(
                "{{oldSchemaVersion: {version}, type: SCHEMA_TYPE_CHANGED, description: 'the new schema is {} \
                 but version {version} is {}'}}",
                new.schema_type().as_str(),
                old.schema_type().as_str()
            ));
        }
    }
    if !other_type.is_empty() {
        return other_type;
    }
    match new {
        ParsedSchema::Avro(new) => avro::check(
            level,
            new,
            &same_type(existing, |s| match s {
                ParsedSchema::Avro(s) => Some(s.as_ref()),
                _ => None,
            }),
        ),
        ParsedSchema::Json(new) => json::check(
            level,
            policy,
            new,
            &same_type(existing, |s| match s {
                ParsedSchema::Json(s) => Some(s.as_ref()),
                _ => None,
            }),
        ),
        ParsedSchema::Protobuf(new) => protobuf::check(
            level,
            new,
            &same_type(existing, |s| match s {
                ParsedSchema::Protobuf(s) => Some(s.as_ref()),
                _ => None,
            }),
        ),
    }
}

/// The versions of `existing` that `pick` accepts (those of the new schema's type, every one once
/// [`check`] has refused other types).
fn same_type<'s, T: ?Sized>(
    existing: &[(i32, &'s ParsedSchema)],
    pick: impl Fn(&'s ParsedSchema) -> Option<&'s T>,
) -> Vec<(i32, &'s T)> {
    existing
        .iter()
        .filter_map(|&(version, old)| pick(old).map(|s| (version, s)))
        .collect()
}

/// The existing versions a check at `level` compares a new schema with, given `existing` OLDEST
/// FIRST: every one, newest first, for transitive levels; else the newest only.
pub fn compared_versions<S>(level: CompatibilityLevel, existing: &[(i32, S)]) -> Vec<&(i32, S)> {
    if level.is_transitive() {
        existing.iter().rev().collect()
    } else {
        existing.last().into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_through_their_confluent_names() {
        for level in CompatibilityLevel::ALL {
            assert_eq!(CompatibilityLevel::parse(level.as_str()), Some(level));
            let json = serde_json::to_string(&level).unwrap();
            assert_eq!(json, format!("\"{}\"", level.as_str()));
            assert_eq!(serde_json::from_str::<CompatibilityLevel>(&json).unwrap(), level);
        }
        assert_eq!(
            CompatibilityLevel::parse("backward"),
            None,
            "names are exact, as in Confluent"
        );
        assert_eq!(CompatibilityLevel::parse("FULL "), None);
    }

    #[test]
    fn default_level_is_backward_as_in_confluent() {
        assert_eq!(CompatibilityLevel::default(), CompatibilityLevel::Backward);
    }

    #[test]
    fn only_transitive_levels_are_transitive() {
        let transitive: Vec<_> = CompatibilityLevel::ALL
            .into_iter()
            .filter(|l| l.is_transitive())
            .collect();
        assert_eq!(
            transitive,
            [
                CompatibilityLevel::BackwardTransitive,
                CompatibilityLevel::ForwardTransitive,
                CompatibilityLevel::FullTransitive
            ]
        );
    }
}
