//! An Iceberg output's store as Iceberg names its files: metadata holds full URIs (`s3://bucket/key`,
//! `file:///path/key`), the store takes keys. The sink, maintenance and the REST catalog all read
//! tables through it.

use iceberg::spec::{ManifestFile, TableMetadata};

use super::table::{self, TableError};
use crate::config::outputs::IcebergConfig;
use crate::config::storage::StoreConfig;
use crate::storage::{ObjectStore, StoreError};

/// Why a table's state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("{uri} is outside the store {root}")]
    Outside { uri: String, root: String },
}

/// The store of an Iceberg output, with its root as a URI.
#[derive(Debug, Clone)]
pub struct TableStore {
    pub store: ObjectStore,
    /// `s3://bucket` or `file:///path`: every file URI of the output's tables starts with it.
    root: String,
}

impl TableStore {
    /// Opens the output's store (S3 credentials left empty come from the environment).
    pub async fn open(config: &IcebergConfig) -> Result<Self, StoreError> {
        let store_config = config.store_config();
        let store = ObjectStore::open(&store_config).await?;
        let root = match &store_config {
            StoreConfig::S3(s3) => format!("s3://{}", s3.bucket),
            StoreConfig::Local(_) => store.describe(),
        };
        Ok(Self { store, root })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// The URI of a store key.
    pub fn uri(&self, key: &str) -> String {
        format!("{}/{key}", self.root)
    }

    /// The store key of a URI in this store.
    pub fn key<'u>(&self, uri: &'u str) -> Result<&'u str, ReadError> {
        uri.strip_prefix(&self.root)
            .and_then(|k| k.strip_prefix('/'))
            .ok_or_else(|| ReadError::Outside {
                uri: uri.to_owned(),
                root: self.root.clone(),
            })
    }

    /// The metadata file at `location` and the manifests of its current snapshot.
    pub async fn read(&self, location: &str) -> Result<(TableMetadata, Vec<ManifestFile>), ReadError> {
        let metadata = table::from_json(&self.store.get(self.key(location)?).await?)?;
        let manifests = match metadata.current_snapshot() {
            Some(s) => table::parse_manifest_list(&self.store.get(self.key(s.manifest_list())?).await?)?,
            None => Vec::new(),
        };
        Ok((metadata, manifests))
    }
}
