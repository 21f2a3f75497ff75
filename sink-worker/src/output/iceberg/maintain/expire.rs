//! Snapshot expiry: snapshots older than an age leave the table's metadata, except the newest few of
//! the main branch, the current one and any other branch's or tag's. Their manifest lists, and the
//! manifests and data files only they reached, become orphans for [`super::orphans`] to remove.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iceberg::spec::{TableMetadata, TableMetadataBuilder};
use sqlx::postgres::PgPool;

use super::{ATTEMPTS, MaintainError, SUMMARY_MAINTENANCE, Table};

/// The snapshot ids that branches and tags point at.
fn referenced(metadata: &TableMetadata) -> Result<HashSet<i64>, MaintainError> {
    let json = serde_json::to_value(metadata).map_err(super::super::table::TableError::from)?;
    Ok(json
        .get("refs")
        .and_then(|r| r.as_object())
        .map(|refs| {
            refs.values()
                .filter_map(|r| r.get("snapshot-id").and_then(serde_json::Value::as_i64))
                .collect()
        })
        .unwrap_or_default())
}

/// The snapshots to expire at `now_ms`: older than `older_than`, and none of the newest
/// `retain_last` of the current snapshot's ancestry, nor one in `protected`. Sorted.
pub fn pick(
    metadata: &TableMetadata,
    now_ms: i64,
    older_than: Duration,
    retain_last: usize,
    protected: &HashSet<i64>,
) -> Vec<i64> {
    let mut keep: HashSet<i64> = protected.clone();
    let mut next = metadata.current_snapshot().map(|s| s.snapshot_id());
    for _ in 0..retain_last.max(1) {
        let Some(id) = next else { break };
        keep.insert(id);
        next = metadata.snapshot_by_id(id).and_then(|s| s.parent_snapshot_id());
    }
    let cutoff = now_ms.saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX));
    let mut ids: Vec<i64> = metadata
        .snapshots()
        .filter(|s| s.timestamp_ms() < cutoff && !keep.contains(&s.snapshot_id()))
        .map(|s| s.snapshot_id())
        .collect();
    ids.sort_unstable();
    ids
}

/// Expires the table's old snapshots in one commit; returns how many.
pub async fn run(t: &Table, pool: &PgPool, older_than: Duration, retain_last: usize) -> Result<u64, MaintainError> {
    for _ in 0..ATTEMPTS {
        let base = t.load(pool).await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut protected = referenced(&base.metadata)?;
        // Also the current snapshot when it is not on a ref (cannot happen for a table with one).
        protected.extend(base.metadata.current_snapshot().map(|s| s.snapshot_id()));
        let ids = pick(&base.metadata, now, older_than, retain_last, &protected);
        if ids.is_empty() {
            return Ok(0);
        }
        let metadata = TableMetadataBuilder::new_from_metadata(base.metadata.clone(), Some(base.location.clone()))
            .remove_snapshots(&ids)
            .set_properties(HashMap::from([(
                format!("{SUMMARY_MAINTENANCE}.last-expire"),
                format!("{} snapshots at {now}", ids.len()),
            )]))?
            .build()?
            .metadata;
        if t.commit(pool, &base, &metadata).await?.is_some() {
            tracing::info!(table = %t.name, expired = ids.len(), "expired snapshots");
            return Ok(ids.len() as u64);
        }
    }
    Err(MaintainError::Conflict(format!(
        "the table changed under {ATTEMPTS} attempts to expire snapshots; run maintenance again"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::outputs::Partitioning;
    use crate::output::iceberg::table;
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use iceberg::spec::{MAIN_BRANCH, Operation, Snapshot, Summary};

    const HOUR: i64 = 3_600_000;

    /// A table with snapshots 1..=n, one an hour, snapshot i at hour i after the table's creation;
    /// and that creation time.
    fn table_with_snapshots(n: i64) -> (TableMetadata, i64) {
        let schema = Schema::new(vec![Field::new(
            table::TIME_COLUMN,
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        )]);
        let mut md = table::create("file:///t", &schema, Partitioning::Hour).unwrap();
        let created = md.last_updated_ms();
        for i in 1..=n {
            let snap = Snapshot::builder()
                .with_snapshot_id(i)
                .with_parent_snapshot_id((i > 1).then_some(i - 1))
                .with_sequence_number(i)
                .with_timestamp_ms(created + i * HOUR)
                .with_manifest_list(format!("file:///t/metadata/snap-{i}.avro"))
                .with_summary(Summary {
                    operation: Operation::Append,
                    additional_properties: HashMap::new(),
                })
                .with_schema_id(0)
                .build();
            md = TableMetadataBuilder::new_from_metadata(md, None)
                .set_branch_snapshot(snap, MAIN_BRANCH)
                .unwrap()
                .build()
                .unwrap()
                .metadata;
        }
        (md, created)
    }

    #[test]
    fn snapshots_older_than_the_age_expire_except_the_newest_to_retain() {
        let (md, created) = table_with_snapshots(6);
        let now = created + 7 * HOUR;
        let current: HashSet<i64> = [6].into();
        // Older than 2 hours: snapshots 1..=4 (hour 5 is exactly 2 hours old, not older).
        assert_eq!(pick(&md, now, Duration::from_secs(7200), 1, &current), [1, 2, 3, 4]);
        // Retaining the last 4 keeps 3..=6.
        assert_eq!(pick(&md, now, Duration::from_secs(7200), 4, &current), [1, 2]);
    }

    #[test]
    fn the_current_snapshot_never_expires_however_old() {
        let (md, _) = table_with_snapshots(3);
        let protected = referenced(&md).unwrap();
        assert_eq!(protected, [3].into());
        assert_eq!(pick(&md, i64::MAX / 2, Duration::ZERO, 1, &protected), [1, 2]);
    }
}
