//! Registrations, batched per subject (group commit).
//!
//! Registrations to one subject must be serialized: each is checked against every version committed
//! before it. Rather than have each request take the subject's lock and commit on its own, requests
//! for one subject queue up here, and whoever holds the subject's turn writes everything queued in
//! one transaction: one lock, one read of the live versions, one commit. Under load the batch grows,
//! so throughput grows with it instead of being bound by one commit's latency. Different subjects
//! never wait for each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::compat::check_against;
use crate::cache::Caches;
use crate::store::{NewRegistration, RegisterError, Registered, Store};
use murron_schema_types::compatibility::{CompatibilityLevel, CompatibilityPolicy};
use murron_schema_types::schema::Normalized;

/// A registration waiting for its subject's turn.
#[derive(Debug)]
pub struct Job {
    pub schema: Normalized,
    pub import: Option<(Option<i32>, Option<i32>)>,
    pub level: CompatibilityLevel,
    /// How JSON Schema differences are judged.
    pub policy: CompatibilityPolicy,
    pub actor: String,
}

type Outcome = Result<Registered, RegisterError>;
type Reply = oneshot::Sender<Outcome>;

/// The per-subject queues of one replica.
#[derive(Debug, Default)]
pub struct Registrations {
    turns: Turns<Job, Outcome>,
}

impl Registrations {
    /// Registers `job` under `subject`, batched with concurrent registrations of the same subject.
    pub async fn register(&self, store: &Store, caches: &Arc<Caches>, subject: &str, job: Job) -> Outcome {
        let (store, caches, owned) = (store.clone(), caches.clone(), subject.to_string());
        self.turns
            .submit(subject, job, move |batch| async move {
                write_batch(&store, &caches, &owned, batch).await
            })
            .await
            .unwrap_or_else(|| Err(gone()))
    }
}

/// One queue of jobs per key, written in batches by whoever holds the key's turn.
#[derive(Debug)]
struct Turns<J, T> {
    queues: Mutex<HashMap<String, Arc<Queue<J, T>>>>,
}

impl<J, T> Default for Turns<J, T> {
    fn default() -> Self {
        Self {
            queues: Mutex::default(),
        }
    }
}

#[derive(Debug)]
struct Queue<J, T> {
    pending: Mutex<Vec<(J, oneshot::Sender<T>)>>,
    /// Held while this key's queue is being written.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl<J: Send + 'static, T: Send + 'static> Turns<J, T> {
    /// Queues `job` under `key` and waits for its answer. If the turn comes first, `write` gets every
    /// job queued by then whose request still waits, and must answer each. `None` when a batch was
    /// abandoned unanswered.
    ///
    /// The batch is written by a task of its own, holding the turn: if our request is cancelled (its
    /// client goes away), the registrations of the others in the batch still complete.
    async fn submit<F, Fut>(&self, key: &str, job: J, write: F) -> Option<T>
    where
        F: FnOnce(Vec<(J, oneshot::Sender<T>)>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            queues
                .entry(key.to_string())
                .or_insert_with(|| {
                    Arc::new(Queue {
                        pending: Mutex::default(),
                        turn: Arc::default(),
                    })
                })
                .clone()
        };
        let (reply, mut answer) = oneshot::channel();
        queue
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((job, reply));
        // Whoever holds the turn writes every job queued, so ours may be answered before our turn
        // comes: then we leave the queue. Waiting for the turn regardless would make each request wait
        // for every request queued before it, each turn writing the one job that came in meanwhile.
        tokio::select! {
            biased;
            result = &mut answer => return result.ok(),
            turn = queue.turn.clone().lock_owned() => {
                let mut batch = std::mem::take(&mut *queue.pending.lock().unwrap_or_else(|p| p.into_inner()));
                // A job whose request was cancelled while it waited is dropped, not written later
                // for nobody.
                batch.retain(|(_, reply)| !reply.is_closed());
                // Empty when an earlier turn took our job along with its own.
                if !batch.is_empty() {
                    let written = write(batch);
                    tokio::spawn(async move {
                        written.await;
                        drop(turn);
                    });
                }
            }
        }
        answer.await.ok()
    }
}

fn gone() -> RegisterError {
    RegisterError::from(sqlx::Error::Protocol("the registration batch was abandoned".into()))
}

async fn write_batch(store: &Store, caches: &Caches, subject: &str, batch: Vec<(Job, Reply)>) {
    let (jobs, replies): (Vec<Job>, Vec<Reply>) = batch.into_iter().unzip();
    let items: Vec<NewRegistration<'_>> = jobs
        .iter()
        .map(|j| NewRegistration {
            schema: &j.schema,
            import: j.import,
            actor: &j.actor,
        })
        .collect();
    metrics::counter!("murron_registry_registration_batches_total").increment(1);
    metrics::counter!("murron_registry_registrations_batched_total").increment(jobs.len() as u64);
    let outcome = store
        .register_batch(
            subject,
            &items,
            |id| caches.is_parsed(id),
            |i, live| {
                check_against(
                    caches,
                    subject,
                    (jobs[i].level, jobs[i].policy),
                    &jobs[i].schema.schema,
                    live,
                )
            },
            // Later items of the batch, and later registrations, check against this one: keep it parsed.
            |i, id| caches.put_parsed(id, jobs[i].schema.schema.clone()),
        )
        .await;
    match outcome {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, %subject, batch = replies.len(), "registration batch failed");
            let message = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(RegisterError::from(sqlx::Error::Protocol(message.clone()))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::*;

    /// Submits jobs to one key's turns; the batch of a job submitted at gate `g` is written (each job
    /// answered with itself, and recorded in `log`) once `gates[g]` opens.
    struct Harness {
        turns: Arc<Turns<u32, u32>>,
        gates: Vec<Arc<Notify>>,
        log: Arc<Mutex<Vec<u32>>>,
    }

    impl Harness {
        fn new(gates: usize) -> Self {
            Self {
                turns: Arc::default(),
                gates: (0..gates).map(|_| Arc::new(Notify::new())).collect(),
                log: Arc::default(),
            }
        }

        fn submit(&self, job: u32, gate: usize) -> tokio::task::JoinHandle<Option<u32>> {
            let (turns, gate, log) = (self.turns.clone(), self.gates[gate].clone(), self.log.clone());
            tokio::spawn(async move {
                turns
                    .submit("s", job, |batch| async move {
                        log.lock().unwrap().extend(batch.iter().map(|(job, _)| *job));
                        gate.notified().await;
                        for (job, reply) in batch {
                            let _ = reply.send(job);
                        }
                    })
                    .await
            })
        }

        fn open(&self, gate: usize) {
            self.gates[gate].notify_one();
        }
    }

    /// Lets spawned requests reach where they wait.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    async fn answered<T>(task: &mut tokio::task::JoinHandle<T>) -> bool {
        tokio::time::timeout(Duration::from_millis(200), task).await.is_ok()
    }

    /// A job written by another request's turn is answered at once, even while a later job holds
    /// the turn: its request does not wait for a turn of its own.
    #[tokio::test]
    async fn a_job_written_by_another_turn_is_answered_without_waiting_for_its_own() {
        let h = Harness::new(3);
        // A takes the turn and is held at gate 0; B and C queue behind it.
        let a = h.submit(1, 0);
        settle().await;
        let b = h.submit(2, 1);
        settle().await;
        let mut c = h.submit(3, 2);
        settle().await;
        h.open(0);
        assert_eq!(a.await.unwrap(), Some(1));
        // B's turn writes B and C together, held at gate 1; meanwhile D queues.
        settle().await;
        let mut d = h.submit(4, 2);
        settle().await;
        assert!(!answered(&mut c).await, "C waits for the batch holding it");
        h.open(1);
        assert_eq!(b.await.unwrap(), Some(2));
        // C is answered by B's batch. D now holds the turn at gate 2 (its own, or C's before the fix:
        // then C would wait behind it).
        assert!(
            answered(&mut c).await,
            "C was written by B's turn and must not wait for one of its own"
        );
        assert!(!answered(&mut d).await);
        h.open(2);
        assert_eq!(d.await.unwrap(), Some(4));
    }

    /// The request holding the turn goes away (its client disconnected) while its batch is written:
    /// the others in the batch are still answered, and the turn passes on.
    #[tokio::test]
    async fn a_cancelled_turn_holder_does_not_abandon_the_others_in_its_batch() {
        let h = Harness::new(3);
        let a = h.submit(1, 0);
        settle().await;
        let b = h.submit(2, 1);
        settle().await;
        let c = h.submit(3, 2);
        settle().await;
        h.open(0);
        assert_eq!(a.await.unwrap(), Some(1));
        settle().await;
        // B's turn is writing B and C; B's request is cancelled.
        b.abort();
        settle().await;
        h.open(1);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), c).await.unwrap().unwrap(),
            Some(3),
            "C is written and answered although B went away"
        );
        let d = h.submit(4, 2);
        settle().await;
        h.open(2);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), d).await.unwrap().unwrap(),
            Some(4),
            "the turn passed on"
        );
    }

    /// A request cancelled while it waits for a turn leaves nothing behind to be written later.
    #[tokio::test]
    async fn a_job_cancelled_while_waiting_is_not_written() {
        let h = Harness::new(2);
        let a = h.submit(1, 0);
        settle().await;
        let b = h.submit(2, 1);
        settle().await;
        b.abort();
        let c = h.submit(3, 1);
        settle().await;
        h.open(0);
        assert_eq!(a.await.unwrap(), Some(1));
        settle().await;
        h.open(1);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), c).await.unwrap().unwrap(),
            Some(3)
        );
        assert_eq!(
            *h.log.lock().unwrap(),
            vec![1, 3],
            "B's job was dropped with its request"
        );
    }
}
