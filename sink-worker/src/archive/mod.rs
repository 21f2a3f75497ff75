//! The raw archive (docs/PROTOCOL.md, "The archive"): every envelope as it came, in Avro container
//! files under `{prefix}/{type}/dt=YYYY-MM-DD/hr=HH/`, in a local folder or S3.
//!
//! [`run`] is `sink-worker archive`, our own archiver: a pipeline in archive mode, with its own
//! consumer group and the same exactly-once commit as the sink. [`index`] reads archive files,
//! whoever wrote them, into the state database, so that gaps can be reconciled with the archive and a
//! backfill reads only the files that can hold what is missing.

pub mod index;

use std::future::Future;

use crate::config::Config;
use crate::pipeline::{self, RunError};

/// `sink-worker archive`: archives the configured topics until `shutdown` resolves.
pub async fn run(config: &Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    if config.archive.topics.is_empty() {
        return Err(RunError::Config(
            "archive.topics: at least one topic is required".into(),
        ));
    }
    pipeline::run(config, config.archive.pipeline(), shutdown).await
}
