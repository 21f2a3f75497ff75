//! The endpoint under load: one gRPC channel (one HTTP/2 connection) to murron-server's
//! `Ingest/Publish` or to an OTLP/gRPC `LogsService/Export`. A call counts only the events the
//! endpoint says it stored; any other answer is an error, so a run cannot pass on refused events.

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Buf;
use murron_ingest_proto::{PublishRequest, PublishResponse, Status as EventStatus};
use tonic::client::Grpc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

use crate::dataset::{Batch, Kind};
use crate::otlp::{self, ExportLogsServiceRequest, ExportLogsServiceResponse};

const PUBLISH_PATH: &str = "/murron.ingest.v1.Ingest/Publish";

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("the call failed: {0}")]
    Call(#[from] tonic::Status),
    #[error("{not_accepted} of {events} events not accepted (first: {first})")]
    NotAccepted {
        not_accepted: usize,
        events: usize,
        first: String,
    },
    #[error("a {0} batch was sent to the other kind of target")]
    WrongBatch(&'static str),
}

#[derive(Debug, Clone)]
pub struct Target {
    kind: Kind,
    grpc: Grpc<Channel>,
}

impl Target {
    pub async fn connect(kind: Kind, url: &str) -> Result<Self, TargetError> {
        let connect = |source| TargetError::Connect {
            url: url.to_string(),
            source,
        };
        let channel = Endpoint::from_shared(url.to_string())
            .map_err(connect)?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(connect)?;
        Ok(Self {
            kind,
            grpc: Grpc::new(channel),
        })
    }

    /// Sends one batch and returns how many events the endpoint stored: all of them, or an error.
    pub async fn publish(&self, batch: &Batch) -> Result<u64, TargetError> {
        let mut grpc = self.grpc.clone();
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        match (self.kind, batch) {
            (Kind::Murron, Batch::Murron(req)) => {
                let codec = SharedCodec::<PublishRequest, PublishResponse>::default();
                let path = PathAndQuery::from_static(PUBLISH_PATH);
                let resp = grpc
                    .unary(tonic::Request::new(req.clone()), path, codec)
                    .await?
                    .into_inner();
                murron_accepted(req.events.len(), &resp)
            }
            (Kind::Otlp, Batch::Otlp(req)) => {
                let codec = SharedCodec::<ExportLogsServiceRequest, ExportLogsServiceResponse>::default();
                let path = PathAndQuery::from_static(otlp::EXPORT_PATH);
                let resp = grpc
                    .unary(tonic::Request::new(req.clone()), path, codec)
                    .await?
                    .into_inner();
                let events: usize = req
                    .resource_logs
                    .iter()
                    .flat_map(|r| &r.scope_logs)
                    .map(|s| s.log_records.len())
                    .sum();
                otlp_accepted(events, &resp)
            }
            (Kind::Murron, Batch::Otlp(_)) => Err(TargetError::WrongBatch("peer")),
            (Kind::Otlp, Batch::Murron(_)) => Err(TargetError::WrongBatch("murron")),
        }
    }
}

/// Every event ACCEPTED, or the count of the others and the first reason given.
fn murron_accepted(events: usize, resp: &PublishResponse) -> Result<u64, TargetError> {
    let accepted = resp
        .status
        .iter()
        .filter(|s| **s == EventStatus::Accepted as i32)
        .count();
    if accepted == events && resp.status.len() == events {
        return Ok(events as u64);
    }
    let first = resp.refusals.first().map_or_else(
        || format!("{} statuses for {events} events", resp.status.len()),
        |r| format!("event {}: {} ({})", r.index, r.reason, r.detail),
    );
    Err(TargetError::NotAccepted {
        not_accepted: events - accepted.min(events),
        events,
        first,
    })
}

/// OTLP answers success with no partial_success, or with zero rejected records.
fn otlp_accepted(events: usize, resp: &ExportLogsServiceResponse) -> Result<u64, TargetError> {
    match &resp.partial_success {
        Some(p) if p.rejected_log_records > 0 => Err(TargetError::NotAccepted {
            not_accepted: p.rejected_log_records as usize,
            events,
            first: p.error_message.clone(),
        }),
        _ => Ok(events as u64),
    }
}

/// Encodes a request shared by many calls (`Arc`) without cloning it; decodes the answer with prost.
#[derive(Debug)]
struct SharedCodec<T, U>(PhantomData<fn(T) -> U>);

impl<T, U> Default for SharedCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for SharedCodec<T, U>
where
    T: prost::Message + Send + Sync + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = Arc<T>;
    type Decode = U;
    type Encoder = SharedEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        SharedEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder(PhantomData)
    }
}

#[derive(Debug)]
struct SharedEncoder<T>(PhantomData<fn(T)>);

impl<T: prost::Message> Encoder for SharedEncoder<T> {
    type Item = Arc<T>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Arc<T>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.reserve(item.encoded_len());
        item.encode(dst).map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

#[derive(Debug)]
struct ProstDecoder<U>(PhantomData<fn() -> U>);

impl<U: prost::Message + Default> Decoder for ProstDecoder<U> {
    type Item = U;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<U>, tonic::Status> {
        let len = src.remaining();
        U::decode(src.copy_to_bytes(len))
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use murron_ingest_proto::Refusal;

    #[test]
    fn a_refused_event_fails_the_batch_with_its_reason() {
        let resp = PublishResponse {
            batch_id: 0,
            status: vec![EventStatus::Accepted as i32, EventStatus::Refused as i32],
            refusals: vec![Refusal {
                index: 1,
                reason: "bad_signature".into(),
                detail: "x".into(),
            }],
            retry_after_ms: 0,
        };
        let err = murron_accepted(2, &resp).expect_err("refused");
        assert!(
            err.to_string()
                .contains("1 of 2 events not accepted (first: event 1: bad_signature"),
            "{err}"
        );
        let all = PublishResponse {
            status: vec![EventStatus::Accepted as i32; 2],
            ..resp
        };
        assert_eq!(murron_accepted(2, &all).expect("accepted"), 2);
    }

    #[test]
    fn missing_statuses_are_not_accepted() {
        let resp = PublishResponse {
            status: vec![EventStatus::Accepted as i32],
            ..Default::default()
        };
        assert!(murron_accepted(2, &resp).is_err());
    }

    #[test]
    fn otlp_rejections_fail_the_batch() {
        let resp = ExportLogsServiceResponse {
            partial_success: Some(otlp::ExportLogsPartialSuccess {
                rejected_log_records: 3,
                error_message: "full".into(),
            }),
        };
        assert!(otlp_accepted(10, &resp).is_err());
        assert_eq!(
            otlp_accepted(10, &ExportLogsServiceResponse::default()).expect("ok"),
            10
        );
    }
}
