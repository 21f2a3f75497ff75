//! `sink-worker` binary: parses the command line, loads configuration, sets up logging and calls
//! into the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use murron_wire::hours;
use sink_worker::config::Config;
use sink_worker::output::iceberg::maintain;
use sink_worker::state::backfills::{NewBackfill, StreamRef};
use sink_worker::{archive, backfill, generate, iceberg_rest, inspect, pipeline, reliability, state};

/// mimalloc serves Rust and, through `override`, librdkafka's C allocations too. Under glibc malloc
/// the consume loop spent about a third of its time asleep on the allocator lock of the librdkafka
/// thread that fills the queue: every consumed message is allocated there and freed here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Serve the reliability API and dashboard, track gaps, file and run backfills.
    Monitor,
    /// Repair gaps of the configured pipeline from the raw archive, now.
    Backfill(BackfillArgs),
    /// Archive raw envelopes from Kafka to object storage, exactly once.
    Archive,
    /// Produce signed events of one type, with payloads sampled from its registered schema.
    Gen(GenArgs),
    /// Read a topic from the beginning and report streams, gaps, duplicates and invalid events.
    Inspect(InspectArgs),
    /// Check the configuration (file and environment) and print what it sets up, without connecting.
    Check,
    /// Serve a read-only Iceberg REST catalog over the pipeline's Iceberg tables, behind a bearer token.
    IcebergRest,
    /// Maintain the pipeline's Iceberg tables: compact small files, expire snapshots, remove orphans.
    IcebergMaintain(MaintainArgs),
}

#[derive(Debug, Args)]
struct MaintainArgs {
    /// Do not compact small files.
    #[arg(long)]
    no_compact: bool,
    /// Size of the files compaction writes; files under 3/4 of it are small.
    #[arg(long, default_value_t = 128 << 20)]
    target_file_bytes: u64,
    /// Do not expire snapshots.
    #[arg(long)]
    no_expire: bool,
    /// Expire snapshots older than this (s, m, h, d: `7d`, `12h`).
    #[arg(long, default_value = "7d", value_parser = maintain::parse_age)]
    expire_older_than: Duration,
    /// Keep at least this many of the newest snapshots, whatever their age.
    #[arg(long, default_value_t = 1)]
    retain_last: usize,
    /// Do not remove orphan files.
    #[arg(long)]
    no_orphans: bool,
    /// Remove unreferenced files older than this; at least 1h.
    #[arg(long, default_value = "3d", value_parser = maintain::parse_age)]
    orphan_older_than: Duration,
    /// Only this table (its name without the namespace); repeat for more. When omitted: the tables of
    /// the pipeline's filter_type if it has one, else every table of the namespace.
    #[arg(long = "table")]
    tables: Vec<String>,
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
    /// Also write every event to the archive ([archive] in the configuration).
    #[arg(long)]
    archive: bool,
    /// Leave this many random events out of Kafka (they reach only the archive).
    #[arg(long, default_value_t = 0)]
    drop_random: u64,
    /// Leave a run of this many offsets of the first stream out of Kafka.
    #[arg(long, default_value_t = 0)]
    drop_run: u64,
    /// Leave the last this many offsets of the last stream out of Kafka (tail loss).
    #[arg(long, default_value_t = 0)]
    drop_tail: u64,
    /// Leave a run of this many offsets of the second stream out of Kafka and the archive.
    #[arg(long, default_value_t = 0)]
    lose: u64,
    /// Spread timestamps evenly over this many whole hours before the current one (one archive
    /// partition each) instead of using the time of sending.
    #[arg(long, default_value_t = 0)]
    spread_hours: u32,
    /// Publish through murron-server at this gRPC URL (`http://host:9480`, or `https://` when it
    /// serves TLS) instead of straight to Kafka; `--topic` is then only what the summary names, the
    /// server routes by type.
    #[arg(long)]
    server: Option<String>,
    /// Bearer token for murron-server.
    #[arg(long, env = "MURRON_SERVER_TOKEN", hide_env_values = true)]
    server_token: Option<String>,
    /// PEM file of the CA that signed murron-server's certificate (with an `https://` --server):
    /// only it is trusted; without it, the system's roots are.
    #[arg(long, requires = "server")]
    server_ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BackfillArgs {
    /// Event type to repair.
    #[arg(long = "type", required_unless_present = "id")]
    event_type: Option<String>,
    /// Start, inclusive: an RFC 3339 time or a date (rounded down to the hour).
    #[arg(long, required_unless_present = "id")]
    from: Option<String>,
    /// End, exclusive: an RFC 3339 time or a date (rounded up to the hour; a date means its end).
    #[arg(long, required_unless_present = "id")]
    to: Option<String>,
    /// Only this stream, as host:pid; repeat for more. Every stream when omitted.
    #[arg(long = "stream")]
    streams: Vec<String>,
    /// Run (or resume) an existing backfill request instead of filing a new one.
    #[arg(long, conflicts_with_all = ["event_type", "from", "to", "streams"])]
    id: Option<i64>,
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
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, joined by ": ", leaving out a cause that the text before already ends
/// with: the library's errors name their source in their own message (`writing a batch: {0}`).
fn report(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !out.ends_with(&cause) {
            out.push_str(": ");
            out.push_str(&cause);
        }
    }
    out
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,rdkafka=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only on a terminal: a log file or a container's log must stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
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
        Command::Archive => runtime.block_on(archive::run(&config, shutdown_signal()))?,
        Command::Monitor => runtime.block_on(reliability::monitor::run(&config, shutdown_signal()))?,
        Command::Backfill(args) => return runtime.block_on(run_backfill(&config, args)),
        Command::Check => print!("{}", config.summary()),
        Command::IcebergRest => runtime.block_on(iceberg_rest::run(&config, shutdown_signal()))?,
        Command::IcebergMaintain(args) => return runtime.block_on(run_maintain(&config, args)),
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::no_length(),
    };
    let template = format!(
        "{{spinner}} {what} {{human_pos}}{} [{{elapsed}}, {{per_sec}}] {{msg}}",
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
        archive: a.archive,
        loss: generate::LossPlan {
            random: a.drop_random,
            run: a.drop_run,
            tail: a.drop_tail,
            unrecoverable: a.lose,
        },
        spread_hours: a.spread_hours,
        server: a.server.map(|url| {
            let mut server = murron_producer::transport::grpc::ServerConfig::new(url);
            server.token = a.server_token;
            server.ca_file = a.server_ca_file;
            server
        }),
    };
    let bar = progress_bar(Some(opts.count), "producing");
    let report = generate::run(config, &opts, |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    print!("{}", report?.summary(&opts));
    Ok(())
}

/// What `backfill` runs: a request filed earlier, or a new one.
enum BackfillRequest {
    Filed(i64),
    New(NewBackfill),
}

async fn run_backfill(config: &Config, a: BackfillArgs) -> anyhow::Result<ExitCode> {
    let pipeline = config
        .pipeline
        .clone()
        .context("no [pipeline] in the configuration: a backfill writes through a pipeline's outputs")?;
    let pool = state::connect(&config.state)
        .await
        .context("opening the state database")?;
    // The request, or the id of one filed earlier, before opening the outputs: bad arguments fail fast.
    let request = match a.id {
        Some(id) => BackfillRequest::Filed(id),
        None => {
            let (Some(event_type), Some(from), Some(to)) = (a.event_type, a.from, a.to) else {
                anyhow::bail!("--type, --from and --to are required without --id");
            };
            let from_hour = hours::parse_hour(&from, hours::Round::Down).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
            let to_hour = hours::parse_hour(&to, hours::Round::Up).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
            if from_hour >= to_hour {
                anyhow::bail!("--from must be before --to");
            }
            let streams = a
                .streams
                .iter()
                .map(|s| {
                    let (host, pid) = s.rsplit_once(':').context("--stream must be host:pid")?;
                    Ok(StreamRef {
                        host: host.to_owned(),
                        pid: pid
                            .parse()
                            .with_context(|| format!("--stream {s:?}: pid is not a number"))?,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            BackfillRequest::New(NewBackfill {
                event_type,
                from_hour,
                to_hour,
                streams: (!streams.is_empty()).then_some(streams),
                origin: "cli",
            })
        }
    };
    let mut backfiller = backfill::Backfiller::open(config, pipeline, pool).await?;
    let bar = progress_bar(Some(0), "backfill: files");
    let progress = |p: backfill::Progress| {
        bar.set_length(p.files_total);
        bar.set_position(p.files_read);
        bar.set_message(format!("{} events read, {} written", p.events_read, p.written));
    };
    // A new request is filed already claimed by this run, so a monitor cannot take it first.
    let row = match &request {
        BackfillRequest::New(req) => backfiller.run_new(req, progress).await,
        BackfillRequest::Filed(id) => backfiller.run_id(*id, progress).await,
    };
    bar.finish_and_clear();
    let row = row?;
    print!("{}", backfill::summary(&row));
    Ok(if row.state == "done" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run_maintain(config: &Config, a: MaintainArgs) -> anyhow::Result<ExitCode> {
    let options = maintain::Options {
        compact: !a.no_compact,
        target_file_bytes: a.target_file_bytes,
        expire: !a.no_expire,
        expire_older_than: a.expire_older_than,
        retain_last: a.retain_last,
        remove_orphans: !a.no_orphans,
        orphan_older_than: a.orphan_older_than,
        tables: a.tables,
    };
    let bar = progress_bar(Some(0), "maintaining tables");
    let reports = maintain::run(config, &options, |p| {
        bar.set_length(p.tables_total);
        bar.set_position(p.tables_done);
        bar.set_message(format!("{}: {}", p.table, p.step));
    })
    .await;
    bar.finish_and_clear();
    let reports = reports?;
    for r in &reports {
        print!("{}", r.human());
    }
    for r in &reports {
        println!("{}", r.line());
    }
    Ok(if reports.iter().all(|r| r.error.is_none()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
    print!("{}", report?.table(&opts.topic));
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
