//! Opens the storage engine as the flags and the `storage` section ask, and
//! reports its metrics as `sonde_tsdb_*`.

use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::metrics::MetricType;
use sonde_config::units::ByteSize;
use sonde_tsdb::{Db, DbOptions, FsyncPolicy};

use crate::cli::ServerArgs;
use crate::own_metrics::OwnMetric;

/// Sonde's out-of-order window when the configuration sets none: an agent
/// replaying its queue after an outage of up to an hour loses nothing.
const DEFAULT_OUT_OF_ORDER_WINDOW_MS: i64 = 3_600_000;

pub fn options(args: &ServerArgs, config: &sonde_config::Config) -> anyhow::Result<DbOptions> {
    let retention = sonde_model::parse_duration(&args.retention_time)
        .with_context(|| format!("--storage.tsdb.retention.time {:?}", args.retention_time))?;
    let retention_bytes = ByteSize::parse(&args.retention_size).map_err(|e| {
        anyhow::anyhow!(
            "--storage.tsdb.retention.size {:?}: {e}",
            args.retention_size
        )
    })?;
    let block = sonde_model::parse_duration(&args.min_block_duration).with_context(|| {
        format!(
            "--storage.tsdb.min-block-duration {:?}",
            args.min_block_duration
        )
    })?;
    let segment = ByteSize::parse(&args.wal_segment_size).map_err(|e| {
        anyhow::anyhow!(
            "--storage.tsdb.wal-segment-size {:?}: {e}",
            args.wal_segment_size
        )
    })?;
    let wal_fsync = parse_fsync_policy(&args.wal_fsync)
        .map_err(|e| anyhow::anyhow!("--storage.tsdb.wal-fsync {:?}: {e}", args.wal_fsync))?;
    let defaults = DbOptions::default();
    let block_range_ms = block.as_millis() as i64;
    let ooo = config.storage.tsdb.out_of_order_time_window.as_millis() as i64;
    Ok(DbOptions {
        block_range_ms,
        wal_segment_bytes: if segment.0 == 0 {
            defaults.wal_segment_bytes
        } else {
            segment.0
        },
        retention_ms: retention.as_millis() as i64,
        retention_bytes: retention_bytes.0,
        // The window may not exceed the block range; with short blocks the
        // default shrinks to one block range.
        out_of_order_window_ms: if ooo > 0 {
            ooo
        } else {
            DEFAULT_OUT_OF_ORDER_WINDOW_MS.min(block_range_ms)
        },
        max_exemplars: config.storage.exemplars.max_exemplars,
        wal_fsync,
        ..defaults
    })
}

/// `always`, `never`, or a positive duration between background fsyncs.
fn parse_fsync_policy(text: &str) -> Result<FsyncPolicy, String> {
    match text {
        "always" => Ok(FsyncPolicy::Always),
        "never" => Ok(FsyncPolicy::Never),
        _ => match sonde_model::parse_duration(text) {
            Ok(d) if !d.is_zero() => Ok(FsyncPolicy::Interval(d)),
            _ => Err("expected always, never, or a duration above zero such as 1s".into()),
        },
    }
}

pub fn open(path: &str, opts: DbOptions) -> anyhow::Result<Arc<Db>> {
    let started = std::time::Instant::now();
    let db = Db::open(Path::new(path), opts)
        .with_context(|| format!("cannot open storage at --storage.tsdb.path {path}"))?;
    tracing::info!(path, duration = ?started.elapsed(), "TSDB started");
    Ok(db)
}

/// The engine's counters and gauges as own metrics.
pub fn metrics(db: &Db) -> Vec<OwnMetric> {
    let m = db.metrics();
    let counter = |name, help, value: u64| OwnMetric {
        name,
        help,
        kind: MetricType::Counter,
        labels: Vec::new(),
        value: value as f64,
    };
    let gauge = |name, help, value: u64| OwnMetric {
        kind: MetricType::Gauge,
        ..counter(name, help, value)
    };
    let refused = |reason: &str, value: u64| OwnMetric {
        labels: vec![("reason", reason.to_string())],
        ..counter(
            "sonde_tsdb_samples_refused_total",
            "Samples refused by the head, by reason",
            value,
        )
    };
    vec![
        gauge(
            "sonde_tsdb_head_series",
            "Series in the head",
            m.head_series,
        ),
        gauge(
            "sonde_tsdb_head_chunks",
            "Chunks in the head",
            m.head_chunks,
        ),
        counter(
            "sonde_tsdb_samples_appended_total",
            "Samples appended to the head",
            m.samples_appended_total,
        ),
        refused("out_of_order", m.out_of_order_refused_total),
        refused("out_of_bounds", m.out_of_bounds_refused_total),
        refused("too_old", m.too_old_refused_total),
        refused("duplicate", m.duplicate_refused_total),
        counter(
            "sonde_tsdb_wal_fsyncs_total",
            "WAL fsync calls",
            m.wal_fsync_count,
        ),
        OwnMetric {
            value: m.wal_fsync_seconds_sum,
            ..counter(
                "sonde_tsdb_wal_fsync_seconds_total",
                "Time spent in WAL fsync",
                0,
            )
        },
        counter(
            "sonde_tsdb_wal_written_bytes_total",
            "Bytes written to the WAL",
            m.wal_bytes_written_total,
        ),
        counter(
            "sonde_tsdb_wal_checkpoints_total",
            "WAL checkpoints made",
            m.wal_checkpoints_total,
        ),
        gauge(
            "sonde_tsdb_wal_corruption_dropped_bytes",
            "WAL bytes dropped by repair at start",
            m.wal_corruptions_dropped_bytes,
        ),
        gauge(
            "sonde_tsdb_blocks_loaded",
            "Persistent blocks open",
            m.blocks_loaded,
        ),
        gauge(
            "sonde_tsdb_blocks_bytes",
            "Bytes in persistent blocks",
            m.blocks_bytes,
        ),
        counter(
            "sonde_tsdb_blocks_cut_total",
            "Blocks cut from the head",
            m.blocks_cut_total,
        ),
        counter(
            "sonde_tsdb_compactions_total",
            "Compactions run",
            m.compactions_total,
        ),
        counter(
            "sonde_tsdb_compaction_failures_total",
            "Compactions failed",
            m.compaction_failures_total,
        ),
        counter(
            "sonde_tsdb_retention_deleted_blocks_total",
            "Blocks deleted by retention",
            m.retention_deleted_blocks_total,
        ),
        counter(
            "sonde_tsdb_exemplar_exemplars_appended_total",
            "Total number of appended exemplars",
            m.exemplars.appended_total,
        ),
        gauge(
            "sonde_tsdb_exemplar_exemplars_in_storage",
            "Number of exemplars currently in circular storage",
            m.exemplars.in_storage,
        ),
        gauge(
            "sonde_tsdb_exemplar_series_with_exemplars_in_storage",
            "Number of series with exemplars currently in circular storage",
            m.exemplars.series_in_storage,
        ),
        OwnMetric {
            value: m.exemplars.oldest_timestamp_seconds,
            ..gauge(
                "sonde_tsdb_exemplar_last_exemplars_timestamp_seconds",
                "The timestamp of the oldest exemplar stored in circular storage",
                0,
            )
        },
        gauge(
            "sonde_tsdb_exemplar_max_exemplars",
            "Total number of exemplars the exemplar storage can store, resizeable",
            m.exemplars.max_exemplars,
        ),
        counter(
            "sonde_tsdb_exemplar_out_of_order_exemplars_total",
            "Total number of out of order exemplar ingestion failed attempts",
            m.exemplars.out_of_order_total,
        ),
        gauge(
            "sonde_tsdb_read_only",
            "1 while storage refuses writes after a failed write (disk full); see the log for the file and cause",
            u64::from(m.read_only),
        ),
        counter(
            "sonde_tsdb_read_only_entered_total",
            "Times storage went read-only after a failed write",
            m.read_only_entered_total,
        ),
    ]
}

/// The engine's status and admin operations for the web layer.
pub struct Admin {
    pub db: Arc<Db>,
    /// Where `snapshots/` are written: the `--storage.tsdb.path`.
    pub data_dir: std::path::PathBuf,
}

impl sonde_web::StorageAdmin for Admin {
    fn tsdb_status(&self, limit: usize) -> serde_json::Value {
        serde_json::to_value(self.db.stats(limit)).unwrap_or_default()
    }

    fn delete_series(
        &self,
        matchers: &[sonde_model::Matcher],
        start: i64,
        end: i64,
    ) -> Result<(), String> {
        self.db
            .delete_series(matchers, start, end)
            .map_err(|e| e.to_string())
    }

    fn clean_tombstones(&self) -> Result<(), String> {
        self.db.clean_tombstones().map_err(|e| e.to_string())
    }

    /// Names snapshots as Prometheus does: UTC time and a random suffix.
    fn snapshot(&self, skip_head: bool) -> Result<String, String> {
        let name = format!(
            "{}-{:016x}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
        );
        let dir = self.data_dir.join("snapshots").join(&name);
        self.db
            .snapshot(&dir, !skip_head)
            .map_err(|e| format!("cannot write snapshot {}: {e}", dir.display()))?;
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_policy_flag_values() {
        assert_eq!(parse_fsync_policy("always"), Ok(FsyncPolicy::Always));
        assert_eq!(parse_fsync_policy("never"), Ok(FsyncPolicy::Never));
        assert_eq!(
            parse_fsync_policy("250ms"),
            Ok(FsyncPolicy::Interval(std::time::Duration::from_millis(250)))
        );
        for bad in ["0s", "", "sometimes", "-1s"] {
            let err = parse_fsync_policy(bad).unwrap_err();
            assert!(err.contains("always, never"), "{bad}: {err}");
        }
    }
}
