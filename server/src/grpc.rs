//! The gRPC input: `murron.ingest.v1.Ingest` (Publish, PublishStream) over tonic.
//!
//! A processed batch is answered with a status per event. A batch nothing was done with gets a
//! whole-call status instead, with a `retry-after-ms` trailer when resending later can help:
//! UNAVAILABLE (not ready, or Kafka failed every event), RESOURCE_EXHAUSTED (the in-flight budget is
//! full, or every event was rate-limited), INVALID_ARGUMENT, UNAUTHENTICATED. A stream stays open
//! through such answers: its batches are answered per event instead.

use std::sync::Arc;

use murron_ingest_proto as proto;
use proto::ingest_server::{Ingest, IngestServer};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::auth::{AuthError, Caller};
use crate::config::Input;
use crate::publish::{self, Answer, Publisher, Rejected};

/// Batches of one stream processed at once; more wait for one to finish.
const STREAM_CONCURRENCY: usize = 16;

/// The tonic service.
#[derive(Debug, Clone)]
pub struct IngestService {
    publisher: Arc<Publisher>,
    /// Flips to true at shutdown: open streams stop taking batches.
    stop: watch::Receiver<bool>,
}

impl IngestService {
    pub fn new(publisher: Arc<Publisher>, stop: watch::Receiver<bool>) -> Self {
        Self { publisher, stop }
    }

    /// The server, with its message size limit, behind the token check: a caller without a valid
    /// token is turned away before its batch is read.
    pub fn into_server(self, max_batch_bytes: usize) -> InterceptedService<IngestServer<Self>, Authenticate> {
        let check = Authenticate {
            publisher: self.publisher.clone(),
        };
        let server = IngestServer::new(self)
            .max_decoding_message_size(max_batch_bytes)
            .max_encoding_message_size(usize::MAX);
        InterceptedService::new(server, check)
    }
}

/// The interceptor that authenticates each call and hands the caller to the handler.
#[derive(Debug, Clone)]
pub struct Authenticate {
    publisher: Arc<Publisher>,
}

impl Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request.metadata().get("authorization").map(MetadataValue::as_bytes);
        let caller = self.publisher.auth().authenticate(header).map_err(unauthenticated)?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The caller the interceptor found.
fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .copied()
        .ok_or_else(|| Status::internal("the call was not authenticated"))
}

fn unauthenticated(e: AuthError) -> Status {
    Status::unauthenticated(e.to_string())
}

/// The per-event answer as the proto has it.
pub fn to_response(batch_id: u64, answer: Answer) -> proto::PublishResponse {
    proto::PublishResponse {
        batch_id,
        status: answer
            .status
            .iter()
            .map(|s| {
                (match s {
                    publish::Status::Accepted => proto::Status::Accepted,
                    publish::Status::Refused => proto::Status::Refused,
                    publish::Status::Retry => proto::Status::Retry,
                }) as i32
            })
            .collect(),
        refusals: answer
            .notes
            .into_iter()
            .map(|n| proto::Refusal {
                index: n.index,
                reason: n.reason.to_owned(),
                detail: n.detail,
            })
            .collect(),
        retry_after_ms: millis(answer.retry_after),
    }
}

fn millis(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// The whole-call status of a batch turned away, or of one where every event is to be resent.
pub fn whole_call_status(code: Code, message: String, retry_after: Option<std::time::Duration>) -> Status {
    let mut metadata = MetadataMap::new();
    if let Some(after) = retry_after {
        metadata.insert("retry-after-ms", MetadataValue::from(millis(after)));
    }
    Status::with_metadata(code, message, metadata)
}

/// The gRPC answer to a unary publish.
pub fn unary_outcome(batch_id: u64, outcome: Result<Answer, Rejected>) -> Result<proto::PublishResponse, Status> {
    match outcome {
        Err(r @ Rejected::InvalidBatch(_)) => Err(Status::invalid_argument(r.to_string())),
        Err(r @ Rejected::Unavailable { .. }) => {
            Err(whole_call_status(Code::Unavailable, r.to_string(), r.retry_after()))
        }
        Err(r @ Rejected::Overloaded { .. }) => Err(whole_call_status(
            Code::ResourceExhausted,
            r.to_string(),
            r.retry_after(),
        )),
        Ok(a) if a.all_rate_limited() => Err(whole_call_status(
            Code::ResourceExhausted,
            "every event is over its pipeline's rate limit".into(),
            Some(a.retry_after),
        )),
        Ok(a) if a.all_retry() => {
            let first = a.notes.first().map_or("", |n| n.reason);
            Err(whole_call_status(
                Code::Unavailable,
                format!("no event was stored ({first}); resend the batch"),
                Some(a.retry_after),
            ))
        }
        Ok(a) => Ok(to_response(batch_id, a)),
    }
}

#[tonic::async_trait]
impl Ingest for IngestService {
    async fn publish(
        &self,
        request: Request<proto::PublishRequest>,
    ) -> Result<Response<proto::PublishResponse>, Status> {
        let caller = caller(&request)?;
        let batch = request.into_inner();
        let outcome = self.publisher.publish(Input::Grpc, caller, &batch.events).await;
        unary_outcome(batch.batch_id, outcome).map(Response::new)
    }

    type PublishStreamStream = ReceiverStream<Result<proto::PublishResponse, Status>>;

    async fn publish_stream(
        &self,
        request: Request<Streaming<proto::PublishRequest>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        let caller = caller(&request)?;
        let mut requests = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_CONCURRENCY);
        let publisher = self.publisher.clone();
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            let stopping = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tokio::pin!(stopping);
            let slots = Arc::new(Semaphore::new(STREAM_CONCURRENCY));
            loop {
                let batch = tokio::select! {
                    next = requests.message() => match next {
                        Ok(Some(batch)) => batch,
                        Ok(None) => break,
                        Err(status) => {
                            let _ = tx.send(Err(status)).await;
                            break;
                        }
                    },
                    // The client went away: stop reading.
                    () = tx.closed() => break,
                    // Shutting down: answer what is in progress, then end the stream so the client
                    // moves to another replica.
                    () = &mut stopping => {
                        let all = u32::try_from(STREAM_CONCURRENCY).unwrap_or(u32::MAX);
                        let _ = slots.acquire_many(all).await;
                        let _ = tx.send(Err(Status::unavailable("murron-server is shutting down"))).await;
                        break;
                    }
                };
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let (publisher, tx) = (publisher.clone(), tx.clone());
                tokio::spawn(async move {
                    let answer = match publisher.publish(Input::Grpc, caller, &batch.events).await {
                        Ok(a) => Ok(to_response(batch.batch_id, a)),
                        Err(r @ Rejected::InvalidBatch(_)) => Err(Status::invalid_argument(r.to_string())),
                        Err(r) => Ok(to_response(batch.batch_id, r.as_answer(batch.events.len()))),
                    };
                    let _ = tx.send(answer).await;
                    drop(slot);
                });
            }
            // Answers still being worked on hold clones of `tx`; the stream ends after the last.
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::publish::{Note, Status as S};

    fn answer(status: &[S], reasons: &[(u32, &'static str)]) -> Answer {
        Answer {
            status: status.to_vec(),
            notes: reasons
                .iter()
                .map(|(i, r)| Note {
                    index: *i,
                    reason: r,
                    detail: "d".into(),
                })
                .collect(),
            accepted: status.iter().filter(|s| **s == S::Accepted).count(),
            retry_after: Duration::from_millis(300),
        }
    }

    fn retry_after(s: &Status) -> Option<String> {
        s.metadata()
            .get("retry-after-ms")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    #[test]
    fn statuses_map_to_whole_call_codes_with_a_retry_trailer() {
        let cases: Vec<(Result<Answer, Rejected>, Code, Option<&str>)> = vec![
            (Err(Rejected::InvalidBatch("empty".into())), Code::InvalidArgument, None),
            (
                Err(Rejected::Unavailable {
                    retry_after: Duration::from_secs(1),
                }),
                Code::Unavailable,
                Some("1000"),
            ),
            (
                Err(Rejected::Overloaded {
                    retry_after: Duration::from_millis(200),
                    in_flight_bytes: 5,
                }),
                Code::ResourceExhausted,
                Some("200"),
            ),
            (
                Ok(answer(
                    &[S::Retry, S::Retry],
                    &[(0, "rate_limited"), (1, "rate_limited")],
                )),
                Code::ResourceExhausted,
                Some("300"),
            ),
            (
                Ok(answer(
                    &[S::Retry, S::Retry],
                    &[(0, "rate_limited"), (1, "kafka_timeout")],
                )),
                Code::Unavailable,
                Some("300"),
            ),
        ];
        for (outcome, code, after) in cases {
            let status = unary_outcome(7, outcome).unwrap_err();
            assert_eq!(status.code(), code, "{status:?}");
            assert_eq!(retry_after(&status).as_deref(), after, "{status:?}");
        }
    }

    #[test]
    fn a_batch_with_anything_stored_or_refused_is_answered_per_event() {
        let r = unary_outcome(
            7,
            Ok(answer(
                &[S::Accepted, S::Refused, S::Retry],
                &[(1, "bad_signature"), (2, "rate_limited")],
            )),
        )
        .unwrap();
        assert_eq!(r.batch_id, 7);
        assert_eq!(
            r.status,
            [
                proto::Status::Accepted as i32,
                proto::Status::Refused as i32,
                proto::Status::Retry as i32
            ]
        );
        assert_eq!(
            r.refusals
                .iter()
                .map(|x| (x.index, x.reason.as_str()))
                .collect::<Vec<_>>(),
            [(1, "bad_signature"), (2, "rate_limited")]
        );
        assert_eq!(r.retry_after_ms, 300);
    }
}
