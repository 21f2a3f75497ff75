//! The core both inputs share: a batch of record values in, a status per event out.
//!
//! 1. Take in-flight budget for the batch's bytes (or push the whole batch back).
//! 2. Per event: decode, route by type (`unrouted_type`), the caller's type scope (`forbidden_type`),
//!    the type as a folder, then size, signature, timestamp, stream identity and payload framing —
//!    the sink's checks and reason codes.
//! 3. Per pipeline: the rate limit; events over it are answered RETRY `rate_limited`.
//! 4. Produce each remaining event with key `{host}:{pid}` from its decoded envelope.
//! 5. Wait for Kafka's acknowledgements until the ack timeout: ACCEPTED only for those delivered.
//!
//! Hot path: steps 2-5 run per event; they allocate nothing per event but the delivery future
//! (keys share one buffer per batch; refusal details are formatted only for refused events).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use metrics::Counter;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::DeliveryFuture;

use murron_wire::check::{self, EnvelopeChecks, Refusal};
use murron_wire::route::Routes;

use crate::auth::{Auth, Caller};
use crate::config::pipeline::routes_for;
use crate::config::{Config, ConfigError, Input};
use crate::limit::TokenBucket;
use crate::metrics as names;
use crate::output::{Output, Reservation};
use crate::readiness::Readiness;

/// One event's outcome, as `murron.ingest.v1.Status` has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Stored in Kafka.
    Accepted,
    /// Refused for good.
    Refused,
    /// Not stored: resend the same bytes later.
    Retry,
}

/// Why an event was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub index: u32,
    pub reason: &'static str,
    pub detail: String,
}

/// The answer to a batch that was processed.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: Vec<Status>,
    /// One per REFUSED or RETRY event, in index order.
    pub notes: Vec<Note>,
    pub accepted: usize,
    /// When any status is RETRY: when to resend.
    pub retry_after: Duration,
}

impl Answer {
    /// Nothing was stored or refused: every event is to be resent. Such a batch is answered with a
    /// whole-call status instead (see [`Rejected`]).
    pub fn all_retry(&self) -> bool {
        !self.status.is_empty() && self.status.iter().all(|s| *s == Status::Retry)
    }

    /// Whether every event was held back by a rate limit.
    pub fn all_rate_limited(&self) -> bool {
        self.all_retry() && self.notes.iter().all(|n| n.reason == RATE_LIMITED)
    }
}

/// A batch turned away whole, before any event was looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Empty, or more events than `max_batch_events`.
    #[error("{0}")]
    InvalidBatch(String),
    /// Not ready (starting, shutting down, Kafka unreachable or stuck).
    #[error("not ready: Kafka unreachable, stuck or shutting down")]
    Unavailable { retry_after: Duration },
    /// The in-flight budget stayed full: Kafka is slower than the callers.
    #[error("overloaded: {in_flight_bytes} bytes wait for Kafka")]
    Overloaded {
        retry_after: Duration,
        in_flight_bytes: usize,
    },
}

impl Rejected {
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Rejected::InvalidBatch(_) => None,
            Rejected::Unavailable { retry_after } | Rejected::Overloaded { retry_after, .. } => Some(*retry_after),
        }
    }

    /// The same verdict as per-event statuses, for PublishStream, whose stream must stay open.
    pub fn as_answer(&self, events: usize) -> Answer {
        let (status, reason) = match self {
            Rejected::InvalidBatch(_) => (Status::Refused, "invalid_batch"),
            Rejected::Unavailable { .. } => (Status::Retry, "unavailable"),
            Rejected::Overloaded { .. } => (Status::Retry, "overloaded"),
        };
        let detail = self.to_string();
        Answer {
            status: vec![status; events],
            notes: (0..events)
                .map(|i| Note {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    reason,
                    detail: detail.clone(),
                })
                .collect(),
            accepted: 0,
            retry_after: self.retry_after().unwrap_or_default(),
        }
    }
}

const RATE_LIMITED: &str = "rate_limited";
const KAFKA_TIMEOUT: &str = "kafka_timeout";
const KAFKA_ERROR: &str = "kafka_error";
const OVERLOADED: &str = "overloaded";
/// How long a caller turned away for not-ready is told to wait.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(1);
/// How long a caller turned away for a full budget is told to wait.
const OVERLOADED_RETRY: Duration = Duration::from_millis(200);
/// How long to wait after a Kafka error or timeout.
const KAFKA_RETRY: Duration = Duration::from_millis(500);

/// One pipeline at run time.
#[derive(Debug)]
struct Route {
    topic: String,
    bucket: Option<Mutex<TokenBucket>>,
    accepted: Counter,
}

/// The shared publishing state: one per server, behind an `Arc`.
#[derive(Debug)]
pub struct Publisher {
    routes: [Routes; 2],
    pipelines: Vec<Route>,
    checks: EnvelopeChecks,
    auth: Auth,
    output: Output,
    readiness: Readiness,
    max_batch_events: usize,
    ack_timeout: Duration,
    received: [Counter; 2],
}

/// An event queued in Kafka, waiting for its acknowledgement.
struct Delivery {
    index: u32,
    pipeline: usize,
    future: DeliveryFuture,
}

/// What step 2 decided about one event.
enum Verdict {
    Refused(Refusal),
    /// Routed to a pipeline; the Kafka key is `keys[key]`.
    Routed {
        pipeline: usize,
        key: (usize, usize),
    },
}

impl Publisher {
    pub fn new(config: &Config, output: Output, readiness: Readiness) -> Result<Arc<Self>, ConfigError> {
        let routes =
            |input| routes_for(&config.pipelines, input).map_err(|(key, reason)| ConfigError::Value { key, reason });
        let now = Instant::now();
        Ok(Arc::new(Self {
            routes: [routes(Input::Grpc)?, routes(Input::Http)?],
            pipelines: config
                .pipelines
                .iter()
                .map(|p| Route {
                    topic: p.topic.clone(),
                    bucket: (p.rate_limit_per_second > 0)
                        .then(|| Mutex::new(TokenBucket::new(p.rate_limit_per_second, now))),
                    accepted: metrics::counter!(names::ACCEPTED, "topic" => p.topic.clone(), "pipeline" => p.name.clone()),
                })
                .collect(),
            checks: EnvelopeChecks::new(
                config.key_ring(),
                config.server.max_event_bytes,
                config.server.max_clock_skew_secs,
            ),
            auth: Auth::new(&config.auth),
            output,
            readiness,
            max_batch_events: config.server.max_batch_events,
            ack_timeout: Duration::from_millis(config.server.ack_timeout_ms),
            received: Input::ALL.map(|i| metrics::counter!(names::RECEIVED, "input" => i.name())),
        }))
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Publishes one batch from `input` on behalf of `caller`.
    pub async fn publish(&self, input: Input, caller: Caller, events: &[Bytes]) -> Result<Answer, Rejected> {
        let started = Instant::now();
        self.received[input as usize].increment(events.len() as u64);
        let reservation = self.admit(events).await?;
        let mut answer = Answer {
            status: vec![Status::Retry; events.len()],
            ..Answer::default()
        };
        let mut keys = Vec::with_capacity(events.len() * 24);
        let verdicts = self.check_all(&self.routes[input as usize], caller, events, &mut keys);
        let granted = self.rate_limit(&verdicts, &mut answer);
        let deliveries = self.produce(events, &verdicts, &keys, granted, &mut answer);
        let deadline = tokio::time::Instant::from_std(started + self.ack_timeout);
        let pending = self.settle(deliveries, deadline, &mut answer).await;
        count_notes(&answer);
        if answer.all_rate_limited() {
            metrics::counter!(names::BACKPRESSURE, "kind" => RATE_LIMITED).increment(1);
        }
        self.release_when_resolved(reservation, pending, answer.accepted > 0);
        metrics::histogram!(names::ACK_SECONDS).record(started.elapsed().as_secs_f64());
        Ok(answer)
    }

    /// Step 1: the batch's bounds, readiness and in-flight budget.
    async fn admit(&self, events: &[Bytes]) -> Result<Reservation, Rejected> {
        if events.is_empty() {
            return Err(Rejected::InvalidBatch("the batch holds no event".into()));
        }
        if events.len() > self.max_batch_events {
            return Err(Rejected::InvalidBatch(format!(
                "the batch holds {} events, more than server.max_batch_events ({})",
                events.len(),
                self.max_batch_events
            )));
        }
        if !self.readiness.is_ready() {
            metrics::counter!(names::BACKPRESSURE, "kind" => "not_ready").increment(1);
            return Err(Rejected::Unavailable {
                retry_after: UNAVAILABLE_RETRY,
            });
        }
        let bytes = events.iter().map(Bytes::len).sum();
        match self.output.reserve(bytes).await {
            Some(r) => Ok(r),
            None => {
                metrics::counter!(names::BACKPRESSURE, "kind" => "in_flight_budget").increment(1);
                Err(Rejected::Overloaded {
                    retry_after: OVERLOADED_RETRY,
                    in_flight_bytes: self.output.in_flight_bytes(),
                })
            }
        }
    }

    /// Step 4: queues each event that passed and is within its pipeline's grant; notes the rest.
    fn produce(
        &self,
        events: &[Bytes],
        verdicts: &[Verdict],
        keys: &[u8],
        mut left: Vec<usize>,
        answer: &mut Answer,
    ) -> Vec<Delivery> {
        let mut deliveries = Vec::with_capacity(events.len());
        for (i, (event, verdict)) in events.iter().zip(verdicts).enumerate() {
            let index = i as u32;
            match verdict {
                Verdict::Refused(r) => {
                    answer.status[i] = Status::Refused;
                    answer.notes.push(Note {
                        index,
                        reason: r.reason,
                        detail: r.detail.clone(),
                    });
                }
                Verdict::Routed { pipeline, .. } if left[*pipeline] == 0 => answer.notes.push(Note {
                    index,
                    reason: RATE_LIMITED,
                    detail: "the pipeline's rate_limit_per_second is reached".into(),
                }),
                Verdict::Routed { pipeline, key } => {
                    left[*pipeline] -= 1;
                    let topic = &self.pipelines[*pipeline].topic;
                    match self.output.send(topic, &keys[key.0..key.1], event) {
                        Ok(future) => deliveries.push(Delivery {
                            index,
                            pipeline: *pipeline,
                            future,
                        }),
                        Err(e) => {
                            let (status, reason) = match e.rdkafka_error_code() {
                                Some(RDKafkaErrorCode::QueueFull) => (Status::Retry, OVERLOADED),
                                _ => kafka_outcome(&e),
                            };
                            answer.status[i] = status;
                            answer.notes.push(Note {
                                index,
                                reason,
                                detail: e.to_string(),
                            });
                            if status == Status::Retry {
                                answer.retry_after = answer.retry_after.max(KAFKA_RETRY);
                            }
                        }
                    }
                }
            }
        }
        deliveries
    }

    /// Step 5: waits for Kafka until `deadline`; ACCEPTED only for what it acknowledged. Returns the
    /// deliveries still pending.
    async fn settle(
        &self,
        deliveries: Vec<Delivery>,
        deadline: tokio::time::Instant,
        answer: &mut Answer,
    ) -> Vec<DeliveryFuture> {
        let mut accepted_by = vec![0u64; self.pipelines.len()];
        let mut pending = Vec::new();
        // Futures resolve in about the order they were queued; once the deadline passed, `timeout_at`
        // still polls each once, so those already delivered count.
        for Delivery {
            index,
            pipeline,
            mut future,
        } in deliveries
        {
            let (reason, detail) = match tokio::time::timeout_at(deadline, &mut future).await {
                Ok(Ok(Ok(_))) => {
                    answer.status[index as usize] = Status::Accepted;
                    accepted_by[pipeline] += 1;
                    continue;
                }
                Ok(Ok(Err((e, _)))) => {
                    let (status, reason) = kafka_outcome(&e);
                    answer.status[index as usize] = status;
                    (reason, e.to_string())
                }
                Ok(Err(_canceled)) => (KAFKA_ERROR, "the producer dropped the delivery".to_owned()),
                Err(_elapsed) => {
                    pending.push(future);
                    (
                        KAFKA_TIMEOUT,
                        format!("Kafka did not acknowledge within {} ms", self.ack_timeout.as_millis()),
                    )
                }
            };
            answer.notes.push(Note { index, reason, detail });
            answer.retry_after = answer.retry_after.max(KAFKA_RETRY);
        }
        answer.notes.sort_unstable_by_key(|n| n.index);
        answer.accepted = accepted_by.iter().sum::<u64>() as usize;
        for (route, n) in self.pipelines.iter().zip(&accepted_by) {
            if *n > 0 {
                route.accepted.increment(*n);
            }
        }
        pending
    }

    /// The budget follows librdkafka: it is released when the batch's last delivery resolves, which
    /// after a timeout is later than the answer.
    fn release_when_resolved(&self, reservation: Reservation, pending: Vec<DeliveryFuture>, any_delivered: bool) {
        if pending.is_empty() {
            self.output.batch_resolved(any_delivered);
            drop(reservation);
            return;
        }
        let output = self.output.clone();
        tokio::spawn(async move {
            let mut delivered = any_delivered;
            for f in pending {
                delivered |= matches!(f.await, Ok(Ok(_)));
            }
            output.batch_resolved(delivered);
            drop(reservation);
        });
    }

    /// Step 2 for every event. Keys are appended to `keys`, each verdict holding its range.
    fn check_all(&self, routes: &Routes, caller: Caller, events: &[Bytes], keys: &mut Vec<u8>) -> Vec<Verdict> {
        use std::io::Write as _;
        // `verify` keeps a clock reading; each batch starts from the shared template.
        let mut checks = self.checks.clone();
        events
            .iter()
            .map(|event| {
                let env = match check::decode(event) {
                    Ok(env) => env,
                    Err(r) => return Verdict::Refused(r),
                };
                let Some(pipeline) = routes.route(env.event_type) else {
                    return Verdict::Refused(Refusal {
                        reason: "unrouted_type",
                        detail: format!("no pipeline takes type {:?} and there is no default", env.event_type),
                    });
                };
                if !self.auth.may_publish(caller, env.event_type) {
                    return Verdict::Refused(Refusal {
                        reason: "forbidden_type",
                        detail: format!("this token may not publish type {:?}", env.event_type),
                    });
                }
                if let Err(r) = check::check_type(env.event_type).and_then(|()| checks.verify(event.len(), &env)) {
                    return Verdict::Refused(r);
                }
                let start = keys.len();
                // Writing to a Vec cannot fail.
                let _ = write!(keys, "{}:{}", env.host, env.pid);
                Verdict::Routed {
                    pipeline,
                    key: (start, keys.len()),
                }
            })
            .collect()
    }

    /// Step 3: how many routed events each pipeline may take now; sets the answer's retry hint.
    fn rate_limit(&self, verdicts: &[Verdict], answer: &mut Answer) -> Vec<usize> {
        let mut wanted = vec![0usize; self.pipelines.len()];
        for v in verdicts {
            if let Verdict::Routed { pipeline, .. } = v {
                wanted[*pipeline] += 1;
            }
        }
        let now = Instant::now();
        for (route, want) in self.pipelines.iter().zip(wanted.iter_mut()) {
            let Some(bucket) = &route.bucket else { continue };
            if *want == 0 {
                continue;
            }
            let grant = bucket
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .try_take(now, *want);
            *want = grant.granted;
            answer.retry_after = answer.retry_after.max(grant.retry_after);
        }
        wanted
    }
}

/// A Kafka error's status: refused for good when resending cannot help, else RETRY.
fn kafka_outcome(e: &KafkaError) -> (Status, &'static str) {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => (Status::Refused, "oversized"),
        Some(RDKafkaErrorCode::MessageTimedOut) => (Status::Retry, KAFKA_TIMEOUT),
        _ => (Status::Retry, KAFKA_ERROR),
    }
}

/// Refusals and retries by reason, one counter update per reason per batch.
fn count_notes(answer: &Answer) {
    let mut counts: Vec<(&'static str, Status, u64)> = Vec::new();
    for n in &answer.notes {
        let status = answer.status[n.index as usize];
        match counts.iter_mut().find(|(r, s, _)| *r == n.reason && *s == status) {
            Some((_, _, c)) => *c += 1,
            None => counts.push((n.reason, status, 1)),
        }
    }
    for (reason, status, n) in counts {
        let name = if status == Status::Refused {
            names::REFUSED
        } else {
            names::RETRY
        };
        metrics::counter!(name, "reason" => reason).increment(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(statuses: &[Status], reasons: &[&'static str]) -> Answer {
        Answer {
            status: statuses.to_vec(),
            notes: reasons
                .iter()
                .enumerate()
                .map(|(i, r)| Note {
                    index: i as u32,
                    reason: r,
                    detail: String::new(),
                })
                .collect(),
            accepted: statuses.iter().filter(|s| **s == Status::Accepted).count(),
            retry_after: Duration::ZERO,
        }
    }

    #[test]
    fn only_a_batch_of_nothing_but_retries_is_answered_whole() {
        use Status::*;
        assert!(answer(&[Retry, Retry], &[RATE_LIMITED, RATE_LIMITED]).all_rate_limited());
        assert!(answer(&[Retry, Retry], &[RATE_LIMITED, KAFKA_TIMEOUT]).all_retry());
        assert!(!answer(&[Retry, Retry], &[RATE_LIMITED, KAFKA_TIMEOUT]).all_rate_limited());
        assert!(!answer(&[Retry, Refused], &[KAFKA_TIMEOUT, "bad_signature"]).all_retry());
        assert!(!answer(&[Accepted, Retry], &[KAFKA_TIMEOUT]).all_retry());
    }

    #[test]
    fn a_rejected_stream_batch_becomes_per_event_statuses() {
        let a = Rejected::Overloaded {
            retry_after: OVERLOADED_RETRY,
            in_flight_bytes: 1,
        }
        .as_answer(3);
        assert_eq!(a.status, [Status::Retry; 3]);
        assert_eq!(a.notes.iter().map(|n| n.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(a.retry_after, OVERLOADED_RETRY);
        let a = Rejected::InvalidBatch("x".into()).as_answer(1);
        assert_eq!(a.status, [Status::Refused]);
    }

    #[test]
    fn kafka_errors_are_retried_unless_resending_cannot_help() {
        use rdkafka::error::KafkaError::MessageProduction;
        assert_eq!(
            kafka_outcome(&MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)),
            (Status::Refused, "oversized")
        );
        assert_eq!(
            kafka_outcome(&MessageProduction(RDKafkaErrorCode::MessageTimedOut)),
            (Status::Retry, KAFKA_TIMEOUT)
        );
        assert_eq!(
            kafka_outcome(&MessageProduction(RDKafkaErrorCode::NotEnoughReplicas)),
            (Status::Retry, KAFKA_ERROR)
        );
    }
}
