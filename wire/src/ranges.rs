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

    /// True when `offset` was received.
    pub fn contains(&self, offset: i64) -> bool {
        self.ranges
            .range(..=offset)
            .next_back()
            .is_some_and(|(_, end)| *end >= offset)
    }

    /// True when any offset of `start..=end` was received.
    pub fn intersects(&self, start: i64, end: i64) -> bool {
        self.ranges.range(..=end).next_back().is_some_and(|(_, e)| *e >= start)
    }

    /// Adds the inclusive range `start..=end`; returns how many of its offsets were new.
    pub fn insert_range(&mut self, start: i64, end: i64) -> u64 {
        // Ranges come from our own state (few and wide), so walking them is cheap.
        let mut added = 0;
        let mut at = start;
        while at <= end {
            match self.ranges.range(..=at).next_back().map(|(s, e)| (*s, *e)) {
                Some((_, e)) if e >= at => at = e.saturating_add(1),
                _ => {
                    let next_start = self.ranges.range(at..).next().map_or(i64::MAX, |(s, _)| *s);
                    let stop = end.min(next_start.saturating_sub(1));
                    let (mut s, mut e) = (at, stop);
                    if let Some((ps, pe)) = self.ranges.range(..at).next_back().map(|(s, e)| (*s, *e))
                        && pe.checked_add(1) == Some(at)
                    {
                        self.ranges.remove(&ps);
                        s = ps;
                    }
                    if let Some(ne) = stop.checked_add(1).and_then(|n| self.ranges.remove(&n)) {
                        e = ne;
                    }
                    self.ranges.insert(s, e);
                    added += (stop - at) as u64 + 1;
                    if stop == i64::MAX {
                        break;
                    }
                    at = stop + 1;
                }
            }
            if at == i64::MIN {
                break;
            }
        }
        self.len += added;
        added
    }

    /// The received ranges in order, each inclusive.
    pub fn ranges(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ranges.iter().map(|(s, e)| (*s, *e))
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
    fn intersects_tells_whether_any_offset_of_a_range_is_there() {
        let mut r = OffsetRanges::default();
        r.insert_range(10, 19);
        assert!(r.intersects(0, 10) && r.intersects(19, 30) && r.intersects(12, 13) && r.intersects(0, 100));
        assert!(!r.intersects(0, 9) && !r.intersects(20, 30));
    }

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
    fn ranges_merge_with_neighbours_and_count_only_new_offsets() {
        let mut r = OffsetRanges::default();
        assert_eq!(r.insert_range(0, 4), 5);
        assert_eq!(r.insert_range(10, 12), 3);
        assert_eq!(r.insert_range(3, 10), 5);
        assert_eq!(r.ranges().collect::<Vec<_>>(), vec![(0, 12)]);
        assert_eq!(r.len(), 13);
        assert!(r.contains(12) && !r.contains(13) && !r.contains(-1));
        let mut single = OffsetRanges::default();
        for o in [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 4] {
            single.insert(o);
        }
        assert_eq!(r.insert_range(0, 12), 0);
        assert_eq!(single.ranges().collect::<Vec<_>>(), vec![(0, 2), (4, 12)]);
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
