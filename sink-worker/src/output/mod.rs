//! Outputs: where a pipeline writes a batch, each in its own folder behind the [`Output`] trait, with
//! the two phases of the exactly-once protocol (docs/EXACTLY_ONCE.md):
//!
//! 1. [`Output::stage`], inside the batch's state-database transaction: upload staged objects (listed in
//!    the manifest through [`Staging`]) or insert rows on the transaction's connection. Nothing is
//!    visible yet; a crash leaves only orphans.
//! 2. [`Output::publish`], after the commit: make one committed manifest entry visible. Idempotent, so
//!    any worker may finish what a crashed one started.
//!
//! [`open`] is the one place that turns a configured output into its implementation: [`files`] (a
//! folder or S3), [`warehouse`] (PostgreSQL tables), [`kafka_topic`] (another topic), [`iceberg`]
//! (Iceberg tables) and [`archive`] (the raw archive of `sink-worker archive`).

pub mod archive;
mod batch;
pub mod files;
pub mod iceberg;
pub mod kafka_topic;
mod staging;
pub mod warehouse;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::PgConnection;
use sqlx::postgres::PgPool;

pub use batch::{Converted, Group, Prepared, Row};
pub use staging::{Refused, Staging, staging_prefix};

use crate::config::KafkaConfig;
use crate::config::outputs::Format;
use crate::config::pipeline::{ArchiveTarget, OutputConfig, Pipeline};
use crate::state::warehouse::WarehouseError;
use crate::state::{FileRecord, StateError};
use crate::storage::{ObjectStore, StoreError};
use kafka_topic::route::RouteError;

/// What an output's calls return: boxed, so that outputs can sit behind `dyn Output`. One allocation
/// per output and batch, never per event.
pub type OutputFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, OutputError>> + Send + 'a>>;

/// Why an output could not stage or publish. [`OutputError::is_retryable`] says whether the same
/// batch can succeed later.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The state database failed under an output's work in the batch's transaction: always retryable.
    #[error(transparent)]
    State(#[from] StateError),
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    #[error("warehouse: {0}")]
    Warehouse(WarehouseError),
    #[error("kafka output: {0}")]
    Route(#[from] RouteError),
    /// Retrying cannot help; the worker stops without committing.
    #[error("{0}")]
    Fatal(String),
}

impl OutputError {
    pub fn is_retryable(&self) -> bool {
        match self {
            OutputError::State(_) => true,
            OutputError::Store(e) => e.is_retryable(),
            OutputError::Warehouse(e) => e.is_retryable(),
            OutputError::Route(e) => e.is_retryable(),
            OutputError::Fatal(_) => false,
        }
    }
}

impl From<WarehouseError> for OutputError {
    fn from(e: WarehouseError) -> Self {
        match e {
            WarehouseError::State(e) => OutputError::State(e),
            e => OutputError::Warehouse(e),
        }
    }
}

/// One output of a pipeline.
pub trait Output: Send + Sync + std::fmt::Debug {
    /// Its name in the manifest (`store`) and in the `output` label of metrics.
    fn name(&self) -> String;

    /// The file format each converted group must be encoded in for this output, if it writes files.
    fn format(&self) -> Option<Format> {
        None
    }

    /// The store it stages objects in, if any: orphans of crashed batches are removed from it.
    fn store(&self) -> Option<&ObjectStore> {
        None
    }

    /// Phase 1: stages `batch` inside the batch's transaction (`conn`), recording what it staged and
    /// the rows it refused in `staging`.
    fn stage<'a>(
        &'a self,
        batch: &'a Prepared<'a>,
        conn: &'a mut PgConnection,
        staging: &'a mut Staging,
    ) -> OutputFuture<'a, ()>;

    /// Phase 2: makes one committed manifest entry of this output visible. Idempotent. By default the
    /// staged object is promoted to its final key in the output's store.
    fn publish<'a>(&'a self, file: &'a FileRecord) -> OutputFuture<'a, ()> {
        Box::pin(async move {
            match self.store() {
                Some(store) => Ok(store.promote(&file.staging_key, &file.final_key).await?),
                None => Err(OutputError::Fatal(format!("{} stages nothing to publish", self.name()))),
            }
        })
    }
}

/// Opens every output of `pipeline`, and the raw archive when it is the archiver: the one place where
/// output kinds are registered. `blobs` is the store where outputs without one of their own stage
/// (the dead-letter store); `pool` is the state database's, where the Iceberg catalog is.
///
/// Iceberg outputs come last: their catalog swap locks the table's row until the batch commits, so
/// the less work follows it, the less concurrent writers of the table wait.
pub async fn open(
    pipeline: &Pipeline,
    kafka: &KafkaConfig,
    blobs: &ObjectStore,
    pool: &PgPool,
) -> Result<Vec<Arc<dyn Output>>, OutputError> {
    let mut outputs: Vec<Arc<dyn Output>> = Vec::new();
    let mut last: Vec<Arc<dyn Output>> = Vec::new();
    for config in &pipeline.outputs {
        outputs.push(match config {
            OutputConfig::Local(f) => Arc::new(files::Files::open(config, &f.prefix, f.format).await?),
            OutputConfig::S3(f) => Arc::new(files::Files::open(config, &f.prefix, f.format).await?),
            OutputConfig::Postgres(c) => Arc::new(warehouse::WarehouseOutput::new(c.clone())),
            OutputConfig::Kafka(c) => Arc::new(kafka_topic::KafkaTopic::open(kafka, c, pipeline, blobs.clone()).await?),
            OutputConfig::Iceberg(c) => {
                last.push(Arc::new(
                    iceberg::IcebergOutput::open(c, pool.clone(), &pipeline.name).await?,
                ));
                continue;
            }
        });
    }
    outputs.extend(last);
    if let Some(ArchiveTarget { store, prefix, codec }) = &pipeline.archive_to {
        outputs.push(Arc::new(archive::Archive::open(store, prefix, *codec).await?));
    }
    Ok(outputs)
}

/// Joins a prefix and a key with exactly one '/'.
pub fn join(prefix: &str, key: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_puts_one_slash_between_prefix_and_key() {
        assert_eq!(join("events/", "a/b"), "events/a/b");
        assert_eq!(join("", "a"), "a");
    }
}
