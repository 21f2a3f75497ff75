//! Protobuf compatibility, by Confluent's rules: two versions of a `.proto` file are diffed into
//! typed differences, and a change is compatible when every difference is of a compatible type.
//!
//! [`differences`] compares an ORIGINAL file with an UPDATE. BACKWARD checks the old version as
//! the original and the new schema as the update (Confluent's `isBackwardCompatible`); FORWARD
//! the reverse; FULL both. [`check`] renders the incompatible differences as verbose messages.
//!
//! # The rules
//! - **Package**: a different package is `PACKAGE_CHANGED`.
//! - **Messages and enums** of each scope (the file, then each message) are matched by name:
//!   missing ones are `MESSAGE_REMOVED` / `ENUM_REMOVED`, new ones `MESSAGE_ADDED` / `ENUM_ADDED`;
//!   a message at another index among its scope's messages is also `MESSAGE_MOVED`. Map entries
//!   are not messages here: their map fields compare them.
//! - **Enum values** are matched by number: `ENUM_CONST_ADDED`, `ENUM_CONST_REMOVED`, and
//!   `ENUM_CONST_CHANGED` for a new name.
//! - **Fields** are matched by number, wherever they sit (top level or in a oneof). A missing field
//!   is `FIELD_REMOVED` (`REQUIRED_FIELD_REMOVED` if required; `ONEOF_FIELD_REMOVED` if it was in a
//!   oneof, unless that whole oneof went away with all its members); a new one `FIELD_ADDED`
//!   (`REQUIRED_FIELD_ADDED`, `ONEOF_FIELD_ADDED`). For a field in both: a new name is
//!   `FIELD_NAME_CHANGED`; a change between scalar (enums included), message and map is
//!   `FIELD_KIND_CHANGED`; between scalars of different wire groups `FIELD_SCALAR_KIND_CHANGED`
//!   (the groups: `int32 int64 uint32 uint64 bool` and enums; `sint32 sint64`; `string bytes`;
//!   `fixed32 sfixed32`; `fixed64 sfixed64`; `float`; `double`); maps compare their key and value
//!   types so. Between labels (`optional`, `required`, `repeated`) of scalars in the same group:
//!   `FIELD_STRING_OR_BYTES_LABEL_CHANGED` for strings and bytes, `FIELD_NUMERIC_LABEL_CHANGED`
//!   otherwise. As in Confluent, a field without a written label (proto3 singular, oneof member)
//!   has none, and only labels on both sides are compared.
//! - **Message types** of fields match when their names without their files' packages match, else
//!   `FIELD_NAMED_TYPE_CHANGED`. When both are declared in the compared files the walk of those
//!   files compares them. When either comes from an imported file, the two messages are compared
//!   here, their differences reported at paths from the message's name (`#/Imported/1`), and any
//!   incompatible one also makes the field `FIELD_NAMED_TYPE_CHANGED`.
//! - **Oneofs**: `ONEOF_ADDED` / `ONEOF_REMOVED` by name; a field that leaves a oneof for the top
//!   level is `ONEOF_FIELD_MOVED_TO_TOP_LEVEL`. An update oneof whose members were apart in the
//!   original (in different oneofs, or in one and outside any) is `FIELD_MOVED_TO_EXISTING_ONEOF`,
//!   or `MULTIPLE_FIELDS_MOVED_TO_ONEOF` when two or more came from the top level: data written
//!   with both set could not be read. Fields new in the update do not count.
//! - **Paths** are Confluent's: `#/` then message names, then a field's number, a oneof's name
//!   before it for a member in the update (`#/Message/choice/3`), or an enum value's number.
//! - **Recursion**: a message met again while its fields are being compared has only its nested
//!   types compared (as in Confluent); a message of an imported file is compared once per check
//!   and the result reused, and one met again while being compared is assumed compatible.
//!
//! # Where this differs from Confluent
//! - Each difference is listed once. Confluent lists an imported message's differences again for
//!   each field that uses it.
//! - Confluent skips comparing an imported message when both versions import it from the same
//!   subject and version. Here the references' subjects and versions are not known, so imported
//!   messages are always compared; identical ones give no difference, so results agree.
//! - Following more than 64 imported message types into one another is refused as
//!   `FIELD_NAMED_TYPE_CHANGED` instead of recursing further.
//! - Proto2 groups are compared as message fields with nested messages; Confluent's parser keeps
//!   groups apart and does not compare them.
//! - Confluent's data-contract metadata (`confluent:reserved` field names) is not part of a schema
//!   here; [`reserved_field_violations`] applies its rules given the names.

mod diff;

use std::fmt;

use super::{CompatibilityLevel, diff_pairs};
use crate::schema::protobuf::ProtobufSchema;

/// Confluent's types of difference between two versions of a Protobuf schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DifferenceType {
    PackageChanged,
    MessageAdded,
    MessageRemoved,
    MessageMoved,
    EnumAdded,
    EnumRemoved,
    EnumConstAdded,
    EnumConstChanged,
    EnumConstRemoved,
    FieldAdded,
    FieldRemoved,
    FieldNameChanged,
    FieldKindChanged,
    FieldScalarKindChanged,
    FieldNamedTypeChanged,
    FieldNumericLabelChanged,
    FieldStringOrBytesLabelChanged,
    RequiredFieldAdded,
    RequiredFieldRemoved,
    OneofAdded,
    OneofRemoved,
    OneofFieldAdded,
    OneofFieldRemoved,
    OneofFieldMovedToTopLevel,
    MultipleFieldsMovedToOneof,
    FieldMovedToExistingOneof,
}

impl DifferenceType {
    /// Every type, in Confluent's order.
    pub const ALL: [DifferenceType; 26] = [
        Self::PackageChanged,
        Self::MessageAdded,
        Self::MessageRemoved,
        Self::MessageMoved,
        Self::EnumAdded,
        Self::EnumRemoved,
        Self::EnumConstAdded,
        Self::EnumConstChanged,
        Self::EnumConstRemoved,
        Self::FieldAdded,
        Self::FieldRemoved,
        Self::FieldNameChanged,
        Self::FieldKindChanged,
        Self::FieldScalarKindChanged,
        Self::FieldNamedTypeChanged,
        Self::FieldNumericLabelChanged,
        Self::FieldStringOrBytesLabelChanged,
        Self::RequiredFieldAdded,
        Self::RequiredFieldRemoved,
        Self::OneofAdded,
        Self::OneofRemoved,
        Self::OneofFieldAdded,
        Self::OneofFieldRemoved,
        Self::OneofFieldMovedToTopLevel,
        Self::MultipleFieldsMovedToOneof,
        Self::FieldMovedToExistingOneof,
    ];

    /// Confluent's name, e.g. `"FIELD_SCALAR_KIND_CHANGED"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::PackageChanged => "PACKAGE_CHANGED",
            Self::MessageAdded => "MESSAGE_ADDED",
            Self::MessageRemoved => "MESSAGE_REMOVED",
            Self::MessageMoved => "MESSAGE_MOVED",
            Self::EnumAdded => "ENUM_ADDED",
            Self::EnumRemoved => "ENUM_REMOVED",
            Self::EnumConstAdded => "ENUM_CONST_ADDED",
            Self::EnumConstChanged => "ENUM_CONST_CHANGED",
            Self::EnumConstRemoved => "ENUM_CONST_REMOVED",
            Self::FieldAdded => "FIELD_ADDED",
            Self::FieldRemoved => "FIELD_REMOVED",
            Self::FieldNameChanged => "FIELD_NAME_CHANGED",
            Self::FieldKindChanged => "FIELD_KIND_CHANGED",
            Self::FieldScalarKindChanged => "FIELD_SCALAR_KIND_CHANGED",
            Self::FieldNamedTypeChanged => "FIELD_NAMED_TYPE_CHANGED",
            Self::FieldNumericLabelChanged => "FIELD_NUMERIC_LABEL_CHANGED",
            Self::FieldStringOrBytesLabelChanged => "FIELD_STRING_OR_BYTES_LABEL_CHANGED",
            Self::RequiredFieldAdded => "REQUIRED_FIELD_ADDED",
            Self::RequiredFieldRemoved => "REQUIRED_FIELD_REMOVED",
            Self::OneofAdded => "ONEOF_ADDED",
            Self::OneofRemoved => "ONEOF_REMOVED",
            Self::OneofFieldAdded => "ONEOF_FIELD_ADDED",
            Self::OneofFieldRemoved => "ONEOF_FIELD_REMOVED",
            Self::OneofFieldMovedToTopLevel => "ONEOF_FIELD_MOVED_TO_TOP_LEVEL",
            Self::MultipleFieldsMovedToOneof => "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
            Self::FieldMovedToExistingOneof => "FIELD_MOVED_TO_EXISTING_ONEOF",
        }
    }

    /// Whether data written with the original can still be read with the update (Confluent's set).
    pub fn is_compatible(&self) -> bool {
        matches!(
            self,
            Self::MessageAdded
                | Self::MessageMoved
                | Self::EnumAdded
                | Self::EnumRemoved
                | Self::EnumConstAdded
                | Self::EnumConstChanged
                | Self::EnumConstRemoved
                | Self::FieldAdded
                | Self::FieldRemoved
                | Self::FieldNameChanged
                | Self::FieldStringOrBytesLabelChanged
                | Self::OneofAdded
                | Self::OneofRemoved
                | Self::OneofFieldAdded
                | Self::OneofFieldMovedToTopLevel
        )
    }

    /// A sentence on the difference at `path`, naming the original and the update by `roles`.
    fn describe(&self, path: &str, roles: Roles) -> String {
        let Roles { original, update } = roles;
        match self {
            Self::PackageChanged => format!("the package of the {update} differs from the package of the {original}"),
            Self::MessageAdded => format!("the {update} adds the message at '{path}'"),
            Self::MessageRemoved => format!("the {update} has no message at '{path}', which the {original} has"),
            Self::MessageMoved => format!("the message at '{path}' has another index in the {update}"),
            Self::EnumAdded => format!("the {update} adds the enum at '{path}'"),
            Self::EnumRemoved => format!("the {update} has no enum at '{path}', which the {original} has"),
            Self::EnumConstAdded => format!("the {update} adds the enum value at '{path}'"),
            Self::EnumConstChanged => format!("the enum value at '{path}' has another name in the {update}"),
            Self::EnumConstRemoved => format!("the {update} has no enum value at '{path}'"),
            Self::FieldAdded => format!("the {update} adds the field at '{path}'"),
            Self::FieldRemoved => format!("the {update} has no field at '{path}'"),
            Self::FieldNameChanged => format!("the field at '{path}' has another name in the {update}"),
            Self::FieldKindChanged => format!(
                "the field at '{path}' is a scalar, a message or a map in the {update} and another of \
                 them in the {original}"
            ),
            Self::FieldScalarKindChanged => format!(
                "the field at '{path}' has a scalar type in the {update} whose encoding does not read \
                 its type in the {original}"
            ),
            Self::FieldNamedTypeChanged => format!(
                "the field at '{path}' has a message type in the {update} that does not read its type \
                 in the {original}"
            ),
            Self::FieldNumericLabelChanged => format!(
                "the numeric field at '{path}' has another label (optional, required or repeated) in \
                 the {update} than in the {original}"
            ),
            Self::FieldStringOrBytesLabelChanged => {
                format!("the string or bytes field at '{path}' has another label in the {update}")
            }
            Self::RequiredFieldAdded => format!(
                "the {update} requires the field at '{path}', which data written with the {original} \
                 lacks"
            ),
            Self::RequiredFieldRemoved => {
                format!("the {update} has no field at '{path}', which the {original} requires")
            }
            Self::OneofAdded => format!("the {update} adds the oneof at '{path}'"),
            Self::OneofRemoved => format!("the {update} has no oneof at '{path}'"),
            Self::OneofFieldAdded => format!("the {update} adds the oneof member at '{path}'"),
            Self::OneofFieldRemoved => format!(
                "the {update} has no field at '{path}', a member of a oneof in the {original} whose \
                 other members remain"
            ),
            Self::OneofFieldMovedToTopLevel => {
                format!("the oneof member at '{path}' is outside any oneof in the {update}")
            }
            Self::MultipleFieldsMovedToOneof => format!(
                "the oneof at '{path}' in the {update} holds several fields that are outside any oneof \
                 in the {original}, so data that sets more than one does not read"
            ),
            Self::FieldMovedToExistingOneof => format!(
                "the oneof at '{path}' in the {update} holds fields that the {original} keeps apart (in \
                 another oneof or outside any), so data that sets both does not read"
            ),
        }
    }
}

impl fmt::Display for DifferenceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between two versions, at a Confluent path such as `#/Order/3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Difference {
    pub kind: DifferenceType,
    pub path: String,
}

impl fmt::Display for Difference {
    /// `KIND path`, as Confluent's test cases write differences.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.path)
    }
}

/// What the original and the update are in a check, for messages.
#[derive(Clone, Copy)]
struct Roles {
    original: &'static str,
    update: &'static str,
}

/// The differences from `original` to `update`; the update reads data written with the original
/// if every one [is compatible](DifferenceType::is_compatible).
pub fn differences(original: &ProtobufSchema, update: &ProtobufSchema) -> Vec<Difference> {
    diff::differences(original.file(), update.file())
}

/// Checks `new` against `existing` (OLDEST FIRST, live versions only) at `level`. Returns
/// Confluent-like verbose messages, one per incompatible difference; empty = compatible.
pub fn check(level: CompatibilityLevel, new: &ProtobufSchema, existing: &[(i32, &ProtobufSchema)]) -> Vec<String> {
    let mut out = Vec::new();
    for pair in diff_pairs(level, new, existing) {
        let roles = Roles {
            original: pair.original_role,
            update: pair.update_role,
        };
        for d in differences(pair.original, pair.update) {
            if !d.kind.is_compatible() {
                out.push(pair.message(d.kind.as_str(), &d.path, &d.kind.describe(&d.path, roles)));
            }
        }
    }
    out
}

/// Confluent's reserved-field rules (applied when a subject validates fields), given the
/// `confluent:reserved` names of the new schema and of the latest version: a reserved name may not
/// be dropped, and no top-level field of the new schema may use one.
pub fn reserved_field_violations(
    new: &ProtobufSchema,
    new_reserved: &[&str],
    previous_reserved: Option<&[&str]>,
) -> Vec<String> {
    let mut out = Vec::new();
    for name in previous_reserved.unwrap_or_default() {
        if !new_reserved.contains(name) {
            out.push(format!(
                "the new schema drops the reserved field name {name:?} of the latest version"
            ));
        }
    }
    for name in new_reserved {
        if new.has_top_level_field(name) {
            out.push(format!("the new schema has a field named {name:?}, which is reserved"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
