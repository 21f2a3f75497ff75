//! A set of offsets stored as disjoint ranges, so memory grows with the number of gaps, not events.

use std::collections::BTreeMap;

/// Received offsets of one stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OffsetRanges {
    /// start -> end, both inclusive; ranges never touch or overlap.
    ranges: BTreeMap<i64, i64>,
    len: u64,
}

impl OffsetRanges {
    /// Adds `offset`; false when it was already present (a duplicate).
    pub fn insert(&mut self, offset: i64) -> bool {
        let prev = self.ranges.range(..=offset).next_back().map(|(s, e)| (*s, *e));
        if let Some((_, end)) = prev
            && end >= offset
        {
            return false;
        }
        let joins_prev = prev.filter(|(_, end)| end.checked_add(1) == Some(offset));
        let next_end = offset.checked_add(1).and_then(|n| self.ranges.remove(&n));
        let start = joins_prev.map_or(offset, |(s, _)| s);
        self.ranges.insert(start, next_end.unwrap_or(offset));
        self.len += 1;
        true
    }

    /// Number of distinct offsets received.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The highest offset received.
    pub fn max(&self) -> Option<i64> {
        self.ranges.iter().next_back().map(|(_, e)| *e)
    }

    /// Offsets in `0..=max` not received: the stream's known losses (tail loss is invisible here).
    pub fn missing(&self) -> u64 {
        self.max().map_or(0, |max| (max as u64 + 1).saturating_sub(self.len))
    }

    /// The holes in `0..=max`, as inclusive ranges.
    pub fn gaps(&self) -> Vec<(i64, i64)> {
        let mut gaps = Vec::new();
        let mut expected = 0i64;
        for (&start, &end) in &self.ranges {
            if start > expected {
                gaps.push((expected, start - 1));
            }
            expected = end.saturating_add(1);
        }
        gaps
    }

    /// Number of stored ranges (memory use is proportional to this).
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_offsets_in_any_order_collapse_to_one_range() {
        let mut r = OffsetRanges::default();
        for o in [3, 0, 2, 1, 5, 4] {
            assert!(r.insert(o));
        }
        assert_eq!((r.len(), r.range_count(), r.missing()), (6, 1, 0));
    }

    #[test]
    fn repeated_offset_is_reported_as_duplicate() {
        let mut r = OffsetRanges::default();
        assert!(r.insert(7));
        assert!(!r.insert(7));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn holes_are_listed_as_gaps_and_counted_missing() {
        let mut r = OffsetRanges::default();
        for o in [0, 1, 4, 5, 9] {
            r.insert(o);
        }
        assert_eq!(r.gaps(), vec![(2, 3), (6, 8)]);
        assert_eq!(r.missing(), 5);
        assert_eq!(r.range_count(), 3);
    }

    #[test]
    fn extreme_offsets_do_not_overflow() {
        let mut r = OffsetRanges::default();
        assert!(r.insert(i64::MAX));
        assert!(r.insert(i64::MAX - 1));
        assert!(!r.insert(i64::MAX));
        assert_eq!(r.range_count(), 1);
    }
}
