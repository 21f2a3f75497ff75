//! The rules of the leaf schemas: string and number keywords, `enum` and `const`.

use std::collections::BTreeSet;

use serde_json::{Number, Value};

use super::compare::Found;
use super::difference::DifferenceType::{self, *};
use super::model::{NumberFacet, StringFacet};

/// The four difference types of one bound keyword: added, removed, increased, decreased.
type BoundKinds = [DifferenceType; 4];

/// Compares a bound present in either schema; equal values are no difference.
pub(super) fn compare_bound<T: PartialOrd>(
    found: &mut Found,
    keyword: &str,
    original: Option<T>,
    update: Option<T>,
    [added, removed, increased, decreased]: BoundKinds,
) {
    let kind = match (original, update) {
        (None, Some(_)) => added,
        (Some(_), None) => removed,
        (Some(o), Some(u)) if o < u => increased,
        (Some(o), Some(u)) if o > u => decreased,
        _ => return,
    };
    found.add(keyword, kind);
}

/// `minLength`, `maxLength` and `pattern`.
pub(super) fn compare_strings(found: &mut Found, original: &StringFacet<'_>, update: &StringFacet<'_>) {
    compare_bound(
        found,
        "maxLength",
        original.max_length,
        update.max_length,
        [MaxLengthAdded, MaxLengthRemoved, MaxLengthIncreased, MaxLengthDecreased],
    );
    compare_bound(
        found,
        "minLength",
        original.min_length,
        update.min_length,
        [MinLengthAdded, MinLengthRemoved, MinLengthIncreased, MinLengthDecreased],
    );
    let kind = match (original.pattern, update.pattern) {
        (None, Some(_)) => PatternAdded,
        (Some(_), None) => PatternRemoved,
        (Some(o), Some(u)) if o != u => PatternChanged,
        _ => return,
    };
    found.add("pattern", kind);
}

/// The number bounds, `multipleOf`, and integer against number.
pub(super) fn compare_numbers(found: &mut Found, original: &NumberFacet<'_>, update: &NumberFacet<'_>) {
    let bounds = [
        (
            "maximum",
            original.maximum,
            update.maximum,
            [MaximumAdded, MaximumRemoved, MaximumIncreased, MaximumDecreased],
        ),
        (
            "minimum",
            original.minimum,
            update.minimum,
            [MinimumAdded, MinimumRemoved, MinimumIncreased, MinimumDecreased],
        ),
        (
            "exclusiveMaximum",
            original.exclusive_maximum,
            update.exclusive_maximum,
            [
                ExclusiveMaximumAdded,
                ExclusiveMaximumRemoved,
                ExclusiveMaximumIncreased,
                ExclusiveMaximumDecreased,
            ],
        ),
        (
            "exclusiveMinimum",
            original.exclusive_minimum,
            update.exclusive_minimum,
            [
                ExclusiveMinimumAdded,
                ExclusiveMinimumRemoved,
                ExclusiveMinimumIncreased,
                ExclusiveMinimumDecreased,
            ],
        ),
    ];
    for (keyword, o, u, kinds) in bounds {
        compare_bound(found, keyword, o, u, kinds);
    }
    if let Some(kind) = multiple_of_change(original.multiple_of, update.multiple_of) {
        found.add("multipleOf", kind);
    }
    match (original.integer, update.integer) {
        (true, false) => found.add("", TypeExtended),
        (false, true) => found.add("", TypeNarrowed),
        _ => {}
    }
}

/// `multipleOf`, compared as exact decimals: an update that is a multiple of the original accepts
/// fewer numbers (expanded), one that divides it accepts more (reduced).
fn multiple_of_change(original: Option<&Number>, update: Option<&Number>) -> Option<DifferenceType> {
    let (o, u) = match (original, update) {
        (None, None) => return None,
        (None, Some(_)) => return Some(MultipleOfAdded),
        (Some(_), None) => return Some(MultipleOfRemoved),
        (Some(o), Some(u)) => (Decimal::parse(o), Decimal::parse(u)),
    };
    let (Some(o), Some(u)) = (o, u) else {
        // Beyond exact arithmetic: only equal texts are known to be equal.
        return (original != update).then_some(MultipleOfChanged);
    };
    if o.equals(&u) {
        None
    } else if !o.is_zero() && u.is_multiple_of(&o) {
        Some(MultipleOfExpanded)
    } else if !u.is_zero() && o.is_multiple_of(&u) {
        Some(MultipleOfReduced)
    } else {
        Some(MultipleOfChanged)
    }
}

/// A non-negative decimal `mantissa × 10^-scale`, exact for the numbers JSON texts carry.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    mantissa: u128,
    scale: u32,
}

impl Decimal {
    /// Parses the shortest text of a JSON number (`12`, `0.25`, `1e-7`, `2.5E+3`); None when it
    /// does not fit.
    fn parse(number: &Number) -> Option<Self> {
        let text = number.to_string();
        let text = text.trim_start_matches('-');
        let (digits, exponent) = match text.split_once(['e', 'E']) {
            Some((digits, exponent)) => (digits, exponent.parse::<i32>().ok()?),
            None => (text, 0),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let mut mantissa: u128 = 0;
        for c in whole.chars().chain(fraction.chars()) {
            mantissa = mantissa.checked_mul(10)?.checked_add(u128::from(c.to_digit(10)?))?;
        }
        let scale = i32::try_from(fraction.len()).ok()?.checked_sub(exponent)?;
        if scale >= 0 {
            Some(Self {
                mantissa,
                scale: scale.unsigned_abs(),
            })
        } else {
            let mantissa = mantissa.checked_mul(10u128.checked_pow(scale.unsigned_abs())?)?;
            Some(Self { mantissa, scale: 0 })
        }
    }

    /// Both mantissas at a common scale.
    fn aligned(&self, other: &Self) -> Option<(u128, u128)> {
        let scale = self.scale.max(other.scale);
        let at = |d: &Self| d.mantissa.checked_mul(10u128.checked_pow(scale - d.scale)?);
        Some((at(self)?, at(other)?))
    }

    fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    fn equals(&self, other: &Self) -> bool {
        self.aligned(other).is_some_and(|(a, b)| a == b)
    }

    /// Whether `self` is a whole multiple of `other` (false when not exactly computable).
    fn is_multiple_of(&self, other: &Self) -> bool {
        self.aligned(other).is_some_and(|(a, b)| b != 0 && a % b == 0)
    }
}

/// `const`: any change of the value.
pub(super) fn compare_consts(found: &mut Found, original: &Value, update: &Value) {
    if original != update {
        found.add("const", EnumArrayChanged);
    }
}

/// `enum`, as sets of values.
pub(super) fn compare_enums(found: &mut Found, o: &BTreeSet<String>, u: &BTreeSet<String>) {
    let kind = if o == u {
        return;
    } else if u.is_superset(o) {
        EnumArrayExtended
    } else if o.is_superset(u) {
        EnumArrayNarrowed
    } else {
        EnumArrayChanged
    };
    found.add("enum", kind);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(original: Value, update: Value) -> Option<DifferenceType> {
        multiple_of_change(original.as_number(), update.as_number())
    }

    #[test]
    fn multiple_of_is_compared_as_exact_decimals() {
        assert_eq!(change(json!(10), json!(2)), Some(MultipleOfReduced));
        assert_eq!(change(json!(2), json!(10)), Some(MultipleOfExpanded));
        assert_eq!(change(json!(10), json!(11)), Some(MultipleOfChanged));
        assert_eq!(change(json!(0.5), json!(10)), Some(MultipleOfExpanded));
        assert_eq!(change(json!(0.3), json!(0.1)), Some(MultipleOfReduced));
        assert_eq!(change(json!(0.5), json!(0.50)), None);
        assert_eq!(change(json!(1e-7), json!(0.0000001)), None);
        assert_eq!(change(json!(2.5e3), json!(500)), Some(MultipleOfReduced));
    }

    #[test]
    fn decimals_that_do_not_fit_fall_back_to_equality() {
        assert_eq!(change(json!(1e300), json!(1e-300)), Some(MultipleOfChanged));
        assert_eq!(change(json!(1e300), json!(1e300)), None);
    }
}
