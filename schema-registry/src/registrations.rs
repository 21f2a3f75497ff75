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

use crate::api::compat_check;
use crate::cache::Caches;
use crate::compatibility::CompatibilityLevel;
use crate::schema::Normalized;
use crate::store::{NewRegistration, RegisterError, Registered, Store};

/// A registration waiting for its subject's turn.
#[derive(Debug)]
pub struct Job {
    pub schema: Normalized,
    pub import: Option<(Option<i32>, Option<i32>)>,
    pub level: CompatibilityLevel,
    pub actor: String,
}

type Reply = oneshot::Sender<Result<Registered, RegisterError>>;

#[derive(Debug, Default)]
struct SubjectQueue {
    pending: Mutex<Vec<(Job, Reply)>>,
    /// Held by the request currently writing this subject's queue.
    turn: tokio::sync::Mutex<()>,
}

/// The per-subject queues of one replica.
#[derive(Debug, Default)]
pub struct Registrations {
    queues: Mutex<HashMap<String, Arc<SubjectQueue>>>,
}

impl Registrations {
    /// Registers `job` under `subject`, batched with concurrent registrations of the same subject.
    pub async fn register(
        &self,
        store: &Store,
        caches: &Caches,
        subject: &str,
        job: Job,
    ) -> Result<Registered, RegisterError> {
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            queues.entry(subject.to_string()).or_default().clone()
        };
        let (reply, answer) = oneshot::channel();
        queue
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((job, reply));
        {
            let _turn = queue.turn.lock().await;
            let batch = std::mem::take(&mut *queue.pending.lock().unwrap_or_else(|p| p.into_inner()));
            // Empty when an earlier turn took our job along with its own.
            if !batch.is_empty() {
                write_batch(store, caches, subject, batch).await;
            }
        }
        answer.await.unwrap_or_else(|_| Err(gone()))
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
    let outcome = store
        .register_batch(
            subject,
            &items,
            |id| caches.is_parsed(id),
            |i, live| compat_check(caches, jobs[i].level, &jobs[i].schema.schema, live),
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
