//! The events consumed since the last flush, per Kafka partition. A batch is what one commit makes
//! durable: its files, its warehouse rows, its dead letters and the partitions' new commit points.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use murron_payload::Variant;

/// A consumed record that passed every check. The record value is kept whole and the envelope is
/// decoded again (zero-copy) when the batch is written, so buffering costs one allocation per event.
#[derive(Debug)]
pub struct Event {
    pub value: Box<[u8]>,
    pub kafka_offset: i64,
    pub schema_id: u32,
    pub variant: Variant,
}

/// A record that failed a check, with the stable reason code and a human detail.
#[derive(Debug)]
pub struct DeadEvent {
    pub value: Box<[u8]>,
    pub kafka_offset: i64,
    /// Kafka's record timestamp in milliseconds, when it has one.
    pub kafka_timestamp_ms: Option<i64>,
    pub reason: &'static str,
    pub detail: String,
}

/// What one partition contributed to the batch: the offsets `start..end` and the events among them.
#[derive(Debug)]
pub struct Segment {
    /// The commit point this segment continues from; the commit fails if it moved meanwhile.
    pub start: i64,
    /// One past the last consumed offset: the commit point after this batch.
    pub end: i64,
    pub valid: Vec<Event>,
    pub dead: Vec<DeadEvent>,
}

/// A Kafka partition.
pub type PartitionKey = (Arc<str>, i32);

/// Events buffered since the last flush.
#[derive(Debug)]
pub struct Batch {
    /// Kafka records claim and move their partitions' commit points. A backfill's batch (records read
    /// from archive files) has none: its segments only name the files, and deduplication alone makes
    /// it exactly once.
    pub from_kafka: bool,
    pub segments: BTreeMap<PartitionKey, Segment>,
    /// Records consumed into this batch (valid, dead, skipped).
    pub records: usize,
    pub bytes: usize,
    pub opened_at: Option<Instant>,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            from_kafka: true,
            segments: BTreeMap::new(),
            records: 0,
            bytes: 0,
            opened_at: None,
        }
    }
}

impl Batch {
    /// A batch of records read from the archive.
    pub fn from_archive() -> Self {
        Self {
            from_kafka: false,
            ..Self::default()
        }
    }

    /// The segment of `key`, opened at commit point `start` if new.
    pub fn segment(&mut self, key: &PartitionKey, start: i64) -> &mut Segment {
        self.opened_at.get_or_insert_with(Instant::now);
        self.segments.entry(key.clone()).or_insert_with(|| Segment {
            start,
            end: start,
            valid: Vec::new(),
            dead: Vec::new(),
        })
    }

    /// Counts a consumed record and moves the partition's end past it.
    pub fn consumed(&mut self, key: &PartitionKey, start: i64, kafka_offset: i64, bytes: usize) -> &mut Segment {
        self.records += 1;
        self.bytes += bytes;
        let segment = self.segment(key, start);
        segment.end = segment.end.max(kafka_offset + 1);
        segment
    }

    /// Forgets a partition's segment (revoked, or its commit point moved under us). Nothing of it was
    /// committed, so whoever owns the partition now reads those records again.
    pub fn drop_partition(&mut self, key: &PartitionKey) {
        if let Some(s) = self.segments.remove(key) {
            self.records = self.records.saturating_sub(s.valid.len() + s.dead.len());
        }
        if self.segments.is_empty() {
            *self = Batch {
                from_kafka: self.from_kafka,
                ..Batch::default()
            };
        }
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }
}
