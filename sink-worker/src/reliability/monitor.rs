//! `sink-worker monitor`: keeps the gaps of one pipeline current, files backfills for gaps that stay
//! missing past the grace period, runs backfills, and serves the reliability API and dashboard
//! ([`super::api`]).
//!
//! Each sweep indexes new archive files, recomputes every stream's gaps from the received offsets and
//! the archive ([`super::gaps`]), and replaces the pipeline's rows in `reliability_gaps`, keeping each
//! gap's first-seen time and state across sweeps; it also records each type's hourly counts in the REP
//! history ([`super::history`]) when they changed. Replicas may run side by side: a transaction-level
//! advisory lock lets one sweep at a time, and backfills are claimed safely. The sweep's SQL is in
//! `state::gaps`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use sqlx::PgPool;

use super::auth::Access;
use super::gaps::{Gap, StreamOffsets, rep_score, union};
use super::history;
use crate::archive::index::{ArchiveIndex, IndexError};
use crate::backfill::{BackfillError, Backfiller};
use crate::config::{Config, MonitorConfig};
use crate::state::gaps::{NewGap, StoredGap};
use crate::state::{self, StateError};
use murron_connect::retry::backoff_delay;
use murron_tls::Protocol;
use murron_wire::stream::StreamKey;

/// Why the monitor stopped or a sweep failed.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("archive: {0}")]
    Index(#[from] IndexError),
    #[error("backfill: {0}")]
    Backfill(#[from] BackfillError),
    #[error("listening on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error(transparent)]
    Tls(#[from] murron_tls::TlsError),
}

/// What one sweep found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// False when another replica holds the sweep lock.
    pub swept: bool,
    pub streams: u64,
    pub gaps: u64,
    pub missing_events: u64,
    pub backfills_filed: Vec<i64>,
    pub marked_unrecoverable: u64,
    /// Rows added to the REP history (hours whose missing or pending count changed).
    pub history_rows: u64,
}

/// One pipeline's monitor.
#[derive(Debug, Clone)]
pub struct Monitor {
    pool: PgPool,
    pipeline: String,
    types: Vec<String>,
    index: ArchiveIndex,
    config: MonitorConfig,
    access: Access,
}

/// A gap found by this sweep, with what it inherits from the stored ones it overlaps.
#[derive(Debug, Clone)]
struct TrackedGap {
    stream: StreamKey,
    gap: Gap,
    /// Seconds since the Unix epoch.
    first_seen: f64,
    state: String,
    backfill_id: Option<i64>,
    reason: Option<String>,
}

impl Monitor {
    pub async fn open(config: &Config, pool: PgPool) -> Result<Self, MonitorError> {
        let pipeline = config.pipeline.as_ref().ok_or_else(|| {
            MonitorError::Config("no [pipeline] in the configuration: the monitor watches one".into())
        })?;
        if !(config.monitor.interval_secs.is_finite() && config.monitor.interval_secs > 0.0) {
            return Err(MonitorError::Config("monitor.interval_secs must be positive".into()));
        }
        if config.monitor.history_days == 0 {
            return Err(MonitorError::Config("monitor.history_days must be at least 1".into()));
        }
        let access = Access::new(&config.monitor.auth).map_err(MonitorError::Config)?;
        Ok(Self {
            index: ArchiveIndex::open(pool.clone(), &config.archive).await?,
            access,
            pool,
            pipeline: pipeline.name.clone(),
            types: pipeline.filter_type.clone(),
            config: config.monitor.clone(),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    pub fn grace_secs(&self) -> u64 {
        self.config.grace_secs
    }

    pub fn history_days(&self) -> u32 {
        self.config.history_days
    }

    /// Who may use the API.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Indexes new archive files, recomputes the gaps, resolves finished backfills and files new ones.
    pub async fn sweep(&self) -> Result<SweepReport, MonitorError> {
        self.index.refresh(None).await?;
        let mut streams: BTreeMap<StreamKey, StreamOffsets> = BTreeMap::new();
        let found =
            state::gaps::offsets(&self.pool, &self.pipeline, &self.index.store().describe(), &self.types).await?;
        for (rows, archive) in [(found.received, false), (found.archived, true)] {
            for row in rows {
                let offsets = streams.entry(row.stream).or_default();
                if archive {
                    &mut offsets.archived
                } else {
                    &mut offsets.received
                }
                .push((row.hour, row.offsets));
            }
        }

        let Some(mut tx) = state::gaps::begin_sweep(&self.pool, &self.pipeline).await? else {
            return Ok(SweepReport::default());
        };
        let now = tx.now().await?;
        let rows = tx.stored_gaps().await?;
        let mut old: HashMap<StreamKey, Vec<StoredGap>> = HashMap::new();
        for g in rows {
            old.entry((g.event_type.clone(), g.host.clone(), g.pid))
                .or_default()
                .push(g);
        }
        let finished = tx.ended_backfills().await?;

        let mut report = SweepReport {
            swept: true,
            streams: streams.len() as u64,
            ..SweepReport::default()
        };
        let mut next: Vec<TrackedGap> = Vec::new();
        for (key, offsets) in &streams {
            let archived = union(&offsets.archived);
            for gap in offsets.gaps() {
                let overlapping: Vec<&StoredGap> = old
                    .get(key)
                    .map(|v| {
                        v.iter()
                            .filter(|o| o.first <= gap.last && o.last >= gap.first)
                            .collect()
                    })
                    .unwrap_or_default();
                let first_seen = overlapping.iter().map(|o| o.first_seen).fold(now, f64::min);
                let (mut state, mut backfill_id, mut reason) = ("open".to_string(), None, None);
                if let Some(u) = overlapping.iter().find(|o| o.state == "unrecoverable") {
                    state = u.state.clone();
                    reason = u.reason.clone();
                    backfill_id = u.backfill_id;
                } else if let Some(b) = overlapping.iter().find(|o| o.state == "backfilling") {
                    state = b.state.clone();
                    backfill_id = b.backfill_id;
                    if let Some(ended) = b.backfill_id.and_then(|id| finished.get(&id)) {
                        // The backfill ended and this gap is still here: the archive cannot fill it.
                        let id = b.backfill_id.unwrap_or_default();
                        let in_archive = archived.intersects(gap.first, gap.last);
                        state = "unrecoverable".into();
                        reason = Some(match (in_archive, ended.state.as_str(), &ended.error) {
                            (false, _, _) => format!("not in the archive (backfill {id} found nothing to repair it)"),
                            (true, "failed", Some(e)) => format!("backfill {id} failed: {e}"),
                            (true, _, Some(e)) => format!("the archived copy was not accepted (backfill {id}): {e}"),
                            (true, _, None) => format!("backfill {id} ended without writing it"),
                        });
                        report.marked_unrecoverable += 1;
                        metrics::counter!("murron_gaps_unrecoverable_total").increment(1);
                    }
                }
                report.gaps += 1;
                report.missing_events += gap.count();
                next.push(TrackedGap {
                    stream: key.clone(),
                    gap,
                    first_seen,
                    state,
                    backfill_id,
                    reason,
                });
            }
        }

        // Auto-backfill: one request per type for the gaps missing past the grace period.
        if self.config.auto_backfill {
            let cutoff = now - self.config.grace_secs as f64;
            let mut due: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (i, g) in next.iter().enumerate() {
                if g.state == "open" && g.first_seen <= cutoff {
                    due.entry(g.stream.0.clone()).or_default().push(i);
                }
            }
            for (event_type, idx) in due {
                let from = idx.iter().map(|&i| next[i].gap.hour).min().unwrap_or_default();
                let to = idx.iter().map(|&i| next[i].gap.hour).max().unwrap_or_default() + 1;
                let mut streams: Vec<serde_json::Value> = idx
                    .iter()
                    .map(|&i| serde_json::json!({"host": next[i].stream.1, "pid": next[i].stream.2}))
                    .collect();
                streams.sort_by_key(|v| v.to_string());
                streams.dedup();
                let id = tx
                    .file_backfill(&event_type, from, to, serde_json::Value::Array(streams))
                    .await?;
                tracing::info!(id, %event_type, gaps = idx.len(), "gaps missing past the grace period: backfill filed");
                metrics::counter!("murron_backfills_filed_total", "origin" => "auto").increment(1);
                for i in idx {
                    next[i].state = "backfilling".into();
                    next[i].backfill_id = Some(id);
                }
                report.backfills_filed.push(id);
            }
        }

        let to_store: Vec<NewGap> = next
            .iter()
            .map(|g| NewGap {
                stream: &g.stream,
                first: g.gap.first,
                last: g.gap.last,
                hour: g.gap.hour,
                first_seen: g.first_seen,
                state: &g.state,
                backfill_id: g.backfill_id,
                reason: g.reason.as_deref(),
            })
            .collect();
        tx.replace_gaps(&to_store).await?;
        report.history_rows = self.record_history(&mut tx, &streams, &next, now).await?;
        tx.commit().await?;
        self.export_gauges(&streams, &next, now);
        Ok(report)
    }

    /// Records in the REP history each type's hours whose counts changed since the last sweep, and
    /// deletes those past `monitor.history_days`; returns how many rows it added.
    async fn record_history(
        &self,
        tx: &mut state::gaps::Sweep<'_>,
        streams: &BTreeMap<StreamKey, StreamOffsets>,
        gaps: &[TrackedGap],
        now: f64,
    ) -> Result<u64, MonitorError> {
        let from_hour = (now / 3600.0).floor() as i64 - i64::from(self.config.history_days) * 24;
        let cutoff = now - self.config.grace_secs as f64;
        let received = streams
            .iter()
            .flat_map(|(key, s)| s.received.iter().map(move |(hour, r)| (key.0.as_str(), *hour, r.len())));
        let missing = gaps.iter().map(|g| {
            let pending = g.state == "open" && g.first_seen > cutoff;
            (g.stream.0.as_str(), g.gap.hour, g.gap.count(), pending)
        });
        let counts = history::hour_counts(received, missing, from_hour);
        let latest = tx.latest_history(from_hour).await?;
        let plan = history::plan(&latest, counts);
        tx.write_history(&plan.new, &plan.refresh, from_hour).await?;
        Ok(plan.new.len() as u64)
    }

    fn export_gauges(&self, streams: &BTreeMap<StreamKey, StreamOffsets>, gaps: &[TrackedGap], now: f64) {
        #[derive(Default)]
        struct Totals {
            received: u64,
            missing: u64,
            pending: u64,
            open: u64,
            unrecoverable: u64,
        }
        let mut by_type: BTreeMap<&str, Totals> = BTreeMap::new();
        for (key, s) in streams {
            by_type.entry(&key.0).or_default().received += s.received.iter().map(|(_, r)| r.len()).sum::<u64>();
        }
        let cutoff = now - self.config.grace_secs as f64;
        for g in gaps {
            let t = by_type.entry(&g.stream.0).or_default();
            if g.state == "open" && g.first_seen > cutoff {
                t.pending += g.gap.count();
            } else {
                t.missing += g.gap.count();
            }
            match g.state.as_str() {
                "unrecoverable" => t.unrecoverable += 1,
                _ => t.open += 1,
            }
        }
        for (t, v) in by_type {
            let total = v.received + v.missing + v.pending;
            let labels = [("type", t.to_owned())];
            metrics::gauge!("murron_rep_score", &labels).set(rep_score(total, v.missing).unwrap_or(100.0));
            metrics::gauge!("murron_events_received", &labels).set(v.received as f64);
            metrics::gauge!("murron_events_missing", &labels).set(v.missing as f64);
            metrics::gauge!("murron_events_pending", &labels).set(v.pending as f64);
            metrics::gauge!("murron_gaps_open", &labels).set(v.open as f64);
            metrics::gauge!("murron_gaps_unrecoverable", &labels).set(v.unrecoverable as f64);
        }
    }
}

/// `sink-worker monitor`: serves the API and sweeps until `shutdown` resolves.
pub async fn run(config: &Config, shutdown: impl Future<Output = ()>) -> Result<(), MonitorError> {
    let pipeline = config
        .pipeline
        .clone()
        .ok_or_else(|| MonitorError::Config("no [pipeline] in the configuration: the monitor watches one".into()))?;
    // Install the recorder before the first sweep sets a gauge.
    let _ = crate::admin::install_metrics(&pipeline.name);
    let pool = state::connect(&config.state).await?;
    let monitor = Monitor::open(config, pool.clone()).await?;
    let listener = murron_tls::bind(config.monitor.listen, config.tls.as_ref(), Protocol::Http1).await?;
    let addr = listener.local_addr();
    let scheme = listener.scheme();
    tracing::info!(%addr, pipeline = %monitor.pipeline(), "reliability monitor listening; dashboard at {scheme}://{addr}/");
    let auth = &config.monitor.auth;
    if monitor.access().enabled() {
        tracing::info!(
            tokens = %auth.describe(),
            anonymous_reads = auth.anonymous_reads,
            "monitor API: bearer tokens required"
        );
    } else {
        tracing::warn!(
            %addr,
            "the monitor's API is open: no [monitor.auth] tokens, so anyone who reaches it may file backfills"
        );
    }
    let app = super::api::router(monitor.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "monitor HTTP server stopped");
        }
    });
    let mut backfiller = None;
    if config.monitor.run_backfills {
        let mut attempt = 0u32;
        backfiller = loop {
            match Backfiller::open(config, pipeline.clone(), pool.clone()).await {
                Ok(b) => break Some(b),
                Err(e) if !e.is_retryable() => return Err(e.into()),
                Err(e) => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %e, "opening the backfill outputs failed; retrying");
                    tokio::time::sleep(backoff_delay(attempt)).await;
                }
            }
        };
    }
    let interval = Duration::from_secs_f64(config.monitor.interval_secs);
    tokio::pin!(shutdown);
    let mut failures = 0u32;
    loop {
        let delay = match monitor.sweep().await {
            Ok(r) => {
                failures = 0;
                tracing::debug!(?r, "swept");
                if let Some(b) = backfiller.as_mut()
                    && run_queued(b, &mut shutdown).await
                {
                    break;
                }
                interval
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, failures, "sweep failed; retrying");
                backoff_delay(failures).min(interval.max(Duration::from_secs(1)))
            }
        };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
    Ok(())
}

/// Runs queued backfills one after another until none is left; true when shutdown came first (a run
/// cut short is resumed by whoever claims it next).
async fn run_queued(b: &mut Backfiller, shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
    loop {
        tokio::select! {
            biased;
            () = shutdown.as_mut() => return true,
            r = b.run_next(|_| {}) => match r {
                Ok(Some(_)) => continue,
                Ok(None) => return false,
                Err(e) => {
                    tracing::warn!(error = %e, "running a backfill failed; will retry");
                    return false;
                }
            }
        }
    }
}
