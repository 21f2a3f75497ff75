//! The delivery engine under [`crate::Producer`], usable alone for records encoded elsewhere:
//!
//! 1. [`Sender::reserve`] takes room in the bounded buffer (events and bytes); `send` waits for it
//!    (backpressure), `try_send` does not.
//! 2. [`Sender::submit`] writes the records ahead to the spool, when there is one, enters them in the
//!    ledger under sequence numbers and queues them.
//! 3. A dispatcher task hands batches to the [`Transport`]. Acknowledged and refused records leave
//!    the ledger and free their room; the others are resent, the same bytes, after a backoff.
//! 4. [`Sender::flush`] waits until every record submitted before it has left the ledger.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::ProducerError;
use crate::metrics;
use crate::record::{FlushReport, Outcome, Record, Refused};
use crate::spool::Spool;
use crate::transport::{Delivery, Transport};

/// The buffer's bounds: records not yet acknowledged or refused, counted and in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    pub max_events: usize,
    /// At most `u32::MAX`.
    pub max_bytes: usize,
}

impl Default for BufferLimits {
    fn default() -> Self {
        Self {
            max_events: 100_000,
            max_bytes: 64 << 20,
        }
    }
}

/// Room taken in the buffer, released when the records it covers are acknowledged or refused.
#[derive(Debug)]
pub struct Reservation {
    events: OwnedSemaphorePermit,
    bytes: OwnedSemaphorePermit,
}

/// The sequence numbers given to submitted records: `first..first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    pub first_seq: u64,
    pub count: u64,
}

/// The backoff before attempt `n + 1` of a record: the project's one backoff in production.
pub type Backoff = fn(u32) -> Duration;

/// The records in the sender, and what was reported since the last report.
#[derive(Debug, Default)]
struct Ledger {
    next_seq: u64,
    unresolved: BTreeSet<u64>,
    acked: u64,
    refused: Vec<Refused>,
}

#[derive(Debug)]
struct Shared {
    limits: BufferLimits,
    events: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    ledger: Mutex<Ledger>,
    /// Woken whenever records leave the ledger.
    resolved: Notify,
    spool: Option<Mutex<Spool>>,
}

/// A record in the sender: its bytes, its room in the buffer and its delivery attempts.
#[derive(Debug)]
struct Pending {
    seq: u64,
    record: Record,
    attempts: u32,
    /// Dropped, and so released, when the record leaves the sender. Records recovered from the
    /// spool have none: the spool bounds them.
    _room: Option<Reservation>,
    since: Instant,
}

/// Sends records at least once through a transport, within a bounded buffer.
#[derive(Debug)]
pub struct Sender {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Pending>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    fn report_buffered(&self) {
        metrics::buffered(
            (&self.events, self.limits.max_events),
            (&self.bytes, self.limits.max_bytes),
        );
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic under these locks leaves consistent state (plain counters and maps): carry on.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sender {
    /// Starts the dispatcher. `recovered` are the spool's unacknowledged records, numbered from 0 in
    /// the order the spool gave them; they are queued before anything else.
    pub fn start(
        transport: Arc<dyn Transport>,
        limits: BufferLimits,
        spool: Option<(Spool, Vec<Record>)>,
        backoff: Backoff,
    ) -> Result<Self, ProducerError> {
        if limits.max_events == 0 || limits.max_bytes == 0 || u32::try_from(limits.max_bytes).is_err() {
            return Err(ProducerError::Config(format!(
                "buffer limits must be positive and max_bytes at most {}: {limits:?}",
                u32::MAX
            )));
        }
        let (spool, recovered) = match spool {
            Some((s, r)) => (Some(Mutex::new(s)), r),
            None => (None, Vec::new()),
        };
        let shared = Arc::new(Shared {
            limits,
            events: Arc::new(Semaphore::new(limits.max_events)),
            bytes: Arc::new(Semaphore::new(limits.max_bytes)),
            ledger: Mutex::new(Ledger::default()),
            resolved: Notify::new(),
            spool,
        });
        let (queue, rx) = mpsc::unbounded_channel();
        {
            let mut ledger = lock(&shared.ledger);
            let now = Instant::now();
            for record in recovered {
                let seq = ledger.next_seq;
                ledger.next_seq += 1;
                ledger.unresolved.insert(seq);
                // The receiver is alive: it is in this function.
                let _ = queue.send(Pending {
                    seq,
                    record,
                    attempts: 0,
                    _room: None,
                    since: now,
                });
            }
        }
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(
            Dispatcher {
                transport,
                shared: shared.clone(),
                backoff,
                ready: VecDeque::new(),
                waiting: BTreeMap::new(),
                batches: HashMap::new(),
                refusal_logged: HashMap::new(),
            }
            .run(rx, stop_rx.clone()),
        )];
        if shared.spool.is_some() {
            tasks.push(tokio::spawn(spool_upkeep(shared.clone(), stop_rx)));
        }
        Ok(Self {
            shared,
            queue,
            stop,
            tasks: Mutex::new(tasks),
        })
    }

    pub fn limits(&self) -> BufferLimits {
        self.shared.limits
    }

    fn check_fits(&self, events: usize, bytes: usize) -> Result<(u32, u32), ProducerError> {
        let limits = self.shared.limits;
        match (u32::try_from(events), u32::try_from(bytes)) {
            (Ok(e), Ok(b)) if events <= limits.max_events && bytes <= limits.max_bytes => Ok((e, b)),
            _ => Err(ProducerError::TooLarge {
                size: bytes,
                events,
                max_bytes: limits.max_bytes,
                max_events: limits.max_events,
            }),
        }
    }

    /// Waits for room for `events` records of `bytes` in all.
    pub async fn reserve(&self, events: usize, bytes: usize) -> Result<Reservation, ProducerError> {
        let (e, b) = self.check_fits(events, bytes)?;
        let events = self.shared.events.clone().acquire_many_owned(e).await;
        let bytes = self.shared.bytes.clone().acquire_many_owned(b).await;
        match (events, bytes) {
            (Ok(events), Ok(bytes)) => Ok(Reservation { events, bytes }),
            _ => Err(ProducerError::Closed),
        }
    }

    /// Takes room for `events` records of `bytes` if there is some now.
    pub fn try_reserve(&self, events: usize, bytes: usize) -> Result<Reservation, ProducerError> {
        use tokio::sync::TryAcquireError;
        let (e, b) = self.check_fits(events, bytes)?;
        let err = |e: TryAcquireError| match e {
            TryAcquireError::Closed => ProducerError::Closed,
            TryAcquireError::NoPermits => ProducerError::Full,
        };
        let events = self.shared.events.clone().try_acquire_many_owned(e).map_err(err)?;
        let bytes = self.shared.bytes.clone().try_acquire_many_owned(b).map_err(err)?;
        Ok(Reservation { events, bytes })
    }

    /// Writes `records` to the spool (if any) and queues them, in order. Call it under the lock that
    /// gave the records their offsets, so that queue order follows offset order. `room` must cover
    /// them; what it holds beyond their sizes is released now.
    pub fn submit(&self, mut room: Reservation, records: Vec<Record>) -> Result<Submitted, ProducerError> {
        let count = records.len() as u64;
        // The spool lock spans numbering and writing, so the spool's order is the sequence order.
        let mut spool = self.shared.spool.as_ref().map(lock);
        let first_seq = {
            let mut ledger = lock(&self.shared.ledger);
            let first = ledger.next_seq;
            ledger.next_seq += count;
            ledger.unresolved.extend(first..first + count);
            first
        };
        if let Some(spool) = spool.as_deref_mut()
            && let Err(e) = spool.append(first_seq, &records)
        {
            let mut ledger = lock(&self.shared.ledger);
            for seq in first_seq..first_seq + count {
                ledger.unresolved.remove(&seq);
            }
            return Err(e.into());
        }
        let now = Instant::now();
        for (seq, record) in (first_seq..).zip(records) {
            let size = record.value.len();
            let per_record = match (room.events.split(1), room.bytes.split(size)) {
                (Some(events), Some(bytes)) => Some(Reservation { events, bytes }),
                _ => None,
            };
            let pending = Pending {
                seq,
                record,
                attempts: 0,
                _room: per_record,
                since: now,
            };
            if self.queue.send(pending).is_err() {
                return Err(ProducerError::Closed);
            }
        }
        drop(spool);
        Ok(Submitted { first_seq, count })
    }

    /// Waits until every record submitted before this call is acknowledged or refused, or until
    /// `timeout`; reports what happened since the previous report.
    pub async fn flush(&self, timeout: Duration) -> FlushReport {
        let deadline = Instant::now() + timeout;
        let target = lock(&self.shared.ledger).next_seq;
        loop {
            let resolved = self.shared.resolved.notified();
            tokio::pin!(resolved);
            resolved.as_mut().enable();
            if lock(&self.shared.ledger)
                .unresolved
                .first()
                .is_none_or(|s| *s >= target)
            {
                break;
            }
            if tokio::time::timeout_at(deadline, resolved).await.is_err() {
                break;
            }
        }
        self.report()
    }

    /// What happened since the previous report, without waiting.
    pub fn report(&self) -> FlushReport {
        let mut ledger = lock(&self.shared.ledger);
        FlushReport {
            acked: std::mem::take(&mut ledger.acked),
            refused: std::mem::take(&mut ledger.refused),
            pending: ledger.unresolved.len() as u64,
        }
    }

    /// Stops taking records, flushes for up to `timeout`, then stops delivering and releases the
    /// spool. Records still pending stay in the spool for the next start; without a spool they are
    /// lost, and this is an error.
    pub async fn close(&self, timeout: Duration) -> Result<FlushReport, ProducerError> {
        self.shared.events.close();
        self.shared.bytes.close();
        let report = self.flush(timeout).await;
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            let _ = task.await;
        }
        if let Some(spool) = &self.shared.spool
            && let Err(e) = lock(spool).release()
        {
            return Err(e.into());
        }
        if report.pending > 0 && self.shared.spool.is_none() {
            return Err(ProducerError::Unsent(Box::new(report)));
        }
        Ok(report)
    }

    /// The next offset of a stream as the spool knows it: 0 without a spool or for a new stream.
    pub fn spooled_next_offset(&self, event_type: &str, host: &str, pid: i32) -> i64 {
        self.shared
            .spool
            .as_ref()
            .map_or(0, |s| lock(s).next_offset(event_type, host, pid))
    }

    pub fn is_closed(&self) -> bool {
        self.shared.events.is_closed()
    }
}

/// Keeps the spool on disk: syncs it on its interval and retires a drained open segment.
async fn spool_upkeep(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let Some(spool) = &shared.spool else { return };
    let every = lock(spool).upkeep_interval();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = lock(spool).upkeep() {
                    tracing::error!(error = %e, "spool upkeep failed");
                }
            }
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
        }
    }
}

struct Dispatcher {
    transport: Arc<dyn Transport>,
    shared: Arc<Shared>,
    backoff: Backoff,
    /// Records to deliver now, oldest first.
    ready: VecDeque<Pending>,
    /// Records waiting out their backoff, by due time.
    waiting: BTreeMap<(Instant, u64), Pending>,
    /// The records of each batch in flight, by its task.
    batches: HashMap<tokio::task::Id, Vec<Pending>>,
    /// When each refusal reason was last logged: one warning a minute per reason.
    refusal_logged: HashMap<String, Instant>,
}

impl Dispatcher {
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Pending>, mut stop: watch::Receiver<bool>) {
        let mut in_flight: JoinSet<Delivery> = JoinSet::new();
        let (max_batch, max_in_flight) = (self.transport.max_batch().max(1), self.transport.max_in_flight().max(1));
        let mut open = true;
        let mut watching_stop = true;
        loop {
            let now = Instant::now();
            while let Some(entry) = self.waiting.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                self.ready.push_back(entry.remove());
            }
            while in_flight.len() < max_in_flight && !self.ready.is_empty() {
                let n = self.ready.len().min(max_batch);
                let items: Vec<Pending> = self.ready.drain(..n).collect();
                let first_sends = items.iter().filter(|p| p.attempts == 0).count();
                metrics::sent(first_sends as u64);
                let records = items.iter().map(|p| p.record.clone()).collect();
                self.shared.report_buffered();
                let task = in_flight.spawn(self.transport.deliver(records));
                self.batches.insert(task.id(), items);
            }
            if !open && self.ready.is_empty() && self.waiting.is_empty() && in_flight.is_empty() {
                return;
            }
            let next_due = self.waiting.first_key_value().map(|((due, _), _)| *due);
            tokio::select! {
                done = in_flight.join_next_with_id(), if !in_flight.is_empty() => match done {
                    Some(Ok((id, delivery))) => self.settle(id, delivery),
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "a delivery task failed; its records are sent again");
                        self.settle(e.id(), Delivery::default());
                    }
                    None => {}
                },
                received = queue.recv(), if open => match received {
                    Some(p) => {
                        self.ready.push_back(p);
                        while self.ready.len() < max_batch * max_in_flight {
                            match queue.try_recv() {
                                Ok(p) => self.ready.push_back(p),
                                Err(_) => break,
                            }
                        }
                    }
                    None => open = false,
                },
                () = tokio::time::sleep_until(next_due.unwrap_or(now)), if next_due.is_some() => {}
                changed = stop.changed(), if watching_stop => match changed {
                    Ok(()) if *stop.borrow() => return,
                    Ok(()) => {}
                    // Every handle is gone without `close`: deliver what is left, then end.
                    Err(_) => watching_stop = false,
                },
            }
        }
    }

    /// Applies a batch's outcomes: acknowledged and refused records leave, the others wait to be
    /// resent.
    fn settle(&mut self, task: tokio::task::Id, delivery: Delivery) {
        let Some(items) = self.batches.remove(&task) else {
            return;
        };
        let now = Instant::now();
        let mut resolved = Vec::with_capacity(items.len());
        let mut acked = 0u64;
        let mut refused = Vec::new();
        let mut retries: HashMap<String, u64> = HashMap::new();
        let mut ack_latency = Vec::with_capacity(items.len());
        for (i, mut p) in items.into_iter().enumerate() {
            match delivery.outcomes.get(i) {
                Some(Outcome::Acked) => {
                    acked += 1;
                    ack_latency.push(now.duration_since(p.since));
                    resolved.push(p.seq);
                }
                Some(Outcome::Refused { reason, detail }) => {
                    resolved.push(p.seq);
                    refused.push(Refused {
                        event_type: p.record.event_type.clone(),
                        offset: p.record.offset,
                        reason: reason.clone(),
                        detail: detail.clone(),
                    });
                }
                retry => {
                    let reason = match retry {
                        Some(Outcome::Retry { reason }) => reason.as_str(),
                        _ => "no_outcome",
                    };
                    *retries.entry(reason.to_string()).or_default() += 1;
                    let delay = (self.backoff)(p.attempts).max(delivery.retry_after.unwrap_or_default());
                    p.attempts = p.attempts.saturating_add(1);
                    self.waiting.insert((now + delay, p.seq), p);
                }
            }
        }
        for r in &refused {
            let last = self.refusal_logged.get(&r.reason);
            if last.is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
                tracing::warn!(reason = %r.reason, detail = %r.detail, event_type = %r.event_type, offset = r.offset,
                    "event refused; it will not be sent again (one warning a minute per reason)");
                self.refusal_logged.insert(r.reason.clone(), now);
            }
        }
        metrics::settled(acked, &refused, &retries, &ack_latency);
        if !resolved.is_empty() {
            {
                let mut ledger = lock(&self.shared.ledger);
                for seq in &resolved {
                    ledger.unresolved.remove(seq);
                }
                ledger.acked += acked;
                ledger.refused.extend(refused);
            }
            if let Some(spool) = &self.shared.spool
                && let Err(e) = lock(spool).resolve(&resolved)
            {
                tracing::error!(error = %e, "spool: retiring delivered segments failed");
            }
            self.shared.resolved.notify_waiters();
        }
        // The delivered records' rooms were released as they dropped.
        self.shared.report_buffered();
    }
}
