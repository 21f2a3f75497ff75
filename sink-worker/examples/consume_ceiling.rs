//! The consume-only ceiling for the sink benchmark (benches/sink/run.sh): a consumer built exactly as
//! the sink's (`source::consumer`, same settings, same `recv()` loop) reads a topic from the start and
//! does nothing with the records, with the sink's allocator. What the box can consume is the limit of what the sink can sink.
//!
//! Usage: `consume_ceiling TOPIC COUNT [CONFIG]`. Prints one JSON line: records, bytes, seconds from
//! the first record to the last, and the rates.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::Message;
use rdkafka::consumer::Consumer;
use sink_worker::config::Config;
use sink_worker::pipeline::source::{self, SourceContext};

/// The sink's allocator (see `src/main.rs`), so the ceiling frees librdkafka's messages as it does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(topic), Some(count)) = (args.next(), args.next()) else {
        bail!("usage: consume_ceiling TOPIC COUNT [CONFIG]");
    };
    let count: u64 = count.parse().context("COUNT must be a number")?;
    if count == 0 {
        bail!("COUNT must be at least 1");
    }
    let config = Config::load(args.next().map(PathBuf::from).as_deref())?;
    let group = format!("murron-ceiling-{}", std::process::id());
    let consumer = source::consumer(&config.kafka, &group, SourceContext::default())?;
    consumer.subscribe(&[&topic])?;

    let (mut records, mut bytes) = (0u64, 0u64);
    let mut first: Option<Instant> = None;
    while records < count {
        let msg = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .with_context(|| format!("no record for 60 s after {records} of {count}"))??;
        first.get_or_insert_with(Instant::now);
        records += 1;
        bytes += msg.payload().map_or(0, |p| p.len()) as u64;
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    println!(
        "{{\"records\":{records},\"bytes\":{bytes},\"secs\":{secs:.3},\"events_per_sec\":{:.0},\"mb_per_sec\":{:.2}}}",
        records as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
