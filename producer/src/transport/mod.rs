//! Where records go: a [`Transport`] delivers a batch and says, for each record, whether it was
//! stored, should be sent again, or was refused. The sender owns retries; a transport never retries
//! by itself, so every resend is the same bytes and is counted.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::record::{Outcome, Record};

#[cfg(feature = "grpc")]
pub mod grpc;
pub mod kafka;

/// A delivery attempt in progress.
pub type DeliveryFuture = Pin<Box<dyn Future<Output = Delivery> + Send>>;

/// How a batch's delivery attempt ended.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// One per record, in the batch's order. A missing outcome counts as a retry.
    pub outcomes: Vec<Outcome>,
    /// The receiver's hint: resend nothing of this batch sooner.
    pub retry_after: Option<Duration>,
}

impl Delivery {
    /// Every record of a batch of `n` gets `outcome`.
    pub fn all(n: usize, outcome: Outcome, retry_after: Option<Duration>) -> Self {
        Self {
            outcomes: vec![outcome; n],
            retry_after,
        }
    }
}

/// A check in progress: `Err` says why records cannot go there.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A destination for records: Kafka itself, or murron-server.
pub trait Transport: Send + Sync + std::fmt::Debug + 'static {
    /// Whether records can be sent to `topic`; called when an event type is opened, so that a
    /// missing topic is an error then rather than a refusal of every event. Default: yes.
    fn check_topic(&self, _topic: &str) -> CheckFuture {
        Box::pin(async { Ok(()) })
    }
    /// Attempts to deliver `batch` once.
    fn deliver(&self, batch: Vec<Record>) -> DeliveryFuture;
    /// The most records handed to one `deliver` call.
    fn max_batch(&self) -> usize;
    /// The most `deliver` calls in progress at once.
    fn max_in_flight(&self) -> usize;
}
