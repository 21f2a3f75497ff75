//! A producer process killed with SIGKILL mid-stream, then restarted on its spool, against the real
//! local Kafka: the restart resends what was not acknowledged and continues the offsets, so the topic
//! holds the stream's offsets 0..n with no hole, whatever the kill interrupted. Runs the `send`
//! example, which `cargo test` builds.

// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use murron_connect::kafka::ensure_topic;
use murron_wire::envelope::decode;

fn send(registry: &common::Registry, topic: &str, spool: &std::path::Path, count: u64) -> Command {
    let mut cmd = Command::new(common::binary("examples/send"));
    cmd.args([
        "--registry",
        &registry.config.url,
        "--kafka",
        &common::kafka().brokers,
        "--topic",
        topic,
    ])
    .args(["--host", "spooled-1", "--count", &count.to_string(), "--spool"])
    .arg(spool)
    .env("RUST_LOG", "warn")
    .stdout(Stdio::piped());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_killed_mid_stream_resends_from_its_spool_and_continues_its_offsets() {
    let registry = common::Registry::start().await;
    let topic = common::unique("producer-spool");
    ensure_topic(&common::kafka(), &topic, 2).await.unwrap();
    let spool = common::TempDir::new("spool");

    // Killed while sending: some events acknowledged, some spooled and not.
    let mut first = common::ChildGuard(send(&registry, &topic, &spool.0, 1_000_000).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let segment = spool.0.join(format!("{:020}.seg", 0));
    while std::fs::metadata(&segment).map_or(0, |m| m.len()) < 200_000 {
        assert!(
            first.0.try_wait().unwrap().is_none(),
            "the producer ended before it was killed"
        );
        assert!(Instant::now() < deadline, "the producer spooled too little within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    // Restarted: it resends the spool, then sends 500 more.
    let out = send(&registry, &topic, &spool.0, 500).output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{summary}");
    assert!(summary.contains("0 refused, 0 pending"), "{summary}");

    let streams: serde_json::Value = serde_json::from_slice(&std::fs::read(spool.0.join("streams")).unwrap()).unwrap();
    let next = streams["streams"][0]["next"].as_i64().unwrap();
    assert!(next > 500, "{streams}");
    let consumed = common::read_topic(&topic, next as usize, Duration::from_secs(60));
    let mut copies: BTreeMap<i64, usize> = BTreeMap::new();
    let mut pids = std::collections::BTreeSet::new();
    for c in &consumed {
        let (_, env) = decode(&c.value).unwrap();
        pids.insert(env.pid);
        *copies.entry(env.offset).or_default() += 1;
    }
    // One stream: the restart continued the killed process's identity.
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert_eq!(
        copies.keys().copied().collect::<Vec<_>>(),
        (0..next).collect::<Vec<_>>(),
        "a hole or an offset past next"
    );
}
