//! Tracking a batch's streams (docs/RELIABILITY.md): which of its events each stream had already
//! received (duplicates, dropped), which are new (recorded per hour in the batch's transaction), and
//! which the sample keeps; the rest are grouped by file: one group per type, schema id and hour.
//!
//! Hot path: [`select`] runs once per event. The batch's streams are copied into owned keys once, and
//! events find theirs by index, so the cost per event does not grow with the number of streams.

use std::collections::HashMap;

use murron_payload::Variant;
use murron_wire::hours::hour_of_micros;
use murron_wire::ranges::OffsetRanges;
use murron_wire::stream::{StreamKey, sample_keeps};

use crate::output::{Group, Row};
use crate::state::StreamHourUpdate;

/// The streams of a batch's rows.
#[derive(Debug, Default)]
pub struct Streams {
    /// Each stream once, owned: what the state database is asked about and updated with.
    pub keys: Vec<StreamKey>,
    /// `of[i]` is the index in `keys` of row i's stream.
    of: Vec<usize>,
}

impl Streams {
    /// The streams of `rows`, or none at all for raw archiving, which tracks nothing.
    pub fn of(rows: &[Row<'_>], raw: bool) -> Self {
        if raw {
            return Self::default();
        }
        let mut index: foldhash::HashMap<(&str, &str, i32), usize> = foldhash::HashMap::default();
        let mut keys = Vec::new();
        let mut of = Vec::with_capacity(rows.len());
        for row in rows {
            let e = &row.envelope;
            let s = *index.entry((e.event_type, e.host, e.pid)).or_insert_with(|| {
                keys.push((e.event_type.to_owned(), e.host.to_owned(), e.pid));
                keys.len() - 1
            });
            of.push(s);
        }
        Self { keys, of }
    }
}

/// What [`select`] decided for a batch.
#[derive(Debug, Default)]
pub struct Selection<'a> {
    /// The rows to write, grouped by (type, schema id, hour) and sorted so.
    pub groups: Vec<Group<'a>>,
    pub duplicates: u64,
    pub sampled_out: u64,
    /// The offsets and duplicates received per stream and hour, for the state database.
    pub updates: Vec<StreamHourUpdate>,
}

/// One stream's part of a batch: what it had received before, what is new, and what to add per hour
/// (offsets and duplicates).
struct Tracked<'r> {
    received: Option<&'r OffsetRanges>,
    fresh: OffsetRanges,
    hours: foldhash::HashMap<i64, (OffsetRanges, i64)>,
}

/// Drops the rows their streams already received, samples the rest, and groups what is kept.
/// `received` is what the state database holds for `streams`; `from_kafka` says whether a duplicate
/// is a redelivery (counted) or a backfill re-reading what arrived live (not counted).
pub fn select<'a>(
    rows: &[Row<'a>],
    streams: &Streams,
    received: &HashMap<StreamKey, OffsetRanges>,
    from_kafka: bool,
    sample_rate: u32,
) -> Selection<'a> {
    let mut tracked: Vec<Tracked<'_>> = streams
        .keys
        .iter()
        .map(|k| Tracked {
            received: received.get(k),
            fresh: OffsetRanges::default(),
            hours: foldhash::HashMap::default(),
        })
        .collect();
    let mut selection = Selection::default();
    // (type, schema id, hour) -> group, found by hash per row and sorted once below.
    let mut group_of: foldhash::HashMap<(&'a str, u32, Variant, i64), usize> = foldhash::HashMap::default();
    for (i, row) in rows.iter().enumerate() {
        let env = &row.envelope;
        let hour = hour_of_micros(env.timestamp);
        if let Some(&s) = streams.of.get(i) {
            let stream = &mut tracked[s];
            let new = !stream.received.is_some_and(|r| r.contains(env.offset)) && stream.fresh.insert(env.offset);
            let entry = stream.hours.entry(hour).or_default();
            if !new {
                if from_kafka {
                    entry.1 += 1;
                }
                selection.duplicates += 1;
                continue;
            }
            entry.0.insert(env.offset);
            if !sample_keeps(env.event_type, env.host, env.pid, env.offset, sample_rate) {
                selection.sampled_out += 1;
                continue;
            }
        }
        let groups = &mut selection.groups;
        let g = *group_of
            .entry((env.event_type, row.schema_id, row.variant, hour))
            .or_insert_with(|| {
                groups.push(Group {
                    event_type: env.event_type,
                    schema_id: row.schema_id,
                    variant: row.variant,
                    hour,
                    rows: Vec::new(),
                });
                groups.len() - 1
            });
        groups[g].rows.push(i);
    }
    selection
        .groups
        .sort_unstable_by_key(|g| (g.event_type, g.schema_id, g.variant, g.hour));
    selection.updates = streams
        .keys
        .iter()
        .zip(tracked)
        .flat_map(|(stream, t)| {
            t.hours
                .into_iter()
                .map(|(hour, (received, duplicates))| StreamHourUpdate {
                    stream: stream.clone(),
                    hour,
                    received,
                    duplicates,
                })
        })
        .collect();
    selection
}
