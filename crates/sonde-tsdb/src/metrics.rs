//! The engine's own counters, exported by the server as `sonde_tsdb_*`.
//!
//! Thread safety: plain atomics, updated with relaxed ordering (they are
//! statistics; nothing synchronises through them).

use std::sync::atomic::{AtomicU64, Ordering};

use sonde_model::AppendError;

#[derive(Debug, Default)]
pub struct Metrics {
    pub samples_appended: AtomicU64,
    pub samples_dropped_at_commit: AtomicU64,
    pub out_of_order_refused: AtomicU64,
    pub out_of_bounds_refused: AtomicU64,
    pub too_old_refused: AtomicU64,
    pub duplicate_refused: AtomicU64,
    pub blocks_cut: AtomicU64,
    pub compactions: AtomicU64,
    pub compaction_failures: AtomicU64,
    pub blocks_deleted_by_retention: AtomicU64,
    pub checkpoints: AtomicU64,
    pub series_removed: AtomicU64,
}

impl Metrics {
    pub fn count_refused(&self, e: &AppendError) {
        let c = match e {
            AppendError::OutOfOrder => &self.out_of_order_refused,
            AppendError::OutOfBounds => &self.out_of_bounds_refused,
            AppendError::TooOld => &self.too_old_refused,
            AppendError::DuplicateSampleForTimestamp => &self.duplicate_refused,
            _ => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A point-in-time copy of the engine's metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// `sonde_tsdb_head_series`
    pub head_series: u64,
    /// `sonde_tsdb_head_chunks`
    pub head_chunks: u64,
    /// `sonde_tsdb_head_samples_appended_total`
    pub samples_appended_total: u64,
    /// `sonde_tsdb_out_of_order_samples_total` and friends, by reason.
    pub out_of_order_refused_total: u64,
    pub out_of_bounds_refused_total: u64,
    pub too_old_refused_total: u64,
    pub duplicate_refused_total: u64,
    /// Accepted at append but lost a race with a concurrent commit.
    pub dropped_at_commit_total: u64,
    /// `sonde_tsdb_wal_fsync_duration_seconds_{sum,count}`
    pub wal_fsync_seconds_sum: f64,
    pub wal_fsync_count: u64,
    pub wal_bytes_written_total: u64,
    pub wal_segment_current: u64,
    pub wal_corruptions_dropped_bytes: u64,
    pub wal_checkpoints_total: u64,
    /// `sonde_tsdb_blocks_loaded`
    pub blocks_loaded: u64,
    pub blocks_cut_total: u64,
    /// `sonde_tsdb_compactions_total`
    pub compactions_total: u64,
    pub compaction_failures_total: u64,
    pub retention_deleted_blocks_total: u64,
    pub head_series_removed_total: u64,
    /// `sonde_tsdb_storage_blocks_bytes`
    pub blocks_bytes: u64,
    /// `sonde_tsdb_exemplar_*` (Prometheus' `prometheus_tsdb_exemplar_*`).
    pub exemplars: crate::exemplars::ExemplarStats,
    /// `sonde_tsdb_read_only`: writes are refused after a write failure
    /// (disk full); see `Db::read_only_reason`.
    pub read_only: bool,
    /// `sonde_tsdb_read_only_entered_total`
    pub read_only_entered_total: u64,
}
