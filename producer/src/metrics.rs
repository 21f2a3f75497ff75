//! The producer's metrics, through the `metrics` facade: the application installs the exporter.
//! Updated per batch, never per event.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `murron_producer_sent_total` | counter | first attempts |
//! | `murron_producer_acked_total` | counter | |
//! | `murron_producer_retries_total` | counter | `reason` |
//! | `murron_producer_refused_total` | counter | `reason` |
//! | `murron_producer_buffered_events` | gauge | |
//! | `murron_producer_buffered_bytes` | gauge | |
//! | `murron_producer_spool_bytes` | gauge | |
//! | `murron_producer_spool_corrupt_total` | counter | records skipped by recovery |
//! | `murron_producer_ack_seconds` | histogram | from submit to acknowledgement |

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::record::Refused;

pub(crate) fn sent(first_attempts: u64) {
    if first_attempts > 0 {
        metrics::counter!("murron_producer_sent_total").increment(first_attempts);
    }
}

pub(crate) fn settled(acked: u64, refused: &[Refused], retries: &HashMap<String, u64>, ack_latency: &[Duration]) {
    if acked > 0 {
        metrics::counter!("murron_producer_acked_total").increment(acked);
        let histogram = metrics::histogram!("murron_producer_ack_seconds");
        for latency in ack_latency {
            histogram.record(latency.as_secs_f64());
        }
    }
    let mut by_reason: HashMap<&str, u64> = HashMap::new();
    for r in refused {
        *by_reason.entry(&r.reason).or_default() += 1;
    }
    for (reason, n) in by_reason {
        metrics::counter!("murron_producer_refused_total", "reason" => reason.to_string()).increment(n);
    }
    for (reason, n) in retries {
        metrics::counter!("murron_producer_retries_total", "reason" => reason.clone()).increment(*n);
    }
}

/// The room taken in the buffer: what the semaphores of `max` permits have lent out.
pub(crate) fn buffered((events, max_events): (&Semaphore, usize), (bytes, max_bytes): (&Semaphore, usize)) {
    let used = |s: &Semaphore, max: usize| max.saturating_sub(s.available_permits()) as f64;
    metrics::gauge!("murron_producer_buffered_events").set(used(events, max_events));
    metrics::gauge!("murron_producer_buffered_bytes").set(used(bytes, max_bytes));
}

pub(crate) fn spool_bytes(bytes: u64) {
    metrics::gauge!("murron_producer_spool_bytes").set(bytes as f64);
}

pub(crate) fn spool_corrupt(n: u64) {
    if n > 0 {
        metrics::counter!("murron_producer_spool_corrupt_total").increment(n);
    }
}
