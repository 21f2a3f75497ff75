//! `murron-ingest-bench`: parses the command line and runs the measurements of the library.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use murron_ingest_bench::dataset::{Dataset, DatasetOptions, Kind};
use murron_ingest_bench::load::{self, Pacing};
use murron_ingest_bench::target::Target;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TargetArg {
    /// murron-server's `murron.ingest.v1.Ingest/Publish`.
    Murron,
    /// An OTLP/gRPC logs endpoint (`LogsService/Export`): the peer, an OpenTelemetry Collector.
    Otlp,
}

#[derive(Debug, Parser)]
#[command(
    name = "murron-ingest-bench",
    about = "Publishes pre-encoded signed envelopes in batches: the peak accepted rate, then publish-to-acknowledgement latency at a paced rate"
)]
struct Cli {
    #[arg(long, value_enum)]
    target: TargetArg,
    /// The endpoint, e.g. http://127.0.0.1:9480.
    #[arg(long)]
    url: String,
    /// Envelopes encoded and signed before any timing; the runs cycle through them.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Publish calls in flight at once in the peak run.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Streams (host, pid) the events are spread over, round robin.
    #[arg(long, default_value_t = 64)]
    streams: usize,
    #[arg(long, default_value = "client.api_call")]
    event_type: String,
    /// Signing key as ID=SECRET; the envelopes carry no murron.key tag when ID is `default`.
    #[arg(long, default_value = "default=secret")]
    key: String,
    /// Payload bytes per event after the Confluent header (client.api_call averages 159).
    #[arg(long, default_value_t = 159)]
    payload_bytes: usize,
    /// Seconds of the peak run, after `warmup` seconds that are not counted.
    #[arg(long, default_value_t = 30.0)]
    peak_secs: f64,
    #[arg(long, default_value_t = 3.0)]
    warmup_secs: f64,
    /// Seconds of the paced run.
    #[arg(long, default_value_t = 20.0)]
    paced_secs: f64,
    /// Events/s of the paced run; by default half the peak just measured.
    #[arg(long)]
    paced_rate: Option<f64>,
    /// Calls in flight at most in the paced run: a batch due while this many wait is sent late and
    /// counted as late.
    #[arg(long, default_value_t = 64)]
    paced_max_in_flight: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("murron-ingest-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let (key_id, secret) = cli.key.split_once('=').context("--key must be ID=SECRET")?;
    let kind = match cli.target {
        TargetArg::Murron => Kind::Murron,
        TargetArg::Otlp => Kind::Otlp,
    };
    let name = kind.name();
    let started = std::time::Instant::now();
    let dataset = std::sync::Arc::new(Dataset::build(&DatasetOptions {
        events: cli.events,
        batch: cli.batch,
        streams: cli.streams,
        event_type: cli.event_type.clone(),
        key_id: key_id.to_string(),
        secret: secret.as_bytes().to_vec(),
        payload_bytes: cli.payload_bytes,
        kind,
    })?);
    println!(
        "{name} dataset events={} event_bytes={:.1} batches={} encode_secs={:.1}",
        dataset.events(),
        dataset.mean_event_bytes(),
        dataset.batches(),
        started.elapsed().as_secs_f64()
    );
    let target = Target::connect(kind, &cli.url).await?;

    let peak = load::peak(
        &target,
        &dataset,
        cli.in_flight,
        Duration::from_secs_f64(cli.warmup_secs),
        Duration::from_secs_f64(cli.peak_secs),
    )
    .await?;
    println!(
        "{name} peak events_per_sec={:.0} accepted={} batches={} window_secs={:.2} in_flight={} batch={}",
        peak.events_per_sec(),
        peak.events,
        peak.batches,
        peak.window.as_secs_f64(),
        cli.in_flight,
        cli.batch
    );

    let rate = cli.paced_rate.unwrap_or(peak.events_per_sec() / 2.0);
    let paced = load::paced(
        &target,
        &dataset,
        &Pacing {
            events_per_sec: rate,
            duration: Duration::from_secs_f64(cli.paced_secs),
            max_in_flight: cli.paced_max_in_flight,
        },
    )
    .await?;
    println!(
        "{name} paced events_per_sec={:.0} achieved={:.0} batches={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} late_batches={}",
        rate,
        paced.achieved_events_per_sec(),
        paced.latencies.len(),
        load::percentile(&paced.latencies, 50.0).as_secs_f64() * 1e3,
        load::percentile(&paced.latencies, 99.0).as_secs_f64() * 1e3,
        load::percentile(&paced.latencies, 100.0).as_secs_f64() * 1e3,
        paced.late
    );
    // Every event any call of the two runs had accepted: the script compares it with the topic.
    println!("{name} total_accepted={}", peak.total + paced.events);
    Ok(())
}
