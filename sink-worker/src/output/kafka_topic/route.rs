//! The Kafka output: kept events, unchanged (the same envelope bytes and `host:pid` key), routed to
//! another topic, exactly once.
//!
//! A batch's records are first staged as one blob in the pipeline's staging store and recorded in the
//! manifest, like a file. Publishing the blob is one Kafka transaction that produces the records and
//! commits, to the routing group `{group}.route`, the source partitions' end offsets of the batch. So
//! "published" is a fact Kafka itself holds: a blob whose source ends are already committed in the
//! routing group is done. The transactional id is derived from the manifest row, so two workers
//! publishing the same blob fence each other instead of both producing it. Blobs are published in
//! manifest order, which per source partition is commit order, so a later batch never marks an
//! earlier one as done.
//!
//! A backfill's blob has no source partitions. Its manifest entry is marked [`BACKFILL_SOURCES`], and
//! its publish commits instead the entry's id + 1 as the routing group's offset of the output topic's
//! partition 0, a partition the group never reads: ids grow in manifest order too, so the same
//! "committed at least this far" test tells whether it is done.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::KafkaConfig;
use crate::config::outputs::KafkaTopicConfig;
use murron_connect::kafka::{consumer_config, producer_config};

/// Why a blob could not be published. Kafka errors are worth retrying; a corrupt blob is not.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("staged blob is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("output topic {0:?} does not exist; create it first")]
    MissingTopic(String),
    #[error("manifest entry names no source partitions: {0:?}")]
    Sources(String),
}

impl RouteError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, RouteError::Kafka(_))
    }
}

/// A source partition's end offset: (topic, partition, end).
pub type SourceEnd = (String, i32, i64);

/// The manifest's sources text of a blob written by a backfill.
pub const BACKFILL_SOURCES: &str = "backfill";

/// The manifest's text for a blob's source ends: `topic:partition:end` joined by `;`.
pub fn sources_text(ends: &[SourceEnd]) -> String {
    ends.iter()
        .map(|(t, p, e)| format!("{t}:{p}:{e}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Parses [`sources_text`]; topics may contain `:` so the two numbers are split off the right.
pub fn parse_sources(text: &str) -> Result<Vec<SourceEnd>, RouteError> {
    let bad = || RouteError::Sources(text.to_owned());
    let mut out = Vec::new();
    for part in text.split(';').filter(|p| !p.is_empty()) {
        let (rest, end) = part.rsplit_once(':').ok_or_else(bad)?;
        let (topic, partition) = rest.rsplit_once(':').ok_or_else(bad)?;
        out.push((
            topic.to_owned(),
            partition.parse().map_err(|_| bad())?,
            end.parse().map_err(|_| bad())?,
        ));
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Appends one record to a blob: key and value, each with a 4-byte big-endian length.
pub fn push_record(blob: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    for part in [key, value] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
}

/// A routed record: key and value.
pub type Record<'a> = (&'a [u8], &'a [u8]);

/// The records of a blob.
pub fn records(blob: &[u8]) -> Result<Vec<Record<'_>>, RouteError> {
    fn take<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], RouteError> {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or(RouteError::Corrupt("truncated length"))?;
        let len = u32::from_be_bytes(*len) as usize;
        let (part, tail) = tail
            .split_at_checked(len)
            .ok_or(RouteError::Corrupt("truncated record"))?;
        *rest = tail;
        Ok(part)
    }
    let mut out = Vec::new();
    let mut rest = blob;
    while !rest.is_empty() {
        let key = take(&mut rest)?;
        let value = take(&mut rest)?;
        out.push((key, value));
    }
    Ok(out)
}

/// Keeps the first failed delivery report: a failed transaction only says how many failed.
#[derive(Debug, Default, Clone)]
struct DeliveryErrors(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl DeliveryErrors {
    fn first(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl rdkafka::ClientContext for DeliveryErrors {}

impl rdkafka::producer::ProducerContext for DeliveryErrors {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| e.to_string());
        }
    }
}

/// Publishes blobs of one pipeline to one topic.
#[derive(Debug, Clone)]
pub struct TopicRoute {
    kafka: KafkaConfig,
    topic: String,
    route_group: String,
    pipeline: String,
}

const TIMEOUT: Duration = Duration::from_secs(30);

impl TopicRoute {
    pub fn new(kafka: &KafkaConfig, config: &KafkaTopicConfig, pipeline: &str, group: &str) -> Self {
        Self {
            kafka: kafka.clone(),
            topic: config.topic.clone(),
            route_group: format!("{group}.route"),
            pipeline: pipeline.to_owned(),
        }
    }

    /// Checks that the topic exists, so a typo fails at start instead of stalling every publish.
    /// Blocking.
    pub fn check(&self) -> Result<(), RouteError> {
        let consumer: BaseConsumer = consumer_config(&self.kafka).create()?;
        let metadata = consumer.fetch_metadata(Some(&self.topic), TIMEOUT)?;
        match metadata.topics().first() {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
            _ => Err(RouteError::MissingTopic(self.topic.clone())),
        }
    }

    /// The marker a backfill's blob `id` commits to the routing group (see the module docs).
    pub fn backfill_marker(&self, id: i64) -> Vec<SourceEnd> {
        vec![(self.topic.clone(), 0, id + 1)]
    }

    /// The manifest's store name of this output.
    pub fn describe(&self) -> String {
        format!("kafka:{}", self.topic)
    }

    /// Publishes manifest entry `id` unless Kafka says it already is. Blocking: call it off the
    /// reactor. Returns whether records were produced now.
    /// `blob` is None when its staging object is gone: fine if Kafka has it already, an error if not.
    pub fn publish(&self, id: i64, blob: Option<&[u8]>, sources: &[SourceEnd]) -> Result<bool, RouteError> {
        let context = DeliveryErrors::default();
        let producer: rdkafka::producer::BaseProducer<DeliveryErrors> = producer_config(&self.kafka)
            .set("transactional.id", format!("murron-{}-{id}", self.pipeline))
            .set("transaction.timeout.ms", "60000")
            .create_with_context(context.clone())?;
        // Fences any other producer of this entry and aborts its open transaction.
        producer.init_transactions(TIMEOUT)?;
        let consumer: BaseConsumer = consumer_config(&self.kafka)
            .set("group.id", &self.route_group)
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        for (t, p, _) in sources {
            tpl.add_partition(t, *p);
        }
        let committed = consumer.committed_offsets(tpl, TIMEOUT)?;
        let done = sources.iter().all(|(t, p, end)| {
            committed
                .find_partition(t, *p)
                .is_some_and(|e| matches!(e.offset(), Offset::Offset(o) if o >= *end))
        });
        if done {
            return Ok(false);
        }
        let blob = blob.ok_or(RouteError::Corrupt("staged blob is missing and was never published"))?;
        producer.begin_transaction()?;
        for (key, value) in records(blob)? {
            let mut record = BaseRecord::to(&self.topic).key(key).payload(value);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        producer.poll(Duration::from_millis(50));
                    }
                    Err((e, _)) => {
                        let _ = producer.abort_transaction(TIMEOUT);
                        return Err(e.into());
                    }
                }
            }
        }
        let mut offsets = TopicPartitionList::new();
        for (t, p, end) in sources {
            offsets.add_partition_offset(t, *p, Offset::Offset(*end))?;
        }
        let metadata = consumer
            .group_metadata()
            .ok_or(KafkaError::MetadataFetch(RDKafkaErrorCode::InvalidGroupId))?;
        producer.send_offsets_to_transaction(&offsets, &metadata, TIMEOUT)?;
        if let Err(e) = producer.commit_transaction(Duration::from_secs(60)) {
            if let Some(first) = context.first() {
                tracing::warn!(topic = %self.topic, error = %first, "routed records failed delivery");
            }
            return Err(e.into());
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_reject_truncation() {
        let mut blob = Vec::new();
        push_record(&mut blob, b"h:1", b"value-1");
        push_record(&mut blob, b"", b"");
        assert_eq!(
            records(&blob).unwrap(),
            vec![(&b"h:1"[..], &b"value-1"[..]), (&b""[..], &b""[..])]
        );
        for cut in 1..blob.len() {
            if cut != 18 {
                assert!(records(&blob[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn source_text_round_trips_with_colons_in_topics() {
        let ends = vec![("a:b".to_owned(), 3, 100), ("t".to_owned(), 0, 7)];
        assert_eq!(parse_sources(&sources_text(&ends)).unwrap(), ends);
        assert!(parse_sources("").is_err());
        assert!(parse_sources("t:x:1").is_err());
    }
}
