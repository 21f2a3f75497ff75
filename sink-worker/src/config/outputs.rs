//! Settings of the outputs and file formats of a pipeline (`[[pipeline.outputs]]`).

use serde::{Deserialize, Serialize};

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
