//! How the cost of tracking received offsets grows with the number of streams: for 1,000, 100,000
//! and 1,000,000 distinct host/pid streams, about 2 million offsets are inserted round-robin (each
//! stream's offsets count up from 0, as live traffic interleaves them), and the table reports
//! inserts per second on one thread and the memory the structure holds afterwards.
//!
//! Three shapes:
//! - `owned HashMap`: `HashMap<StreamKey, OffsetRanges>`, one owned key per stream;
//! - `monitor`: the monitor's per-stream state, `BTreeMap<StreamKey, StreamOffsets>` with one hour of
//!   received offsets per stream (`reliability/monitor.rs`, `sweep`);
//! - `sink batch`: the sink's per-batch tracker (`pipeline/write.rs`, `Writer::write`): an index by
//!   borrowed `(&str, &str, i32)` key, one owned key per stream, and per stream its fresh offsets and
//!   its offsets per hour.
//!
//! Memory is counted by an instrumented global allocator: bytes allocated and not yet freed after
//! building, minus before (the input events are built first and not counted).
//!
//! `cargo bench -p sink-worker --bench streams`; with `-- --smoke`, only the smallest size (for CI).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use murron_wire::ranges::OffsetRanges;
use sink_worker::reliability::gaps::StreamOffsets;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const EVENT_TYPE: &str = "client.api_call";
/// Offsets inserted per run, spread evenly over the streams.
const TOTAL: usize = 2_000_000;
/// 2025-11-26T00:00Z in hours since the epoch: every offset falls in this hour.
const HOUR: i64 = 490_032;

type StreamKey = (String, String, i32);

/// Bytes currently allocated through the global allocator.
fn held() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

/// One stream's part of a sink batch, shaped as `Tracked` in `pipeline/write.rs`.
struct Tracked {
    fresh: OffsetRanges,
    hours: HashMap<i64, (OffsetRanges, i64)>,
}

struct Row {
    shape: &'static str,
    streams: usize,
    inserted: usize,
    elapsed: Duration,
    bytes: isize,
}

/// Runs `build` over the events and measures it; `build` returns what it built, dropped after measuring.
fn measure<T>(shape: &'static str, streams: usize, inserted: usize, build: impl FnOnce() -> T) -> Row {
    let before = held();
    let started = Instant::now();
    let built = build();
    let elapsed = started.elapsed();
    let bytes = held() - before;
    drop(built);
    Row {
        shape,
        streams,
        inserted,
        elapsed,
        bytes,
    }
}

fn main() {
    let sizes: &[usize] = if std::env::args().any(|a| a == "--smoke") {
        &[1_000]
    } else {
        &[1_000, 100_000, 1_000_000]
    };
    let mut rows = Vec::new();
    for &streams in sizes {
        let per_stream = (TOTAL / streams) as i64;
        let inserted = streams * per_stream as usize;
        // The events' stream identities, as decoded envelopes would borrow them from record values.
        let keys: Vec<StreamKey> = (0..streams)
            .map(|i| (EVENT_TYPE.to_owned(), format!("bench-host-{i}"), 1000 + i as i32))
            .collect();
        let events = || (0..per_stream).flat_map(|offset| keys.iter().map(move |k| (k, offset)));

        rows.push(measure("owned HashMap", streams, inserted, || {
            let mut map: HashMap<StreamKey, OffsetRanges> = HashMap::new();
            for (key, offset) in events() {
                match map.get_mut(key) {
                    Some(r) => {
                        r.insert(offset);
                    }
                    None => {
                        let mut r = OffsetRanges::default();
                        r.insert(offset);
                        map.insert(key.clone(), r);
                    }
                }
            }
            map
        }));

        rows.push(measure("monitor", streams, inserted, || {
            let mut map: BTreeMap<StreamKey, StreamOffsets> = BTreeMap::new();
            for (key, offset) in events() {
                let stream = match map.get_mut(key) {
                    Some(s) => s,
                    None => map.entry(key.clone()).or_default(),
                };
                match stream.received.iter_mut().find(|(h, _)| *h == HOUR) {
                    Some((_, r)) => {
                        r.insert(offset);
                    }
                    None => {
                        let mut r = OffsetRanges::default();
                        r.insert(offset);
                        stream.received.push((HOUR, r));
                    }
                }
            }
            map
        }));

        rows.push(measure("sink batch", streams, inserted, || {
            let mut index: HashMap<(&str, &str, i32), usize> = HashMap::new();
            let mut owned: Vec<StreamKey> = Vec::new();
            let mut tracked: Vec<Tracked> = Vec::new();
            for (key, _) in events() {
                index.entry((key.0.as_str(), key.1.as_str(), key.2)).or_insert_with(|| {
                    owned.push(key.clone());
                    tracked.push(Tracked {
                        fresh: OffsetRanges::default(),
                        hours: HashMap::new(),
                    });
                    owned.len() - 1
                });
            }
            for (key, offset) in events() {
                if let Some(&s) = index.get(&(key.0.as_str(), key.1.as_str(), key.2)) {
                    let stream = &mut tracked[s];
                    let new = stream.fresh.insert(offset);
                    let entry = stream.hours.entry(HOUR).or_default();
                    if new {
                        entry.0.insert(offset);
                    } else {
                        entry.1 += 1;
                    }
                }
            }
            (index, owned, tracked)
        }));
    }

    println!(
        "{:<14} {:>10} {:>10} {:>14} {:>14} {:>12}",
        "shape", "streams", "offsets", "inserts/s", "bytes held", "bytes/stream"
    );
    for r in &rows {
        println!(
            "{:<14} {:>10} {:>10} {:>14.0} {:>14} {:>12.0}",
            r.shape,
            r.streams,
            r.inserted,
            r.inserted as f64 / r.elapsed.as_secs_f64(),
            r.bytes,
            r.bytes as f64 / r.streams as f64,
        );
    }
}
