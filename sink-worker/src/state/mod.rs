//! The sink's durable state in PostgreSQL (migrations/…_sink_state.sql, docs/EXACTLY_ONCE.md): per
//! pipeline, the commit point of each Kafka partition, the offsets received per stream, and the
//! manifest of files promoted from staging. One [`Commit`] is one transaction: everything a batch
//! makes durable becomes visible together, or not at all.
//!
//! All of the sink's SQL lives under this folder, one module per concern, as the registry's does in
//! its `store/`: the subsystems call typed functions and never write SQL of their own. This module
//! opens the pool and migrates; [`Commit`] and [`State`] are the batch's transaction, [`NewFile`] and
//! [`FileRecord`] the manifest's rows, [`archive_index`] the archive's index, [`backfills`] the
//! backfill requests, [`gaps`] the monitor's sweep, [`history`] the REP history it records, [`reports`] what the monitor's API reads,
//! [`warehouse`] the warehouse's tables and [`iceberg_catalog`] the Iceberg output's catalog. It imports no subsystem.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

pub mod archive_index;
pub mod backfills;
mod commit;
mod error;
pub mod gaps;
pub mod history;
pub mod iceberg_catalog;
mod manifest;
pub mod multirange;
pub mod reports;
pub mod warehouse;

pub use commit::{Commit, State, StreamHourUpdate};
pub use error::StateError;
pub use manifest::{FileRecord, NewFile};

use crate::config::StateConfig;

/// Migrations compiled in from the workspace's `migrations/` folder (shared with the registry).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens the pool lazily (the worker starts while the database is down) and migrates if configured.
pub async fn connect(config: &StateConfig) -> Result<PgPool, StateError> {
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_secs))
        .connect_lazy(&config.url)?;
    if config.migrate_on_start {
        MIGRATOR.run(&pool).await?;
    }
    Ok(pool)
}

/// Whether the state database answers a query within two seconds: the readiness probe of the
/// monitor and of `run`.
pub async fn answers(pool: &PgPool) -> Result<(), String> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), sqlx::query("SELECT 1").execute(pool)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("state database: {e}")),
        Err(_) => Err("state database: no answer within 2 s".into()),
    }
}
