//! Iceberg table metadata, built with the `iceberg` crate's spec types and writers and none of its IO:
//! a new table, a schema change, and an append snapshot (a manifest of the batch's data files, a
//! manifest list, the next metadata file). Everything is returned as bytes for the output's own object
//! store, so the only commit is the catalog swap in the batch's transaction, and no library retry can
//! apply a batch twice.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow_schema::Schema as ArrowSchema;
use iceberg::MetadataLocation;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, FormatVersion, MAIN_BRANCH, ManifestFile, ManifestList, ManifestListWriter, ManifestWriterBuilder,
    Operation, Schema, Snapshot, SortOrder, Summary, TableMetadata, TableMetadataBuilder, Transform,
    UnboundPartitionSpec,
};

use super::schema::{SchemaError, table_schema};
use crate::config::outputs::Partitioning;

/// The column every table is partitioned by: the event's own time.
pub const TIME_COLUMN: &str = "_murron_timestamp";

/// The snapshot summary keys that tie a snapshot to the batch it holds (docs/ICEBERG.md).
pub const SUMMARY_PIPELINE: &str = "murron.pipeline";
pub const SUMMARY_BATCH: &str = "murron.batch-id";
pub const SUMMARY_SOURCES: &str = "murron.sources";

/// Why table metadata could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("iceberg: {0}")]
    Iceberg(#[from] iceberg::Error),
    #[error("table metadata JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("events have no `{TIME_COLUMN}` column to partition by")]
    NoTimeColumn,
}

/// The metadata of a new table at `location` for events of `arrow`'s schema.
pub fn create(location: &str, arrow: &ArrowSchema, partitioning: Partitioning) -> Result<TableMetadata, TableError> {
    let schema = table_schema(arrow)?;
    let source = schema.field_by_name(TIME_COLUMN).ok_or(TableError::NoTimeColumn)?.id;
    let (name, transform) = match partitioning {
        Partitioning::Hour => (format!("{TIME_COLUMN}_hour"), Transform::Hour),
        Partitioning::Day => (format!("{TIME_COLUMN}_day"), Transform::Day),
    };
    let spec = UnboundPartitionSpec::builder()
        .add_partition_field(source, name, transform)?
        .build();
    let properties = HashMap::from([
        ("write.format.default".to_owned(), "parquet".to_owned()),
        ("write.parquet.compression-codec".to_owned(), "zstd".to_owned()),
        ("murron.writer".to_owned(), "sink-worker".to_owned()),
    ]);
    let built = TableMetadataBuilder::new(
        schema,
        spec,
        SortOrder::unsorted_order(),
        location.to_owned(),
        FormatVersion::V2,
        properties,
    )?
    .build()?;
    Ok(built.metadata)
}

/// The location of a new table's first metadata file.
pub fn first_location(metadata: &TableMetadata) -> String {
    MetadataLocation::new_with_metadata(metadata.location(), metadata).to_string()
}

/// A new location for the metadata file that follows `metadata`, read from `base`.
pub fn next_location(base: &str, metadata: &TableMetadata) -> Result<String, TableError> {
    Ok(MetadataLocation::from_str(base)?
        .with_next_version()
        .with_new_metadata(metadata)
        .to_string())
}

/// `base` (read from `base_location`) with `schema` as its current schema.
pub fn with_schema(base: &TableMetadata, base_location: &str, schema: Schema) -> Result<TableMetadata, TableError> {
    Ok(
        TableMetadataBuilder::new_from_metadata(base.clone(), Some(base_location.to_owned()))
            .add_current_schema(schema)?
            .build()?
            .metadata,
    )
}

/// The metadata file's bytes.
pub fn to_json(metadata: &TableMetadata) -> Result<Vec<u8>, TableError> {
    Ok(serde_json::to_vec(metadata)?)
}

/// Parses a metadata file.
pub fn from_json(bytes: &[u8]) -> Result<TableMetadata, TableError> {
    Ok(serde_json::from_slice(bytes)?)
}

/// The manifests of a manifest list file.
pub fn parse_manifest_list(bytes: &[u8]) -> Result<Vec<ManifestFile>, TableError> {
    Ok(ManifestList::parse_with_version(bytes, FormatVersion::V2)?
        .consume_entries()
        .into_iter()
        .collect())
}

/// A manifest at `uri` listing `files` as added by `snapshot_id`, and its bytes. Its entries inherit
/// their sequence number from the manifest list, so the same manifest serves whichever snapshot
/// finally commits the batch.
pub async fn write_manifest(
    table: &TableMetadata,
    snapshot_id: i64,
    files: Vec<DataFile>,
    uri: &str,
) -> Result<(ManifestFile, Vec<u8>), TableError> {
    let io = FileIO::new_with_memory();
    let mut writer = ManifestWriterBuilder::new(
        io.new_output(uri)?,
        Some(snapshot_id),
        table.current_schema().clone(),
        table.default_partition_spec().as_ref().clone(),
    )
    .build_v2_data();
    for file in files {
        writer.add_file(file, -1)?;
    }
    let manifest = writer.write_manifest_file().await?;
    let bytes = io.new_input(uri)?.read().await?.to_vec();
    Ok((manifest, bytes))
}

/// An append snapshot on top of a base table.
#[derive(Debug)]
pub struct Append<'a> {
    pub base: &'a TableMetadata,
    pub base_location: &'a str,
    /// The manifests of the base's current snapshot.
    pub parents: &'a [ManifestFile],
    pub snapshot_id: i64,
    pub manifest: &'a ManifestFile,
    /// Added files, rows and bytes, for the summary's counts.
    pub added: (u64, u64, u64),
    /// The `murron.*` keys.
    pub properties: HashMap<String, String>,
    pub list_uri: &'a str,
}

/// The result of [`Append::build`]: the manifest list (its bytes and its entries, sequence numbers
/// assigned) and the new metadata.
#[derive(Debug)]
pub struct Appended {
    pub list: Vec<u8>,
    pub manifests: Vec<ManifestFile>,
    pub metadata: TableMetadata,
}

impl Append<'_> {
    /// Builds the snapshot, its manifest list (the new manifest first, then the parents') and the
    /// next metadata file.
    pub async fn build(self) -> Result<Appended, TableError> {
        let sequence = self.base.next_sequence_number();
        let parent = self.base.current_snapshot();
        let io = FileIO::new_with_memory();
        let mut list = ManifestListWriter::v2(
            io.new_output(self.list_uri)?.writer().await?,
            self.snapshot_id,
            parent.map(|p| p.snapshot_id()),
            sequence,
        );
        list.add_manifests(std::iter::once(self.manifest.clone()).chain(self.parents.iter().cloned()))?;
        list.close().await?;
        let list_bytes = io.new_input(self.list_uri)?.read().await?.to_vec();

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let summary = Summary {
            operation: Operation::Append,
            additional_properties: summary(parent.map(|p| p.summary()), self.added, self.properties),
        };
        let snapshot = Snapshot::builder()
            .with_snapshot_id(self.snapshot_id)
            .with_parent_snapshot_id(parent.map(|p| p.snapshot_id()))
            .with_sequence_number(sequence)
            .with_timestamp_ms(now.max(self.base.last_updated_ms()))
            .with_manifest_list(self.list_uri)
            .with_summary(summary)
            .with_schema_id(self.base.current_schema_id())
            .build();
        let metadata = TableMetadataBuilder::new_from_metadata(self.base.clone(), Some(self.base_location.to_owned()))
            .set_branch_snapshot(snapshot, MAIN_BRANCH)?
            .build()?
            .metadata;
        Ok(Appended {
            manifests: parse_manifest_list(&list_bytes)?,
            list: list_bytes,
            metadata,
        })
    }
}

/// The summary of an append: what it added, the table's totals after it, and `extra`.
fn summary(
    parent: Option<&Summary>,
    (files, records, bytes): (u64, u64, u64),
    mut extra: HashMap<String, String>,
) -> HashMap<String, String> {
    let total = |key: &str| {
        parent
            .and_then(|p| p.additional_properties.get(key))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    for (key, added, total_key) in [
        ("added-data-files", files, "total-data-files"),
        ("added-records", records, "total-records"),
        ("added-files-size", bytes, "total-files-size"),
    ] {
        extra.insert(key.to_owned(), added.to_string());
        extra.insert(total_key.to_owned(), (total(total_key) + added).to_string());
    }
    for key in ["total-delete-files", "total-position-deletes", "total-equality-deletes"] {
        extra.insert(key.to_owned(), total(key).to_string());
    }
    extra
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field, TimeUnit};
    use iceberg::spec::{DataContentType, DataFileBuilder, DataFileFormat, Literal, Struct};

    fn events() -> ArrowSchema {
        ArrowSchema::new(vec![
            Field::new("n", DataType::Int32, false),
            Field::new(
                TIME_COLUMN,
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                false,
            ),
        ])
    }

    fn data_file(path: &str, hour: i32, rows: u64) -> DataFile {
        DataFileBuilder::default()
            .content(DataContentType::Data)
            .file_path(path.to_owned())
            .file_format(DataFileFormat::Parquet)
            .partition(Struct::from_iter([Some(Literal::int(hour))]))
            .record_count(rows)
            .file_size_in_bytes(100)
            .build()
            .unwrap()
    }

    async fn append(base: &TableMetadata, location: &str, parents: &[ManifestFile], id: i64, rows: u64) -> Appended {
        let (manifest, bytes) = write_manifest(
            base,
            id,
            vec![data_file(&format!("file:///t/data/{id}.parquet"), 490_000, rows)],
            "memory:///m.avro",
        )
        .await
        .unwrap();
        assert!(!bytes.is_empty());
        Append {
            base,
            base_location: location,
            parents,
            snapshot_id: id,
            manifest: &manifest,
            added: (1, rows, 100),
            properties: HashMap::from([(SUMMARY_BATCH.to_owned(), format!("b{id}"))]),
            list_uri: "memory:///list.avro",
        }
        .build()
        .await
        .unwrap()
    }

    #[test]
    fn a_new_table_is_v2_partitioned_by_the_hour_of_the_event_time() {
        let md = create("file:///t", &events(), Partitioning::Hour).unwrap();
        assert_eq!(md.format_version(), FormatVersion::V2);
        let field = &md.default_partition_spec().fields()[0];
        assert_eq!(field.transform, Transform::Hour);
        assert_eq!(
            field.source_id,
            md.current_schema().field_by_name(TIME_COLUMN).unwrap().id
        );
        let day = create("file:///t", &events(), Partitioning::Day).unwrap();
        assert_eq!(day.default_partition_spec().fields()[0].transform, Transform::Day);
        let location = first_location(&md);
        assert!(location.starts_with("file:///t/metadata/00000-"), "{location}");
        assert_eq!(from_json(&to_json(&md).unwrap()).unwrap(), md);
    }

    #[test]
    fn events_without_a_time_column_cannot_make_a_table() {
        let schema = ArrowSchema::new(vec![Field::new("n", DataType::Int32, false)]);
        assert!(matches!(
            create("file:///t", &schema, Partitioning::Hour),
            Err(TableError::NoTimeColumn)
        ));
    }

    #[tokio::test]
    async fn appends_chain_snapshots_carry_earlier_manifests_and_count_totals() {
        let md = create("file:///t", &events(), Partitioning::Hour).unwrap();
        let l0 = first_location(&md);
        let first = append(&md, &l0, &[], 11, 5).await;
        let l1 = next_location(&l0, &first.metadata).unwrap();
        assert!(l1.starts_with("file:///t/metadata/00001-"), "{l1}");
        let second = append(&first.metadata, &l1, &first.manifests, 22, 7).await;
        let snap = second.metadata.current_snapshot().unwrap();
        assert_eq!(snap.snapshot_id(), 22);
        assert_eq!(snap.parent_snapshot_id(), Some(11));
        assert_eq!(snap.sequence_number(), 2);
        let summary = &snap.summary().additional_properties;
        assert_eq!(summary["total-records"], "12");
        assert_eq!(summary["added-records"], "7");
        assert_eq!(summary[SUMMARY_BATCH], "b22");
        let listed = parse_manifest_list(&second.list).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].added_snapshot_id, 22);
        assert_eq!(listed[0].sequence_number, 2);
        assert_eq!(listed[1].sequence_number, 1);
        assert_eq!(second.metadata.metadata_log().len(), 2);
    }
}
