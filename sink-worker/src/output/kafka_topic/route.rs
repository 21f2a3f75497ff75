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
//! Kafka forgets a routing group's offsets `offsets.retention.minutes` after they were committed (the
//! group never has members). That is harmless for a blob the manifest marks published, but a worker
//! that stopped between a blob's transaction and its mark, and stayed down that long, would find no
//! offsets and route the blob again. So a blob's manifest entry also keeps the output topic's end
//! offsets read when it was staged, and the first record of each transaction carries its
//! transactional id in the [`ROUTE_HEADER`] header: when the routing group holds no offset of any of
//! the blob's sources, the output topic is read (`read_committed`) from those offsets to its end, and
//! the header tells whether this blob's transaction committed. The producer is fenced first, so the
//! answer cannot change while it is read.
//!
//! A backfill's blob has no source partitions. Its manifest entry is marked [`BACKFILL_SOURCES`], and
//! its publish commits instead the entry's id + 1 as the routing group's offset of the output topic's
//! partition 0, a partition the group never reads: ids grow in manifest order too, so the same
//! "committed at least this far" test tells whether it is done.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

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
    #[error(
        "the routing group no longer holds offsets of blob {id} and {topic:?} no longer holds records \
         from where it would be (partitions {partitions:?}, deleted by retention): whether it was \
         published cannot be told; see docs/EXACTLY_ONCE.md, \"Known limits\""
    )]
    Undecidable {
        id: i64,
        topic: String,
        partitions: Vec<i32>,
    },
    #[error("reading {0:?} to look for a published blob did not reach its end within 2 minutes")]
    ScanTimeout(String),
}

impl RouteError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, RouteError::Kafka(_) | RouteError::ScanTimeout(_))
    }
}

/// A source partition's end offset: (topic, partition, end).
pub type SourceEnd = (String, i32, i64);

/// The manifest's sources text of a blob written by a backfill.
pub const BACKFILL_SOURCES: &str = "backfill";

/// The header of the first record of each routed transaction: its transactional id.
pub const ROUTE_HEADER: &str = "murron-route";

/// The output topic's end offsets, (partition, offset), when a blob was staged: its records, if
/// published, are at or after them.
pub type RouteFrom = Vec<(i32, i64)>;

/// The manifest's text of a staged blob (its `final_key`): the sources text ([`sources_text`] or
/// [`BACKFILL_SOURCES`]), then `|from=` and the output topic's end offsets as `partition:offset`
/// joined by `,`. Kafka topic names cannot contain `|`.
pub fn staged_text(sources: &str, from: &[(i32, i64)]) -> String {
    let from: Vec<String> = from.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    format!("{sources}|from={}", from.join(","))
}

/// Splits [`staged_text`] into the sources text and the end offsets. An entry written before the
/// offsets were kept has none: its blob is then looked for from the start of the topic.
pub fn parse_staged(text: &str) -> Result<(&str, Option<RouteFrom>), RouteError> {
    let Some((sources, from)) = text.split_once("|from=") else {
        return Ok((text, None));
    };
    let bad = || RouteError::Sources(text.to_owned());
    let mut out = Vec::new();
    for part in from.split(',').filter(|p| !p.is_empty()) {
        let (p, o) = part.split_once(':').ok_or_else(bad)?;
        out.push((p.parse().map_err(|_| bad())?, o.parse().map_err(|_| bad())?));
    }
    Ok((sources, Some(out)))
}

/// What the routing group's committed offsets say about a blob with `sources`: `Some(true)` if
/// published, `Some(false)` if not, `None` if the group holds no offset of any of them (nothing
/// routed there yet, or expired). Per source partition blobs are published in order and an offset
/// is replaced only by a higher one or expires, so an offset below a source's end means the blob's
/// transaction never committed, and one at or past it means it did.
fn group_says(committed: &TopicPartitionList, sources: &[SourceEnd]) -> Option<bool> {
    let mut reached = false;
    for (t, p, end) in sources {
        match committed.find_partition(t, *p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) if o >= *end => reached = true,
            Some(Offset::Offset(_)) => return Some(false),
            _ => {}
        }
    }
    reached.then_some(true)
}

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

/// Reads the output topic's end offsets when a blob is staged ([`RouteFrom`]); one client kept for
/// the worker's life, as staging happens once per batch.
pub struct EndOffsets {
    consumer: BaseConsumer,
    topic: String,
}

impl std::fmt::Debug for EndOffsets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndOffsets")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl EndOffsets {
    pub fn new(kafka: &KafkaConfig, topic: &str) -> Result<Self, RouteError> {
        Ok(Self {
            consumer: consumer_config(kafka).create()?,
            topic: topic.to_owned(),
        })
    }

    /// Every partition's end offset now. Blocking.
    pub fn read(&self) -> Result<RouteFrom, RouteError> {
        let mut latest = TopicPartitionList::new();
        for p in partitions(&self.consumer, &self.topic)? {
            // Offset::End asks for the latest offset (ListOffsets with timestamp -1).
            latest.add_partition_offset(&self.topic, p, Offset::End)?;
        }
        let found = self.consumer.offsets_for_times(latest, TIMEOUT)?;
        // A partition without an answer is looked for from its start: slower, still right.
        Ok(found
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect())
    }
}

/// The partition ids of `topic`. Blocking.
fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>, RouteError> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    match metadata.topics().first() {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
            Ok(t.partitions().iter().map(|p| p.id()).collect())
        }
        _ => Err(RouteError::MissingTopic(topic.to_owned())),
    }
}

/// How long looking for a published blob may wait for the topic's end: past the longest transaction
/// of ours (60 s) that can hold back what `read_committed` sees.
const SCAN_TIMEOUT: Duration = Duration::from_secs(120);

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
        partitions(&consumer, &self.topic).map(|_| ())
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
    /// `from` is where its records would be in the topic ([`RouteFrom`]; None for an old entry).
    pub fn publish(
        &self,
        id: i64,
        blob: Option<&[u8]>,
        sources: &[SourceEnd],
        from: Option<&[(i32, i64)]>,
    ) -> Result<bool, RouteError> {
        let context = DeliveryErrors::default();
        let transactional_id = format!("murron-{}-{id}", self.pipeline);
        let producer: rdkafka::producer::BaseProducer<DeliveryErrors> = producer_config(&self.kafka)
            .set("transactional.id", &transactional_id)
            .set("transaction.timeout.ms", "60000")
            .create_with_context(context.clone())?;
        // Fences any other producer of this entry and aborts its open transaction, so whether the
        // entry was published cannot change while it is looked up below.
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
        let done = match group_says(&committed, sources) {
            Some(done) => done,
            None => self.find_published(id, &transactional_id, from)?,
        };
        if done {
            return Ok(false);
        }
        let blob = blob.ok_or(RouteError::Corrupt("staged blob is missing and was never published"))?;
        producer.begin_transaction()?;
        for (n, (key, value)) in records(blob)?.into_iter().enumerate() {
            let mut record = BaseRecord::to(&self.topic).key(key).payload(value);
            if n == 0 {
                record = record.headers(OwnedHeaders::new().insert(Header {
                    key: ROUTE_HEADER,
                    value: Some(transactional_id.as_bytes()),
                }));
            }
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

    /// Whether a transaction of `transactional_id` committed records to the topic at or after
    /// `from`: reads every partition with `read_committed` from there to its end now, looking for
    /// the [`ROUTE_HEADER`]. The caller has fenced that transactional id. Blocking.
    fn find_published(&self, id: i64, transactional_id: &str, from: Option<&[(i32, i64)]>) -> Result<bool, RouteError> {
        let consumer: BaseConsumer = consumer_config(&self.kafka)
            .set("group.id", &self.route_group)
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()?;
        let mut ends = HashMap::new();
        let mut assignment = TopicPartitionList::new();
        let mut deleted = Vec::new();
        for p in partitions(&consumer, &self.topic)? {
            // A partition added since the blob was staged is read from its start.
            let start = from
                .and_then(|f| f.iter().find(|(q, _)| *q == p))
                .map_or(0, |(_, o)| *o);
            let (low, high) = consumer.fetch_watermarks(&self.topic, p, TIMEOUT)?;
            if high <= start {
                continue;
            }
            if low > start {
                deleted.push(p);
            }
            assignment.add_partition_offset(&self.topic, p, Offset::Offset(start.max(low)))?;
            ends.insert(p, high);
        }
        tracing::info!(
            topic = %self.topic,
            id,
            partitions = ends.len(),
            "the routing group holds no offsets of this blob; looking for it in the topic"
        );
        if !ends.is_empty() {
            consumer.assign(&assignment)?;
        }
        let deadline = Instant::now() + SCAN_TIMEOUT;
        while !ends.is_empty() {
            if Instant::now() >= deadline {
                return Err(RouteError::ScanTimeout(self.topic.clone()));
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let ours = m.headers().is_some_and(|h| {
                        h.iter()
                            .any(|h| h.key == ROUTE_HEADER && h.value == Some(transactional_id.as_bytes()))
                    });
                    if ours {
                        return Ok(true);
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => {}
            }
            // The position moves past transaction markers too, so it reaches the end offset read
            // above once everything before it is decided and read.
            let position = consumer.position()?;
            ends.retain(|p, end| {
                !matches!(
                    position.find_partition(&self.topic, *p).map(|e| e.offset()),
                    Some(Offset::Offset(o)) if o >= *end
                )
            });
        }
        if !deleted.is_empty() {
            return Err(RouteError::Undecidable {
                id,
                topic: self.topic.clone(),
                partitions: deleted,
            });
        }
        Ok(false)
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
    fn staged_text_round_trips_and_reads_entries_without_offsets() {
        let text = staged_text("t:0:100;t:1:7", &[(0, 5), (1, 0)]);
        assert_eq!(
            parse_staged(&text).unwrap(),
            ("t:0:100;t:1:7", Some(vec![(0, 5), (1, 0)]))
        );
        assert_eq!(parse_staged("t:0:100").unwrap(), ("t:0:100", None));
        assert_eq!(
            parse_staged(&staged_text(BACKFILL_SOURCES, &[])).unwrap(),
            (BACKFILL_SOURCES, Some(vec![]))
        );
        assert!(parse_staged("t:0:1|from=0:x").is_err());
    }

    #[test]
    fn the_routing_group_decides_unless_it_holds_no_offset_of_the_blob() {
        let sources = vec![("t".to_owned(), 0, 100), ("t".to_owned(), 1, 50)];
        let committed = |offsets: &[(i32, i64)]| {
            let mut tpl = TopicPartitionList::new();
            for (p, o) in offsets {
                tpl.add_partition_offset("t", *p, Offset::Offset(*o)).unwrap();
            }
            tpl
        };
        assert_eq!(group_says(&committed(&[(0, 100), (1, 60)]), &sources), Some(true));
        assert_eq!(group_says(&committed(&[(0, 99), (1, 50)]), &sources), Some(false));
        // One source's offset expired: the other still tells.
        assert_eq!(group_says(&committed(&[(1, 50)]), &sources), Some(true));
        assert_eq!(group_says(&committed(&[(1, 49)]), &sources), Some(false));
        assert_eq!(group_says(&committed(&[]), &sources), None);
        assert_eq!(group_says(&committed(&[(2, 500)]), &sources), None);
    }

    #[test]
    fn source_text_round_trips_with_colons_in_topics() {
        let ends = vec![("a:b".to_owned(), 3, 100), ("t".to_owned(), 0, 7)];
        assert_eq!(parse_sources(&sources_text(&ends)).unwrap(), ends);
        assert!(parse_sources("").is_err());
        assert!(parse_sources("t:x:1").is_err());
    }
}
