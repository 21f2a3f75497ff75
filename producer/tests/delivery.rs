//! The producer's guarantees against a scripted transport: offsets per stream, the same bytes on
//! every retry, refusals reported and never resent, the bounded buffer, and the spool across a restart.

// Helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use murron_producer::{
    BufferLimits, Delivery, Event, EventType, Fsync, KeyRing, Outcome, Producer, ProducerError, Record, SchemaRef,
    SpoolConfig, Topics, Transport,
};
use murron_wire::envelope::decode;

/// Decides each attempt's outcome from the record and how many times it was attempted before.
type Script = dyn Fn(&Record, usize) -> Outcome + Send + Sync;

/// A transport that logs every attempt and answers as its script says, once its gate is open.
struct Scripted {
    script: Box<Script>,
    attempts: Mutex<Vec<Record>>,
    gate: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

impl Scripted {
    fn new(script: impl Fn(&Record, usize) -> Outcome + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            script: Box::new(script),
            attempts: Mutex::new(Vec::new()),
            gate: tokio::sync::Semaphore::new(tokio::sync::Semaphore::MAX_PERMITS),
        })
    }

    fn closed_gate(script: impl Fn(&Record, usize) -> Outcome + Send + Sync + 'static) -> Arc<Self> {
        let t = Self::new(script);
        t.gate.forget_permits(tokio::sync::Semaphore::MAX_PERMITS);
        t
    }

    fn open_gate(&self) {
        self.gate.add_permits(1 << 20);
    }

    fn attempts(&self) -> Vec<Record> {
        self.attempts.lock().unwrap().clone()
    }

    /// Every attempt's bytes, by (type, offset).
    fn bytes_by_uid(&self) -> BTreeMap<(String, i64), Vec<Bytes>> {
        let mut m: BTreeMap<(String, i64), Vec<Bytes>> = BTreeMap::new();
        for r in self.attempts() {
            m.entry((r.event_type.to_string(), r.offset)).or_default().push(r.value);
        }
        m
    }
}

/// Answers with the outcomes the script gives, after the gate lets the batch through.
struct Deliver(Arc<Scripted>);

impl Transport for Deliver {
    fn deliver(&self, batch: Vec<Record>) -> murron_producer::transport::DeliveryFuture {
        let t = self.0.clone();
        Box::pin(async move {
            let _pass = t.gate.acquire().await.expect("gate");
            let mut log = t.attempts.lock().unwrap();
            let outcomes = batch
                .iter()
                .map(|r| {
                    let before = log
                        .iter()
                        .filter(|a| a.event_type == r.event_type && a.offset == r.offset)
                        .count();
                    log.push(r.clone());
                    (t.script)(r, before)
                })
                .collect();
            Delivery {
                outcomes,
                retry_after: None,
            }
        })
    }

    fn max_batch(&self) -> usize {
        16
    }

    fn max_in_flight(&self) -> usize {
        4
    }
}

impl std::fmt::Debug for Deliver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deliver")
    }
}

fn keys() -> KeyRing {
    KeyRing::new([("2026-11".to_string(), b"secret".to_vec())])
}

async fn producer(
    t: &Arc<Scripted>,
    limits: BufferLimits,
    spool: Option<SpoolConfig>,
) -> Result<Producer, ProducerError> {
    let mut b = Producer::builder()
        .envelope_schema_id(1)
        .keys(keys())
        .key_id("2026-11")
        .host("web-1")
        .pid(42)
        .buffer(limits)
        .backoff(|_| Duration::from_millis(1))
        .transport(Arc::new(Deliver(t.clone())), Some(Topics::Fixed("events".into())));
    if let Some(s) = spool {
        b = b.spool(s);
    }
    b.build().await
}

async fn open(p: &Producer, name: &str) -> EventType {
    p.event_type(name, SchemaRef::Id(7)).await.unwrap()
}

const ROOMY: BufferLimits = BufferLimits {
    max_events: 10_000,
    max_bytes: 1 << 24,
};

#[tokio::test]
async fn offsets_are_contiguous_per_stream_and_never_repeat_under_concurrent_sends() {
    let t = Scripted::new(|_, _| Outcome::Acked);
    let p = producer(&t, ROOMY, None).await.unwrap();
    let mut tasks = Vec::new();
    for task in 0..6 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let ty = open(&p, if task % 2 == 0 { "billing.a" } else { "client.b" }).await;
            for i in 0..50u8 {
                if i % 10 == 0 {
                    p.send_batch(&ty, [&[i][..], &[i, i][..]]).await.unwrap();
                } else {
                    p.send(&ty, &[i]).await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = p.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!((report.acked, report.pending), (3 * 2 * 55, 0));
    let mut by_type: HashMap<String, Vec<i64>> = HashMap::new();
    for r in t.attempts() {
        let (_, env) = decode(&r.value).unwrap();
        assert_eq!(
            (env.offset, env.event_type, env.host, env.pid),
            (r.offset, &*r.event_type, "web-1", 42)
        );
        assert_eq!(&r.key[..], b"web-1:42");
        keys().verify(&env).unwrap();
        by_type.entry(r.event_type.to_string()).or_default().push(r.offset);
    }
    for (ty, mut offsets) in by_type {
        offsets.sort_unstable();
        assert_eq!(offsets, (0..165).collect::<Vec<_>>(), "{ty}");
    }
}

#[tokio::test]
async fn every_retry_resends_the_same_bytes() {
    // Each record fails twice, then is stored.
    let t = Scripted::new(|_, before| {
        if before < 2 {
            Outcome::Retry { reason: "test".into() }
        } else {
            Outcome::Acked
        }
    });
    let p = producer(&t, ROOMY, None).await.unwrap();
    let ty = open(&p, "billing.a").await;
    for i in 0..20u8 {
        let tags = [("region", "eu")];
        p.send_with(
            &ty,
            Event {
                timestamp: 1_764_115_200_000_000 + i64::from(i),
                datum: &[i],
                tags: &tags,
            },
        )
        .await
        .unwrap();
    }
    let report = p.flush(Duration::from_secs(10)).await;
    assert_eq!((report.acked, report.pending, report.refused.len()), (20, 0, 0));
    let attempts = t.bytes_by_uid();
    assert_eq!(attempts.len(), 20);
    for (uid, copies) in attempts {
        assert_eq!(copies.len(), 3, "{uid:?}");
        assert!(copies.iter().all(|c| *c == copies[0]), "{uid:?} was re-encoded");
    }
}

#[tokio::test]
async fn refused_events_are_reported_and_never_resent() {
    let t = Scripted::new(|r, _| {
        if r.offset == 3 {
            Outcome::Refused {
                reason: "bad_signature".into(),
                detail: "test".into(),
            }
        } else {
            Outcome::Acked
        }
    });
    let p = producer(&t, ROOMY, None).await.unwrap();
    let ty = open(&p, "billing.a").await;
    for i in 0..6u8 {
        p.send(&ty, &[i]).await.unwrap();
    }
    let report = p.flush(Duration::from_secs(10)).await;
    assert_eq!((report.acked, report.pending), (5, 0));
    assert_eq!(report.refused.len(), 1);
    assert_eq!(
        (&*report.refused[0].event_type, report.refused[0].offset),
        ("billing.a", 3)
    );
    assert_eq!(report.refused[0].reason, "bad_signature");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(t.bytes_by_uid()[&("billing.a".to_string(), 3)].len(), 1);
    // The report is not repeated.
    assert_eq!(p.flush(Duration::from_secs(1)).await.refused, vec![]);
}

#[tokio::test]
async fn the_buffer_bounds_events_send_waits_for_room_and_try_send_is_full() {
    let t = Scripted::closed_gate(|_, _| Outcome::Acked);
    let limits = BufferLimits {
        max_events: 3,
        max_bytes: 1 << 20,
    };
    let p = producer(&t, limits, None).await.unwrap();
    let ty = open(&p, "billing.a").await;
    for i in 0..3u8 {
        p.send(&ty, &[i]).await.unwrap();
    }
    assert!(matches!(p.try_send(&ty, b"x"), Err(ProducerError::Full)));
    let waiting = {
        let (p, ty) = (p.clone(), ty.clone());
        tokio::spawn(async move { p.send(&ty, b"fourth").await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "send did not wait for room");
    t.open_gate();
    let ticket = waiting.await.unwrap().unwrap();
    // The failed try_send took no offset.
    assert_eq!(ticket.offset, 3);
    let report = p.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!(report.acked, 4);
}

#[tokio::test]
async fn the_buffer_bounds_bytes_and_an_event_larger_than_it_is_refused_at_once() {
    let t = Scripted::closed_gate(|_, _| Outcome::Acked);
    let limits = BufferLimits {
        max_events: 100,
        max_bytes: 1_000,
    };
    let p = producer(&t, limits, None).await.unwrap();
    let ty = open(&p, "billing.a").await;
    assert!(matches!(
        p.send(&ty, &[0; 2_000]).await,
        Err(ProducerError::TooLarge { .. })
    ));
    p.send(&ty, &[0; 600]).await.unwrap();
    assert!(matches!(p.try_send(&ty, &[0; 600]), Err(ProducerError::Full)));
    t.open_gate();
    p.flush(Duration::from_secs(10)).await;
    let ticket = p.try_send(&ty, &[0; 600]).unwrap();
    assert_eq!(ticket.offset, 1);
}

#[tokio::test]
async fn close_without_a_spool_reports_unsent_events_and_later_sends_fail() {
    let t = Scripted::new(|_, _| Outcome::Retry { reason: "down".into() });
    let p = producer(&t, ROOMY, None).await.unwrap();
    let ty = open(&p, "billing.a").await;
    p.send(&ty, b"a").await.unwrap();
    match p.close(Duration::from_millis(50)).await {
        Err(ProducerError::Unsent(report)) => assert_eq!(report.pending, 1),
        other => panic!("expected Unsent, got {other:?}"),
    }
    assert!(matches!(p.send(&ty, b"b").await, Err(ProducerError::Closed)));
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("murron-producer-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_restart_with_a_spool_resends_the_same_bytes_and_continues_the_offsets() {
    let dir = TempDir::new("restart");
    let spool = SpoolConfig {
        dir: dir.0.clone(),
        fsync: Fsync::Always,
        segment_bytes: 1 << 20,
    };
    // First run: Kafka is down; nothing is acknowledged.
    let down = Scripted::new(|_, _| Outcome::Retry { reason: "down".into() });
    let first = producer(&down, ROOMY, Some(spool.clone())).await.unwrap();
    let (a, b) = (open(&first, "billing.a").await, open(&first, "client.b").await);
    for i in 0..5u8 {
        first.send(&a, &[i]).await.unwrap();
    }
    first.send(&b, b"b0").await.unwrap();
    let report = first.close(Duration::from_millis(20)).await.unwrap();
    assert_eq!(report.pending, 6);
    let sent = down.bytes_by_uid();

    // Second run, as another pid: the spool's identity wins, unacknowledged records go again.
    let up = Scripted::new(|_, _| Outcome::Acked);
    let mut b2 = Producer::builder()
        .envelope_schema_id(1)
        .keys(keys())
        .key_id("2026-11")
        .host("web-1")
        .pid(4_000)
        .spool(spool.clone())
        .backoff(|_| Duration::from_millis(1))
        .transport(Arc::new(Deliver(up.clone())), Some(Topics::Fixed("events".into())));
    b2 = b2.buffer(ROOMY);
    let second = b2.build().await.unwrap();
    assert_eq!(second.identity(), ("web-1", 42));
    let a = open(&second, "billing.a").await;
    assert_eq!(second.send(&a, b"new").await.unwrap().offset, 5);
    let report = second.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!((report.acked, report.pending), (7, 0));
    let resent = up.bytes_by_uid();
    for (uid, copies) in &sent {
        assert_eq!(resent[uid][0], copies[0], "{uid:?} changed across the restart");
    }
    assert!(resent.contains_key(&("billing.a".to_string(), 5)));

    // Third run: everything was acknowledged, so nothing is resent, and offsets still continue.
    let third_t = Scripted::new(|_, _| Outcome::Acked);
    let third = producer(&third_t, ROOMY, Some(spool)).await.unwrap();
    let b = open(&third, "client.b").await;
    assert_eq!(third.send(&b, b"b1").await.unwrap().offset, 1);
    third.close(Duration::from_secs(10)).await.unwrap();
    assert_eq!(third_t.attempts().len(), 1);
}
