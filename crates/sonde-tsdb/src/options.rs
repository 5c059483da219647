//! Options of [`crate::Db`], with defaults in one place ([`DbOptions::default`]).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::TsdbError;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// When the WAL is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every commit waits for an fsync of its batch (shared by all batches
    /// the WAL writer took together). Survives power loss.
    Always,
    /// Commits wait for the write to reach the OS (survives a crash of the
    /// process); a background thread fsyncs at this interval, so a power
    /// loss can lose up to one interval.
    Interval(Duration),
    /// Never fsync except at segment cut and close (tests, throwaway data).
    Never,
}

/// Stops a [`crate::Db::open`] in progress, e.g. when the server is told to
/// stop while it replays a long WAL. The open checks it between blocks,
/// between WAL files and before applying each WAL record; once it is set
/// the open returns [`TsdbError::Cancelled`] before its first write to the
/// directory (removing incomplete blocks, truncating a torn WAL tail,
/// repairing, creating the next segment), so the directory is left as it
/// was found and the next open replays all of it. Setting it after the
/// open has returned has no effect.
///
/// Thread safety: clones share one flag, set and read from any thread.
#[derive(Debug, Clone, Default)]
pub struct CancelOpen(Arc<AtomicBool>);

impl CancelOpen {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// [`TsdbError::Cancelled`] when cancelled; `at` says where the open
    /// stopped ("while loading block ...").
    pub(crate) fn check(&self, dir: &Path, at: impl FnOnce() -> String) -> Result<(), TsdbError> {
        if !self.is_cancelled() {
            return Ok(());
        }
        Err(TsdbError::Cancelled {
            dir: dir.to_path_buf(),
            at: at(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Time span of a block cut from the head (Prometheus: 2h).
    pub block_range_ms: i64,
    /// How far behind the newest sample a sample may be and still be
    /// accepted (merged on read). 0 disables out-of-order ingestion.
    pub out_of_order_window_ms: i64,
    /// Blocks whose data is older than this behind the newest sample are
    /// deleted (Prometheus: 15d). 0 disables time retention.
    pub retention_ms: i64,
    /// Oldest blocks are deleted while blocks and WAL exceed this many
    /// bytes. 0 disables size retention.
    pub retention_bytes: u64,
    /// A WAL segment is closed when it would grow past this (Prometheus:
    /// 128 MiB).
    pub wal_segment_bytes: u64,
    pub wal_fsync: FsyncPolicy,
    /// Truncate the WAL at corruption in the middle instead of failing to
    /// open (the records after it are lost, and logged).
    pub wal_repair: bool,
    /// Lock stripes of the series maps (a power of two). 1024 stripes keep
    /// two appenders on the same stripe rare up to hundreds of threads,
    /// at ~40 KiB of memory.
    pub stripes: usize,
    /// Do not take the lock file `<dir>/lock` (Prometheus'
    /// `--storage.tsdb.no-lockfile`). The lock stops a second process, or a
    /// second `Db` in this one, from writing the same WAL.
    pub no_lockfile: bool,
    /// Run cutting, compaction and retention on a background thread.
    pub background: bool,
    /// How often the background thread looks for work.
    pub background_interval: Duration,
    /// Capacity of the exemplar store (Prometheus'
    /// `storage.exemplars.max_exemplars`); 0 or less disables it.
    pub max_exemplars: i64,
    /// Cancels [`crate::Db::open`] from another thread (see [`CancelOpen`]).
    pub cancel: CancelOpen,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            block_range_ms: 2 * HOUR_MS,
            out_of_order_window_ms: HOUR_MS,
            retention_ms: 15 * DAY_MS,
            retention_bytes: 0,
            wal_segment_bytes: 128 << 20,
            wal_fsync: FsyncPolicy::Always,
            wal_repair: false,
            stripes: 1024,
            no_lockfile: false,
            background: true,
            background_interval: Duration::from_secs(60),
            // Prometheus' default once exemplar storage is enabled; memory
            // grows with use, ~100 bytes per exemplar.
            max_exemplars: 100_000,
            cancel: CancelOpen::default(),
        }
    }
}

impl DbOptions {
    /// The largest block compaction produces: 10% of retention, at most 31
    /// days (Prometheus' rule), and never less than one block range.
    pub fn max_block_range_ms(&self) -> i64 {
        let ten_pct = if self.retention_ms > 0 {
            self.retention_ms / 10
        } else {
            31 * DAY_MS
        };
        ten_pct.min(31 * DAY_MS).max(self.block_range_ms)
    }

    pub fn validate(&self) -> Result<(), TsdbError> {
        let bad = |name, reason: String| Err(TsdbError::InvalidOption { name, reason });
        if self.block_range_ms <= 0 {
            return bad(
                "block_range_ms",
                format!("{} must be > 0", self.block_range_ms),
            );
        }
        if self.out_of_order_window_ms < 0 {
            return bad(
                "out_of_order_window_ms",
                format!("{} must be >= 0", self.out_of_order_window_ms),
            );
        }
        if self.out_of_order_window_ms > self.block_range_ms {
            return bad(
                "out_of_order_window_ms",
                format!(
                    "{} must not exceed block_range_ms {}",
                    self.out_of_order_window_ms, self.block_range_ms
                ),
            );
        }
        if self.stripes == 0 || !self.stripes.is_power_of_two() {
            return bad(
                "stripes",
                format!("{} must be a power of two", self.stripes),
            );
        }
        if self.wal_segment_bytes < 4096 {
            return bad(
                "wal_segment_bytes",
                format!("{} must be at least 4096", self.wal_segment_bytes),
            );
        }
        Ok(())
    }
}
