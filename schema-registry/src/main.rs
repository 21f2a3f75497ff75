//! `schema-registry` binary: parses the command line, loads configuration, sets up logging and
//! calls into the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use schema_registry::config::Config;
use schema_registry::{db, server};

#[derive(Debug, Parser)]
#[command(
    name = "schema-registry",
    version,
    about = "Murron schema registry: Confluent-compatible, on PostgreSQL"
)]
struct Cli {
    /// TOML configuration file; `SCHEMA_REGISTRY_<SECTION>__<KEY>` environment variables override it.
    #[arg(long, short, env = "SCHEMA_REGISTRY_CONFIG")]
    config: Option<PathBuf>,
    /// Apply pending database migrations, then exit.
    #[arg(long)]
    migrate_only: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        // Colours only on a terminal: a log file or a container's log must stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        if cli.migrate_only {
            let pool = db::connect(&config.database)?;
            db::migrate(&pool).await.context("applying migrations")?;
            println!("migrations applied");
            return Ok(());
        }
        server::serve(&config, |_| {}).await.map_err(anyhow::Error::from)
    })
}
