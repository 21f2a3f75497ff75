//! Settings of the outputs and file formats of a pipeline (`[[pipeline.outputs]]`).

use serde::{Deserialize, Serialize};

use super::storage::StoreConfig;

/// File format of a file output, as the configuration names it (`format = "parquet"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Apache Parquet, zstd-compressed.
    #[default]
    Parquet,
    /// Avro object container file, deflate-compressed.
    Avro,
    /// JSON, one object per line.
    Jsonl,
}

/// Settings of the warehouse output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WarehouseConfig {
    /// PostgreSQL schema that holds the tables; created when missing.
    pub schema: String,
    /// Prefix of every table name; may be empty.
    pub table_prefix: String,
}

impl Default for WarehouseConfig {
    fn default() -> Self {
        Self {
            schema: "warehouse".to_owned(),
            table_prefix: String::new(),
        }
    }
}

/// The `kafka` output of a pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTopicConfig {
    /// The topic events are routed to; it must exist.
    pub topic: String,
}

/// How an Iceberg table is partitioned: by the hour or the day of the events' own time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    #[default]
    Hour,
    Day,
}

/// Settings of the Iceberg output (`kind = "iceberg"`): tables in a store, registered in the SQL
/// catalog in the state database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcebergConfig {
    /// Where data and metadata files go: a local folder or an S3 bucket.
    pub store: StoreConfig,
    /// Key prefix of the warehouse in the store; a table lives under `{warehouse}/{namespace}/{table}`.
    #[serde(default = "default_warehouse")]
    pub warehouse: String,
    /// The catalog's name (`catalog_name` in the catalog's tables): readers open the catalog by it.
    #[serde(default = "default_catalog")]
    pub catalog: String,
    /// The namespace of every table of the pipeline.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(default)]
    pub partition: Partitioning,
}

impl IcebergConfig {
    /// Tables in `store` with every other setting at its default.
    pub fn new(store: StoreConfig) -> Self {
        Self {
            store,
            warehouse: default_warehouse(),
            catalog: default_catalog(),
            namespace: default_namespace(),
            partition: Partitioning::default(),
        }
    }

    /// The store the tables' files go to.
    pub fn store_config(&self) -> StoreConfig {
        self.store.clone()
    }

    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        self.store
            .validate()
            .map_err(|(key, reason)| format!("store.{key}: {reason}"))?;
        let name = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name(&self.namespace) {
            return Err(format!("namespace {:?} must be non-empty [A-Za-z0-9_]", self.namespace));
        }
        if self.catalog.is_empty() || self.catalog.len() > 255 {
            return Err("catalog must be 1 to 255 characters".into());
        }
        Ok(())
    }
}

fn default_warehouse() -> String {
    "iceberg".to_owned()
}

fn default_catalog() -> String {
    "murron".to_owned()
}

fn default_namespace() -> String {
    "events".to_owned()
}
