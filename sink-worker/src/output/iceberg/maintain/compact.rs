//! Compaction: per partition, the small data files of the current snapshot rewritten into files of
//! about the target size, committed as a `replace` snapshot. The manifests that list a rewritten file
//! are replaced by one manifest that marks those files DELETED and keeps the others EXISTING (each
//! with its sequence numbers), and a new manifest ADDs the new files.
//!
//! Files written under older schema versions are projected onto the current schema by field id
//! ([`schema::project`]), so every new file carries the current field ids. The new files must hold
//! exactly the rows of the old ones: the counts are checked before anything is committed.
//!
//! While workers append, a lost swap is rebuilt on the new base ([`rebase`]): appends only add
//! manifests, so the new list is ours plus every manifest of the new base except the ones we
//! replaced. If one of those is gone, someone else rewrote it, and compaction of the table is given up.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow_schema::Schema as ArrowSchema;
use bytes::Bytes;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, MAIN_BRANCH, ManifestContentType, ManifestEntry,
    ManifestFile, ManifestListWriter, ManifestStatus, ManifestWriterBuilder, Operation, Snapshot, Struct, Summary,
    TableMetadata, TableMetadataBuilder,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use sqlx::postgres::PgPool;

use super::{ATTEMPTS, MaintainError, SUMMARY_MAINTENANCE, State, Table};
use crate::output::iceberg::{schema, table};

/// What a compaction committed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    pub compacted_files: u64,
    pub written_files: u64,
    pub partitions: u64,
    /// Swaps lost to workers that committed first, each rebuilt on the new base.
    pub rebased: u64,
}

/// Whether a file of `size` bytes is small for files of `target` bytes: under three quarters of it.
pub fn is_small(size: u64, target: u64) -> bool {
    u128::from(size) * 4 < u128::from(target) * 3
}

/// The groups one partition's files are rewritten in, as indexes into `sizes`: the small files,
/// largest first, each into the first group it fits in under `target` bytes (first-fit decreasing),
/// keeping only groups of two files or more. Nothing when the partition has fewer than two small files.
pub fn plan_bins(sizes: &[u64], target: u64) -> Vec<Vec<usize>> {
    let mut small: Vec<usize> = (0..sizes.len()).filter(|&i| is_small(sizes[i], target)).collect();
    if small.len() < 2 {
        return Vec::new();
    }
    small.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut bins: Vec<(u64, Vec<usize>)> = Vec::new();
    for i in small {
        match bins.iter_mut().find(|(used, _)| used + sizes[i] <= target) {
            Some((used, files)) => {
                *used += sizes[i];
                files.push(i);
            }
            None => bins.push((sizes[i], vec![i])),
        }
    }
    bins.into_iter().map(|(_, f)| f).filter(|f| f.len() >= 2).collect()
}

/// The manifest list of the replace snapshot on a base whose current manifests are `current`: `ours`
/// first, then every manifest of `current` except those in `replaced`, and except those that list no
/// live file any more (their deletions were committed by an earlier snapshot). Fails with the path of
/// a replaced manifest that `current` no longer has: someone else rewrote it.
pub fn rebase(
    current: &[ManifestFile],
    replaced: &HashSet<String>,
    ours: &[ManifestFile],
) -> Result<Vec<ManifestFile>, String> {
    let present: HashSet<&str> = current.iter().map(|m| m.manifest_path.as_str()).collect();
    if let Some(gone) = replaced.iter().find(|p| !present.contains(p.as_str())) {
        return Err(gone.clone());
    }
    let dead = |m: &ManifestFile| m.added_files_count == Some(0) && m.existing_files_count == Some(0);
    Ok(ours
        .iter()
        .cloned()
        .chain(
            current
                .iter()
                .filter(|m| !replaced.contains(&m.manifest_path) && !dead(m))
                .cloned(),
        )
        .collect())
}

/// One live data file of the current snapshot: which manifest lists it, and its entry.
struct Live {
    manifest: usize,
    entry: ManifestEntry,
}

/// What one attempt wrote, deleted again unless it commits.
#[derive(Default)]
struct Staged(Vec<String>);

impl Staged {
    async fn discard(&self, t: &Table) {
        for key in &self.0 {
            if let Err(e) = t.files.store.delete(key).await {
                tracing::warn!(key, error = %e, "could not delete a file of an abandoned compaction; orphan removal will");
            }
        }
    }
}

/// Compacts the table's small files; see the module doc.
pub async fn run(t: &Table, pool: &PgPool, target: u64) -> Result<Compacted, MaintainError> {
    let base = t.load(pool).await?;
    if base.metadata.current_snapshot().is_none() {
        return Ok(Compacted::default());
    }
    if base.manifests.iter().any(|m| m.content != ManifestContentType::Data) {
        return Err(MaintainError::Conflict(
            "the table has delete files, which compaction does not apply".into(),
        ));
    }
    let spec_id = base.metadata.default_partition_spec_id();
    let mut entries = Vec::with_capacity(base.manifests.len());
    let mut live = Vec::new();
    for (i, m) in base.manifests.iter().enumerate() {
        let es = t.entries(m).await?;
        if m.partition_spec_id == spec_id {
            live.extend(
                es.iter()
                    .filter(|e| e.is_alive() && e.content_type() == DataContentType::Data)
                    .map(|e| Live {
                        manifest: i,
                        entry: e.clone(),
                    }),
            );
        }
        entries.push(es);
    }
    let mut partitions: HashMap<Struct, Vec<usize>> = HashMap::new();
    for (i, l) in live.iter().enumerate() {
        partitions
            .entry(l.entry.data_file().partition().clone())
            .or_default()
            .push(i);
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut touched_partitions = 0;
    let mut ordered: Vec<_> = partitions.into_iter().collect();
    ordered.sort_by_key(|(p, _)| format!("{p:?}"));
    for (_, files) in ordered {
        let sizes: Vec<u64> = files.iter().map(|&i| live[i].entry.file_size_in_bytes()).collect();
        let bins = plan_bins(&sizes, target);
        if !bins.is_empty() {
            touched_partitions += 1;
        }
        groups.extend(bins.into_iter().map(|b| b.into_iter().map(|j| files[j]).collect()));
    }
    if groups.is_empty() {
        return Ok(Compacted::default());
    }

    let snapshot_id = crate::output::iceberg::snapshot_id();
    let mut staged = Staged::default();
    let result = stage_and_commit(t, pool, base, &entries, &live, &groups, snapshot_id, &mut staged).await;
    match result {
        Ok(rebased) => Ok(Compacted {
            compacted_files: groups.iter().map(|g| g.len() as u64).sum(),
            written_files: groups.len() as u64,
            partitions: touched_partitions,
            rebased,
        }),
        // What the swap may have made part of the table stays; orphan removal takes it if it did not.
        Err(e @ MaintainError::SwapUnknown(_)) => Err(e),
        Err(e) => {
            staged.discard(t).await;
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn stage_and_commit(
    t: &Table,
    pool: &PgPool,
    mut base: State,
    entries: &[Vec<ManifestEntry>],
    live: &[Live],
    groups: &[Vec<usize>],
    snapshot_id: i64,
    staged: &mut Staged,
) -> Result<u64, MaintainError> {
    let metadata = &base.metadata;
    let to = schema::arrow_schema(metadata.current_schema());
    let table_key = t.key(metadata.location())?.to_owned();
    let mut new_files = Vec::with_capacity(groups.len());
    let (mut old_rows, mut new_rows, mut old_bytes, mut new_bytes) = (0u64, 0u64, 0u64, 0u64);
    for (n, group) in groups.iter().enumerate() {
        let files: Vec<&DataFile> = group.iter().map(|&i| live[i].entry.data_file()).collect();
        let first = t.key(files[0].file_path())?;
        let dir = first.rsplit_once('/').map_or(table_key.as_str(), |(d, _)| d);
        let key = format!("{dir}/c-{snapshot_id}-{n}.parquet");
        staged.0.push(key.clone());
        let (rows, size) = rewrite(t, &files, to.clone(), &key).await?;
        let expected: u64 = files.iter().map(|f| f.record_count()).sum();
        if rows != expected {
            return Err(MaintainError::Invalid(format!(
                "{key} holds {rows} rows but the {} files it replaces hold {expected}; nothing was committed",
                files.len()
            )));
        }
        old_rows += expected;
        new_rows += rows;
        old_bytes += files.iter().map(|f| f.file_size_in_bytes()).sum::<u64>();
        new_bytes += size;
        new_files.push(
            DataFileBuilder::default()
                .content(DataContentType::Data)
                .file_path(t.uri(&key))
                .file_format(DataFileFormat::Parquet)
                .partition(files[0].partition().clone())
                .partition_spec_id(metadata.default_partition_spec_id())
                .record_count(rows)
                .file_size_in_bytes(size)
                .build()
                .map_err(|e| MaintainError::Invalid(format!("data file: {e}")))?,
        );
    }
    if old_rows != new_rows {
        return Err(MaintainError::Invalid(format!(
            "the new files hold {new_rows} rows, the old {old_rows}; nothing was committed"
        )));
    }

    // The manifests that list a rewritten file, replaced by one.
    let rewritten: HashSet<&str> = groups.iter().flatten().map(|&i| live[i].entry.file_path()).collect();
    let replaced_idx: Vec<usize> = {
        let mut v: Vec<usize> = groups.iter().flatten().map(|&i| live[i].manifest).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let replaced: HashSet<String> = replaced_idx
        .iter()
        .map(|&i| base.manifests[i].manifest_path.clone())
        .collect();
    let io = FileIO::new_with_memory();
    let replacement_key = format!("{table_key}/metadata/c-{snapshot_id}-m0.avro");
    let replacement_uri = t.uri(&replacement_key);
    let mut writer = ManifestWriterBuilder::new(
        io.new_output(&replacement_uri)?,
        Some(snapshot_id),
        metadata.current_schema().clone(),
        metadata.default_partition_spec().as_ref().clone(),
    )
    .build_v2_data();
    for &i in &replaced_idx {
        for e in &entries[i] {
            let (Some(seq), Some(snap)) = (e.sequence_number(), e.snapshot_id()) else {
                return Err(MaintainError::Invalid(format!(
                    "an entry of {} has no sequence number",
                    base.manifests[i].manifest_path
                )));
            };
            let file_seq = e.file_sequence_number.or(Some(seq));
            match e.status() {
                // Deleted by an earlier snapshot: no longer listed.
                ManifestStatus::Deleted => {}
                _ if rewritten.contains(e.file_path()) => {
                    writer.add_delete_file(e.data_file().clone(), seq, file_seq)?
                }
                _ => writer.add_existing_file(e.data_file().clone(), snap, seq, file_seq)?,
            }
        }
    }
    let replacement = writer.write_manifest_file().await?;
    let bytes = io.new_input(&replacement_uri)?.read().await?.to_vec();
    staged.0.push(replacement_key.clone());
    t.files.store.put(&replacement_key, bytes).await?;

    let added_key = format!("{table_key}/metadata/c-{snapshot_id}-m1.avro");
    let added_uri = t.uri(&added_key);
    let (added, bytes) = table::write_manifest(metadata, snapshot_id, new_files, &added_uri).await?;
    staged.0.push(added_key.clone());
    t.files.store.put(&added_key, bytes).await?;

    let counts = Counts {
        added_files: groups.len() as u64,
        deleted_files: rewritten.len() as u64,
        records: new_rows,
        added_bytes: new_bytes,
        removed_bytes: old_bytes,
    };
    let ours = [added, replacement];
    for attempt in 1..=ATTEMPTS {
        let manifests = rebase(&base.manifests, &replaced, &ours).map_err(|gone| {
            MaintainError::Conflict(format!(
                "manifest {gone} was rewritten by another writer while compaction ran; run maintenance again"
            ))
        })?;
        let list_key = format!("{table_key}/metadata/snap-{snapshot_id}-{attempt}.avro");
        let list_uri = t.uri(&list_key);
        let (list, next) = build_replace(&base, snapshot_id, manifests, &list_uri, counts).await?;
        staged.0.push(list_key.clone());
        t.files.store.put(&list_key, list).await?;
        if let Some(location) = t.commit(pool, &base, &next).await? {
            tracing::info!(table = %t.name, %location, files = counts.deleted_files, into = counts.added_files, "committed compaction");
            return Ok(attempt as u64 - 1);
        }
        // A worker committed first: rebuild on what is current now.
        tracing::info!(table = %t.name, attempt, "a worker committed first; rebuilding the compaction on the new snapshot");
        t.files.store.delete(&list_key).await?;
        staged.0.pop();
        base = t.load(pool).await?;
    }
    Err(MaintainError::Conflict(format!(
        "the table changed under {ATTEMPTS} attempts to commit compaction; run maintenance again"
    )))
}

/// Reads `files`, projects them onto `to` and writes them as one Parquet file at `key`; returns the
/// rows the written file's footer holds, and its size. Each file must hold the rows its entry says.
async fn rewrite(t: &Table, files: &[&DataFile], to: Arc<ArrowSchema>, key: &str) -> Result<(u64, u64), MaintainError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), to.clone(), Some(props))?;
    for f in files {
        let body = Bytes::from(t.files.store.get(t.key(f.file_path())?).await?);
        let rows = tokio::task::block_in_place(|| -> Result<u64, MaintainError> {
            let mut rows = 0u64;
            for batch in ParquetRecordBatchReaderBuilder::try_new(body)?.build()? {
                let batch = batch.map_err(parquet::errors::ParquetError::from)?;
                rows += batch.num_rows() as u64;
                writer.write(&schema::project(&batch, to.clone())?)?;
            }
            Ok(rows)
        })?;
        if rows != f.record_count() {
            return Err(MaintainError::Invalid(format!(
                "{} holds {rows} rows but its manifest says {}",
                f.file_path(),
                f.record_count()
            )));
        }
    }
    let body = tokio::task::block_in_place(|| writer.into_inner())?;
    let size = body.len() as u64;
    let body = Bytes::from(body);
    let written = SerializedFileReader::new(body.clone())?
        .metadata()
        .file_metadata()
        .num_rows();
    t.files.store.put(key, body.to_vec()).await?;
    Ok((u64::try_from(written).unwrap_or(0), size))
}

/// The replace snapshot's counts, for its summary.
#[derive(Debug, Clone, Copy)]
struct Counts {
    added_files: u64,
    deleted_files: u64,
    records: u64,
    added_bytes: u64,
    removed_bytes: u64,
}

/// The manifest list (its bytes) and metadata of a replace snapshot with `manifests` on `base`.
async fn build_replace(
    base: &State,
    snapshot_id: i64,
    manifests: Vec<ManifestFile>,
    list_uri: &str,
    c: Counts,
) -> Result<(Vec<u8>, TableMetadata), MaintainError> {
    let sequence = base.metadata.next_sequence_number();
    let parent = base.metadata.current_snapshot();
    let io = FileIO::new_with_memory();
    let mut list = ManifestListWriter::v2(
        io.new_output(list_uri)?.writer().await?,
        snapshot_id,
        parent.map(|p| p.snapshot_id()),
        sequence,
    );
    list.add_manifests(manifests.into_iter())?;
    list.close().await?;
    let bytes = io.new_input(list_uri)?.read().await?.to_vec();

    let total = |key: &str| {
        parent
            .and_then(|p| p.summary().additional_properties.get(key))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut props = HashMap::from([
        (SUMMARY_MAINTENANCE.to_owned(), "compact".to_owned()),
        ("added-data-files".to_owned(), c.added_files.to_string()),
        ("deleted-data-files".to_owned(), c.deleted_files.to_string()),
        ("added-records".to_owned(), c.records.to_string()),
        ("deleted-records".to_owned(), c.records.to_string()),
        ("added-files-size".to_owned(), c.added_bytes.to_string()),
        ("removed-files-size".to_owned(), c.removed_bytes.to_string()),
        (
            "total-data-files".to_owned(),
            (total("total-data-files") + c.added_files)
                .saturating_sub(c.deleted_files)
                .to_string(),
        ),
        ("total-records".to_owned(), total("total-records").to_string()),
        (
            "total-files-size".to_owned(),
            (total("total-files-size") + c.added_bytes)
                .saturating_sub(c.removed_bytes)
                .to_string(),
        ),
    ]);
    for key in ["total-delete-files", "total-position-deletes", "total-equality-deletes"] {
        props.insert(key.to_owned(), total(key).to_string());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent.map(|p| p.snapshot_id()))
        .with_sequence_number(sequence)
        .with_timestamp_ms(now.max(base.metadata.last_updated_ms()))
        .with_manifest_list(list_uri)
        .with_summary(Summary {
            operation: Operation::Replace,
            additional_properties: props,
        })
        .with_schema_id(base.metadata.current_schema_id())
        .build();
    let metadata = TableMetadataBuilder::new_from_metadata(base.metadata.clone(), Some(base.location.clone()))
        .set_branch_snapshot(snapshot, MAIN_BRANCH)?
        .build()?
        .metadata;
    Ok((bytes, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::ManifestContentType;

    const MIB: u64 = 1 << 20;

    fn manifest(path: &str, added: u32, existing: u32) -> ManifestFile {
        ManifestFile {
            manifest_path: path.to_owned(),
            manifest_length: 1,
            partition_spec_id: 0,
            content: ManifestContentType::Data,
            sequence_number: 1,
            min_sequence_number: 1,
            added_snapshot_id: 1,
            added_files_count: Some(added),
            existing_files_count: Some(existing),
            deleted_files_count: Some(0),
            added_rows_count: Some(0),
            existing_rows_count: Some(0),
            deleted_rows_count: Some(0),
            partitions: None,
            key_metadata: None,
            first_row_id: None,
        }
    }

    fn paths(ms: &[ManifestFile]) -> Vec<&str> {
        ms.iter().map(|m| m.manifest_path.as_str()).collect()
    }

    #[test]
    fn small_files_of_a_partition_are_packed_into_as_few_target_sized_files_as_fit() {
        // 10 files of 30 MiB and one of 100 MiB (not small) for a 128 MiB target: 4 + 4 + 2.
        let mut sizes = vec![30 * MIB; 10];
        sizes.push(100 * MIB);
        let bins = plan_bins(&sizes, 128 * MIB);
        assert_eq!(bins.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
        let mut all: Vec<usize> = bins.concat();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..10).collect::<Vec<_>>(),
            "every small file once, the large one never"
        );
        for bin in &bins {
            assert!(bin.iter().map(|&i| sizes[i]).sum::<u64>() <= 128 * MIB);
        }
    }

    #[test]
    fn a_partition_with_one_small_file_or_no_fitting_pair_is_left_alone() {
        assert!(plan_bins(&[MIB, 120 * MIB], 128 * MIB).is_empty());
        // Two small files that together exceed the target would each be a file of its own again.
        assert!(plan_bins(&[90 * MIB, 90 * MIB], 128 * MIB).is_empty());
        assert!(!is_small(96 * MIB, 128 * MIB));
        assert!(is_small(96 * MIB - 1, 128 * MIB));
    }

    #[test]
    fn a_rebase_keeps_manifests_appended_since_and_replaces_exactly_the_rewritten_ones() {
        let base = [manifest("a", 1, 0), manifest("b", 1, 0), manifest("c", 1, 0)];
        let ours = [manifest("new", 1, 0), manifest("rewritten", 0, 1)];
        let replaced: HashSet<String> = ["a".to_owned(), "c".to_owned()].into();
        let first = rebase(&base, &replaced, &ours).unwrap();
        assert_eq!(paths(&first), ["new", "rewritten", "b"]);
        // A worker appended "d" meanwhile: it is kept, untouched.
        let appended = [manifest("d", 1, 0), base[0].clone(), base[1].clone(), base[2].clone()];
        assert_eq!(
            paths(&rebase(&appended, &replaced, &ours).unwrap()),
            ["new", "rewritten", "d", "b"]
        );
    }

    #[test]
    fn a_rebase_fails_when_a_rewritten_manifest_is_gone_from_the_new_base() {
        let replaced: HashSet<String> = ["a".to_owned()].into();
        let rewritten_elsewhere = [manifest("other", 0, 1), manifest("b", 1, 0)];
        assert_eq!(rebase(&rewritten_elsewhere, &replaced, &[]).unwrap_err(), "a");
    }

    #[test]
    fn manifests_without_live_files_are_dropped_from_the_new_list() {
        let base = [manifest("only-deletes", 0, 0), manifest("b", 1, 0)];
        assert_eq!(paths(&rebase(&base, &HashSet::new(), &[]).unwrap()), ["b"]);
    }
}
