//! The Kafka output (`kind = "kafka"`): kept events, unchanged, routed to another topic exactly once.
//! A batch's records are staged as one blob in the dead-letter store and listed in the manifest; the
//! blob is published in one Kafka transaction ([`route`] says how "published" is recorded in Kafka,
//! and how it is found again once Kafka has forgotten the routing group's offsets).

pub mod route;

use std::sync::Arc;

use murron_wire::envelope::Envelope;
use sqlx::PgConnection;

use super::{Output, OutputError, OutputFuture, Prepared, Staging};
use crate::config::KafkaConfig;
use crate::config::outputs::KafkaTopicConfig;
use crate::config::pipeline::Pipeline;
use crate::state::FileRecord;
use crate::storage::{ObjectStore, StoreError};
use route::{BACKFILL_SOURCES, EndOffsets, TopicRoute};

/// Another topic on the input's cluster.
#[derive(Debug)]
pub struct KafkaTopic {
    route: TopicRoute,
    /// Reads the topic's end offsets as each blob is staged, where it will be looked for.
    end_offsets: Arc<EndOffsets>,
    /// Where blobs are staged: the pipeline's dead-letter store.
    blobs: ObjectStore,
}

impl KafkaTopic {
    /// Checks that the topic exists, so that a typo fails at start instead of stalling every publish.
    pub async fn open(
        kafka: &KafkaConfig,
        config: &KafkaTopicConfig,
        pipeline: &Pipeline,
        blobs: ObjectStore,
    ) -> Result<Self, OutputError> {
        let route = TopicRoute::new(kafka, config, &pipeline.name, &pipeline.group());
        let probe = route.clone();
        tokio::task::spawn_blocking(move || probe.check())
            .await
            .map_err(|e| OutputError::Fatal(format!("topic check panicked: {e}")))??;
        let end_offsets = Arc::new(EndOffsets::new(kafka, &config.topic)?);
        Ok(Self {
            route,
            end_offsets,
            blobs,
        })
    }
}

impl Output for KafkaTopic {
    fn name(&self) -> String {
        self.route.describe()
    }

    fn stage<'a>(
        &'a self,
        batch: &'a Prepared<'a>,
        _conn: &'a mut PgConnection,
        staging: &'a mut Staging,
    ) -> OutputFuture<'a, ()> {
        Box::pin(async move {
            // Kafka order, so each stream keeps its order under its key.
            let mut kept: Vec<usize> = batch
                .converted
                .iter()
                .flat_map(|c| batch.groups[c.group].rows.iter().copied())
                .collect();
            kept.sort_unstable();
            if kept.is_empty() {
                return Ok(());
            }
            let mut blob = Vec::new();
            for &i in &kept {
                push_record_for(&mut blob, &batch.rows[i].envelope, batch.rows[i].value);
            }
            let staging_key = staging.next_key("kafka");
            let sources = if batch.from_kafka {
                route::sources_text(batch.sources)
            } else {
                BACKFILL_SOURCES.to_owned()
            };
            let end_offsets = self.end_offsets.clone();
            let from = tokio::task::spawn_blocking(move || end_offsets.read())
                .await
                .map_err(|e| OutputError::Fatal(format!("reading the topic's end offsets panicked: {e}")))??;
            let name = self.route.describe();
            let text = route::staged_text(&sources, &from);
            Ok(staging
                .put(&self.blobs, name, staging_key, text, blob, kept.len())
                .await?)
        })
    }

    fn publish<'a>(&'a self, file: &'a FileRecord) -> OutputFuture<'a, ()> {
        Box::pin(async move {
            // A missing blob is an error, not an empty publish: if Kafka already has it (deleted after
            // a publish whose mark did not reach the database), `publish` sees that through the routing
            // group or the topic before it reads a record, so pass an empty blob only then.
            let blob = match self.blobs.get(&file.staging_key).await {
                Ok(b) => Some(b),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let (sources, from) = route::parse_staged(&file.final_key)?;
            let sources = if sources == BACKFILL_SOURCES {
                self.route.backfill_marker(file.id)
            } else {
                route::parse_sources(sources)?
            };
            let (route, id) = (self.route.clone(), file.id);
            let produced =
                tokio::task::spawn_blocking(move || route.publish(id, blob.as_deref(), &sources, from.as_deref()))
                    .await
                    .map_err(|e| OutputError::Fatal(format!("kafka publisher panicked: {e}")))??;
            if produced {
                metrics::counter!("murron_sink_written_events_total", "output" => file.store.clone())
                    .increment(file.events.max(0) as u64);
            }
            self.blobs.delete(&file.staging_key).await?;
            Ok(())
        })
    }
}

/// A routed record: the original value under the stream's key, as producers write it.
fn push_record_for(blob: &mut Vec<u8>, env: &Envelope<'_>, value: &[u8]) {
    let key = format!("{}:{}", env.host, env.pid);
    route::push_record(blob, key.as_bytes(), value);
}
