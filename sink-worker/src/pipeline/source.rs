//! The Kafka source of `run`: a consumer-group member with cooperative rebalancing and no automatic
//! offset handling. Offsets live in the state database (docs/EXACTLY_ONCE.md); Kafka's committed
//! offsets are written after them only as a hint, so that restarts begin close to where work stopped
//! and consumer-lag tools see progress.
//!
//! Rebalance callbacks run inside `recv()`, on the consuming task, and queue what happened; the run
//! loop drains the queue after every receive, so it sees a revocation before any message that
//! follows it. A revocation first waits for the batch being written, if any: its commit, publish and
//! offset hint must all come before the partitions' next owner reads their commit points.

use std::sync::{Arc, Condvar, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;

use crate::config::KafkaConfig;
use murron_connect::kafka::consumer_config;

/// A change of assignment seen by the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    Assigned(Vec<(String, i32)>),
    Revoked(Vec<(String, i32)>),
}

/// Consumer context: queues rebalances and publishes per-partition lag from librdkafka's statistics.
#[derive(Debug, Default, Clone)]
pub struct SourceContext {
    changes: Arc<Mutex<Vec<Assignment>>>,
    writing: Arc<Writing>,
}

/// Whether a batch is being written.
#[derive(Debug, Default)]
struct Writing {
    busy: Mutex<bool>,
    done: Condvar,
}

/// Held by a batch write; dropping it (the write finished, failed or panicked) lets a revocation go on.
#[derive(Debug)]
pub struct WriteInProgress(Arc<Writing>);

impl Drop for WriteInProgress {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.done.notify_all();
    }
}

impl SourceContext {
    /// Marks a batch write as started; it ends when the returned guard is dropped.
    pub fn write_started(&self) -> WriteInProgress {
        *self.writing.busy.lock().unwrap_or_else(|p| p.into_inner()) = true;
        WriteInProgress(self.writing.clone())
    }

    /// Blocks until no batch is being written.
    fn wait_for_write(&self) {
        let mut busy = self.writing.busy.lock().unwrap_or_else(|p| p.into_inner());
        if *busy {
            // The whole group's rebalance waits meanwhile, which an outage of an output can prolong.
            tracing::warn!("a rebalance is waiting for the batch being written before partitions are given up");
        }
        while *busy {
            busy = self.writing.done.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Takes the assignment changes queued since the last call.
    pub fn drain(&self) -> Vec<Assignment> {
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn push(&self, change: Assignment) {
        self.changes.lock().unwrap_or_else(|p| p.into_inner()).push(change);
    }
}

fn partitions(tpl: &rdkafka::TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (id, p) in &t.partitions {
                // -1 is librdkafka's internal UA partition; a negative lag means "unknown".
                if *id >= 0 && p.consumer_lag >= 0 {
                    metrics::gauge!("murron_sink_consumer_lag", "topic" => topic.clone(), "partition" => id.to_string())
                        .set(p.consumer_lag as f64);
                }
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.wait_for_write();
            tracing::info!(partitions = ?partitions(tpl), "partitions revoked");
            self.push(Assignment::Revoked(partitions(tpl)));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = ?partitions(tpl), "partitions assigned");
                self.push(Assignment::Assigned(partitions(tpl)));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// The consumer type of `run`.
pub type Consumer = StreamConsumer<SourceContext>;

/// A group member for `group`, subscribed to nothing yet.
pub fn consumer(config: &KafkaConfig, group: &str, context: SourceContext) -> KafkaResult<Consumer> {
    let mut c = consumer_config(config);
    for (k, v) in [
        ("group.id", group),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        ("partition.assignment.strategy", "cooperative-sticky"),
        ("enable.partition.eof", "false"),
        ("statistics.interval.ms", "5000"),
        // When the prefetch queue is full, librdkafka postpones each partition's next fetch by this
        // long (1 s by default): the worker sat idle for a few hundred milliseconds after every batch,
        // waiting for records.
        ("fetch.queue.backoff.ms", "20"),
        // The prefetch queue's size (64 MiB by default). Batches are written while the next is read,
        // so the queue need only cover a few fetch round trips: 6 MiB is about 50 ms of records at
        // 400,000 events/s. The default held the worker's peak RSS over 512 MiB.
        ("queued.max.messages.kbytes", "6144"),
    ] {
        if c.get(k).is_none() || k == "group.id" {
            c.set(k, v);
        }
    }
    c.create_with_context(context)
}
