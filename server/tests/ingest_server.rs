//! murron-server against the real local Kafka (deploy/local/stack.sh): signed envelopes published
//! over gRPC (Publish and PublishStream) and HTTP (protobuf and JSON) arrive once each, keyed
//! `{host}:{pid}`, on their routed topic; forged, truncated and unrouted events are refused with their
//! reasons; tokens are enforced. A missing Kafka fails the test, never skips it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use murron_ingest_proto::ingest_client::IngestClient;
use murron_ingest_proto::{PublishRequest, PublishResponse, Status};
use murron_server::config::{Config, IngestPipeline, TokenConfig, topic};
use murron_wire::envelope::{KeyRing, NewEnvelope};
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

const SECRET: &str = "s3cret";

fn brokers() -> String {
    std::env::var("MURRON_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn create_topics(names: &[&str]) {
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin client");
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, 3, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in admin.create_topics(&topics, &opts).await.unwrap_or_else(|e| {
        panic!(
            "Kafka at {} is not reachable ({e}): start the local stack with `make up`",
            brokers()
        )
    }) {
        r.expect("create topic");
    }
}

/// A signed record value, exactly as a producer sends it.
fn envelope(keys: &KeyRing, event_type: &str, host: &str, pid: i32, offset: i64) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    // A Confluent-framed payload (schema id 7) with an arbitrary datum: the edge checks the framing only.
    let message = [0u8, 0, 0, 0, 7, 2, b'x'];
    let mut out = Vec::new();
    NewEnvelope {
        timestamp: now,
        host,
        event_type,
        offset,
        pid,
        message: &message,
        tags: &[],
    }
    .encode_signed(1, keys, &mut out)
    .expect("sign");
    Bytes::from(out)
}

fn keys(secret: &str) -> KeyRing {
    KeyRing::new([("default".to_string(), secret.as_bytes().to_vec())])
}

/// A server running in this process until the returned sender fires.
struct Running {
    addrs: murron_server::Bound,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), murron_server::ServeError>>,
}

async fn start(config: Config) -> Running {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(murron_server::run(
        config,
        async move {
            let _ = stopped.await;
        },
        move |b| {
            let _ = bound_tx.send(b);
        },
    ));
    let addrs = tokio::time::timeout(Duration::from_secs(60), bound_rx)
        .await
        .expect("server started within 60 s")
        .unwrap_or_else(|_| panic!("server failed to start: is Kafka at {} up? (`make up`)", brokers()));
    Running { addrs, stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task").expect("server stopped cleanly");
    }

    fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addrs.http)
    }
}

fn config(pipelines: Vec<IngestPipeline>) -> Config {
    let mut c = Config::default();
    c.kafka.brokers = brokers();
    c.keys.insert("default".into(), SECRET.into());
    c.server.grpc_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.server.http_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.pipelines = pipelines;
    c
}

/// (type, host, pid, offset) of every record on `topic`, read from the start until `expected` came
/// and two quiet seconds passed; each record's key must be `{host}:{pid}`.
fn read_topic(topic: &str, expected: usize) -> Vec<(String, String, i32, i64)> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("ingest-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_until = None;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let (_, e) = murron_wire::envelope::decode(m.payload().unwrap_or_default()).expect("an envelope");
                assert_eq!(m.key(), Some(format!("{}:{}", e.host, e.pid).as_bytes()), "Kafka key");
                out.push((e.event_type.to_owned(), e.host.to_owned(), e.pid, e.offset));
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
        if out.len() >= expected {
            let until = *quiet_until.get_or_insert_with(|| Instant::now() + Duration::from_secs(2));
            if Instant::now() >= until {
                break;
            }
        }
    }
    out
}

fn statuses(r: &PublishResponse) -> Vec<Status> {
    r.status
        .iter()
        .map(|s| Status::try_from(*s).unwrap_or(Status::Unspecified))
        .collect()
}

fn reasons(r: &PublishResponse) -> BTreeMap<u32, String> {
    r.refusals.iter().map(|x| (x.index, x.reason.clone())).collect()
}

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
