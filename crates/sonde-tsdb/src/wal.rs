//! The write-ahead log: numbered segment files of checksummed records, and
//! checkpoints that bound replay. Layout in `docs/storage.md` section "WAL".
//!
//! Invariants: a record never spans two segments; a segment is trimmed to
//! its records and fsynced before the next one is created, so only the last
//! segment can have a torn tail.
//!
//! The segment being written is zero-filled ahead of its records (by
//! [`PREALLOC_STEP`]): an fsync of writes into space that already exists
//! flushes only the data, while an fsync after a write that grows the file
//! must also write the inode and the block map (on ext4, two more waits for
//! the disk per fsync). Replay takes the zeros after the last record as the
//! segment's clean end.
//!
//! Under [`FsyncPolicy::Always`] writes go through one writer thread,
//! which is the leader of a permanent group commit. [`Wal::submit`] queues
//! a batch of framed records with a callback and returns at once; the
//! writer takes everything queued, writes it with one `write`, fsyncs it,
//! and then calls each batch's callback in submission order, while still
//! holding the segment. (Under the other policies there is no fsync to
//! share, and the committer writes and calls back itself.) Committers never
//! sleep through somebody else's fsync, and writes never overlap an fsync
//! of the same file (on ext4 such a write waits for the fsync's inode
//! write).
//!
//! The writer waits, before it takes the queue, for the commits that are
//! already appending ([`Wal::pending`]), at most [`GROUP_WAIT`]: with
//! several connections sending at once, their batches then share one
//! fsync instead of each paying for its own.
//!
//! A callback is where the database hands a written batch back to be
//! applied to the head, by its committer's thread so that applies run in
//! parallel. To keep "every record of the segments before a cut is
//! applied" true for checkpoints, a callback takes an [`ApplyHold`] while
//! the segment is held, the committer drops it once applied, and
//! [`Wal::cut_segment`] waits for every hold to be dropped.
//!
//! A failed write (disk full, I/O error) fails the callbacks of every batch
//! in it and cuts the segment back to where the write started, so the file
//! still ends at a record boundary and later writes can follow once the
//! cause is gone. If even that truncation fails, or an fsync fails (the
//! kernel may have dropped the pages: what is in the file can no longer be
//! trusted), the WAL refuses every write until it is opened again; replay
//! then keeps what reached the disk and truncates a torn tail.
//!
//! Thread safety: `Wal` is shared. `Shared::queue` guards the queued bytes
//! and callbacks; `Shared::file` the segment, held by the writer from a
//! write to the end of its callbacks, and by `cut_segment`/`sync`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::error::TsdbError;
use crate::options::{CancelOpen, FsyncPolicy};
use crate::wal_read::scan;
use crate::wal_record::Record;

/// kind (1) + payload length (4, LE) + crc32c of kind and payload (4, LE).
pub const FRAME_HEADER: usize = 9;

/// Appends one framed record whose payload `fill` writes.
pub fn append_frame(dst: &mut Vec<u8>, kind: u8, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = dst.len();
    dst.extend_from_slice(&[kind, 0, 0, 0, 0, 0, 0, 0, 0]);
    fill(dst);
    let len = (dst.len() - start - FRAME_HEADER) as u32;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&[kind]), &dst[start + FRAME_HEADER..]);
    dst[start + 1..start + 5].copy_from_slice(&len.to_le_bytes());
    dst[start + 5..start + 9].copy_from_slice(&crc.to_le_bytes());
}

/// How far ahead of its records the current segment is zero-filled, at most
/// (never past the segment size). One such step costs one larger fsync.
pub const PREALLOC_STEP: u64 = 4 << 20;

/// How long the writer waits at most for pending commits to join a group.
/// A pending commit is one that is appending now (a few hundred
/// microseconds for a remote-write request of 500 samples), so this only
/// bounds the wait for one that is slower than that.
pub const GROUP_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// Size of the probe written before leaving read-only mode: room for a few
/// large remote-write batches (Prometheus sends ~2,000 samples, ~30 KiB of
/// WAL, per request).
pub const PROBE_BYTES: usize = 1 << 20;
/// The probe's file name (not a segment name, so replay never reads it).
const PROBE_FILE: &str = "write-probe";

pub fn segment_name(i: u64) -> String {
    format!("{i:08}")
}

pub(crate) fn checkpoint_name(i: u64) -> String {
    format!("checkpoint.{i:08}")
}

/// Counters exported as `sonde_tsdb_wal_*`.
#[derive(Debug, Default)]
pub struct WalStats {
    pub fsyncs: AtomicU64,
    pub fsync_micros: AtomicU64,
    pub bytes_written: AtomicU64,
    pub records_dropped_at_open: AtomicU64,
    pub bytes_dropped_at_open: AtomicU64,
    pub segment: AtomicU64,
}

/// Called once a submitted batch is written (and fsynced, per the policy),
/// or with why it was not. It runs on the writer thread while the segment
/// is held: it must be quick and must not use the `Wal`.
pub type OnWritten = Box<dyn FnOnce(Result<(), TsdbError>) + Send>;

/// What the submitters and the writer share.
struct Shared {
    dir: PathBuf,
    segment_bytes: u64,
    fsync: FsyncPolicy,
    /// [`GROUP_WAIT`], in microseconds; longer in tests, which must not
    /// depend on timing.
    group_wait_micros: AtomicU64,
    file: Mutex<SegmentFile>,
    queue: Mutex<Queue>,
    /// Wakes the writer: a batch arrived, or the WAL is closing.
    queued: Condvar,
    /// Written batches not yet applied (see [`ApplyHold`]).
    holds: Mutex<usize>,
    /// Signalled when `holds` drops to zero.
    released: Condvar,
    stats: WalStats,
}

/// A commit on its way to the WAL: counted from its appender's creation
/// until it is submitted or dropped, so that the writer can wait for it to
/// join the group that is forming. Take it only where the commit follows
/// promptly.
pub struct Pending {
    shared: Arc<Shared>,
    /// Cleared when the count was taken back by [`Wal::submit`].
    counted: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.counted {
            let mut q = self.shared.queue.lock();
            q.pending -= 1;
            if q.pending == 0 && q.writer_waiting {
                self.shared.queued.notify_one();
            }
        }
    }
}

/// A written batch not yet applied: [`Wal::cut_segment`] waits until it is
/// dropped.
pub struct ApplyHold(Arc<Shared>);

impl Drop for ApplyHold {
    fn drop(&mut self) {
        let mut n = self.0.holds.lock();
        *n -= 1;
        if *n == 0 {
            self.0.released.notify_all();
        }
    }
}

#[derive(Default)]
struct Queue {
    /// Framed records of the queued batches, in submission order.
    bytes: Vec<u8>,
    callbacks: Vec<OnWritten>,
    /// Commits counted by [`Wal::pending`], not yet submitted or dropped.
    pending: usize,
    /// Set while the writer waits for `pending` to reach zero.
    writer_waiting: bool,
    /// Set by [`Wal::close`]: the writer writes what is queued, then exits.
    stop: bool,
}

/// A failed write, kept so that each writer of the batch gets its own error
/// with the original OS error code (which decides read-only mode).
#[derive(Debug, Clone)]
struct Failure {
    op: &'static str,
    path: PathBuf,
    kind: std::io::ErrorKind,
    code: Option<i32>,
    message: String,
}

impl Failure {
    fn of(e: &TsdbError, dir: &Path) -> Failure {
        match e {
            TsdbError::Io { op, path, source } => Failure {
                op,
                path: path.clone(),
                kind: source.kind(),
                code: source.raw_os_error(),
                message: source.to_string(),
            },
            other => Failure {
                op: "write WAL in",
                path: dir.to_path_buf(),
                kind: std::io::ErrorKind::Other,
                code: None,
                message: other.to_string(),
            },
        }
    }

    fn to_error(&self) -> TsdbError {
        let source = match self.code {
            Some(c) => std::io::Error::from_raw_os_error(c),
            None => std::io::Error::new(self.kind, self.message.clone()),
        };
        TsdbError::io(self.op, &self.path, source)
    }
}

struct SegmentFile {
    dir: PathBuf,
    index: u64,
    file: File,
    /// End of the records; writes go here.
    size: u64,
    /// End of the file: `size..len` is zeros (preallocated space).
    len: u64,
    /// Set when zero-filling failed (disk full): the segment grows by its
    /// writes from then on.
    no_prealloc: bool,
    /// Set when a failed write could not be cut back: the segment may end
    /// in part of a record, so nothing may be appended after it.
    poisoned: Option<String>,
}

pub struct Wal {
    shared: Arc<Shared>,
    /// The writer thread; joined at close.
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Wal {
    /// Replays `dir` (checkpoint, then segments) into `on_record`, repairs a
    /// torn tail, and opens a fresh segment for writing.
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        fsync: FsyncPolicy,
        repair: bool,
        on_record: &mut dyn FnMut(Record),
    ) -> Result<Wal, TsdbError> {
        let never = CancelOpen::default();
        Self::open_cancellable(dir, segment_bytes, fsync, repair, &never, on_record)
    }

    /// [`Wal::open`], stopped by `cancel`: no record is applied once it is
    /// set, and it is checked after each file, before anything is written
    /// (the directory, a truncated tail, the next segment), so a cancelled
    /// open returns [`TsdbError::Cancelled`] with the WAL untouched.
    pub fn open_cancellable(
        dir: &Path,
        segment_bytes: u64,
        fsync: FsyncPolicy,
        repair: bool,
        cancel: &CancelOpen,
        on_record: &mut dyn FnMut(Record),
    ) -> Result<Wal, TsdbError> {
        let stats = WalStats::default();
        cancel.check(dir, || "before the WAL replay".into())?;
        let (checkpoint, segments) = if dir.exists() {
            list(dir)?
        } else {
            (None, Vec::new())
        };
        // Once cancelled, the file being read is left at the next record
        // (the check below each `scan` then returns before anything is
        // truncated).
        let on_record = &mut |rec| {
            if cancel.is_cancelled() {
                return ControlFlow::Break(());
            }
            on_record(rec);
            ControlFlow::Continue(())
        };
        if let Some(cp) = checkpoint {
            let path = dir.join(checkpoint_name(cp));
            tracing::info!(path = %path.display(), "replaying WAL checkpoint");
            let data = fs::read(&path).map_err(|e| TsdbError::io("read", &path, e))?;
            // A checkpoint is renamed into place only when complete, so any
            // damage is corruption, never a torn write.
            scan(&path, &data, false, false, &stats, on_record)?;
            cancel.check(dir, || format!("while replaying {}", checkpoint_name(cp)))?;
        }
        let live: Vec<u64> = segments
            .into_iter()
            .filter(|s| checkpoint.is_none_or(|c| *s >= c))
            .collect();
        let started = Instant::now();
        for (n, seg) in live.iter().enumerate() {
            let path = dir.join(segment_name(*seg));
            let data = fs::read(&path).map_err(|e| TsdbError::io("read", &path, e))?;
            let is_last = n + 1 == live.len();
            let good = scan(&path, &data, is_last, repair, &stats, on_record)?;
            cancel.check(dir, || {
                format!(
                    "while replaying WAL segment {} ({} of {})",
                    segment_name(*seg),
                    n + 1,
                    live.len()
                )
            })?;
            if good < data.len() {
                truncate(&path, good as u64)?;
                if !is_last {
                    // Repair: nothing after a corrupt record can be trusted.
                    for later in &live[n + 1..] {
                        let p = dir.join(segment_name(*later));
                        tracing::warn!(path = %p.display(), "repair: removing WAL segment after corruption");
                        fs::remove_file(&p).map_err(|e| TsdbError::io("remove", &p, e))?;
                    }
                    break;
                }
            }
            tracing::info!(
                segment = seg,
                done = n + 1,
                total = live.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "WAL segment replayed"
            );
        }
        // Reuse an empty last segment (one opened but never written) rather
        // than leaving a trail of empty files across restarts.
        let last_empty = live
            .last()
            .is_some_and(|s| fs::metadata(dir.join(segment_name(*s))).is_ok_and(|m| m.len() == 0));
        let next = match (live.last(), checkpoint) {
            (Some(s), _) if last_empty => *s,
            (Some(s), _) => s + 1,
            (None, Some(c)) => c,
            (None, None) => 1,
        };
        fs::create_dir_all(dir).map_err(|e| TsdbError::io("create WAL directory", dir, e))?;
        let file = SegmentFile::create(dir, next)?;
        stats.segment.store(next, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            segment_bytes,
            fsync,
            group_wait_micros: AtomicU64::new(GROUP_WAIT.as_micros() as u64),
            file: Mutex::new(file),
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            holds: Mutex::new(0),
            released: Condvar::new(),
            stats,
        });
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("sonde-wal".into())
                .spawn(move || shared.write_loop())
                .map_err(|e| TsdbError::io("start the WAL writer thread for", dir, e))?
        };
        Ok(Wal {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Counters of this WAL.
    pub fn stats(&self) -> &WalStats {
        &self.shared.stats
    }

    /// Queues framed records; the writer thread writes them (see the module
    /// comment) and then calls `done`. After [`Wal::close`] `done` is
    /// called at once with an error.
    ///
    /// `pending` is the commit's count from [`Wal::pending`], if it took
    /// one.
    pub fn submit(&self, records: &[u8], done: OnWritten, pending: Option<Pending>) {
        if self.shared.fsync != FsyncPolicy::Always {
            drop(pending);
            return self.write_here(records, done);
        }
        let mut q = self.shared.queue.lock();
        if let Some(mut p) = pending {
            p.counted = false;
            q.pending -= 1;
        }
        if q.stop {
            drop(q);
            return done(Err(TsdbError::Closed));
        }
        q.bytes.extend_from_slice(records);
        q.callbacks.push(done);
        if q.callbacks.len() == 1 || (q.writer_waiting && q.pending == 0) {
            self.shared.queued.notify_one();
        }
    }

    /// Without an fsync per commit there is nothing to group: the
    /// committer writes its batch itself, saving the writer thread's two
    /// wake-ups. The segment is held as the writer holds it (callback
    /// included), so the order of writes and applies is the same.
    fn write_here(&self, records: &[u8], done: OnWritten) {
        let mut f = self.shared.file.lock();
        // Checked with the segment held: `close` stops the queue first and
        // then takes the segment, so no write follows its final fsync.
        if self.shared.queue.lock().stop {
            drop(f);
            return done(Err(TsdbError::Closed));
        }
        let res = self.shared.write_batch(&mut f, records);
        if let Err(e) = &res {
            tracing::error!(error = %e, bytes = records.len(), "WAL write failed; the batch is refused");
        }
        done(res);
    }

    /// Counts a commit that is about to append and will be submitted soon
    /// (see [`Pending`]); `None` when commits are not grouped (no fsync per
    /// commit), so that nothing is counted for nothing.
    pub fn pending(&self) -> Option<Pending> {
        if self.shared.fsync != FsyncPolicy::Always {
            return None;
        }
        self.shared.queue.lock().pending += 1;
        Some(Pending {
            shared: self.shared.clone(),
            counted: true,
        })
    }

    /// Writes framed records and returns once they are written (and
    /// fsynced, per the policy): `submit`, waited for.
    #[cfg(test)]
    fn write(&self, records: &[u8]) -> Result<(), TsdbError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.submit(
            records,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
            None,
        );
        rx.recv().unwrap_or(Err(TsdbError::Closed))
    }

    /// Keeps [`Wal::cut_segment`] waiting until the returned hold is
    /// dropped. Take it in a [`Wal::submit`] callback, for a batch that is
    /// applied later.
    pub fn hold_for_apply(&self) -> ApplyHold {
        *self.shared.holds.lock() += 1;
        ApplyHold(self.shared.clone())
    }

    /// Starts a new segment and returns its number: every batch written
    /// after this call is in that segment or a later one, and every batch
    /// in an older one has had its callback run and its holds dropped.
    pub fn cut_segment(&self) -> Result<u64, TsdbError> {
        let mut f = self.shared.file.lock();
        let mut holds = self.shared.holds.lock();
        while *holds > 0 {
            self.shared.released.wait(&mut holds);
        }
        drop(holds);
        self.shared.roll(&mut f)?;
        Ok(f.index)
    }

    /// Fsyncs the current segment (the interval policy's background sync).
    pub fn sync(&self) -> Result<(), TsdbError> {
        let f = self.shared.file.lock();
        self.shared.fsync_file(&f)
    }

    /// Starts `checkpoint.<first>`, which will hold the state of everything
    /// before segment `first`. Nothing changes on disk until
    /// [`Checkpoint::finish`].
    pub fn checkpoint(&self, first: u64) -> Result<Checkpoint, TsdbError> {
        let path = self.shared.dir.join(checkpoint_name(first));
        let tmp = self
            .shared
            .dir
            .join(format!("{}.tmp", checkpoint_name(first)));
        let file = File::create(&tmp).map_err(|e| TsdbError::io("create", &tmp, e))?;
        Ok(Checkpoint {
            dir: self.shared.dir.clone(),
            first,
            path,
            tmp,
            out: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Whether the WAL's disk takes writes again, with room to spare:
    /// writes and fsyncs [`PROBE_BYTES`] beside the segments, then removes
    /// them. Read-only mode is left only when this succeeds, so a disk with
    /// a few bytes free does not flap between refusing and accepting.
    pub fn probe(&self) -> Result<(), TsdbError> {
        let path = self.shared.dir.join(PROBE_FILE);
        let res = File::create(&path).and_then(|mut f| {
            f.write_all(&vec![0u8; PROBE_BYTES])?;
            f.sync_all()
        });
        let _ = fs::remove_file(&path);
        res.map_err(|e| TsdbError::io("write the disk probe", &path, e))
    }

    /// Makes writes to the current segment fail (a read-only handle: EBADF)
    /// or work again, as a failing disk would, for tests of the layers above.
    #[cfg(test)]
    pub(crate) fn set_writable_for_test(&self, writable: bool) {
        let mut f = self.shared.file.lock();
        let path = f.path();
        let file = if writable {
            OpenOptions::new().write(true).open(path)
        } else {
            File::open(path)
        }
        .expect("BUG: reopening the WAL segment in a test");
        f.file = file;
    }

    /// Bytes of all WAL files (for size retention and stats).
    pub fn disk_bytes(&self) -> u64 {
        read_dir(&self.shared.dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| fs::metadata(self.shared.dir.join(n)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Writes what is queued, stops the writer, and trims and fsyncs the
    /// segment.
    pub fn close(&self) -> Result<(), TsdbError> {
        self.stop_writer();
        let mut f = self.shared.file.lock();
        f.trim()?;
        self.shared.fsync_file(&f)
    }

    fn stop_writer(&self) {
        self.shared.queue.lock().stop = true;
        self.shared.queued.notify_all();
        let Some(t) = self.writer.lock().take() else {
            return;
        };
        // The last handle on the database may be dropped by a callback on
        // the writer itself, which then cannot wait for its own end.
        if t.thread().id() != std::thread::current().id() {
            let _ = t.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.stop_writer();
    }
}

impl Shared {
    /// The writer: takes everything queued, writes it, calls back.
    fn write_loop(&self) {
        let mut batch = Vec::new();
        loop {
            let callbacks = {
                let mut q = self.queue.lock();
                while q.callbacks.is_empty() && !q.stop {
                    self.queued.wait(&mut q);
                }
                if q.callbacks.is_empty() {
                    return;
                }
                if q.pending > 0 && !q.stop {
                    let wait = self.group_wait_micros.load(Ordering::Relaxed);
                    let deadline = Instant::now() + std::time::Duration::from_micros(wait);
                    q.writer_waiting = true;
                    while q.pending > 0 && !q.stop {
                        if self.queued.wait_until(&mut q, deadline).timed_out() {
                            break;
                        }
                    }
                    q.writer_waiting = false;
                }
                std::mem::swap(&mut batch, &mut q.bytes);
                std::mem::take(&mut q.callbacks)
            };
            let mut f = self.file.lock();
            let res = self.write_batch(&mut f, &batch);
            if let Err(e) = &res {
                tracing::error!(error = %e, batches = callbacks.len(), bytes = batch.len(),
                    "WAL write failed; the batches are refused");
            }
            let failure = res.as_ref().err().map(|e| Failure::of(e, &self.dir));
            for done in callbacks {
                done(match &failure {
                    None => Ok(()),
                    Some(f) => Err(f.to_error()),
                });
            }
            drop(f);
            batch.clear();
        }
    }

    fn write_batch(&self, f: &mut SegmentFile, batch: &[u8]) -> Result<(), TsdbError> {
        if let Some(why) = &f.poisoned {
            return Err(TsdbError::io(
                "write WAL segment",
                &f.path(),
                std::io::Error::other(format!("{why}; restart Sonde to repair the segment")),
            ));
        }
        if f.size > 0 && f.size + batch.len() as u64 > self.segment_bytes {
            self.roll(f)?;
        }
        if f.size + batch.len() as u64 > f.len {
            f.prealloc(batch.len() as u64, self.segment_bytes);
        }
        if let Err(e) = f.file.write_all_at(batch, f.size) {
            self.cut_back(f);
            return Err(TsdbError::io("write WAL segment", &f.path(), e));
        }
        if self.fsync == FsyncPolicy::Always {
            if let Err(e) = self.fsync_file(f) {
                tracing::error!(path = %f.path().display(), error = %e,
                    "WAL fsync failed; refusing writes until restart");
                f.poisoned = Some(format!("an fsync of {} failed ({e})", f.path().display()));
                return Err(e);
            }
        }
        f.size += batch.len() as u64;
        f.len = f.len.max(f.size);
        self.stats
            .bytes_written
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn fsync_file(&self, f: &SegmentFile) -> Result<(), TsdbError> {
        let start = Instant::now();
        f.file
            .sync_data()
            .map_err(|e| TsdbError::io("fsync", &f.path(), e))?;
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.stats
            .fsync_micros
            .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn roll(&self, f: &mut SegmentFile) -> Result<(), TsdbError> {
        if let Some(why) = &f.poisoned {
            // A torn record may only end the last segment.
            return Err(TsdbError::io(
                "start a WAL segment after",
                &f.path(),
                std::io::Error::other(format!("that segment cannot be trusted: {why}")),
            ));
        }
        f.trim()?;
        self.fsync_file(f)?;
        *f = SegmentFile::create(&self.dir, f.index + 1)?;
        self.stats.segment.store(f.index, Ordering::Relaxed);
        Ok(())
    }

    /// Drops whatever part of a failed batch reached the file, so that the
    /// segment ends at a record boundary again.
    fn cut_back(&self, f: &mut SegmentFile) {
        let size = f.size;
        // A handle of its own: the writing handle may be what failed.
        let res = OpenOptions::new()
            .write(true)
            .open(f.path())
            .and_then(|h| h.set_len(size));
        f.len = size;
        if let Err(e) = res {
            let path = f.path();
            tracing::error!(path = %path.display(), error = %e,
                "cannot cut the WAL segment back after a failed write; refusing writes until restart");
            f.poisoned = Some(format!(
                "an earlier failed write could not be cut back (cannot truncate {}: {e})",
                path.display()
            ));
        }
    }
}

/// A checkpoint being written. Dropped unfinished (a write failed), its
/// temporary file is removed, so a full disk is not made fuller.
pub struct Checkpoint {
    dir: PathBuf,
    first: u64,
    path: PathBuf,
    tmp: PathBuf,
    /// `None` once finished.
    out: Option<std::io::BufWriter<File>>,
}

impl Checkpoint {
    pub fn write(&mut self, framed: &[u8]) -> Result<(), TsdbError> {
        let Some(out) = self.out.as_mut() else {
            return Err(TsdbError::io(
                "write",
                &self.tmp,
                std::io::Error::other("BUG: checkpoint written after finish"),
            ));
        };
        out.write_all(framed)
            .map_err(|e| TsdbError::io("write", &self.tmp, e))
    }

    /// Makes the checkpoint durable and visible, then deletes the segments
    /// and checkpoints it replaces.
    pub fn finish(mut self) -> Result<(), TsdbError> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let file = match out.into_inner() {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_file(&self.tmp);
                return Err(TsdbError::io("write", &self.tmp, e.into_error()));
            }
        };
        let done = file
            .sync_all()
            .map_err(|e| TsdbError::io("fsync", &self.tmp, e))
            .and_then(|()| {
                fs::rename(&self.tmp, &self.path)
                    .map_err(|e| TsdbError::io("rename into place", &self.path, e))
            });
        if let Err(e) = done {
            let _ = fs::remove_file(&self.tmp);
            return Err(e);
        }
        sync_dir(&self.dir)?;
        let (_, segments) = list(&self.dir)?;
        for s in segments.into_iter().filter(|s| *s < self.first) {
            let p = self.dir.join(segment_name(s));
            fs::remove_file(&p).map_err(|e| TsdbError::io("remove", &p, e))?;
        }
        for name in read_dir(&self.dir)? {
            let name = name.to_string_lossy().into_owned();
            let old = name
                .strip_prefix("checkpoint.")
                .and_then(|n| n.strip_suffix(".tmp").or(Some(n)))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n < self.first);
            if old {
                let p = self.dir.join(&name);
                fs::remove_file(&p).map_err(|e| TsdbError::io("remove", &p, e))?;
            }
        }
        Ok(())
    }
}

impl Drop for Checkpoint {
    fn drop(&mut self) {
        if let Some(out) = self.out.take() {
            drop(out);
            if let Err(e) = fs::remove_file(&self.tmp) {
                tracing::warn!(path = %self.tmp.display(), error = %e, "cannot remove unfinished checkpoint");
            }
        }
    }
}

impl SegmentFile {
    fn create(dir: &Path, index: u64) -> Result<Self, TsdbError> {
        let path = dir.join(segment_name(index));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| TsdbError::io("create WAL segment", &path, e))?;
        // Only an empty segment is ever reopened for writing (see `open`).
        let size = file
            .metadata()
            .map_err(|e| TsdbError::io("stat", &path, e))?
            .len();
        sync_dir(dir)?;
        Ok(SegmentFile {
            dir: dir.to_path_buf(),
            index,
            file,
            size,
            len: size,
            no_prealloc: false,
            poisoned: None,
        })
    }

    /// Zero-fills the file ahead of its records, so that the next `incoming`
    /// bytes and up to [`PREALLOC_STEP`] more (within `segment_bytes`) are
    /// written into existing space. Failing (disk full) is not an error:
    /// the zeros that reached the file are kept, and the segment grows by
    /// its writes from then on.
    fn prealloc(&mut self, incoming: u64, segment_bytes: u64) {
        if self.no_prealloc {
            return;
        }
        let target = (self.size + incoming).max(segment_bytes.min(self.len + PREALLOC_STEP));
        let zeros = vec![0u8; (target - self.len).min(1 << 20) as usize];
        while self.len < target {
            let n = (target - self.len).min(zeros.len() as u64) as usize;
            if let Err(e) = self.file.write_all_at(&zeros[..n], self.len) {
                tracing::debug!(path = %self.path().display(), error = %e,
                    "cannot zero-fill the WAL segment ahead; it grows by its writes");
                self.no_prealloc = true;
                self.len = self
                    .file
                    .metadata()
                    .map_or(self.size, |m| m.len().max(self.size));
                return;
            }
            self.len += n as u64;
        }
    }

    /// Drops the zeros after the records, before the segment is closed for
    /// good (only the last segment may end in zeros).
    fn trim(&mut self) -> Result<(), TsdbError> {
        if self.len > self.size {
            self.file
                .set_len(self.size)
                .map_err(|e| TsdbError::io("trim WAL segment", &self.path(), e))?;
            self.len = self.size;
        }
        Ok(())
    }

    fn path(&self) -> PathBuf {
        self.dir.join(segment_name(self.index))
    }
}

fn read_dir(dir: &Path) -> Result<Vec<std::ffi::OsString>, TsdbError> {
    let rd = fs::read_dir(dir).map_err(|e| TsdbError::io("list", dir, e))?;
    let mut out = Vec::new();
    for e in rd {
        out.push(e.map_err(|e| TsdbError::io("list", dir, e))?.file_name());
    }
    Ok(out)
}

/// (newest checkpoint, sorted segment numbers).
pub(crate) fn list(dir: &Path) -> Result<(Option<u64>, Vec<u64>), TsdbError> {
    let mut checkpoint = None;
    let mut segments = Vec::new();
    for name in read_dir(dir)? {
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_prefix("checkpoint.") {
            if let Ok(n) = n.parse::<u64>() {
                checkpoint = checkpoint.max(Some(n));
            }
        } else if name.len() == 8 {
            if let Ok(n) = name.parse::<u64>() {
                segments.push(n);
            }
        }
    }
    segments.sort_unstable();
    Ok((checkpoint, segments))
}

fn truncate(path: &Path, len: u64) -> Result<(), TsdbError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| TsdbError::io("open", path, e))?;
    f.set_len(len)
        .map_err(|e| TsdbError::io("truncate", path, e))?;
    f.sync_all().map_err(|e| TsdbError::io("fsync", path, e))
}

pub fn sync_dir(dir: &Path) -> Result<(), TsdbError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TsdbError::io("fsync directory", dir, e))
}

/// Writes `tmp`, fsyncs it, renames it to `path` and fsyncs the directory.
pub fn write_durably(tmp: &Path, path: &Path, data: &[u8]) -> Result<(), TsdbError> {
    let mut f = File::create(tmp).map_err(|e| TsdbError::io("create", tmp, e))?;
    f.write_all(data)
        .map_err(|e| TsdbError::io("write", tmp, e))?;
    f.sync_all().map_err(|e| TsdbError::io("fsync", tmp, e))?;
    fs::rename(tmp, path).map_err(|e| TsdbError::io("rename into place", path, e))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal_record::{encode_samples, REC_SAMPLES};

    fn frame(t: i64) -> Vec<u8> {
        let mut b = Vec::new();
        append_frame(&mut b, REC_SAMPLES, |d| {
            encode_samples(d, [(1u32, t, 1.0)].into_iter())
        });
        b
    }

    fn replay(dir: &Path) -> Vec<i64> {
        let mut ts = Vec::new();
        Wal::open(dir, 1 << 20, FsyncPolicy::Never, false, &mut |r| {
            if let Record::Samples(s) = r {
                ts.extend(s.iter().map(|x| x.1));
            }
        })
        .unwrap();
        ts
    }

    /// A cancelled open stops within the segment it is reading, at the
    /// next record: it does not read on to a corrupt record further on,
    /// and leaves the files as they were.
    #[test]
    fn cancel_stops_at_the_next_record_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 1 << 20, FsyncPolicy::Never, false, &mut |_| {}).unwrap();
        for t in 1..=5 {
            wal.write(&frame(t)).unwrap();
        }
        wal.close().unwrap();
        drop(wal);
        // Record 3 of 5 corrupt: reading on from record 1 would fail on it.
        let segment = dir.path().join(segment_name(1));
        let mut bytes = fs::read(&segment).unwrap();
        bytes[3 * frame(0).len() - 1] ^= 0xff;
        fs::write(&segment, &bytes).unwrap();
        let files = || {
            let mut v: Vec<(std::ffi::OsString, Vec<u8>)> = read_dir(dir.path())
                .unwrap()
                .into_iter()
                .map(|n| (n.clone(), fs::read(dir.path().join(&n)).unwrap()))
                .collect();
            v.sort();
            v
        };
        let before = files();
        let cancel = CancelOpen::default();
        let mut applied = Vec::new();
        let res = Wal::open_cancellable(
            dir.path(),
            1 << 20,
            FsyncPolicy::Never,
            false,
            &cancel,
            &mut |r| {
                if let Record::Samples(s) = r {
                    applied.extend(s.iter().map(|x| x.1));
                }
                cancel.cancel();
            },
        );
        assert!(
            matches!(res, Err(TsdbError::Cancelled { .. })),
            "{:?}",
            res.err()
        );
        assert_eq!(applied, vec![1], "nothing after the record that cancelled");
        assert_eq!(files(), before, "the WAL is as it was");
        let res = Wal::open(dir.path(), 1 << 20, FsyncPolicy::Never, false, &mut |_| {});
        assert!(
            matches!(res, Err(TsdbError::WalCorruption { .. })),
            "{:?}",
            res.err()
        );
    }

    /// A failing disk: the batch's writer is told, whatever part of the
    /// batch reached the file is cut off, and once the disk works again
    /// later writes follow on a record boundary.
    #[test]
    fn failed_write_is_cut_back_and_later_writes_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 1 << 20, FsyncPolicy::Always, false, &mut |_| {}).unwrap();
        wal.write(&frame(1)).unwrap();
        let (path, good_len) = {
            let mut f = wal.shared.file.lock();
            // As if part of the failing batch had reached the disk.
            let other = OpenOptions::new().write(true).open(f.path()).unwrap();
            other.write_all_at(&frame(2)[..7], f.size).unwrap();
            // A read-only handle: every write through it now fails (EBADF).
            f.file = File::open(f.path()).unwrap();
            (f.path(), f.size)
        };
        let err = wal.write(&frame(2)).unwrap_err().to_string();
        assert!(err.contains("cannot write WAL segment"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert_eq!(fs::metadata(&path).unwrap().len(), good_len);
        {
            let mut f = wal.shared.file.lock();
            f.file = OpenOptions::new().write(true).open(f.path()).unwrap();
        }
        wal.write(&frame(3)).unwrap();
        drop(wal);
        assert_eq!(replay(dir.path()), vec![1, 3]);
    }

    /// The segment being written is zero-filled ahead of its records; a
    /// crash leaves those zeros, which replay takes as the clean end (not
    /// as a torn write), and a segment that is rolled over is trimmed to
    /// its records.
    #[test]
    fn preallocated_zeros_are_the_clean_end_and_trimmed_at_roll() {
        let dir = tempfile::tempdir().unwrap();
        let segment_bytes = 64 << 10;
        let stats = |dir: &Path| {
            let wal =
                Wal::open(dir, segment_bytes, FsyncPolicy::Never, false, &mut |_| {}).unwrap();
            let s = &wal.stats();
            (
                s.records_dropped_at_open.load(Ordering::Relaxed),
                s.bytes_dropped_at_open.load(Ordering::Relaxed),
            )
        };
        let wal = Wal::open(
            dir.path(),
            segment_bytes,
            FsyncPolicy::Always,
            false,
            &mut |_| {},
        )
        .unwrap();
        wal.write(&frame(0)).unwrap();
        let path = wal.shared.file.lock().path();
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            segment_bytes,
            "zero-filled ahead"
        );
        // Fill the first segment until the writer rolls to the next one.
        let (mut t, mut first) = (1, frame(0).len() as u64);
        loop {
            let f = frame(t);
            wal.write(&f).unwrap();
            t += 1;
            if wal.stats().segment.load(Ordering::Relaxed) > 1 {
                break;
            }
            first += f.len() as u64;
        }
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            first,
            "trimmed to its records"
        );
        // As a crash would leave it: no trim of the last segment.
        drop(wal);
        let (_, segments) = list(dir.path()).unwrap();
        let last = dir.path().join(segment_name(*segments.last().unwrap()));
        assert_eq!(fs::metadata(&last).unwrap().len(), segment_bytes);
        assert_eq!(replay(dir.path()), (0..t).collect::<Vec<_>>());
        // `replay` truncated it and started the next: a crash-like tail on
        // that one (zeros only) is no torn write either.
        let (_, segments) = list(dir.path()).unwrap();
        let last = dir.path().join(segment_name(*segments.last().unwrap()));
        let f = OpenOptions::new().write(true).open(&last).unwrap();
        f.set_len(f.metadata().unwrap().len() + 1000).unwrap();
        assert_eq!(stats(dir.path()), (0, 0), "zeros are not a torn write");
    }

    /// A commit that is appending when another is queued joins its group:
    /// one write and one fsync for both. A pending commit that never comes
    /// holds the others up only for the group wait.
    #[test]
    fn pending_commit_joins_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 1 << 20, FsyncPolicy::Always, false, &mut |_| {}).unwrap();
        let minute = std::time::Duration::from_secs(60).as_micros() as u64;
        wal.shared
            .group_wait_micros
            .store(minute, Ordering::Relaxed);
        let fsyncs = || wal.stats().fsyncs.load(Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::channel();
        let pending = wal.pending();
        assert!(pending.is_some(), "counted under FsyncPolicy::Always");
        let tx2 = tx.clone();
        wal.submit(&frame(1), Box::new(move |r| tx2.send(r).unwrap()), None);
        wal.submit(&frame(2), Box::new(move |r| tx.send(r).unwrap()), pending);
        rx.recv().unwrap().unwrap();
        rx.recv().unwrap().unwrap();
        assert_eq!(fsyncs(), 1, "one fsync for the group");
        // A pending commit rolled back releases the writer at once.
        let pending = wal.pending();
        let (tx, rx) = std::sync::mpsc::channel();
        wal.submit(&frame(3), Box::new(move |r| tx.send(r).unwrap()), None);
        drop(pending);
        // Well under the minute's wait the writer would otherwise take.
        let released = rx.recv_timeout(std::time::Duration::from_secs(30));
        released
            .expect("written without waiting out the group wait")
            .unwrap();
        drop(wal);
        assert_eq!(replay(dir.path()), vec![1, 2, 3]);
    }

    /// Each writer of a failed group commit gets the error with its OS
    /// code, so a full disk is recognised as such by every one of them.
    #[test]
    fn failure_keeps_the_os_error_code() {
        let e = TsdbError::io(
            "write WAL segment",
            Path::new("/d/wal/00000001"),
            std::io::Error::from_raw_os_error(28),
        );
        let copy = Failure::of(&e, Path::new("/d/wal")).to_error();
        assert!(copy.is_disk_full(), "{copy}");
        assert_eq!(copy.to_string(), e.to_string());
    }

    #[test]
    fn unfinished_checkpoint_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 1 << 20, FsyncPolicy::Never, false, &mut |_| {}).unwrap();
        let mut cp = wal.checkpoint(2).unwrap();
        cp.write(&frame(1)).unwrap();
        drop(cp);
        let names: Vec<_> = read_dir(dir.path()).unwrap();
        assert!(
            names
                .iter()
                .all(|n| !n.to_string_lossy().starts_with("checkpoint")),
            "{names:?}"
        );
    }

    #[test]
    fn concurrent_writers_all_land_in_order_per_writer() {
        let dir = tempfile::tempdir().unwrap();
        let wal = std::sync::Arc::new(
            Wal::open(dir.path(), 4096, FsyncPolicy::Always, false, &mut |_| {}).unwrap(),
        );
        let threads: Vec<_> = (0..4i64)
            .map(|w| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    for i in 0..50i64 {
                        wal.write(&frame(w * 1000 + i)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Fewer fsyncs than writes would show grouping, but that depends on
        // scheduling; what must hold is that nothing is lost or reordered.
        drop(wal);
        let ts = replay(dir.path());
        assert_eq!(ts.len(), 200);
        for w in 0..4 {
            let mine: Vec<i64> = ts.iter().copied().filter(|t| t / 1000 == w).collect();
            assert_eq!(mine, (0..50).map(|i| w * 1000 + i).collect::<Vec<_>>());
        }
    }
}
