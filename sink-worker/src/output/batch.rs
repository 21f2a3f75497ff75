//! A batch as the outputs see it: its rows decoded, the kept ones grouped by file, and each group
//! converted to Arrow and encoded in every file format an output needs. Built once per batch by the
//! writer; outputs only read it.

use std::collections::HashMap;

use arrow_array::RecordBatch;
use murron_payload::Variant;
use murron_wire::envelope::Envelope;

use crate::config::outputs::Format;

/// A batch ready for the outputs.
#[derive(Debug)]
pub struct Prepared<'a> {
    /// Unique to this batch and sorted by time; part of every staged and final key.
    pub batch_id: &'a str,
    /// Every decodable record of the batch, in Kafka order.
    pub rows: &'a [Row<'a>],
    /// The rows to write, one group per (type, schema id, hour), in that order.
    pub groups: &'a [Group<'a>],
    /// The groups that converted, in group order (none when the pipeline archives raw envelopes).
    pub converted: &'a [Converted],
    /// Read from Kafka, rather than from the archive by a backfill.
    pub from_kafka: bool,
    /// The Kafka batch's source partitions and their end offsets, `(topic, partition, end)`.
    pub sources: &'a [(String, i32, i64)],
    /// Where each of [`Self::sources`] started: the commit points the batch claimed.
    pub starts: &'a [i64],
}

/// A record of the batch and its envelope.
#[derive(Debug)]
pub struct Row<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub kafka_offset: i64,
    pub schema_id: u32,
    pub variant: Variant,
    pub envelope: Envelope<'a>,
    /// The record value as it came (Confluent-framed envelope).
    pub value: &'a [u8],
}

/// The rows of one file: one event type, one payload schema and message type, one hour of event
/// time.
#[derive(Debug)]
pub struct Group<'a> {
    pub event_type: &'a str,
    pub schema_id: u32,
    pub variant: Variant,
    /// Hours since the epoch.
    pub hour: i64,
    /// Indexes into [`Prepared::rows`], in Kafka order.
    pub rows: Vec<usize>,
}

/// A group as Arrow and as the bytes of a file in each format an output needs.
#[derive(Debug)]
pub struct Converted {
    /// Index into [`Prepared::groups`].
    pub group: usize,
    pub batch: RecordBatch,
    pub files: HashMap<Format, Vec<u8>>,
}
