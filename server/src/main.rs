//! The `murron-server` binary: parses the command line, loads the configuration, sets up logging and
//! calls into the library.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use murron_server::config::Config;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Murron ingestion server: signed envelopes in over gRPC and HTTP, routed by type to Kafka"
)]
struct Cli {
    /// The TOML configuration (defaults, then this file, then MURRON_SERVER_* variables).
    #[arg(long, global = true, env = "MURRON_SERVER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC and HTTP until SIGTERM or ctrl-c, then drain (the default).
    Serve,
    /// Load and validate the configuration, print a summary (no secrets) and exit.
    Check,
    /// Send each line of a file (followed across rotation) or of stdin as a signed event of one type.
    Tail(Box<murron_server::tail::TailArgs>),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref()).context("loading the configuration")?;
    init_tracing(config.log.json);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Check => {
            print!("{}", config.summary());
            Ok(())
        }
        Command::Tail(args) => {
            let summary = murron_server::tail::run(*args, config.key_ring(), config.kafka.clone(), shutdown_signal())
                .await
                .context("murron-server tail")?;
            println!("{summary}");
            Ok(())
        }
        Command::Serve => murron_server::run(config, shutdown_signal(), |_| {})
            .await
            .context("murron-server"),
    }
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// SIGTERM (Kubernetes, systemd) or ctrl-c.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; ctrl-c only");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
