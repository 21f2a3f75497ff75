//! Table maintenance, `sink-worker iceberg-maintain` (docs/ICEBERG.md, "Table maintenance"): for every
//! table of the configured Iceberg outputs, [`compact`] small data files per partition into a replace
//! snapshot, [`expire`] old snapshots, and remove [`orphans`]: objects under the table that nothing
//! the table still reaches names.
//!
//! It runs while workers append. Every change is committed as the sink commits: files first, then one
//! compare-and-swap of the catalog row ([`iceberg_catalog::swap`], in autocommit). A lost swap means a
//! worker committed in between; the step is rebuilt on the new base a bounded number of times, and
//! what a lost or abandoned attempt wrote is deleted.

pub mod compact;
pub mod expire;
pub mod orphans;

use std::collections::HashSet;
use std::time::Duration;

use iceberg::io::FileIO;
use iceberg::spec::{DataContentType, ManifestContentType, ManifestEntry, ManifestFile, TableMetadata};
use sqlx::postgres::PgPool;

use super::schema::SchemaError;
use super::table::{self, TableError};
use super::table_store::{ReadError, TableStore};
use crate::config::Config;
use crate::config::outputs::IcebergConfig;
use crate::config::pipeline::OutputConfig;
use crate::state::iceberg_catalog::{self, TableIdent};
use crate::state::{self, StateError};
use crate::storage::StoreError;

/// The snapshot summary key (and table property prefix) that marks maintenance's own changes.
pub const SUMMARY_MAINTENANCE: &str = "murron.maintenance";

/// The least age of an object that orphan removal may delete: a worker writes its batch's files
/// before it commits them, so a young unreferenced file may be about to become part of the table.
pub const MIN_ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// How many times a step is rebuilt on a new base after losing its swap.
const ATTEMPTS: usize = 5;

/// What to do, and the thresholds.
#[derive(Debug, Clone)]
pub struct Options {
    pub compact: bool,
    /// Compaction writes files of about this size; files under 3/4 of it are small.
    pub target_file_bytes: u64,
    pub expire: bool,
    /// Snapshots older than this are expired…
    pub expire_older_than: Duration,
    /// …except the newest this many of the main branch (the current one always stays).
    pub retain_last: usize,
    pub remove_orphans: bool,
    /// Unreferenced objects older than this are removed; at least [`MIN_ORPHAN_AGE`].
    pub orphan_older_than: Duration,
    /// Only these tables (by name, without the namespace). When empty: the tables of the pipeline's
    /// `filter_type` event types if it has one, else every table of the namespace.
    pub tables: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            compact: true,
            target_file_bytes: 128 << 20,
            expire: true,
            expire_older_than: Duration::from_secs(7 * 86_400),
            retain_last: 1,
            remove_orphans: true,
            orphan_older_than: Duration::from_secs(3 * 86_400),
            tables: Vec::new(),
        }
    }
}

impl Options {
    /// Refuses thresholds that would be unsafe while workers write.
    pub fn validate(&self) -> Result<(), MaintainError> {
        if self.remove_orphans && self.orphan_older_than < MIN_ORPHAN_AGE {
            return Err(MaintainError::Options(format!(
                "--orphan-older-than must be at least {}s: younger files may belong to a batch that is about to commit",
                MIN_ORPHAN_AGE.as_secs()
            )));
        }
        if self.target_file_bytes < 1024 {
            return Err(MaintainError::Options(
                "--target-file-bytes must be at least 1024".into(),
            ));
        }
        if self.retain_last == 0 {
            return Err(MaintainError::Options("--retain-last must be at least 1".into()));
        }
        Ok(())
    }
}

/// Why maintenance of a table failed.
#[derive(Debug, thiserror::Error)]
pub enum MaintainError {
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("iceberg: {0}")]
    Iceberg(#[from] iceberg::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A step gave up because other writers changed what it rewrote; nothing of it was committed.
    #[error("{0}")]
    Conflict(String),
    /// The table is not as maintenance expects it; nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// The catalog swap failed without an answer: it may have committed, so nothing it names may be
    /// deleted. The next run sees which.
    #[error("the catalog swap's outcome is unknown: {0}")]
    SwapUnknown(StateError),
}

/// Parses an age: one or more `<number><unit>` with units `s`, `m`, `h`, `d` (`7d`, `1h30m`).
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let mut total = 0u64;
    let mut digits = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("{s:?}: unknown unit {c:?} (use s, m, h or d)")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{s:?}: a number must come before {c:?}"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{s:?} is too long"))?;
        digits.clear();
    }
    if !digits.is_empty() || s.trim().is_empty() {
        return Err(format!("{s:?}: give a unit after every number (s, m, h or d), e.g. 7d"));
    }
    Ok(Duration::from_secs(total))
}

/// One table in its store.
#[derive(Debug)]
pub struct Table {
    /// `namespace.table`.
    pub name: String,
    ident: TableIdent,
    files: TableStore,
}

/// A table's committed state: its current metadata file and, when loaded, its current manifests.
#[derive(Debug, Clone)]
pub struct State {
    pub location: String,
    pub metadata: TableMetadata,
    pub manifests: Vec<ManifestFile>,
}

impl Table {
    /// The store key of a URI in this table's store.
    fn key<'u>(&self, uri: &'u str) -> Result<&'u str, MaintainError> {
        Ok(self.files.key(uri)?)
    }

    fn uri(&self, key: &str) -> String {
        self.files.uri(key)
    }

    /// The current state, read from the catalog and the store.
    async fn load(&self, pool: &PgPool) -> Result<State, MaintainError> {
        let mut conn = pool.acquire().await.map_err(StateError::from)?;
        let location = iceberg_catalog::metadata_location(&mut conn, &self.ident, false)
            .await?
            .ok_or_else(|| MaintainError::Invalid(format!("table {} is gone from the catalog", self.name)))?;
        drop(conn);
        let (metadata, manifests) = self.files.read(&location).await?;
        Ok(State {
            location,
            metadata,
            manifests,
        })
    }

    /// A manifest's entries, with the values they inherit from the manifest list filled in.
    async fn entries(&self, manifest: &ManifestFile) -> Result<Vec<ManifestEntry>, MaintainError> {
        let bytes = self.files.store.get(self.key(&manifest.manifest_path)?).await?;
        let io = FileIO::new_with_memory();
        io.new_output(&manifest.manifest_path)?.write(bytes.into()).await?;
        let loaded = manifest.load_manifest(&io).await?;
        Ok(loaded.entries().iter().map(|e| e.as_ref().clone()).collect())
    }

    /// Writes `metadata` as the file after `base`'s and swaps the catalog row to it, in autocommit;
    /// returns its location. None (the file deleted again) when another writer swapped first.
    async fn commit(
        &self,
        pool: &PgPool,
        base: &State,
        metadata: &TableMetadata,
    ) -> Result<Option<String>, MaintainError> {
        let location = table::next_location(&base.location, metadata)?;
        let key = self.key(&location)?.to_owned();
        self.files.store.put(&key, table::to_json(metadata)?).await?;
        let mut conn = pool.acquire().await.map_err(StateError::from)?;
        match iceberg_catalog::swap(&mut conn, &self.ident, &base.location, &location).await {
            Ok(true) => Ok(Some(location)),
            Ok(false) => {
                self.files.store.delete(&key).await?;
                Ok(None)
            }
            // The file may be current now, so it stays (orphan removal takes it later if it is not).
            Err(e) => Err(MaintainError::SwapUnknown(e)),
        }
    }

    /// The sizes of the current snapshot's live data files.
    async fn data_file_sizes(&self, state: &State) -> Result<Vec<u64>, MaintainError> {
        let mut sizes = Vec::new();
        for m in state
            .manifests
            .iter()
            .filter(|m| m.content == ManifestContentType::Data)
        {
            sizes.extend(
                self.entries(m)
                    .await?
                    .iter()
                    .filter(|e| e.is_alive() && e.content_type() == DataContentType::Data)
                    .map(ManifestEntry::file_size_in_bytes),
            );
        }
        Ok(sizes)
    }
}

/// The median of `sizes` (the lower middle one of an even count); 0 for none.
pub fn median(sizes: &[u64]) -> u64 {
    let mut s = sizes.to_vec();
    s.sort_unstable();
    match s.len() {
        0 => 0,
        n => s[(n - 1) / 2],
    }
}

/// What maintenance did to one table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// `namespace.table`.
    pub table: String,
    pub files_before: u64,
    pub files_after: u64,
    pub median_bytes_before: u64,
    pub median_bytes_after: u64,
    /// Small files rewritten, the files they became, and in how many partitions.
    pub compacted_files: u64,
    pub written_files: u64,
    pub partitions: u64,
    /// Compaction commits rebuilt on a new base because a worker committed first.
    pub rebased: u64,
    /// Why compaction was given up, if it was (nothing of it was committed).
    pub compaction_skipped: Option<String>,
    pub snapshots_expired: u64,
    pub orphans_removed: u64,
    pub orphan_bytes: u64,
    /// The error that stopped this table's maintenance.
    pub error: Option<String>,
}

impl Report {
    /// One `key=value` line, for scripts and the benchmark.
    pub fn line(&self) -> String {
        format!(
            "iceberg-maintain table={} files_before={} files_after={} median_bytes_before={} median_bytes_after={} \
             compacted_files={} written_files={} partitions={} rebased={} snapshots_expired={} \
             orphans_removed={} orphan_bytes={} status={}",
            self.table,
            self.files_before,
            self.files_after,
            self.median_bytes_before,
            self.median_bytes_after,
            self.compacted_files,
            self.written_files,
            self.partitions,
            self.rebased,
            self.snapshots_expired,
            self.orphans_removed,
            self.orphan_bytes,
            match (&self.error, &self.compaction_skipped) {
                (Some(_), _) => "failed",
                (None, Some(_)) => "compaction-skipped",
                (None, None) => "ok",
            }
        )
    }

    /// A few lines for a person.
    pub fn human(&self) -> String {
        let mut out = format!(
            "{}: {} -> {} data files, median {} -> {} bytes; {} small files in {} partition(s) rewritten as {}; \
             {} snapshots expired; {} orphan files removed ({} bytes)\n",
            self.table,
            self.files_before,
            self.files_after,
            self.median_bytes_before,
            self.median_bytes_after,
            self.compacted_files,
            self.partitions,
            self.written_files,
            self.snapshots_expired,
            self.orphans_removed,
            self.orphan_bytes
        );
        if let Some(why) = &self.compaction_skipped {
            out.push_str(&format!("  compaction skipped: {why}\n"));
        }
        if let Some(e) = &self.error {
            out.push_str(&format!("  FAILED: {e}\n"));
        }
        out
    }
}

/// Where maintenance is, for a progress bar.
#[derive(Debug, Clone)]
pub struct Progress {
    pub tables_done: u64,
    pub tables_total: u64,
    pub table: String,
    pub step: &'static str,
}

/// The distinct Iceberg outputs of the configured pipeline.
fn iceberg_outputs(config: &Config) -> Vec<&IcebergConfig> {
    let mut seen = HashSet::new();
    config
        .pipeline
        .iter()
        .flat_map(|p| &p.outputs)
        .filter_map(|o| match o {
            OutputConfig::Iceberg(c) => Some(c),
            _ => None,
        })
        .filter(|c| {
            seen.insert((
                format!("{:?}", c.store),
                c.warehouse.clone(),
                c.catalog.clone(),
                c.namespace.clone(),
            ))
        })
        .collect()
}

/// Maintains every table of the pipeline's Iceberg outputs; one table's failure is in its report and
/// does not stop the others.
pub async fn run(
    config: &Config,
    options: &Options,
    progress: impl Fn(&Progress),
) -> Result<Vec<Report>, MaintainError> {
    options.validate()?;
    let outputs = iceberg_outputs(config);
    if outputs.is_empty() {
        tracing::warn!("the configuration's [pipeline] has no output of kind = \"iceberg\": nothing to maintain");
        return Ok(Vec::new());
    }
    // The tables asked for, else those of the pipeline's event types when it filters by type.
    let wanted: Vec<String> = if options.tables.is_empty() {
        config
            .pipeline
            .iter()
            .flat_map(|p| &p.filter_type)
            .map(|t| super::table_name(t))
            .collect()
    } else {
        options.tables.clone()
    };
    let pool = state::connect(&config.state).await?;
    let mut tables = Vec::new();
    for c in outputs {
        let files = TableStore::open(c).await?;
        let mut conn = pool.acquire().await.map_err(StateError::from)?;
        for (name, _) in iceberg_catalog::tables(&mut conn, &c.catalog, &c.namespace).await? {
            if !wanted.is_empty() && !wanted.contains(&name) {
                continue;
            }
            tables.push(Table {
                name: format!("{}.{name}", c.namespace),
                ident: TableIdent {
                    catalog: c.catalog.clone(),
                    namespace: c.namespace.clone(),
                    table: name,
                },
                files: files.clone(),
            });
        }
    }
    let total = tables.len() as u64;
    let mut reports = Vec::with_capacity(tables.len());
    for (i, t) in tables.iter().enumerate() {
        let step = |step| {
            progress(&Progress {
                tables_done: i as u64,
                tables_total: total,
                table: t.name.clone(),
                step,
            })
        };
        let mut report = Report {
            table: t.name.clone(),
            ..Report::default()
        };
        if let Err(e) = maintain(t, &pool, options, &mut report, step).await {
            tracing::error!(table = %t.name, error = %e, "table maintenance failed");
            report.error = Some(e.to_string());
        }
        reports.push(report);
    }
    Ok(reports)
}

async fn maintain(
    t: &Table,
    pool: &PgPool,
    options: &Options,
    report: &mut Report,
    step: impl Fn(&'static str),
) -> Result<(), MaintainError> {
    step("reading");
    let before = t.data_file_sizes(&t.load(pool).await?).await?;
    report.files_before = before.len() as u64;
    report.median_bytes_before = median(&before);
    if options.compact {
        step("compacting");
        match compact::run(t, pool, options.target_file_bytes).await {
            Ok(done) => {
                report.compacted_files = done.compacted_files;
                report.written_files = done.written_files;
                report.partitions = done.partitions;
                report.rebased = done.rebased;
            }
            Err(MaintainError::Conflict(why)) => {
                tracing::warn!(table = %t.name, reason = %why, "compaction given up; nothing of it was committed");
                report.compaction_skipped = Some(why);
            }
            Err(e) => return Err(e),
        }
    }
    if options.expire {
        step("expiring snapshots");
        report.snapshots_expired = expire::run(t, pool, options.expire_older_than, options.retain_last).await?;
    }
    if options.remove_orphans {
        step("removing orphan files");
        let (n, bytes) = orphans::run(t, pool, options.orphan_older_than).await?;
        report.orphans_removed = n;
        report.orphan_bytes = bytes;
    }
    let after = t.data_file_sizes(&t.load(pool).await?).await?;
    report.files_after = after.len() as u64;
    report.median_bytes_after = median(&after);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_take_units_and_combinations_and_refuse_bare_numbers() {
        assert_eq!(parse_age("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_age("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_age("0s").unwrap(), Duration::ZERO);
        assert!(parse_age("3600").is_err());
        assert!(parse_age("3w").is_err());
        assert!(parse_age("").is_err());
    }

    #[test]
    fn orphan_removal_refuses_an_age_under_an_hour() {
        let mut o = Options {
            orphan_older_than: Duration::from_secs(3599),
            ..Options::default()
        };
        assert!(matches!(o.validate(), Err(MaintainError::Options(_))));
        o.remove_orphans = false;
        assert!(o.validate().is_ok());
        assert!(Options::default().validate().is_ok());
    }

    #[test]
    fn the_median_of_an_even_count_is_the_lower_middle_size() {
        assert_eq!(median(&[]), 0);
        assert_eq!(median(&[5, 1, 9]), 5);
        assert_eq!(median(&[4, 1, 9, 7]), 4);
    }

    #[test]
    fn the_report_line_is_key_value_pairs() {
        let r = Report {
            table: "events.t".into(),
            files_before: 10,
            files_after: 2,
            ..Report::default()
        };
        let line = r.line();
        assert!(
            line.starts_with("iceberg-maintain table=events.t files_before=10 files_after=2 "),
            "{line}"
        );
        assert!(line.ends_with("status=ok"), "{line}");
    }
}
