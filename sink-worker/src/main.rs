//! `sink-worker` binary: parses the command line, loads configuration, sets up logging and calls
//! into the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sink_worker::config::Config;
use sink_worker::{generate, inspect, pipeline};

#[derive(Debug, Parser)]
#[command(
    name = "sink-worker",
    version,
    about = "Murron sink worker: Kafka to object storage and warehouse, exactly once"
)]
struct Cli {
    /// TOML configuration file; `SINK_WORKER_<SECTION>__<KEY>` environment variables override it.
    #[arg(long, short, global = true, env = "SINK_WORKER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the configured pipeline: consume, validate, convert and write exactly once.
    Run,
    /// Run the reliability monitor and backfill API (not yet implemented).
    Monitor,
    /// Repair gaps from the raw archive (not yet implemented).
    Backfill,
    /// Archive raw envelopes to object storage (not yet implemented).
    Archive,
    /// Produce signed events of one type, with payloads sampled from its registered schema.
    Gen(GenArgs),
    /// Read a topic from the beginning and report streams, gaps, duplicates and invalid events.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
struct GenArgs {
    /// Topic to produce to.
    #[arg(long)]
    topic: String,
    /// Event type: the registry subject whose latest schema the payloads follow.
    #[arg(long = "type")]
    event_type: String,
    /// Number of events.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Number of streams (host, pid) the events are spread over, round-robin.
    #[arg(long, default_value_t = 4)]
    streams: u32,
    #[arg(long, default_value = "gen")]
    host_prefix: String,
    #[arg(long, default_value_t = 1000)]
    pid_base: i32,
    /// First offset of every stream.
    #[arg(long, default_value_t = 0)]
    start_offset: i64,
    /// Signing key id (written as the murron.key tag); the `default` key when omitted.
    #[arg(long)]
    key: Option<String>,
    /// Events per second at most.
    #[arg(long)]
    rate: Option<u64>,
    /// Seed for the sampled payloads.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Create the topic with this many partitions if it does not exist.
    #[arg(long)]
    partitions: Option<i32>,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// Topic to read.
    #[arg(long)]
    topic: String,
    /// Stop after this many records.
    #[arg(long)]
    max: Option<u64>,
    /// Stop after this many seconds without a record.
    #[arg(long, default_value_t = 5.0)]
    idle_secs: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,rdkafka=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.as_ref().is_ok_and(|c| c.log.json) {
        logs.json().init();
    } else {
        logs.init();
    }
    let config = config?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Gen(args) => runtime.block_on(run_gen(&config, args))?,
        Command::Inspect(args) => runtime.block_on(run_inspect(&config, args))?,
        Command::Run => {
            let pipeline = config
                .pipeline
                .clone()
                .context("no [pipeline] in the configuration; docs/CONFIG.md shows one")?;
            runtime.block_on(pipeline::run(&config, pipeline, shutdown_signal()))?;
        }
        Command::Monitor | Command::Backfill | Command::Archive => {
            eprintln!("error: this subcommand is not yet implemented");
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::no_length(),
    };
    let template = format!(
        "{{spinner}} {what} {{human_pos}}{} [{{elapsed}}, {{per_sec}}]",
        if len.is_some() { "/{human_len} {wide_bar}" } else { "" }
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

async fn run_gen(config: &Config, a: GenArgs) -> anyhow::Result<()> {
    let opts = generate::GenOptions {
        topic: a.topic,
        event_type: a.event_type,
        count: a.count,
        streams: a.streams,
        host_prefix: a.host_prefix,
        pid_base: a.pid_base,
        start_offset: a.start_offset,
        key_id: a.key,
        rate: a.rate,
        seed: a.seed,
        create_partitions: a.partitions,
    };
    let bar = progress_bar(Some(opts.count), "producing");
    let report = generate::run(config, &opts, |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let report = report?;
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "produced {} events of {} (schema id {}, version {}; envelope schema id {}) to {} over {} streams: {:.1} MB in {:.2}s ({:.0} events/s)",
        report.produced,
        opts.event_type,
        report.payload_schema_id,
        report.payload_schema_version,
        report.envelope_schema_id,
        opts.topic,
        opts.streams,
        report.bytes as f64 / 1e6,
        secs,
        report.produced as f64 / secs,
    );
    Ok(())
}

async fn run_inspect(config: &Config, a: InspectArgs) -> anyhow::Result<()> {
    if !(a.idle_secs.is_finite() && a.idle_secs > 0.0) {
        anyhow::bail!("--idle-secs must be a positive number of seconds");
    }
    let opts = inspect::InspectOptions {
        topic: a.topic,
        max_events: a.max,
        idle_timeout: Duration::from_secs_f64(a.idle_secs),
    };
    let bar = progress_bar(opts.max_events, "reading");
    let report = inspect::run(config, &opts, |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let report = report?;
    println!(
        "{}: {} records, {} valid, {} invalid",
        opts.topic,
        report.records,
        report.valid,
        report.invalid.values().sum::<u64>()
    );
    for (reason, n) in &report.invalid {
        println!("  invalid  {reason:<24} {n}");
    }
    println!(
        "  {:<28} {:<16} {:>8} {:>10} {:>10} {:>8} {:>8}",
        "type", "host", "pid", "events", "max_offset", "missing", "dupes"
    );
    for ((ty, host, pid), s) in &report.streams {
        println!(
            "  {ty:<28} {host:<16} {pid:>8} {:>10} {:>10} {:>8} {:>8}",
            s.offsets.len(),
            s.offsets.max().map_or_else(|| "-".to_string(), |m| m.to_string()),
            s.offsets.missing(),
            s.duplicates
        );
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
