//! The database: a head with its WAL, and the blocks on disk, behind the
//! `Appendable` and `Queryable` traits.
//!
//! Directory layout: `<dir>/wal/` (segments and checkpoints),
//! `<dir>/<block id>/` per block. See `docs/storage.md`.
//!
//! Thread safety: `Db` is shared through `Arc`. Appends take no database-wide
//! lock on the hot path (only the shared side of `apply_lock` at commit).
//! Maintenance (cutting blocks, compaction, retention, deletion) runs one at
//! a time under `maintenance`, on the background thread or when called.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use sonde_model::{Appendable, Appender, Matcher, Querier, Queryable, StorageError, Timestamp};

use crate::block::Block;
use crate::error::TsdbError;
use crate::head::Head;
use crate::head_append::HeadAppender;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::options::{DbOptions, FsyncPolicy};
use crate::querier::{DbQuerier, Source};
use crate::series::MemSeries;
use crate::wal::{append_frame, Wal};
use crate::wal_record::{self, Record};

/// Counts of finished background work, for tests and tools to wait on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub maintenance_runs: u64,
    pub blocks_cut: u64,
    pub compactions: u64,
    pub retention_deletions: u64,
}

pub(crate) struct DbInner {
    pub(crate) dir: PathBuf,
    pub(crate) opts: DbOptions,
    pub(crate) head: Arc<Head>,
    pub(crate) wal: Wal,
    pub(crate) apply_lock: RwLock<()>,
    pub(crate) blocks: RwLock<Vec<Arc<Block>>>,
    /// Newest `max_time` of the blocks, cached so that appends do not touch
    /// the blocks lock; updated by [`DbInner::refresh_block_maxt`].
    block_maxt: AtomicI64,
    pub(crate) closed: AtomicBool,
    pub(crate) metrics: Metrics,
    pub(crate) maintenance: Mutex<()>,
    progress: Mutex<Progress>,
    progress_cv: Condvar,
    stop: Mutex<bool>,
    stop_cv: Condvar,
    /// Holds the `flock` on `<dir>/lock` for the life of the database.
    _lock: Option<fs::File>,
}

/// The storage engine. Open with [`Db::open`]; it implements
/// [`Appendable`] and [`Queryable`].
pub struct Db {
    inner: Arc<DbInner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Db {
    /// Opens (or creates) the database in `dir`: loads blocks, replays the
    /// WAL into the head, and starts background maintenance if enabled.
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Arc<Db>, TsdbError> {
        opts.validate()?;
        fs::create_dir_all(dir).map_err(|e| TsdbError::io("create data directory", dir, e))?;
        let lock = if opts.no_lockfile {
            None
        } else {
            Some(lock_dir(dir)?)
        };
        let blocks = load_blocks(dir)?;
        let head = Arc::new(Head::new(opts.stripes));
        let started = Instant::now();
        let mut replay = Replay::new(&head, opts.block_range_ms);
        let wal = Wal::open(
            &dir.join("wal"),
            opts.wal_segment_bytes,
            opts.wal_fsync,
            opts.wal_repair,
            &mut |rec| replay.apply(rec),
        )?;
        tracing::info!(
            series = head.num_series(),
            samples = replay.samples,
            unknown_refs = replay.unknown,
            blocks = blocks.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "storage opened"
        );
        let inner = Arc::new(DbInner {
            dir: dir.to_path_buf(),
            opts,
            head,
            wal,
            apply_lock: RwLock::new(()),
            blocks: RwLock::new(blocks.into_iter().map(Arc::new).collect()),
            block_maxt: AtomicI64::new(i64::MIN),
            closed: AtomicBool::new(false),
            metrics: Metrics::default(),
            maintenance: Mutex::new(()),
            progress: Mutex::new(Progress::default()),
            progress_cv: Condvar::new(),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            _lock: lock,
        });
        inner.refresh_block_maxt();
        let db = Arc::new(Db {
            inner: inner.clone(),
            threads: Mutex::new(Vec::new()),
        });
        if inner.opts.background {
            let i = inner.clone();
            db.threads.lock().push(std::thread::spawn(move || {
                i.background_loop(i.opts.background_interval, |i| {
                    if let Err(e) = i.maintain() {
                        tracing::error!(error = %e, "storage maintenance failed");
                    }
                })
            }));
        }
        if let FsyncPolicy::Interval(every) = inner.opts.wal_fsync {
            let i = inner.clone();
            db.threads.lock().push(std::thread::spawn(move || {
                i.background_loop(every, |i| {
                    if let Err(e) = i.wal.sync() {
                        tracing::error!(error = %e, "WAL fsync failed");
                    }
                })
            }));
        }
        Ok(db)
    }

    /// Stops background work and fsyncs the WAL. Appends after this fail.
    pub fn close(&self) -> Result<(), TsdbError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        *self.inner.stop.lock() = true;
        self.inner.stop_cv.notify_all();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
        let _m = self.inner.maintenance.lock();
        self.inner.wal.close()
    }

    /// Runs one round of maintenance now: cuts due blocks from the head,
    /// compacts, applies retention. What the background thread does.
    pub fn compact(&self) -> Result<(), TsdbError> {
        self.inner.maintain()
    }

    /// Persists every head sample older than `before` into a block now,
    /// whether or not the head is due (tests, shutdown tools, snapshots).
    pub fn cut_block(&self, before: Timestamp) -> Result<(), TsdbError> {
        let _m = self.inner.maintenance.lock();
        self.inner.cut_head(before)
    }

    /// Waits until `pred` holds for the progress counters, or `timeout`.
    /// Returns whether it held.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Progress) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut p = self.inner.progress.lock();
        while !pred(&p) {
            if self
                .inner
                .progress_cv
                .wait_until(&mut p, deadline)
                .timed_out()
            {
                return pred(&p);
            }
        }
        true
    }

    pub fn progress(&self) -> Progress {
        *self.inner.progress.lock()
    }

    /// Deletes the samples in `[mint, maxt]` of the series matching
    /// `matchers` (tombstones; space is reclaimed by compaction or
    /// [`Db::clean_tombstones`]).
    pub fn delete_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<(), TsdbError> {
        let _m = self.inner.maintenance.lock();
        for b in self.inner.blocks.read().iter() {
            b.delete(mint, maxt, matchers)?;
        }
        self.inner.delete_in_head(matchers, mint, maxt)
    }

    /// Rewrites blocks that have tombstones without the deleted data.
    pub fn clean_tombstones(&self) -> Result<(), TsdbError> {
        let _m = self.inner.maintenance.lock();
        let dirty: Vec<Arc<Block>> = self
            .inner
            .blocks
            .read()
            .iter()
            .filter(|b| b.has_tombstones())
            .cloned()
            .collect();
        for b in dirty {
            let level = b.meta.compaction.level;
            self.inner.replace_blocks(&[b], level)?;
        }
        Ok(())
    }

    /// Writes a consistent copy of the database into `dir`: hard links of
    /// the blocks, and (with `with_head`) the head as one more block.
    pub fn snapshot(&self, dir: &Path, with_head: bool) -> Result<(), TsdbError> {
        let _m = self.inner.maintenance.lock();
        crate::compact::snapshot(&self.inner, dir, with_head)
    }

    /// The engine's counters now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics_snapshot()
    }

    /// Prometheus' `/api/v1/status/tsdb` statistics.
    pub fn stats(&self, limit: usize) -> crate::stats::TsdbStats {
        crate::stats::head_stats(&self.inner.head, limit)
    }

    pub fn blocks(&self) -> Vec<crate::block::BlockMeta> {
        self.inner
            .blocks
            .read()
            .iter()
            .map(|b| b.meta.clone())
            .collect()
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        *self.inner.stop.lock() = true;
        self.inner.stop_cv.notify_all();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(HeadAppender::new(self.inner.clone()))
    }
}

impl Queryable for Db {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        let blocks = self.inner.blocks.read().clone();
        let head: Arc<dyn Source> = self.inner.head.clone();
        Ok(Box::new(DbQuerier::new(head, blocks, mint, maxt)))
    }
}

impl DbInner {
    fn background_loop(self: &Arc<Self>, every: Duration, work: impl Fn(&Arc<Self>)) {
        let mut stop = self.stop.lock();
        loop {
            let _ = self.stop_cv.wait_for(&mut stop, every);
            if *stop {
                return;
            }
            drop(stop);
            work(self);
            stop = self.stop.lock();
        }
    }

    pub(crate) fn last_block_maxt(&self) -> i64 {
        self.block_maxt.load(Ordering::Acquire)
    }

    pub(crate) fn refresh_block_maxt(&self) {
        let m = self
            .blocks
            .read()
            .iter()
            .map(|b| b.meta.max_time)
            .max()
            .unwrap_or(i64::MIN);
        self.block_maxt.store(m, Ordering::Release);
    }

    pub(crate) fn bump(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut self.progress.lock());
        self.progress_cv.notify_all();
    }

    fn maintain(&self) -> Result<(), TsdbError> {
        let _m = self.maintenance.lock();
        let range = self.opts.block_range_ms;
        loop {
            let (min, max) = (self.head.min_time(), self.head.max_time());
            if min == i64::MAX || max.saturating_sub(min) < range / 2 * 3 {
                break;
            }
            let cut = (min.div_euclid(range) + 1) * range;
            self.cut_head(cut)?;
        }
        let res =
            crate::compact::compact_blocks(self).and_then(|_| crate::compact::retention(self));
        if res.is_err() {
            self.metrics
                .compaction_failures
                .fetch_add(1, Ordering::Relaxed);
        }
        self.bump(|p| p.maintenance_runs += 1);
        res
    }

    /// Moves head data older than `cut` into a new block, then checkpoints
    /// the WAL. Caller holds `maintenance`.
    pub(crate) fn cut_head(&self, cut: i64) -> Result<(), TsdbError> {
        let series = self.head.all_series();
        let mut data = Vec::new();
        for s in &series {
            let mut d = s.data.lock();
            let frozen = d.freeze(cut);
            let tombstones = d.tombstones().to_vec();
            drop(d);
            let chunks = crate::iter::apply_tombstones(frozen, &tombstones);
            if !chunks.is_empty() {
                data.push((s.labels.clone(), crate::compact::normalize(chunks)));
            }
        }
        data.sort_by(|a, b| a.0.cmp(&b.0));
        if !data.is_empty() {
            let dir = crate::block::write_block(&self.dir, &data, 1, Vec::new())?;
            let block = Block::open(&dir)?;
            tracing::info!(block = %block.meta.ulid, min_time = block.meta.min_time,
                max_time = block.meta.max_time, series = data.len(), "head cut into block");
            let mut blocks = self.blocks.write();
            blocks.push(Arc::new(block));
            blocks.sort_by_key(|b| b.meta.min_time);
            drop(blocks);
            self.refresh_block_maxt();
        }
        let mut min_t = i64::MAX;
        for s in &series {
            let mut d = s.data.lock();
            d.drop_frozen(cut);
            if let Some(t) = d.min_time() {
                min_t = min_t.min(t);
            }
        }
        self.head.set_min_time(min_t);
        let removed = self.head.gc();
        self.metrics
            .series_removed
            .fetch_add(removed as u64, Ordering::Relaxed);
        self.metrics.blocks_cut.fetch_add(1, Ordering::Relaxed);
        self.checkpoint()?;
        self.bump(|p| p.blocks_cut += 1);
        Ok(())
    }

    /// Rewrites the head's state into `checkpoint.N` and drops the segments
    /// before N. Commits hold `apply_lock` shared from WAL write to head
    /// apply, so once the segment is cut under the exclusive lock, all
    /// records of older segments are in the head and in the checkpoint.
    fn checkpoint(&self) -> Result<(), TsdbError> {
        let first = {
            let _g = self.apply_lock.write();
            self.wal.cut_segment()?
        };
        let mut cp = self.wal.checkpoint(first)?;
        let mut buf = Vec::with_capacity(1 << 16);
        for s in self.head.all_series() {
            let (chunks, tombstones) = {
                let d = s.data.lock();
                (d.chunks_in(i64::MIN, i64::MAX), d.tombstones().to_vec())
            };
            buf.clear();
            append_frame(&mut buf, wal_record::REC_SERIES, |dst| {
                wal_record::encode_series(dst, std::iter::once((s.id, &s.labels)));
            });
            for c in &chunks {
                append_frame(&mut buf, wal_record::REC_CHUNK, |dst| {
                    wal_record::encode_chunk(dst, s.id, c);
                });
            }
            if !tombstones.is_empty() {
                append_frame(&mut buf, wal_record::REC_TOMBSTONES, |dst| {
                    wal_record::encode_tombstones(
                        dst,
                        tombstones.iter().map(|(a, b)| (s.id, *a, *b)),
                    );
                });
            }
            cp.write(&buf)?;
            s.logged.store(true, Ordering::Release);
        }
        cp.finish()?;
        self.metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn delete_in_head(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<(), TsdbError> {
        let ids = self.head.select_ids(matchers);
        let series = self.head.series_sorted(&ids);
        if series.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        append_frame(&mut buf, wal_record::REC_SERIES, |dst| {
            wal_record::encode_series(dst, series.iter().map(|s| (s.id, &s.labels)));
        });
        append_frame(&mut buf, wal_record::REC_TOMBSTONES, |dst| {
            wal_record::encode_tombstones(dst, series.iter().map(|s| (s.id, mint, maxt)));
        });
        let _g = self.apply_lock.read();
        self.wal.write(&buf)?;
        for s in &series {
            s.data.lock().add_tombstone(mint, maxt);
        }
        Ok(())
    }

    /// Compacts `old` into one new block and swaps it in.
    pub(crate) fn replace_blocks(&self, old: &[Arc<Block>], level: u32) -> Result<(), TsdbError> {
        let dir = crate::compact::merge_blocks(&self.dir, old, level)?;
        let new = dir.map(|d| Block::open(&d)).transpose()?;
        {
            let mut blocks = self.blocks.write();
            blocks.retain(|b| !old.iter().any(|o| Arc::ptr_eq(o, b)));
            if let Some(n) = new {
                blocks.push(Arc::new(n));
            }
            blocks.sort_by_key(|b| b.meta.min_time);
        }
        self.refresh_block_maxt();
        for b in old {
            fs::remove_dir_all(&b.dir).map_err(|e| TsdbError::io("remove block", &b.dir, e))?;
        }
        Ok(())
    }

    fn metrics_snapshot(&self) -> MetricsSnapshot {
        let m = &self.metrics;
        let w = &self.wal.stats;
        let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let blocks = self.blocks.read();
        MetricsSnapshot {
            head_series: self.head.num_series(),
            head_chunks: self
                .head
                .all_series()
                .iter()
                .map(|s| s.data.lock().num_chunks() as u64)
                .sum(),
            samples_appended_total: ld(&m.samples_appended),
            out_of_order_refused_total: ld(&m.out_of_order_refused),
            out_of_bounds_refused_total: ld(&m.out_of_bounds_refused),
            too_old_refused_total: ld(&m.too_old_refused),
            duplicate_refused_total: ld(&m.duplicate_refused),
            dropped_at_commit_total: ld(&m.samples_dropped_at_commit),
            wal_fsync_seconds_sum: ld(&w.fsync_micros) as f64 / 1e6,
            wal_fsync_count: ld(&w.fsyncs),
            wal_bytes_written_total: ld(&w.bytes_written),
            wal_segment_current: ld(&w.segment),
            wal_corruptions_dropped_bytes: ld(&w.bytes_dropped_at_open),
            wal_checkpoints_total: ld(&m.checkpoints),
            blocks_loaded: blocks.len() as u64,
            blocks_cut_total: ld(&m.blocks_cut),
            compactions_total: ld(&m.compactions),
            compaction_failures_total: ld(&m.compaction_failures),
            retention_deleted_blocks_total: ld(&m.blocks_deleted_by_retention),
            head_series_removed_total: ld(&m.series_removed),
            blocks_bytes: blocks.iter().map(|b| b.size_bytes).sum(),
        }
    }
}

/// Takes an exclusive `flock` on `<dir>/lock`; it is released when the
/// file is closed, including by the death of the process.
fn lock_dir(dir: &Path) -> Result<fs::File, TsdbError> {
    let path = dir.join("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| TsdbError::io("create lock file", &path, e))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(TsdbError::io(
            "lock",
            &path,
            std::io::Error::other(
                "the data directory is in use by another Sonde process or database \
                 (or disable the lock file with no_lockfile)",
            ),
        )),
        Err(e) => Err(TsdbError::io("lock", &path, e.into())),
    }
}

/// Loads every complete block under `dir`, removing leftovers of
/// interrupted writes (`*.tmp`).
fn load_blocks(dir: &Path) -> Result<Vec<Block>, TsdbError> {
    let mut blocks = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| TsdbError::io("list", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| TsdbError::io("list", dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_dir() || name == "wal" {
            continue;
        }
        if name.ends_with(".tmp") {
            tracing::warn!(path = %path.display(), "removing incomplete block");
            fs::remove_dir_all(&path).map_err(|e| TsdbError::io("remove", &path, e))?;
            continue;
        }
        if path.join("meta.json").exists() {
            blocks.push(Block::open(&path)?);
        }
    }
    blocks.sort_by_key(|b| b.meta.min_time);
    Ok(blocks)
}

/// Applies WAL records to the head during open.
struct Replay<'a> {
    head: &'a Head,
    range: i64,
    /// WAL series id -> series (ids of one label set can differ across
    /// checkpoints when a series was collected and created again).
    refs: HashMap<u32, Arc<MemSeries>>,
    samples: u64,
    unknown: u64,
}

impl<'a> Replay<'a> {
    fn new(head: &'a Head, range: i64) -> Self {
        Replay {
            head,
            range,
            refs: HashMap::new(),
            samples: 0,
            unknown: 0,
        }
    }

    fn put(&mut self, id: u32, t: i64, v: f64) {
        let Some(s) = self.refs.get(&id) else {
            self.unknown += 1;
            return;
        };
        let mut d = s.data.lock();
        if let Ok(p) = d.placement(t, v, true) {
            d.insert(t, v, p, self.range);
            self.head.observe_time(t);
            self.samples += 1;
        }
    }

    fn apply(&mut self, rec: Record) {
        match rec {
            Record::Series(list) => {
                for (id, labels) in list {
                    let s = self.head.restore(id, labels);
                    s.logged.store(true, Ordering::Release);
                    self.refs.insert(id, s);
                }
            }
            Record::Samples(list) => {
                for (id, t, v) in list {
                    self.put(id, t, v);
                }
            }
            Record::Chunk(id, c) => {
                for (t, v) in c.iter() {
                    self.put(id, t, v);
                }
            }
            Record::Tombstones(list) => {
                for (id, a, b) in list {
                    match self.refs.get(&id) {
                        Some(s) => s.data.lock().add_tombstone(a, b),
                        None => self.unknown += 1,
                    }
                }
            }
        }
    }
}
