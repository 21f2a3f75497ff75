//! Offsets as PostgreSQL stores them: [`OffsetRanges`] to and from the text form of an
//! `int8multirange`, which every table of received or archived offsets uses.

use murron_wire::ranges::OffsetRanges;

/// PostgreSQL's text form of an `int8multirange`, e.g. `{[0,5),[7,9)}`.
pub fn to_multirange(r: &OffsetRanges) -> String {
    let mut s = String::from("{");
    for (i, (start, end)) in r.ranges().enumerate() {
        if i > 0 {
            s.push(',');
        }
        // Inclusive end; the upper bound of i64::MAX cannot be written exclusive, so use `]`.
        if end == i64::MAX {
            s.push_str(&format!("[{start},{end}]"));
        } else {
            s.push_str(&format!("[{start},{})", end + 1));
        }
    }
    s.push('}');
    s
}

/// Parses PostgreSQL's canonical text form of an `int8multirange` (`[a,b)` ranges).
pub fn parse_multirange(text: &str) -> Option<OffsetRanges> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = OffsetRanges::default();
    if inner.is_empty() {
        return Some(out);
    }
    for part in inner.split("),") {
        let part = part.trim_end_matches(')');
        let (lo, hi) = part.strip_prefix('[')?.split_once(',')?;
        let (lo, hi): (i64, i64) = (lo.parse().ok()?, hi.parse().ok()?);
        if hi <= lo {
            return None;
        }
        out.insert_range(lo, hi - 1);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multirange_text_round_trips() {
        let mut r = OffsetRanges::default();
        r.insert_range(0, 4);
        r.insert_range(7, 8);
        let text = to_multirange(&r);
        assert_eq!(text, "{[0,5),[7,9)}");
        assert_eq!(parse_multirange(&text), Some(r));
        assert_eq!(parse_multirange("{}"), Some(OffsetRanges::default()));
        assert_eq!(parse_multirange("{[5,3)}"), None);
        assert_eq!(parse_multirange("nonsense"), None);
    }
}
