//! The REP history (docs/RELIABILITY.md, "REP history"): what each sweep saw of each type's hours, so
//! that an hour a backfill repaired still shows that it dropped.
//!
//! At every sweep the monitor counts each type's hours ([`hour_counts`]) and [`plan`]s what to write:
//! a new row when an hour's missing or pending count differs from its latest recorded row, an update
//! of the latest row's total when only the total moved (events still arriving), nothing otherwise. So
//! repeated sweeps of unchanged hours write nothing and the table grows with changes, not sweeps.
//! [`series`] turns the recorded rows into the API's answer: per hour, its scores over time, the
//! lowest and the current one, and the backfills that finished between a drop and its repair.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::gaps::rep_score;
use crate::state::history::{FinishedBackfill, HourCounts, Recorded};
use murron_wire::hours::hour_timestamp;

/// Each type's counts per hour, of the hours from `from_hour` on: `received` is (type, hour,
/// distinct offsets received), `gaps` is (type, hour, offsets missing, whether still pending).
pub fn hour_counts<'a>(
    received: impl IntoIterator<Item = (&'a str, i64, u64)>,
    gaps: impl IntoIterator<Item = (&'a str, i64, u64, bool)>,
    from_hour: i64,
) -> Vec<HourCounts> {
    // (received, missing, pending)
    let mut by_hour: BTreeMap<(&str, i64), (u64, u64, u64)> = BTreeMap::new();
    for (t, hour, n) in received {
        if hour >= from_hour {
            by_hour.entry((t, hour)).or_default().0 += n;
        }
    }
    for (t, hour, n, pending) in gaps {
        if hour >= from_hour {
            let c = by_hour.entry((t, hour)).or_default();
            if pending {
                c.2 += n;
            } else {
                c.1 += n;
            }
        }
    }
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    by_hour
        .into_iter()
        .filter(|(_, (r, m, p))| r + m + p > 0)
        .map(|((t, hour), (r, m, p))| HourCounts {
            event_type: t.to_owned(),
            hour,
            total: int(r.saturating_add(m).saturating_add(p)),
            missing: int(m),
            pending: int(p),
        })
        .collect()
}

/// What one sweep writes to the history.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Hours never recorded, or whose missing or pending count changed: a new row each.
    pub new: Vec<HourCounts>,
    /// Hours whose counts are unchanged but for the total: the latest row's total is updated.
    pub refresh: Vec<HourCounts>,
}

/// Compares this sweep's `counts` with the `latest` recorded row of each hour.
pub fn plan(latest: &[HourCounts], counts: Vec<HourCounts>) -> Plan {
    let latest: HashMap<(&str, i64), &HourCounts> =
        latest.iter().map(|l| ((l.event_type.as_str(), l.hour), l)).collect();
    let mut plan = Plan::default();
    for c in counts {
        match latest.get(&(c.event_type.as_str(), c.hour)) {
            Some(l) if l.missing == c.missing && l.pending == c.pending => {
                if l.total != c.total {
                    plan.refresh.push(c);
                }
            }
            _ => plan.new.push(c),
        }
    }
    plan
}

/// One recorded state of an hour, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// When a sweep first saw these counts (RFC 3339, UTC).
    pub seen_at: String,
    /// The latest sweep that changed `total`, else `seen_at`.
    pub updated_at: String,
    pub total: i64,
    pub missing: i64,
    pub pending: i64,
    /// `((total - missing) / total) * 100`, as of `updated_at`.
    pub rep_score: Option<f64>,
    /// Backfills of this type and hour that finished after the previous point was seen and before
    /// this one, when this point has fewer events missing: what repaired them.
    pub repaired_by: Vec<i64>,
}

/// One type's hour over time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourHistory {
    #[serde(rename = "type")]
    pub event_type: String,
    pub hour: String,
    /// The score of the latest point.
    pub rep_score: Option<f64>,
    /// The lowest score of any point.
    pub lowest_rep_score: Option<f64>,
    /// The hour dropped below its current score and came back up.
    pub repaired: bool,
    /// Oldest first.
    pub points: Vec<Point>,
}

/// Groups `rows` (ordered by type, hour and time seen) per hour, naming the backfills that repaired
/// each improvement.
pub fn series(rows: Vec<Recorded>, backfills: &[FinishedBackfill]) -> Vec<HourHistory> {
    let mut out: Vec<HourHistory> = Vec::new();
    let mut prev: Option<(String, i64, f64, i64)> = None; // (type, hour, seen_at, missing)
    for r in rows {
        let c = &r.counts;
        let score = rep_score(c.total.max(0) as u64, c.missing.max(0) as u64);
        let same_hour = prev
            .as_ref()
            .is_some_and(|(t, h, _, _)| *t == c.event_type && *h == c.hour);
        let repaired_by = match &prev {
            Some((_, _, since, missing)) if same_hour && c.missing < *missing => {
                let mut ids: Vec<i64> = backfills
                    .iter()
                    .filter(|b| {
                        b.event_type == c.event_type
                            && b.from_hour <= c.hour
                            && c.hour < b.to_hour
                            && b.finished_at > *since
                            && b.finished_at <= r.seen_at
                    })
                    .map(|b| b.id)
                    .collect();
                ids.sort_unstable();
                ids
            }
            _ => Vec::new(),
        };
        let point = Point {
            seen_at: r.seen_at_text,
            updated_at: r.updated_at_text,
            total: c.total,
            missing: c.missing,
            pending: c.pending,
            rep_score: score,
            repaired_by,
        };
        match out.last_mut() {
            Some(h) if same_hour => h.points.push(point),
            _ => out.push(HourHistory {
                event_type: c.event_type.clone(),
                hour: hour_timestamp(c.hour),
                rep_score: None,
                lowest_rep_score: None,
                repaired: false,
                points: vec![point],
            }),
        }
        prev = Some((c.event_type.clone(), c.hour, r.seen_at, c.missing));
    }
    for h in &mut out {
        h.rep_score = h.points.last().and_then(|p| p.rep_score);
        h.lowest_rep_score = h.points.iter().filter_map(|p| p.rep_score).reduce(f64::min);
        h.repaired = matches!((h.lowest_rep_score, h.rep_score), (Some(low), Some(now)) if low < now);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(t: &str, hour: i64, total: i64, missing: i64, pending: i64) -> HourCounts {
        HourCounts {
            event_type: t.into(),
            hour,
            total,
            missing,
            pending,
        }
    }

    fn rec(c: HourCounts, seen_at: f64) -> Recorded {
        Recorded {
            counts: c,
            seen_at,
            seen_at_text: format!("t{seen_at}"),
            updated_at_text: format!("t{seen_at}"),
        }
    }

    #[test]
    fn counts_add_received_missing_and_pending_per_type_and_hour_within_retention() {
        let got = hour_counts(
            [("a", 10, 90), ("a", 10, 5), ("a", 11, 50), ("b", 10, 7), ("a", 3, 1)],
            [
                ("a", 10, 3, false),
                ("a", 10, 2, true),
                ("b", 12, 4, false),
                ("a", 3, 9, false),
            ],
            5,
        );
        assert_eq!(
            got,
            vec![
                counts("a", 10, 100, 3, 2),
                counts("a", 11, 50, 0, 0),
                counts("b", 10, 7, 0, 0),
                // An hour with nothing received but its gap still has a score: 0.
                counts("b", 12, 4, 4, 0),
            ]
        );
    }

    #[test]
    fn an_unchanged_hour_writes_nothing_and_a_changed_one_a_new_row() {
        let latest = vec![
            counts("a", 10, 100, 3, 0),
            counts("a", 11, 50, 0, 0),
            counts("a", 12, 8, 0, 2),
        ];
        let now = vec![
            counts("a", 10, 100, 3, 0), // unchanged
            counts("a", 11, 70, 0, 0),  // only more events: the latest row's total moves
            counts("a", 12, 8, 2, 0),   // pending became missing: the drop is a new row
            counts("a", 13, 5, 0, 0),   // never recorded
        ];
        let p = plan(&latest, now);
        assert_eq!(p.new, vec![counts("a", 12, 8, 2, 0), counts("a", 13, 5, 0, 0)]);
        assert_eq!(p.refresh, vec![counts("a", 11, 70, 0, 0)]);
        // The next sweep over the same state writes nothing at all.
        let latest = vec![
            counts("a", 10, 100, 3, 0),
            counts("a", 11, 70, 0, 0),
            counts("a", 12, 8, 2, 0),
            counts("a", 13, 5, 0, 0),
        ];
        assert_eq!(plan(&latest, latest.clone()), Plan::default());
    }

    #[test]
    fn a_repaired_hour_shows_its_drop_its_repair_and_the_backfill_that_did_it() {
        let rows = vec![
            rec(counts("a", 14, 1024, 0, 32), 100.0),
            rec(counts("a", 14, 1024, 32, 0), 200.0),
            rec(counts("a", 14, 1024, 0, 0), 300.0),
            rec(counts("a", 15, 500, 0, 0), 300.0),
        ];
        let backfills = [
            FinishedBackfill {
                id: 12,
                event_type: "a".into(),
                from_hour: 14,
                to_hour: 15,
                finished_at: 250.0,
            },
            // Finished before the drop was seen, another type, another hour: none repaired it.
            FinishedBackfill {
                id: 11,
                event_type: "a".into(),
                from_hour: 14,
                to_hour: 15,
                finished_at: 150.0,
            },
            FinishedBackfill {
                id: 13,
                event_type: "b".into(),
                from_hour: 14,
                to_hour: 15,
                finished_at: 250.0,
            },
            FinishedBackfill {
                id: 14,
                event_type: "a".into(),
                from_hour: 15,
                to_hour: 16,
                finished_at: 250.0,
            },
        ];
        let s = series(rows, &backfills);
        assert_eq!(s.len(), 2);
        let h = &s[0];
        assert_eq!(h.hour, hour_timestamp(14));
        assert_eq!(
            h.points.iter().map(|p| p.rep_score).collect::<Vec<_>>(),
            vec![Some(100.0), Some(96.875), Some(100.0)]
        );
        assert_eq!(h.lowest_rep_score, Some(96.875));
        assert_eq!(h.rep_score, Some(100.0));
        assert!(h.repaired);
        assert_eq!(h.points[1].repaired_by, Vec::<i64>::new());
        assert_eq!(h.points[2].repaired_by, vec![12]);
        // A full hour that never dropped is not "repaired".
        assert!(!s[1].repaired);
        assert_eq!(s[1].lowest_rep_score, Some(100.0));
    }

    #[test]
    fn an_hour_still_low_is_not_repaired() {
        let s = series(
            vec![rec(counts("a", 1, 10, 1, 0), 1.0), rec(counts("a", 1, 10, 2, 0), 2.0)],
            &[],
        );
        assert_eq!(s[0].rep_score, Some(80.0));
        assert_eq!(s[0].lowest_rep_score, Some(80.0));
        assert!(!s[0].repaired);
    }
}
