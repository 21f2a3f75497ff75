//! Helpers of the server's tests: topics on the local Kafka, signed envelopes, a server run in this
//! process, reading a topic back. A missing Kafka fails the test, never skips it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use murron_ingest_proto::{PublishResponse, Status};
use murron_server::config::{Config, IngestPipeline};
use murron_wire::envelope::{KeyRing, NewEnvelope};
use rdkafka::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

pub const SECRET: &str = "s3cret";

pub fn brokers() -> String {
    std::env::var("MURRON_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

pub async fn create_topics(names: &[&str]) {
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
pub fn envelope(keys: &KeyRing, event_type: &str, host: &str, pid: i32, offset: i64) -> Bytes {
    envelope_sized(keys, event_type, host, pid, offset, 2)
}

/// A signed record value whose payload datum is `datum_bytes` long.
pub fn envelope_sized(
    keys: &KeyRing,
    event_type: &str,
    host: &str,
    pid: i32,
    offset: i64,
    datum_bytes: usize,
) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    // A Confluent-framed payload (schema id 7) with an arbitrary datum: the edge checks the framing only.
    let mut message = vec![0u8, 0, 0, 0, 7];
    message.resize(5 + datum_bytes, b'x');
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

pub fn keys(secret: &str) -> KeyRing {
    KeyRing::new([("default".to_string(), secret.as_bytes().to_vec())])
}

/// A server running in this process until the returned sender fires.
pub struct Running {
    pub addrs: murron_server::Bound,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<Result<(), murron_server::ServeError>>,
}

pub async fn start(config: Config) -> Running {
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
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task").expect("server stopped cleanly");
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addrs.http)
    }
}

pub fn config(pipelines: Vec<IngestPipeline>) -> Config {
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
pub fn read_topic(topic: &str, expected: usize) -> Vec<(String, String, i32, i64)> {
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

pub fn statuses(r: &PublishResponse) -> Vec<Status> {
    r.status
        .iter()
        .map(|s| Status::try_from(*s).unwrap_or(Status::Unspecified))
        .collect()
}

pub fn reasons(r: &PublishResponse) -> BTreeMap<u32, String> {
    r.refusals.iter().map(|x| (x.index, x.reason.clone())).collect()
}
