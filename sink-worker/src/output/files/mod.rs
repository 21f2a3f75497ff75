//! The file outputs (`kind = "local"` or `"s3"`): each group of a batch becomes one file in the
//! output's format, under `{prefix}/{type}/dt=YYYY-MM-DD/hr=HH/{batch id}-{schema id}.{extension}`.

use murron_payload::Variant;
use murron_wire::hours::hour_partition;
use sqlx::PgConnection;

use super::{Output, OutputError, OutputFuture, Prepared, Staging, join};
use crate::config::outputs::Format;
use crate::config::pipeline::OutputConfig;
use crate::format::file_format;
use crate::storage::ObjectStore;

/// Files in a folder or an S3 bucket.
#[derive(Debug)]
pub struct Files {
    store: ObjectStore,
    prefix: String,
    format: Format,
}

impl Files {
    /// Opens the store of a `local` or `s3` output.
    pub async fn open(config: &OutputConfig, prefix: &str, format: Format) -> Result<Self, OutputError> {
        let store = config
            .store_config()
            .ok_or_else(|| OutputError::Fatal("no store".into()))?;
        Ok(Self {
            store: ObjectStore::open(&store).await?,
            prefix: prefix.to_owned(),
            format,
        })
    }
}

impl Output for Files {
    fn name(&self) -> String {
        self.store.describe()
    }

    fn format(&self) -> Option<Format> {
        Some(self.format)
    }

    fn store(&self) -> Option<&ObjectStore> {
        Some(&self.store)
    }

    fn stage<'a>(
        &'a self,
        batch: &'a Prepared<'a>,
        _conn: &'a mut PgConnection,
        staging: &'a mut Staging,
    ) -> OutputFuture<'a, ()> {
        Box::pin(async move {
            let extension = file_format(self.format).extension();
            for converted in batch.converted {
                let group = &batch.groups[converted.group];
                let body =
                    converted.files.get(&self.format).cloned().ok_or_else(|| {
                        OutputError::Fatal(format!("no {extension} encoding of {}", group.event_type))
                    })?;
                // A Protobuf schema's further message types get a suffix; the first keeps the name
                // every other kind has.
                let variant = match group.variant {
                    Variant(0) => String::new(),
                    Variant(v) => format!("-{v}"),
                };
                let final_key = join(
                    &self.prefix,
                    &format!(
                        "{}/{}/{}-{}{variant}.{extension}",
                        group.event_type,
                        hour_partition(group.hour),
                        batch.batch_id,
                        group.schema_id
                    ),
                );
                let events = converted.batch.num_rows();
                staging.upload(&self.store, extension, final_key, body, events).await?;
            }
            Ok(())
        })
    }
}
