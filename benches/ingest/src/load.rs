//! The two measurements: the peak accepted rate with a fixed number of calls in flight, and the
//! latency of each call (publish to acknowledgement of a whole batch) at a paced rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::dataset::Dataset;
use crate::target::{Target, TargetError};

/// A call whose start is this far behind its schedule is late: the paced run could not keep its rate.
const LATE: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy)]
pub struct Peak {
    /// Accepted events of the calls answered inside the window.
    pub events: u64,
    /// Accepted events of every call, the warm-up and the calls still out at the window's end too.
    pub total: u64,
    pub batches: u64,
    pub window: Duration,
}

impl Peak {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.window.as_secs_f64()
    }
}

/// `in_flight` loops each send a batch and wait for its answer, for `warmup + window`; the events of
/// the answers received inside the window count.
pub async fn peak(
    target: &Target,
    dataset: &Arc<Dataset>,
    in_flight: usize,
    warmup: Duration,
    window: Duration,
) -> Result<Peak, TargetError> {
    let next = Arc::new(AtomicUsize::new(0));
    let events = Arc::new(AtomicU64::new(0));
    let batches = Arc::new(AtomicU64::new(0));
    let total = Arc::new(AtomicU64::new(0));
    let from = Instant::now() + warmup;
    let until = from + window;
    let mut tasks = JoinSet::new();
    for _ in 0..in_flight.max(1) {
        let (target, dataset) = (target.clone(), dataset.clone());
        let (next, events, batches, total) = (next.clone(), events.clone(), batches.clone(), total.clone());
        tasks.spawn(async move {
            while Instant::now() < until {
                let batch = dataset.batch(next.fetch_add(1, Ordering::Relaxed));
                let n = target.publish(batch).await?;
                let done = Instant::now();
                total.fetch_add(n, Ordering::Relaxed);
                if done >= from && done <= until {
                    events.fetch_add(n, Ordering::Relaxed);
                    batches.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<(), TargetError>(())
        });
    }
    join_all(tasks).await?;
    Ok(Peak {
        events: events.load(Ordering::Relaxed),
        batches: batches.load(Ordering::Relaxed),
        total: total.load(Ordering::Relaxed),
        window,
    })
}

#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub events_per_sec: f64,
    pub duration: Duration,
    pub max_in_flight: usize,
}

#[derive(Debug, Clone)]
pub struct Paced {
    /// Per call, sorted: from handing the batch to the gRPC client to its answer (all accepted).
    pub latencies: Vec<Duration>,
    /// Calls started more than 5 ms after their scheduled time.
    pub late: u64,
    pub events: u64,
    pub elapsed: Duration,
}

impl Paced {
    pub fn achieved_events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// Starts one call every `batch / events_per_sec` seconds (open loop: a slow answer does not delay
/// the next call, up to `max_in_flight` calls outstanding) for `duration`, and times each.
pub async fn paced(target: &Target, dataset: &Arc<Dataset>, pacing: &Pacing) -> Result<Paced, TargetError> {
    let interval = Duration::from_secs_f64(dataset.batch_events() as f64 / pacing.events_per_sec.max(1.0));
    let calls = (pacing.duration.as_secs_f64() / interval.as_secs_f64())
        .floor()
        .max(1.0) as usize;
    let permits = Arc::new(Semaphore::new(pacing.max_in_flight.max(1)));
    let start = Instant::now();
    let mut late = 0;
    let mut tasks = JoinSet::new();
    for i in 0..calls {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due).await;
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        if Instant::now().duration_since(due) > LATE {
            late += 1;
        }
        let (target, dataset) = (target.clone(), dataset.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let sent = Instant::now();
            let n = target.publish(dataset.batch(i)).await?;
            Ok::<(u64, Duration), TargetError>((n, sent.elapsed()))
        });
    }
    let mut latencies = Vec::with_capacity(calls);
    let mut events = 0;
    while let Some(joined) = tasks.join_next().await {
        let (n, latency) = joined.map_err(|e| tonic::Status::internal(e.to_string()))??;
        events += n;
        latencies.push(latency);
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Ok(Paced {
        latencies,
        late,
        events,
        elapsed,
    })
}

/// The nearest-rank percentile of sorted values; zero for none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

async fn join_all(mut tasks: JoinSet<Result<(), TargetError>>) -> Result<(), TargetError> {
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| tonic::Status::internal(e.to_string()))??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
