//! The Iceberg output (`kind = "iceberg"`, docs/ICEBERG.md): one Iceberg v2 table per event type,
//! `{namespace}.{type}`, with Parquet data files in a folder or an S3 bucket and the catalog in the
//! state database ([`crate::state::iceberg_catalog`]).
//!
//! Per batch and table:
//! 1. Before the batch's transaction has anything of the table: create the table, or commit the
//!    schema change the batch's groups need, each in a short transaction of its own
//!    ([`IcebergOutput::prepare`]). So every data file is written with field ids already committed.
//! 2. List every key the batch will write in its intent ([`intent`]), then write the data files,
//!    the manifest, the manifest list and the next metadata file.
//! 3. In the batch's transaction, swap the table's metadata location from the one the batch built on
//!    to the new one. It commits or rolls back with the commit points. If another writer swapped
//!    first, lock the row, rebuild the manifest list and metadata on the new base (the same manifest
//!    and data files) and swap again: with the row locked that cannot fail, so no batch is ever
//!    applied twice and no retry loop exists.
//! 4. Publishing deletes what the committed attempt superseded, and the intent.

pub mod intent;
pub mod maintain;
pub mod schema;
pub mod table;
pub mod table_store;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arrow_schema::SchemaRef;
use iceberg::spec::{DataContentType, DataFileBuilder, DataFileFormat, Literal, ManifestFile, Struct, TableMetadata};
use murron_payload::Variant;
use sqlx::PgConnection;
use sqlx::postgres::PgPool;

use self::intent::Intent;
use self::table::{Append, TableError};
use self::table_store::{ReadError, TableStore};
use super::{Converted, Output, OutputError, OutputFuture, Prepared, Staging, join};
use crate::config::outputs::{IcebergConfig, Partitioning};
use crate::format::parquet::encode_parquet;
use crate::parallel::cpus;
use crate::state::iceberg_catalog::{self, TableIdent};
use crate::state::{FileRecord, StateError};
use crate::storage::ObjectStore;

/// How many times [`IcebergOutput::prepare`] re-reads a table whose schema change lost a race.
const PREPARE_ATTEMPTS: usize = 20;

impl From<ReadError> for OutputError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Store(e) => OutputError::Store(e),
            e => OutputError::Fatal(format!("iceberg: {e}")),
        }
    }
}

impl From<TableError> for OutputError {
    fn from(e: TableError) -> Self {
        OutputError::Fatal(format!("iceberg: {e}"))
    }
}

/// A table's committed state as this worker last read it.
#[derive(Debug)]
struct Known {
    location: String,
    metadata: TableMetadata,
    /// The manifests of the current snapshot.
    manifests: Vec<ManifestFile>,
}

/// Iceberg tables in one store and catalog.
#[derive(Debug)]
pub struct IcebergOutput {
    files: TableStore,
    config: IcebergConfig,
    pool: PgPool,
    pipeline: String,
    /// The last state read of each table, by table name.
    known: Mutex<HashMap<String, Arc<Known>>>,
}

/// The Iceberg table name of an event type: every character outside `[a-z0-9_]` becomes `_`.
pub fn table_name(event_type: &str) -> String {
    event_type
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect()
}

impl IcebergOutput {
    /// Opens the store; tables are created on first use.
    pub async fn open(config: &IcebergConfig, pool: PgPool, pipeline: &str) -> Result<Self, OutputError> {
        Ok(Self {
            files: TableStore::open(config).await?,
            config: config.clone(),
            pool,
            pipeline: pipeline.to_owned(),
            known: Mutex::new(HashMap::new()),
        })
    }

    fn ident(&self, table: &str) -> TableIdent {
        TableIdent {
            catalog: self.config.catalog.clone(),
            namespace: self.config.namespace.clone(),
            table: table.to_owned(),
        }
    }

    fn uri(&self, key: &str) -> String {
        self.files.uri(key)
    }

    fn key<'u>(&self, uri: &'u str) -> Result<&'u str, OutputError> {
        Ok(self.files.key(uri)?)
    }

    fn table_location(&self, table: &str) -> String {
        self.uri(&join(
            &self.config.warehouse,
            &format!("{}/{table}", self.config.namespace),
        ))
    }

    /// The table's committed state at `location`, from this worker's memory when it was the last to
    /// read or write it.
    async fn load(&self, table: &str, location: &str) -> Result<Arc<Known>, OutputError> {
        if let Some(k) = self.cached(table).filter(|k| k.location == location) {
            return Ok(k);
        }
        let (metadata, manifests) = self.files.read(location).await?;
        Ok(self.remember(table, location.to_owned(), metadata, manifests))
    }

    fn cached(&self, table: &str) -> Option<Arc<Known>> {
        self.known.lock().ok().and_then(|m| m.get(table).cloned())
    }

    fn remember(
        &self,
        table: &str,
        location: String,
        metadata: TableMetadata,
        manifests: Vec<ManifestFile>,
    ) -> Arc<Known> {
        let known = Arc::new(Known {
            location,
            metadata,
            manifests,
        });
        if let Ok(mut m) = self.known.lock() {
            m.insert(table.to_owned(), known.clone());
        }
        known
    }

    /// Makes the table exist with a schema that holds every one of `schemas`, committing a new table
    /// or a schema change at once in a transaction of its own; returns the table's committed state.
    /// A lost race (another worker created or changed it) is re-read and re-decided from scratch,
    /// which is safe because nothing of a batch is in it.
    async fn prepare(&self, table: &str, schemas: &[SchemaRef]) -> Result<Arc<Known>, OutputError> {
        let ident = self.ident(table);
        let first = schemas
            .first()
            .ok_or_else(|| OutputError::Fatal("iceberg: no group to prepare".into()))?;
        for _ in 0..PREPARE_ATTEMPTS {
            let mut conn = self.pool.acquire().await.map_err(StateError::from)?;
            let Some(location) = iceberg_catalog::metadata_location(&mut conn, &ident, false).await? else {
                let metadata = table::create(&self.table_location(table), first, self.config.partition)?;
                let location = table::first_location(&metadata);
                self.files
                    .store
                    .put(self.key(&location)?, table::to_json(&metadata)?)
                    .await?;
                let ns_location = self.uri(&join(&self.config.warehouse, &self.config.namespace));
                iceberg_catalog::ensure_namespace(&mut conn, &ident.catalog, &ident.namespace, &ns_location).await?;
                if !iceberg_catalog::create_table(&mut conn, &ident, &location).await? {
                    self.files.store.delete(self.key(&location)?).await?;
                } else {
                    tracing::info!(table = %format!("{}.{table}", ident.namespace), %location, "created Iceberg table");
                }
                continue;
            };
            let known = self.load(table, &location).await?;
            let mut evolved = None;
            let mut last_id = known.metadata.last_column_id();
            for s in schemas {
                let current = evolved.as_ref().unwrap_or(known.metadata.current_schema().as_ref());
                if let Some(next) = schema::evolve(current, last_id, s).map_err(|e| fatal_schema(table, e))? {
                    last_id = last_id.max(next.highest_field_id());
                    evolved = Some(next);
                }
            }
            let Some(next) = evolved else {
                return Ok(known);
            };
            let metadata = table::with_schema(&known.metadata, &location, next)?;
            let new_location = table::next_location(&location, &metadata)?;
            self.files
                .store
                .put(self.key(&new_location)?, table::to_json(&metadata)?)
                .await?;
            if iceberg_catalog::swap(&mut conn, &ident, &location, &new_location).await? {
                tracing::info!(table, location = %new_location, "evolved the Iceberg table's schema");
                return Ok(self.remember(table, new_location, metadata, known.manifests.clone()));
            }
            self.files.store.delete(self.key(&new_location)?).await?;
        }
        Err(OutputError::Fatal(format!(
            "iceberg: table {table} kept changing under {PREPARE_ATTEMPTS} schema updates"
        )))
    }
}

fn fatal_schema(table: &str, e: schema::SchemaError) -> OutputError {
    OutputError::Fatal(format!(
        "iceberg table {table} cannot take the events' schema: {e}. Nothing was written; the pipeline stops \
         until the table or the schema is changed"
    ))
}

/// One table's part of a batch, staged and ready to swap in.
struct Staged {
    ident: TableIdent,
    base: Arc<Known>,
    snapshot_id: i64,
    manifest: ManifestFile,
    added: (u64, u64, u64),
    properties: HashMap<String, String>,
    /// The location this attempt's metadata file was written to.
    location: String,
    /// The manifests of the snapshot it adds, sequence numbers assigned.
    manifests: Vec<ManifestFile>,
    metadata: TableMetadata,
    list_key: String,
}

impl Output for IcebergOutput {
    fn name(&self) -> String {
        format!("iceberg {}", self.files.store.describe())
    }

    fn stage<'a>(
        &'a self,
        batch: &'a Prepared<'a>,
        conn: &'a mut PgConnection,
        staging: &'a mut Staging,
    ) -> OutputFuture<'a, ()> {
        Box::pin(async move {
            let mut by_table: BTreeMap<String, Vec<&Converted>> = BTreeMap::new();
            for c in batch.converted {
                let event_type = batch.groups[c.group].event_type;
                by_table.entry(table_name(event_type)).or_default().push(c);
            }
            if by_table.is_empty() {
                return Ok(());
            }
            let mut bases = Vec::with_capacity(by_table.len());
            for (table, groups) in &by_table {
                let schemas: Vec<SchemaRef> = groups.iter().map(|c| c.batch.schema()).collect();
                bases.push(self.prepare(table, &schemas).await?);
            }
            let mut intent = Intent::default();
            let mut plans = Vec::with_capacity(by_table.len());
            for ((table, groups), base) in by_table.iter().zip(&bases) {
                let plan = self.plan(batch, table, groups, base)?;
                intent.keys.extend(plan.data.iter().map(|(k, _)| k.clone()));
                intent.keys.extend([plan.manifest_key.clone(), plan.list_key.clone()]);
                intent.keys.push(self.key(&plan.location)?.to_owned());
                plans.push(plan);
            }
            let intent_key = staging.next_key(intent::EXTENSION);
            self.files.store.put(&intent_key, intent.to_bytes()).await?;

            let mut staged = Vec::with_capacity(plans.len());
            for (plan, base) in plans.into_iter().zip(bases) {
                staged.push(self.write_files(batch, plan, base).await?);
            }

            let mut events = 0;
            for s in &mut staged {
                self.swap(conn, s, &intent_key, &mut intent).await?;
                events += s.added.1;
            }
            let locations: Vec<&str> = staged.iter().map(|s| s.location.as_str()).collect();
            let bytes = staged.iter().map(|s| s.added.2).sum::<u64>();
            staging.files.push(crate::state::NewFile {
                store: self.name(),
                staging_key: intent_key,
                final_key: locations.join(" "),
                events: events as i64,
                bytes: bytes as i64,
            });
            metrics::counter!("murron_sink_written_events_total", "output" => "iceberg").increment(events);
            metrics::counter!("murron_sink_written_bytes_total", "output" => "iceberg").increment(bytes);
            Ok(())
        })
    }

    fn store(&self) -> Option<&ObjectStore> {
        Some(&self.files.store)
    }

    /// Deletes what the committed attempt superseded, and the intent.
    fn publish<'a>(&'a self, file: &'a FileRecord) -> OutputFuture<'a, ()> {
        Box::pin(async move { Ok(intent::finish(&self.files.store, &file.staging_key).await?) })
    }
}

/// The keys and data of one table's part of a batch, before anything is written.
struct Plan<'a> {
    table: String,
    snapshot_id: i64,
    /// Each data file's key, with its group.
    data: Vec<(String, &'a Converted)>,
    manifest_key: String,
    list_key: String,
    /// Where the new metadata file goes.
    location: String,
}

impl IcebergOutput {
    fn plan<'a>(
        &self,
        batch: &Prepared<'_>,
        table: &str,
        groups: &[&'a Converted],
        base: &Known,
    ) -> Result<Plan<'a>, OutputError> {
        let snapshot_id = snapshot_id();
        let location = base.metadata.location();
        let table_key = self.key(location)?.to_owned();
        let data = groups
            .iter()
            .map(|c| {
                let group = &batch.groups[c.group];
                let variant = match group.variant {
                    Variant(0) => String::new(),
                    Variant(v) => format!("-{v}"),
                };
                let key = format!(
                    "{table_key}/data/{}/{}-{}{variant}.parquet",
                    self.partition_path(group.hour),
                    batch.batch_id,
                    group.schema_id
                );
                (key, *c)
            })
            .collect();
        Ok(Plan {
            table: table.to_owned(),
            snapshot_id,
            data,
            manifest_key: format!("{table_key}/metadata/{}-m0.avro", batch.batch_id),
            // Short keys: the local S3 server keeps each key in a file name of at most 255 bytes.
            list_key: format!("{table_key}/metadata/snap-{snapshot_id}-1.avro"),
            location: table::next_location(&base.location, &base.metadata)?,
        })
    }

    /// The partition folder of an hour, named as engines name it (`…_hour=2026-12-06-20`).
    fn partition_path(&self, hour: i64) -> String {
        let ts = murron_wire::hours::hour_timestamp(hour);
        let (date, hh) = (ts.get(..10).unwrap_or(&ts), ts.get(11..13).unwrap_or("00"));
        match self.config.partition {
            Partitioning::Hour => format!("{}_hour={date}-{hh}", table::TIME_COLUMN),
            Partitioning::Day => format!("{}_day={date}", table::TIME_COLUMN),
        }
    }

    fn partition_value(&self, hour: i64) -> Literal {
        match self.config.partition {
            Partitioning::Hour => Literal::int(hour as i32),
            Partitioning::Day => Literal::date(hour.div_euclid(24) as i32),
        }
    }

    /// Writes one table's data files and manifest, and builds its snapshot on `base`.
    async fn write_files(&self, batch: &Prepared<'_>, plan: Plan<'_>, base: Arc<Known>) -> Result<Staged, OutputError> {
        let table_schema = base.metadata.current_schema().clone();
        let spec_id = base.metadata.default_partition_spec_id();
        let mut files = Vec::with_capacity(plan.data.len());
        let (mut rows, mut bytes) = (0u64, 0u64);
        for (key, c) in &plan.data {
            let group = &batch.groups[c.group];
            let body = tokio::task::block_in_place(|| {
                let file_schema =
                    schema::file_schema(&table_schema, &c.batch.schema()).map_err(|e| fatal_schema(&plan.table, e))?;
                let conformed = schema::conform(&c.batch, file_schema).map_err(|e| fatal_schema(&plan.table, e))?;
                encode_parquet(&conformed, cpus()).map_err(|e| OutputError::Fatal(format!("iceberg parquet: {e}")))
            })?;
            let n = c.batch.num_rows() as u64;
            let size = body.len() as u64;
            self.files.store.put(key, body).await?;
            let file = DataFileBuilder::default()
                .content(DataContentType::Data)
                .file_path(self.uri(key))
                .file_format(DataFileFormat::Parquet)
                .partition(Struct::from_iter([Some(self.partition_value(group.hour))]))
                .partition_spec_id(spec_id)
                .record_count(n)
                .file_size_in_bytes(size)
                .build()
                .map_err(|e| OutputError::Fatal(format!("iceberg data file: {e}")))?;
            files.push(file);
            rows += n;
            bytes += size;
        }
        let manifest_uri = self.uri(&plan.manifest_key);
        let (manifest, manifest_bytes) =
            table::write_manifest(&base.metadata, plan.snapshot_id, files, &manifest_uri).await?;
        self.files.store.put(&plan.manifest_key, manifest_bytes).await?;
        let properties = HashMap::from([
            (table::SUMMARY_PIPELINE.to_owned(), self.pipeline.clone()),
            (table::SUMMARY_BATCH.to_owned(), batch.batch_id.to_owned()),
            (table::SUMMARY_SOURCES.to_owned(), sources(batch)),
        ]);
        let added = (plan.data.len() as u64, rows, bytes);
        let list_uri = self.uri(&plan.list_key);
        let appended = Append {
            base: &base.metadata,
            base_location: &base.location,
            parents: &base.manifests,
            snapshot_id: plan.snapshot_id,
            manifest: &manifest,
            added,
            properties: properties.clone(),
            list_uri: &list_uri,
        }
        .build()
        .await?;
        self.files.store.put(&plan.list_key, appended.list).await?;
        self.files
            .store
            .put(self.key(&plan.location)?, table::to_json(&appended.metadata)?)
            .await?;
        Ok(Staged {
            ident: self.ident(&plan.table),
            base,
            snapshot_id: plan.snapshot_id,
            manifest,
            added,
            properties,
            location: plan.location,
            manifests: appended.manifests,
            metadata: appended.metadata,
            list_key: plan.list_key,
        })
    }

    /// Swaps the table to the staged metadata in the batch's transaction. If another writer swapped
    /// first: locks the row, rebuilds the snapshot on what is current now, and swaps that.
    async fn swap(
        &self,
        conn: &mut PgConnection,
        s: &mut Staged,
        intent_key: &str,
        intent: &mut Intent,
    ) -> Result<(), OutputError> {
        if iceberg_catalog::swap(conn, &s.ident, &s.base.location, &s.location).await? {
            self.remember_staged(s);
            return Ok(());
        }
        let current = iceberg_catalog::metadata_location(conn, &s.ident, true)
            .await?
            .ok_or_else(|| {
                OutputError::Fatal(format!(
                    "iceberg table {} was dropped while the sink wrote it",
                    s.ident.table
                ))
            })?;
        let base = self.load(&s.ident.table, &current).await?;
        let batch_id = s.properties.get(table::SUMMARY_BATCH).cloned().unwrap_or_default();
        if base
            .metadata
            .snapshots()
            .any(|snap| snap.summary().additional_properties.get(table::SUMMARY_BATCH) == Some(&batch_id))
        {
            // Cannot happen while the batch's transaction is open; refusing is the safe answer.
            return Err(OutputError::Fatal(format!(
                "iceberg table {} already holds batch {batch_id}",
                s.ident.table
            )));
        }
        let list_key = s.list_key.replace("-1.avro", "-2.avro");
        let list_uri = self.uri(&list_key);
        let appended = Append {
            base: &base.metadata,
            base_location: &base.location,
            parents: &base.manifests,
            snapshot_id: s.snapshot_id,
            manifest: &s.manifest,
            added: s.added,
            properties: s.properties.clone(),
            list_uri: &list_uri,
        }
        .build()
        .await?;
        let location = table::next_location(&base.location, &base.metadata)?;
        let metadata_key = self.key(&location)?.to_owned();
        intent.keys.extend([list_key.clone(), metadata_key.clone()]);
        intent
            .superseded
            .extend([s.list_key.clone(), self.key(&s.location)?.to_owned()]);
        self.files.store.put(intent_key, intent.to_bytes()).await?;
        self.files.store.put(&list_key, appended.list).await?;
        self.files
            .store
            .put(&metadata_key, table::to_json(&appended.metadata)?)
            .await?;
        if !iceberg_catalog::swap(conn, &s.ident, &base.location, &location).await? {
            return Err(OutputError::Fatal(format!(
                "iceberg table {}: the catalog row changed while locked",
                s.ident.table
            )));
        }
        metrics::counter!("murron_sink_iceberg_commit_conflicts_total").increment(1);
        s.base = base;
        s.location = location;
        s.manifests = appended.manifests;
        s.metadata = appended.metadata;
        s.list_key = list_key;
        self.remember_staged(s);
        Ok(())
    }

    /// Remembers the staged state as the table's latest: if the batch's transaction then fails, the
    /// next read of the catalog names another location and the memory is not used.
    fn remember_staged(&self, s: &Staged) {
        self.remember(
            &s.ident.table,
            s.location.clone(),
            s.metadata.clone(),
            s.manifests.clone(),
        );
    }
}

/// A new snapshot id: random and positive, as Iceberg's writers make them.
fn snapshot_id() -> i64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    (i64::from_le_bytes(b) & i64::MAX).max(1)
}

/// The batch's sources for the snapshot summary: `topic:partition:start-end;…`, the Kafka offsets
/// `[start, end)` the batch read (its commit points before and after), or `backfill` when the batch
/// came from the archive.
fn sources(batch: &Prepared<'_>) -> String {
    if !batch.from_kafka {
        return "backfill".to_owned();
    }
    batch
        .sources
        .iter()
        .zip(batch.starts)
        .map(|((t, p, end), start)| format!("{t}:{p}:{start}-{end}"))
        .collect::<Vec<_>>()
        .join(";")
}
