//! murron-server against the real local Kafka (deploy/local/stack.sh): signed envelopes published
//! over gRPC (Publish and PublishStream) and HTTP (protobuf and JSON) arrive once each, keyed
//! `{host}:{pid}`, on their routed topic; forged, truncated and unrouted events are refused with their
//! reasons; tokens are enforced. A missing Kafka fails the test, never skips it.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use common::*;
use murron_ingest_proto::ingest_client::IngestClient;
use murron_ingest_proto::{PublishRequest, PublishResponse, Status};
use murron_server::config::{IngestPipeline, TokenConfig, topic};
use prost::Message as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_over_grpc_and_http_arrive_once_on_their_routed_topic() {
    let (billing, client) = (unique("h22-billing"), unique("h22-client"));
    create_topics(&[&billing, &client]).await;
    let server = start(config(vec![
        IngestPipeline::new("billing")
            .filter_type("billing.*")
            .output(topic(&billing)),
        IngestPipeline::new("client")
            .filter_type("client.api_call")
            .output(topic(&client)),
    ]))
    .await;

    let good = keys(SECRET);
    // 4 streams, 3 ways in: gRPC Publish, gRPC PublishStream, HTTP protobuf, HTTP JSON.
    let mut expected: BTreeMap<&str, Vec<(String, String, i32, i64)>> = BTreeMap::new();
    let mut batches: Vec<Vec<Bytes>> = vec![Vec::new(); 4];
    for (s, (event_type, host, pid)) in [
        ("billing.member_active", "web-1", 11),
        ("billing.refund", "web-2", 12),
        ("client.api_call", "web-1", 13),
        ("client.api_call", "web-3", 11),
    ]
    .into_iter()
    .enumerate()
    {
        for offset in 0..200 {
            batches[(offset as usize + s) % 4].push(envelope(&good, event_type, host, pid, offset));
            let t = if event_type.starts_with("billing") {
                billing.as_str()
            } else {
                client.as_str()
            };
            expected
                .entry(t)
                .or_default()
                .push((event_type.into(), host.into(), pid, offset));
        }
    }

    // gRPC Publish, with a forged, a truncated and an unrouted event among good ones.
    let mut grpc = IngestClient::connect(format!("http://{}", server.addrs.grpc))
        .await
        .expect("gRPC connect");
    let forged = envelope(&keys("not-the-secret"), "billing.refund", "web-9", 1, 0);
    let good_one = envelope(&good, "billing.refund", "web-9", 1, 0);
    let truncated = good_one.slice(..good_one.len() - 3);
    let unrouted = envelope(&good, "other.thing", "web-9", 1, 0);
    let mut first = batches[0].clone();
    let n = first.len() as u32;
    first.extend([forged, truncated, unrouted]);
    let r = grpc
        .publish(PublishRequest {
            batch_id: 42,
            events: first,
        })
        .await
        .expect("publish")
        .into_inner();
    assert_eq!(r.batch_id, 42);
    let st = statuses(&r);
    assert!(
        st[..n as usize].iter().all(|s| *s == Status::Accepted),
        "{:?}",
        reasons(&r)
    );
    assert_eq!(&st[n as usize..], [Status::Refused; 3]);
    assert_eq!(
        reasons(&r),
        BTreeMap::from([
            (n, "bad_signature".to_owned()),
            (n + 1, "truncated".to_owned()),
            (n + 2, "unrouted_type".to_owned())
        ])
    );

    // gRPC PublishStream: the second batch in two halves.
    let half = batches[1].len() / 2;
    let requests = vec![
        PublishRequest {
            batch_id: 1,
            events: batches[1][..half].to_vec(),
        },
        PublishRequest {
            batch_id: 2,
            events: batches[1][half..].to_vec(),
        },
    ];
    let mut answers = grpc
        .publish_stream(tokio_stream::iter(requests))
        .await
        .expect("publish_stream")
        .into_inner();
    let mut seen = Vec::new();
    while let Some(a) = answers.message().await.expect("stream answer") {
        assert!(statuses(&a).iter().all(|s| *s == Status::Accepted), "{:?}", reasons(&a));
        seen.push((a.batch_id, a.status.len()));
    }
    seen.sort_unstable();
    assert_eq!(seen, [(1, half), (2, batches[1].len() - half)]);

    // HTTP protobuf.
    let http = reqwest::Client::new();
    let body = PublishRequest {
        batch_id: 3,
        events: batches[2].clone(),
    }
    .encode_to_vec();
    let resp = http
        .post(server.http("/v1/publish"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("HTTP publish");
    assert_eq!(resp.status(), 200);
    let r = PublishResponse::decode(resp.bytes().await.expect("body")).expect("a PublishResponse");
    assert!(statuses(&r).iter().all(|s| *s == Status::Accepted), "{:?}", reasons(&r));

    // HTTP JSON, with one unrouted event.
    let b64 = |b: &Bytes| base64::engine::general_purpose::STANDARD.encode(b);
    let mut events: Vec<String> = batches[3].iter().map(b64).collect();
    events.push(b64(&envelope(&good, "client.other", "web-9", 2, 0)));
    let resp = http
        .post(server.http("/v1/publish"))
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await
        .expect("HTTP publish");
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.expect("JSON answer");
    assert_eq!(v["accepted"], batches[3].len());
    assert_eq!(v["status"][batches[3].len()], "refused");
    assert_eq!(v["refusals"][0]["reason"], "unrouted_type");
    assert_eq!(v["refusals"][0]["index"], batches[3].len());

    for (t, mut want) in expected {
        let mut got = read_topic(t, want.len());
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got.len(), want.len(), "{t}: every event once");
        assert_eq!(got, want, "{t}");
    }

    let metrics = http
        .get(server.http("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(&format!(
            "murron_ingest_accepted_total{{topic=\"{billing}\",pipeline=\"billing\"}} 400"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("murron_ingest_refused_total{reason=\"unrouted_type\"}"),
        "{metrics}"
    );
    assert_eq!(
        http.get(server.http("/readyz")).send().await.expect("readyz").status(),
        200
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_and_scope_the_types_a_producer_may_publish() {
    let billing = unique("h22-auth");
    create_topics(&[&billing]).await;
    let mut c = config(vec![IngestPipeline::new("all").default_route().output(topic(&billing))]);
    c.auth.tokens.insert(
        "alice".into(),
        TokenConfig {
            token: "alice-token-0123456789".into(),
            types: vec!["billing.*".into()],
        },
    );
    let server = start(c).await;
    let good = keys(SECRET);
    let events = vec![
        envelope(&good, "billing.x", "h", 1, 0),
        envelope(&good, "client.api_call", "h", 1, 0),
    ];

    let mut grpc = IngestClient::connect(format!("http://{}", server.addrs.grpc))
        .await
        .expect("gRPC connect");
    let err = grpc
        .publish(PublishRequest {
            batch_id: 0,
            events: events.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    let mut request = tonic::Request::new(PublishRequest {
        batch_id: 0,
        events: events.clone(),
    });
    request.metadata_mut().insert(
        "authorization",
        "Bearer alice-token-0123456789".parse().expect("header"),
    );
    let r = grpc.publish(request).await.expect("publish").into_inner();
    assert_eq!(statuses(&r), [Status::Accepted, Status::Refused]);
    assert_eq!(reasons(&r), BTreeMap::from([(1, "forbidden_type".to_owned())]));

    let http = reqwest::Client::new();
    let body = PublishRequest { batch_id: 0, events }.encode_to_vec();
    let resp = http
        .post(server.http("/v1/publish"))
        .header("content-type", "application/x-protobuf")
        .header("authorization", "Bearer wrong-token-0123456789")
        .body(body)
        .send()
        .await
        .expect("HTTP publish");
    assert_eq!(resp.status(), 401);
    assert_eq!(read_topic(&billing, 1).len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_whose_topic_is_missing_stops_the_start_with_its_name() {
    let missing = unique("h22-never-created");
    let c = config(vec![IngestPipeline::new("all").default_route().output(topic(&missing))]);
    let err = murron_server::run(c, std::future::pending(), |_| panic!("must not start"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&missing) && err.contains("does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_pipeline_takes_its_rate_and_asks_for_the_rest_again() {
    let limited = unique("h22-limited");
    create_topics(&[&limited]).await;
    let mut c = config(vec![
        IngestPipeline::new("limited")
            .filter_type("a.*")
            .with_rate_limit_per_second(100)
            .output(topic(&limited)),
        IngestPipeline::new("slow")
            .filter_type("slow.*")
            .with_rate_limit_per_second(1)
            .output(topic(&limited)),
    ]);
    c.server.max_batch_events = 500;
    c.server.max_batch_bytes = 256 << 10;
    let server = start(c).await;
    let good = keys(SECRET);
    let events: Vec<Bytes> = (0..300).map(|o| envelope(&good, "a.b", "h", 1, o)).collect();
    let http = reqwest::Client::new();
    let post = |events: Vec<Bytes>| {
        let body = PublishRequest { batch_id: 0, events }.encode_to_vec();
        http.post(server.http("/v1/publish"))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
    };

    // A full bucket holds one second's worth: the first 100 go, the rest are asked for again.
    let resp = post(events.clone()).await.expect("publish");
    assert_eq!(resp.status(), 200);
    let r = PublishResponse::decode(resp.bytes().await.expect("body")).expect("a PublishResponse");
    let st = statuses(&r);
    assert_eq!(st.iter().filter(|s| **s == Status::Accepted).count(), 100);
    assert!(st[..100].iter().all(|s| *s == Status::Accepted));
    assert!(st[100..].iter().all(|s| *s == Status::Retry));
    assert!(r.refusals.iter().all(|x| x.reason == "rate_limited") && r.refusals.len() == 200);
    assert!(r.retry_after_ms > 0);

    // Nothing left in the bucket: the whole batch is pushed back (one event a second: the first goes).
    let slow: Vec<Bytes> = (0..3).map(|o| envelope(&good, "slow.x", "h", 3, o)).collect();
    assert_eq!(post(slow[..1].to_vec()).await.expect("publish").status(), 200);
    let resp = post(slow[1..].to_vec()).await.expect("publish");
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let mut grpc = IngestClient::connect(format!("http://{}", server.addrs.grpc))
        .await
        .expect("gRPC connect");
    let err = grpc
        .publish(PublishRequest {
            batch_id: 0,
            events: slow[1..].to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(err.metadata().get("retry-after-ms").is_some(), "{err:?}");

    // Batches out of bounds are refused whole.
    let too_many: Vec<Bytes> = (0..501).map(|o| envelope(&good, "a.b", "h", 2, o)).collect();
    let err = grpc
        .publish(PublishRequest {
            batch_id: 0,
            events: too_many,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let too_big = vec![Bytes::from(vec![0u8; 300 << 10])];
    assert_eq!(post(too_big).await.expect("publish").status(), 413);

    // Those asked for again go once they are resent after the wait.
    let mut left: Vec<Bytes> = events[100..].to_vec();
    let until = Instant::now() + Duration::from_secs(20);
    while !left.is_empty() && Instant::now() < until {
        let resp = post(left.clone()).await.expect("publish");
        if resp.status() == 200 {
            let r = PublishResponse::decode(resp.bytes().await.expect("body")).expect("answer");
            left = left
                .into_iter()
                .zip(statuses(&r))
                .filter(|(_, s)| *s != Status::Accepted)
                .map(|(e, _)| e)
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut got: Vec<(String, i64)> = read_topic(&limited, 301)
        .into_iter()
        .map(|(t, _, _, o)| (t, o))
        .collect();
    got.sort_unstable();
    let mut want: Vec<(String, i64)> = (0..300).map(|o| ("a.b".to_owned(), o)).collect();
    want.push(("slow.x".to_owned(), 0));
    assert_eq!(got, want);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_an_open_streams_batches_then_ends_it() {
    let t = unique("h22-shutdown");
    create_topics(&[&t]).await;
    let server = start(config(vec![
        IngestPipeline::new("all").default_route().output(topic(&t)),
    ]))
    .await;
    let good = keys(SECRET);
    let mut grpc = IngestClient::connect(format!("http://{}", server.addrs.grpc))
        .await
        .expect("gRPC connect");
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut answers = grpc
        .publish_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("publish_stream")
        .into_inner();
    tx.send(PublishRequest {
        batch_id: 1,
        events: (0..10).map(|o| envelope(&good, "a.b", "h", 1, o)).collect(),
    })
    .await
    .expect("send");
    let a = answers.message().await.expect("answer").expect("one answer");
    assert_eq!(statuses(&a), [Status::Accepted; 10]);

    // The client keeps its stream open; the server still stops, and tells it why.
    tokio::time::timeout(Duration::from_secs(30), server.stop())
        .await
        .expect("the server stops with a stream open");
    let end = answers.message().await.unwrap_err();
    assert_eq!(end.code(), tonic::Code::Unavailable, "{end:?}");
    drop(tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_too_large_for_the_edge_or_for_kafka_are_refused_oversized() {
    let t = unique("h22-large");
    create_topics(&[&t]).await;
    let server = start(config(vec![
        IngestPipeline::new("all").default_route().output(topic(&t)),
    ]))
    .await;
    let good = keys(SECRET);
    let events = vec![
        envelope(&good, "a.b", "h", 1, 0),
        // Under max_event_bytes (1 MiB) but over the producer's message.max.bytes (1,000,000).
        envelope_sized(&good, "a.b", "h", 1, 1, 1_010_000),
        // Over max_event_bytes: the edge check.
        envelope_sized(&good, "a.b", "h", 1, 2, 1_100_000),
    ];
    let mut grpc = IngestClient::connect(format!("http://{}", server.addrs.grpc))
        .await
        .expect("gRPC connect");
    let r = grpc
        .publish(PublishRequest { batch_id: 0, events })
        .await
        .expect("publish")
        .into_inner();
    assert_eq!(statuses(&r), [Status::Accepted, Status::Refused, Status::Refused]);
    assert_eq!(
        reasons(&r),
        BTreeMap::from([(1, "oversized".to_owned()), (2, "oversized".to_owned())])
    );
    server.stop().await;
}
