//! Protobuf compatibility. PLACEHOLDER (being written): refuses every change so nothing is
//! accepted unchecked.

use super::{CompatibilityLevel, Direction, compared_versions, verbose_message};
use crate::schema::protobuf::ProtobufSchema;

/// Checks `new` against `existing` (OLDEST FIRST, live versions only) at `level`.
pub fn check(level: CompatibilityLevel, new: &ProtobufSchema, existing: &[(i32, &ProtobufSchema)]) -> Vec<String> {
    let mut out = Vec::new();
    for &(version, old) in compared_versions(level, existing) {
        if old != new {
            for &direction in level.directions() {
                out.push(verbose_message(
                    version,
                    direction,
                    "NOT_CHECKED",
                    "#/",
                    "not checked yet",
                ));
            }
        }
    }
    let _ = Direction::Backward;
    out
}
