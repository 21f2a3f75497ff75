//! A batch's intent: before it writes any file of a table, the Iceberg output lists every key it is
//! about to write in a staged JSON object (`_murron/staging/{pipeline}/{batch}/N.iceberg`), recorded
//! in the manifest like any staged object. Data files go straight to their final keys, invisible until
//! a catalog swap names a metadata file that reaches them, so the intent is what lets a later worker
//! find and delete the files of a batch that never committed. After a commit, publishing deletes the
//! files the committed attempt superseded (a manifest list and metadata file of a lost swap) and the
//! intent itself.

use serde::{Deserialize, Serialize};

use crate::storage::{ObjectStore, StoreError};

/// The file name extension of an intent's staging key.
pub const EXTENSION: &str = "iceberg";

/// What a batch writes, by store key.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Every key the batch writes or may have written.
    pub keys: Vec<String>,
    /// Keys that are garbage once the batch commits: files of an attempt whose swap lost.
    pub superseded: Vec<String>,
}

impl Intent {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an intent of strings serializes")
    }

    /// Reads the intent at `key`; None when it is gone (already published or discarded). One that
    /// does not parse (it cannot be half-written: a put is atomic) is reported and read as empty: its
    /// files, if any, are left to table maintenance's orphan removal.
    pub async fn read(store: &ObjectStore, key: &str) -> Result<Option<Self>, StoreError> {
        let bytes = match store.get(key).await {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(key, error = %e, "an Iceberg intent does not parse; its files are left to maintenance");
            Intent::default()
        })))
    }
}

/// After the batch committed: deletes what its committed attempt superseded, then the intent.
/// Idempotent.
pub async fn finish(store: &ObjectStore, key: &str) -> Result<(), StoreError> {
    if let Some(intent) = Intent::read(store, key).await? {
        for k in &intent.superseded {
            store.delete(k).await?;
        }
        store.delete(key).await?;
    }
    Ok(())
}

/// When the batch never committed: deletes every file it wrote, then the intent; returns how many
/// objects it deleted. Idempotent.
pub async fn discard(store: &ObjectStore, key: &str) -> Result<u64, StoreError> {
    let Some(intent) = Intent::read(store, key).await? else {
        return Ok(0);
    };
    for k in &intent.keys {
        store.delete(k).await?;
    }
    store.delete(key).await?;
    Ok(intent.keys.len() as u64 + 1)
}
