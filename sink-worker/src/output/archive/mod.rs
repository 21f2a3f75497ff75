//! The raw archive (`sink-worker archive`, docs/PROTOCOL.md "The archive"): every decodable envelope
//! as it came, one Avro container file per type and hour, under
//! `{prefix}/{type}/dt=YYYY-MM-DD/hr=HH/{batch id}.avro`.

use murron_wire::hours::hour_partition;
use murron_wire::ocf::{self, Codec};
use sqlx::PgConnection;

use super::{Output, OutputError, OutputFuture, Prepared, Staging, join};
use crate::config::storage::StoreConfig;
use crate::storage::ObjectStore;

/// The archiver's output.
#[derive(Debug)]
pub struct Archive {
    store: ObjectStore,
    prefix: String,
    codec: Codec,
}

impl Archive {
    pub async fn open(store: &StoreConfig, prefix: &str, codec: Codec) -> Result<Self, OutputError> {
        Ok(Self {
            store: ObjectStore::open(store).await?,
            prefix: prefix.to_owned(),
            codec,
        })
    }
}

impl Output for Archive {
    fn name(&self) -> String {
        self.store.describe()
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
            for group in batch.groups {
                // The envelope's datum: the record value without its 5-byte Confluent header.
                let datums = group
                    .rows
                    .iter()
                    .map(|&i| batch.rows[i].value.get(5..).unwrap_or_default());
                let mut sync = [0u8; 16];
                getrandom::fill(&mut sync).map_err(|e| OutputError::Fatal(format!("no randomness: {e}")))?;
                let body = ocf::write(self.codec, sync, datums).map_err(|e| OutputError::Fatal(e.to_string()))?;
                let final_key = join(
                    &self.prefix,
                    &format!(
                        "{}/{}/{}.avro",
                        group.event_type,
                        hour_partition(group.hour),
                        batch.batch_id
                    ),
                );
                staging
                    .upload(&self.store, "avro", final_key, body, group.rows.len())
                    .await?;
            }
            Ok(())
        })
    }
}
