//! The database: a head with its WAL, and the blocks on disk, behind the
//! `Appendable` and `Queryable` traits.
//!
//! Directory layout: `<dir>/wal/` (segments and checkpoints),
//! `<dir>/<block id>/` per block. See `docs/storage.md`.
//!
//! Thread safety: `Db` is shared through `Arc`. Appends take no database-wide
//! lock on the hot path; a commit is written to the WAL and applied to the
//! head by the WAL writer thread (see [`crate::wal`]).
//! Maintenance (cutting blocks, compaction, retention, deletion) runs one at
//! a time under `maintenance`, on the background thread or when called.
//!
//! Faults: a failed WAL write, or a block or checkpoint write that finds
//! the disk full, puts the database in read-only mode (see
//! [`crate::write_state`]); queries are not affected.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use sonde_model::{
    Appendable, Appender, ExemplarQueryable, ExemplarSeries, Matcher, Querier, Queryable,
    StorageError, Timestamp,
};

use crate::block::Block;
use crate::error::TsdbError;
use crate::exemplars::ExemplarStore;
use crate::head::Head;
use crate::head_append::HeadAppender;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::options::{DbOptions, FsyncPolicy};
use crate::querier::{DbQuerier, Source};
use crate::replay::{lock_dir, open_blocks, remove_incomplete_blocks, DirLock, Replay};
use crate::wal::Wal;

/// Called on the WAL writer once records are written (see
/// [`DbInner::submit_wal`]).
pub(crate) type Written = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
use crate::write_state::{Gate, WriteState};

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
    /// Exemplars of all series (a bounded ring, `DbOptions::max_exemplars`).
    pub(crate) exemplars: ExemplarStore,
    pub(crate) blocks: RwLock<Vec<Arc<Block>>>,
    /// Newest `max_time` of the blocks, cached so that appends do not touch
    /// the blocks lock; updated by [`DbInner::refresh_block_maxt`].
    block_maxt: AtomicI64,
    pub(crate) closed: AtomicBool,
    pub(crate) metrics: Metrics,
    /// Read-only mode after write failures.
    pub(crate) writes: Arc<WriteState>,
    /// Set by a commit that finds the head due for a cut; wakes the
    /// maintenance thread through `kick_cv` (as Prometheus' appender wakes
    /// its compactor), so a cut does not wait for the next interval.
    kick: AtomicBool,
    kick_cv: Condvar,
    pub(crate) maintenance: Mutex<()>,
    progress: Mutex<Progress>,
    progress_cv: Condvar,
    stop: Mutex<bool>,
    stop_cv: Condvar,
    /// Holds the `flock` on `<dir>/lock` until [`Db::close`] (or drop), so
    /// that the directory can be opened again once this database is closed,
    /// even while stray handles to it live on.
    lock: Mutex<Option<DirLock>>,
}

/// Undoes what a cancelled open did before its replay: takes the lock
/// (see [`DirLock::undo`]) and, when it created `dir`, removes it (empty
/// again: nothing was written in it).
fn undo_open(dir: &Path, created: bool, lock: Option<DirLock>) {
    if let Some(lock) = lock {
        lock.undo();
    }
    if created {
        let _ = fs::remove_dir(dir);
    }
}

/// What an open loads before the database can start: the blocks, and the
/// head with the WAL replayed into it.
struct Loaded {
    blocks: Vec<Block>,
    head: Arc<Head>,
    exemplars: ExemplarStore,
    wal: Wal,
}

impl Loaded {
    /// Loads the blocks and replays the WAL, writing nothing to `dir` until
    /// the replay is done, so that a cancel leaves it as it was.
    fn replay(dir: &Path, opts: &DbOptions) -> Result<Loaded, TsdbError> {
        let blocks = open_blocks(dir, &opts.cancel)?;
        let head = Arc::new(Head::new(opts.stripes));
        let started = Instant::now();
        let exemplars = ExemplarStore::new(opts.max_exemplars);
        let mut replay = Replay::new(&head, &exemplars, opts.block_range_ms);
        let wal = Wal::open_cancellable(
            &dir.join("wal"),
            opts.wal_segment_bytes,
            opts.wal_fsync,
            opts.wal_repair,
            &opts.cancel,
            &mut |rec| replay.apply(rec),
        )?;
        tracing::info!(
            series = head.num_series(),
            samples = replay.samples(),
            exemplars = replay.exemplars_added,
            unknown_refs = replay.unknown,
            blocks = blocks.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "storage opened"
        );
        Ok(Loaded {
            blocks,
            head,
            exemplars,
            wal,
        })
    }
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
    /// `opts.cancel` stops it with [`TsdbError::Cancelled`] and the
    /// directory as it was (see [`crate::CancelOpen`]).
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Arc<Db>, TsdbError> {
        opts.validate()?;
        opts.cancel.check(dir, || "before it started".into())?;
        let created = !dir.exists();
        fs::create_dir_all(dir).map_err(|e| TsdbError::io("create data directory", dir, e))?;
        let lock = if opts.no_lockfile {
            None
        } else {
            Some(lock_dir(dir)?)
        };
        let Loaded {
            blocks,
            head,
            exemplars,
            wal,
        } = match Loaded::replay(dir, &opts) {
            Ok(loaded) => loaded,
            Err(e) => {
                if let TsdbError::Cancelled { at, .. } = &e {
                    tracing::info!(dir = %dir.display(), at, "storage open cancelled; nothing on disk was changed");
                    undo_open(dir, created, lock);
                }
                return Err(e);
            }
        };
        // Only now that the open can no longer be cancelled.
        remove_incomplete_blocks(dir)?;
        let inner = Arc::new(DbInner {
            dir: dir.to_path_buf(),
            opts,
            head,
            wal,
            exemplars,
            blocks: RwLock::new(blocks.into_iter().map(Arc::new).collect()),
            block_maxt: AtomicI64::new(i64::MIN),
            closed: AtomicBool::new(false),
            metrics: Metrics::default(),
            writes: Arc::default(),
            kick: AtomicBool::new(false),
            kick_cv: Condvar::new(),
            maintenance: Mutex::new(()),
            progress: Mutex::new(Progress::default()),
            progress_cv: Condvar::new(),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            lock: Mutex::new(lock),
        });
        inner.refresh_block_maxt();
        let db = Arc::new(Db {
            inner: inner.clone(),
            threads: Mutex::new(Vec::new()),
        });
        if inner.opts.background {
            let i = inner.clone();
            let t = spawn_named("sonde-maintain", dir, move || {
                i.background_loop(i.opts.background_interval, &i.kick_cv, Some(&i.kick), |i| {
                    if let Err(e) = i.maintain_noting_faults() {
                        tracing::error!(error = %e, "storage maintenance failed");
                    }
                })
            })?;
            db.threads.lock().push(t);
        }
        if let FsyncPolicy::Interval(every) = inner.opts.wal_fsync {
            let i = inner.clone();
            let t = spawn_named("sonde-wal-sync", dir, move || {
                i.background_loop(every, &i.stop_cv, None, |i| {
                    if let Err(e) = i.wal.sync() {
                        tracing::error!(error = %e, "WAL fsync failed");
                        i.note_fault(&e);
                    }
                })
            })?;
            db.threads.lock().push(t);
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
        self.inner.kick_cv.notify_all();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
        let _m = self.inner.maintenance.lock();
        let closed = self.inner.wal.close();
        self.inner.lock.lock().take();
        closed
    }

    /// Runs one round of maintenance now: cuts due blocks from the head,
    /// compacts, applies retention. What the background thread does.
    pub fn compact(&self) -> Result<(), TsdbError> {
        self.inner.maintain_noting_faults()
    }

    /// Persists every head sample older than `before` into a block now,
    /// whether or not the head is due (tests, shutdown tools, snapshots).
    pub fn cut_block(&self, before: Timestamp) -> Result<(), TsdbError> {
        let _m = self.inner.maintenance.lock();
        let res = self.inner.cut_head(before);
        if let Err(e) = &res {
            self.inner.note_fault(e);
        }
        res
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

    /// Why the database refuses writes, when it is in read-only mode (the
    /// file and the cause of the failed write); `None` when writable.
    pub fn read_only_reason(&self) -> Option<String> {
        self.inner.writes.reason()
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

    /// Resizes the exemplar store (configuration reload), keeping the
    /// newest exemplars that fit; 0 or less disables it. Returns how many
    /// were kept.
    pub fn set_max_exemplars(&self, max: i64) -> usize {
        let kept = self.inner.exemplars.resize(max);
        tracing::info!(max_exemplars = max, kept, "exemplar storage resized");
        kept
    }
}

impl ExemplarQueryable for Db {
    fn select_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<ExemplarSeries>, StorageError> {
        Ok(self.inner.exemplars.select(start, end, matcher_sets))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        *self.inner.stop.lock() = true;
        self.inner.stop_cv.notify_all();
        self.inner.kick_cv.notify_all();
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
    /// Runs `work` every `every`, and at once when `kicked` was set (the
    /// setter holds `stop`'s mutex while it notifies `cv`, so a kick is
    /// never lost between the check and the wait).
    fn background_loop(
        self: &Arc<Self>,
        every: Duration,
        cv: &Condvar,
        kicked: Option<&AtomicBool>,
        work: impl Fn(&Arc<Self>),
    ) {
        let mut stop = self.stop.lock();
        loop {
            if !kicked.is_some_and(|k| k.swap(false, Ordering::AcqRel)) {
                let _ = cv.wait_for(&mut stop, every);
            }
            if *stop {
                return;
            }
            drop(stop);
            work(self);
            stop = self.stop.lock();
        }
    }

    /// Writes a commit's records to the WAL through read-only mode's gate:
    /// refused while read-only (but for the periodic probe, which first
    /// checks that the disk has room again), and a failed write makes the
    /// database read-only. Nothing of a refused or failed
    /// batch is in the WAL. Wakes maintenance when the head is due a cut.
    /// Queues records for the WAL writer, which calls `on_written` once
    /// they are written (and fsynced, per the policy): the place to apply
    /// them to the head (see [`crate::wal`]). A refusal (read-only mode) is
    /// reported at once; a failed write puts the database in read-only mode.
    /// `pending` is the commit's count for group commit
    /// ([`crate::wal::Wal::pending`]), if it took one.
    pub(crate) fn submit_wal(
        &self,
        records: &[u8],
        on_written: Written,
        pending: Option<crate::wal::Pending>,
    ) {
        let gate = self.writes.gate();
        if let Gate::Refused(e) = gate {
            return on_written(Err(e));
        }
        if gate == Gate::Probe {
            if let Err(e) = self.wal.probe() {
                let reason = e.to_string();
                self.writes.probe_done(Some(reason.clone()));
                return on_written(Err(StorageError::ReadOnly(reason)));
            }
        }
        if self.opts.background && self.head_due() && !self.kick.swap(true, Ordering::AcqRel) {
            let _stop = self.stop.lock();
            self.kick_cv.notify_all();
        }
        let writes = self.writes.clone();
        let probing = gate == Gate::Probe;
        self.wal.submit(
            records,
            Box::new(move |res| {
                let failure = res.as_ref().err().map(|e| e.to_string());
                if probing {
                    writes.probe_done(failure.clone());
                } else if let Some(f) = &failure {
                    writes.enter(f.clone());
                }
                on_written(match failure {
                    None => Ok(()),
                    Some(f) => Err(StorageError::ReadOnly(f)),
                })
            }),
            pending,
        );
    }

    /// Whether the head spans enough time to cut a block from it.
    pub(crate) fn head_due(&self) -> bool {
        let (min, max) = (self.head.min_time(), self.head.max_time());
        min != i64::MAX && max.saturating_sub(min) >= self.opts.block_range_ms / 2 * 3
    }

    fn maintain_noting_faults(&self) -> Result<(), TsdbError> {
        let res = self.maintain();
        if let Err(e) = &res {
            self.note_fault(e);
        }
        res
    }

    /// A block, checkpoint or fsync that failed because the disk is full
    /// makes the database read-only: accepting more into the WAL would
    /// only fill the disk further while nothing can be persisted.
    pub(crate) fn note_fault(&self, e: &TsdbError) {
        if e.is_disk_full() {
            self.writes.enter(e.to_string());
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

    fn metrics_snapshot(&self) -> MetricsSnapshot {
        let m = &self.metrics;
        let w = self.wal.stats();
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
            exemplars: self.exemplars.stats(),
            read_only: self.writes.is_read_only(),
            read_only_entered_total: self.writes.entered.load(Ordering::Relaxed),
        }
    }
}

/// Starts a storage thread of `dir`'s database, named so that `top -H` and
/// profiles tell the threads apart.
fn spawn_named(
    name: &str,
    dir: &Path,
    work: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, TsdbError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map_err(|e| TsdbError::io("start the storage thread for", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_model::{Labels, SelectHints};
    use std::path::PathBuf;

    fn samples(db: &Db) -> Vec<i64> {
        let q = db.querier(0, i64::MAX).unwrap();
        let set = q
            .select(&SelectHints::default(), &[Matcher::equal("__name__", "up")])
            .unwrap();
        let mut out = Vec::new();
        for s in set {
            let s = s.unwrap();
            let mut it = s.samples();
            while let Some(x) = it.next() {
                out.push(x.t);
            }
        }
        out
    }

    #[test]
    fn failed_wal_write_makes_the_db_read_only_until_a_probe_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let opts = DbOptions {
            background: false,
            ..Default::default()
        };
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        let up = Labels::from_pairs(&[("__name__", "up")]);
        let commit = |t| {
            let mut a = db.appender();
            a.append(0, &up, t, 1.0).unwrap();
            a.commit()
        };
        commit(1000).unwrap();
        db.inner.wal.set_writable_for_test(false);
        let err = commit(2000).unwrap_err();
        let StorageError::ReadOnly(reason) = &err else {
            panic!("expected read-only, got {err}");
        };
        assert!(reason.contains("cannot write WAL segment"), "{reason}");
        assert!(reason.contains("00000001"), "{reason}");
        assert_eq!(db.read_only_reason().as_deref(), Some(reason.as_str()));
        assert!(db.metrics().read_only);
        // Refused at once during the back-off; reads are not affected.
        assert!(matches!(commit(3000), Err(StorageError::ReadOnly(_))));
        assert_eq!(samples(&db), vec![1000]);

        db.inner.wal.set_writable_for_test(true);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match commit(4000) {
                Ok(()) => break,
                Err(StorageError::ReadOnly(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("the probe never succeeded: {e}"),
            }
        }
        assert_eq!(db.read_only_reason(), None);
        let m = db.metrics();
        assert!(!m.read_only);
        assert_eq!(m.read_only_entered_total, 1);
        db.close().unwrap();
        drop(db);
        let db = Db::open(dir.path(), opts).unwrap();
        assert_eq!(samples(&db), vec![1000, 4000]);
    }

    /// The committer gets a written batch back to apply: it is visible once
    /// applied, and a segment cut waits for that apply.
    #[test]
    fn a_written_batch_is_visible_once_applied_and_a_cut_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let opts = DbOptions {
            background: false,
            wal_fsync: FsyncPolicy::Always,
            ..Default::default()
        };
        let db = Db::open(dir.path(), opts).unwrap();
        let up = Labels::from_pairs(&[("__name__", "up")]);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut a = db.appender();
        a.append(0, &up, 1000, 1.0).unwrap();
        a.commit_then(Box::new(move |res| {
            let _ = tx.send(res);
        }));
        let apply = rx.recv().unwrap().unwrap();
        assert_eq!(samples(&db), Vec::<i64>::new());
        let cut = {
            let db = db.clone();
            std::thread::spawn(move || {
                db.inner.wal.cut_segment().unwrap();
                samples(&db)
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        apply.run();
        assert_eq!(samples(&db), vec![1000]);
        assert_eq!(cut.join().unwrap(), vec![1000]);
        db.close().unwrap();
    }

    /// Segment cuts for checkpoints race with commits from several threads:
    /// whichever side of a cut a batch lands on, it is in the checkpoint or
    /// in a later segment, so a reopen finds every sample.
    #[test]
    fn commits_racing_checkpoints_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let opts = DbOptions {
            background: false,
            ..Default::default()
        };
        let db = Db::open(dir.path(), opts.clone()).unwrap();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let db = db.clone();
                std::thread::spawn(move || {
                    let labels = Labels::from_pairs(&[("__name__", "up"), ("w", &w.to_string())]);
                    for t in 1..=300i64 {
                        let mut a = db.appender();
                        a.append(0, &labels, t * 1000, t as f64).unwrap();
                        a.commit().unwrap();
                    }
                })
            })
            .collect();
        let mut checkpoints = 0;
        while !writers.iter().all(|w| w.is_finished()) {
            db.inner.checkpoint().unwrap();
            checkpoints += 1;
        }
        for w in writers {
            w.join().unwrap();
        }
        assert!(checkpoints > 0);
        db.close().unwrap();
        drop(db);
        let db = Db::open(dir.path(), opts).unwrap();
        let all = samples(&db);
        assert_eq!(all.len(), 4 * 300, "checkpoints cut: {checkpoints}");
    }

    /// Every file under `dir` (relative path, contents; `None` for a
    /// directory), to compare a directory before and after an open.
    fn files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Option<Vec<u8>>> {
        let mut out = std::collections::BTreeMap::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                if path.is_dir() {
                    todo.push(path);
                    out.insert(rel, None);
                } else {
                    out.insert(rel, Some(fs::read(&path).unwrap()));
                }
            }
        }
        out
    }

    /// A database as a crash leaves it: a block, a checkpoint, several WAL
    /// segments after it (the last with its preallocated zeros, which an
    /// open truncates), an incomplete block (which an open removes), and no
    /// lock file (which an open creates). Returns the sample count.
    fn crashed_db(dir: &Path, opts: &DbOptions) -> usize {
        let db = Db::open(dir, opts.clone()).unwrap();
        let up = Labels::from_pairs(&[("__name__", "up")]);
        let write = |ts: std::ops::Range<i64>| {
            for t in ts {
                let mut a = db.appender();
                a.append(0, &up, t * 1000, t as f64).unwrap();
                a.commit().unwrap();
            }
        };
        write(1..100);
        db.cut_block(100_000).unwrap();
        write(100..200);
        db.inner.checkpoint().unwrap();
        write(200..600);
        drop(db);
        fs::create_dir(dir.join("01HINCOMPLETE.tmp")).unwrap();
        fs::remove_file(dir.join("lock")).unwrap();
        let (checkpoint, segments) = crate::wal::list(&dir.join("wal")).unwrap();
        assert!(checkpoint.is_some() && segments.len() >= 3, "{segments:?}");
        assert_eq!(fs::read_dir(dir).unwrap().count(), 3, "wal, block, tmp");
        599
    }

    fn small_wal() -> DbOptions {
        DbOptions {
            background: false,
            wal_fsync: FsyncPolicy::Never,
            wal_segment_bytes: 4096,
            ..Default::default()
        }
    }

    #[test]
    fn open_cancelled_before_it_starts_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let opts = small_wal();
        let total = crashed_db(dir.path(), &opts);
        let before = files(dir.path());
        let cancelled = DbOptions {
            cancel: crate::CancelOpen::default(),
            ..opts.clone()
        };
        cancelled.cancel.cancel();
        let err = Db::open(dir.path(), cancelled).err().unwrap();
        assert!(matches!(err, TsdbError::Cancelled { .. }), "{err}");
        assert!(err.to_string().contains("before it started"), "{err}");
        assert_eq!(files(dir.path()), before);

        let db = Db::open(dir.path(), opts).unwrap();
        assert_eq!(samples(&db).len(), total);
        assert!(dir.path().join("lock").exists());
        assert!(!dir.path().join("01HINCOMPLETE.tmp").exists());
    }

    /// Cancelled while the replay is between two segments: the second
    /// segment is a named pipe, so the replay is known to have finished the
    /// first when the pipe is opened for writing, and reads the second
    /// only once the flag is set (as a slow disk would deliver it).
    #[test]
    fn open_cancelled_during_the_replay_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let opts = small_wal();
        let total = crashed_db(dir.path(), &opts);
        let before = files(dir.path());
        let wal = dir.path().join("wal");
        let (_, segments) = crate::wal::list(&wal).unwrap();
        let second = wal.join(crate::wal::segment_name(segments[1]));
        let bytes = fs::read(&second).unwrap();
        fs::remove_file(&second).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&second).status();
        assert!(made.unwrap().success(), "mkfifo {}", second.display());

        let cancelled = DbOptions {
            cancel: crate::CancelOpen::default(),
            ..opts.clone()
        };
        let cancel = cancelled.cancel.clone();
        let open = {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || Db::open(&dir, cancelled).err())
        };
        let mut pipe = fs::OpenOptions::new().write(true).open(&second).unwrap();
        cancel.cancel();
        std::io::Write::write_all(&mut pipe, &bytes).unwrap();
        drop(pipe);
        let err = open.join().unwrap().expect("the open was cancelled");
        let at = format!(
            "while replaying WAL segment {}",
            crate::wal::segment_name(segments[1])
        );
        assert!(err.to_string().contains(&at), "{err}");

        fs::remove_file(&second).unwrap();
        fs::write(&second, &bytes).unwrap();
        assert_eq!(files(dir.path()), before);
        let db = Db::open(dir.path(), opts).unwrap();
        assert_eq!(samples(&db).len(), total);
    }

    /// No record is applied once the flag is set, even in the middle of a
    /// segment, and the segment's zero tail is not truncated.
    #[test]
    fn wal_open_applies_no_record_after_the_cancel() {
        let dir = tempfile::tempdir().unwrap();
        let opts = small_wal();
        crashed_db(dir.path(), &opts);
        let wal = dir.path().join("wal");
        let before = files(&wal);
        let cancel = crate::CancelOpen::default();
        let mut applied = 0;
        let res =
            Wal::open_cancellable(&wal, 4096, FsyncPolicy::Never, false, &cancel, &mut |_| {
                applied += 1;
                cancel.cancel();
            });
        let err = res.err().unwrap();
        assert!(
            err.to_string().contains("while replaying checkpoint."),
            "{err}"
        );
        assert_eq!(applied, 1);
        assert_eq!(files(&wal), before);
    }
}
