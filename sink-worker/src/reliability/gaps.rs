//! Finding a stream's gaps and the hours they belong to (docs/RELIABILITY.md).
//!
//! A stream's expected offsets are `0..=max`, where `max` is the highest offset either received or
//! found in the archive: the archive is what reveals tail loss. Each missing range is split by hour:
//! offsets the archive holds take the hour of their archived event; the rest take the hour of the
//! nearest known event after them (or before, at the tail).

use murron_wire::ranges::OffsetRanges;

/// A stream's offsets per hour (hours since the Unix epoch, UTC).
#[derive(Debug, Default, Clone)]
pub struct StreamOffsets {
    pub received: Vec<(i64, OffsetRanges)>,
    pub archived: Vec<(i64, OffsetRanges)>,
}

/// Missing offsets `first..=last` of one stream, all in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gap {
    pub first: i64,
    pub last: i64,
    pub hour: i64,
}

impl Gap {
    /// How many offsets are missing (never zero).
    pub fn count(&self) -> u64 {
        (self.last - self.first) as u64 + 1
    }
}

/// The union of per-hour offsets.
pub fn union(parts: &[(i64, OffsetRanges)]) -> OffsetRanges {
    let mut all = OffsetRanges::default();
    for (_, r) in parts {
        for (s, e) in r.ranges() {
            all.insert_range(s, e);
        }
    }
    all
}

impl StreamOffsets {
    /// The stream's gaps, in offset order.
    pub fn gaps(&self) -> Vec<Gap> {
        let received = union(&self.received);
        let archived = union(&self.archived);
        let Some(max) = received.max().max(archived.max()) else {
            return Vec::new();
        };
        // Missing = 0..=max minus received.
        let mut missing = Vec::new();
        let mut next = 0i64;
        for (s, e) in received.ranges() {
            if s > next {
                missing.push((next, s - 1));
            }
            next = e.saturating_add(1);
        }
        if next <= max {
            missing.push((next, max));
        }
        // Known events, for the hour of offsets the archive does not hold.
        let mut known: Vec<(i64, i64, i64)> = self
            .received
            .iter()
            .chain(&self.archived)
            .flat_map(|(hour, r)| r.ranges().map(move |(s, e)| (s, e, *hour)))
            .collect();
        known.sort_unstable();
        let mut out = Vec::new();
        for (first, last) in missing {
            // Pieces the archive holds, with their hours.
            let mut pieces: Vec<(i64, i64, i64)> = self
                .archived
                .iter()
                .flat_map(|(hour, r)| {
                    r.ranges()
                        .filter(move |(s, e)| *s <= last && *e >= first)
                        .map(move |(s, e)| (s.max(first), e.min(last), *hour))
                })
                .collect();
            pieces.sort_unstable();
            let mut at = first;
            for (s, e, hour) in pieces {
                if s > at {
                    out.push(Gap {
                        first: at,
                        last: s - 1,
                        hour: nearest_hour(&known, s - 1),
                    });
                }
                if e >= at {
                    out.push(Gap {
                        first: s.max(at),
                        last: e,
                        hour,
                    });
                    at = e.saturating_add(1);
                }
            }
            if at <= last {
                out.push(Gap {
                    first: at,
                    last,
                    hour: nearest_hour(&known, last),
                });
            }
        }
        merge_adjacent(out)
    }
}

/// The hour of the first known event after `offset`, else of the last one before it.
fn nearest_hour(known: &[(i64, i64, i64)], offset: i64) -> i64 {
    known
        .iter()
        .filter(|(_, e, _)| *e > offset)
        .min_by_key(|(s, _, _)| *s)
        .or_else(|| known.iter().filter(|(s, _, _)| *s < offset).max_by_key(|(_, e, _)| *e))
        .map_or(0, |(_, _, h)| *h)
}

fn merge_adjacent(gaps: Vec<Gap>) -> Vec<Gap> {
    let mut out: Vec<Gap> = Vec::with_capacity(gaps.len());
    for g in gaps {
        match out.last_mut() {
            Some(prev) if prev.hour == g.hour && prev.last + 1 == g.first => prev.last = g.last,
            _ => out.push(g),
        }
    }
    out
}

/// The REP score: `((total - missing) / total) * 100`; None when nothing was expected.
pub fn rep_score(total: u64, missing: u64) -> Option<f64> {
    (total > 0).then(|| (total.saturating_sub(missing)) as f64 / total as f64 * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(parts: &[(i64, i64)]) -> OffsetRanges {
        let mut r = OffsetRanges::default();
        for (s, e) in parts {
            r.insert_range(*s, *e);
        }
        r
    }

    #[test]
    fn holes_take_the_hour_of_the_next_received_event() {
        let s = StreamOffsets {
            received: vec![(10, ranges(&[(0, 4)])), (11, ranges(&[(8, 20)]))],
            archived: vec![],
        };
        assert_eq!(
            s.gaps(),
            vec![Gap {
                first: 5,
                last: 7,
                hour: 11
            }]
        );
    }

    #[test]
    fn the_archive_reveals_tail_loss_and_places_it_exactly() {
        let s = StreamOffsets {
            received: vec![(10, ranges(&[(0, 9)]))],
            archived: vec![(10, ranges(&[(0, 11)])), (11, ranges(&[(12, 14)]))],
        };
        assert_eq!(
            s.gaps(),
            vec![
                Gap {
                    first: 10,
                    last: 11,
                    hour: 10
                },
                Gap {
                    first: 12,
                    last: 14,
                    hour: 11
                }
            ]
        );
    }

    #[test]
    fn a_hole_partly_archived_is_split_between_archive_and_neighbour_hours() {
        let s = StreamOffsets {
            received: vec![(1, ranges(&[(0, 0)])), (3, ranges(&[(10, 10)]))],
            archived: vec![(2, ranges(&[(4, 5)]))],
        };
        assert_eq!(
            s.gaps(),
            vec![
                Gap {
                    first: 1,
                    last: 5,
                    hour: 2
                },
                Gap {
                    first: 6,
                    last: 9,
                    hour: 3
                }
            ]
        );
        let total: u64 = s.gaps().iter().map(Gap::count).sum();
        assert_eq!(total, 9);
    }

    #[test]
    fn nothing_missing_means_no_gaps_and_a_full_score() {
        let s = StreamOffsets {
            received: vec![(1, ranges(&[(0, 99)]))],
            archived: vec![(1, ranges(&[(0, 99)]))],
        };
        assert!(s.gaps().is_empty());
        assert_eq!(rep_score(100, 0), Some(100.0));
        assert_eq!(rep_score(200, 50), Some(75.0));
        assert_eq!(rep_score(0, 0), None);
    }
}
