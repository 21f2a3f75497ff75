//! JSON Schema compatibility. PLACEHOLDER (being written): refuses every change so nothing is
//! accepted unchecked.

use super::{CompatibilityLevel, CompatibilityPolicy, Direction, compared_versions, verbose_message};
use crate::schema::json::JsonSchema;

/// Checks `new` against `existing` (OLDEST FIRST, live versions only) at `level` under `policy`.
pub fn check(
    level: CompatibilityLevel,
    _policy: CompatibilityPolicy,
    new: &JsonSchema,
    existing: &[(i32, &JsonSchema)],
) -> Vec<String> {
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
