//! Appending to the head: validation at `append`, durability and visibility
//! at `commit`.
//!
//! A batch is checked sample by sample as it is appended (so the caller
//! learns at once which samples are refused) and buffered. At commit its
//! records (series, samples, exemplars) are queued for the WAL writer
//! thread, which writes them (and fsyncs, per the policy) and calls the
//! committer back with an [`Apply`]; the committer runs it on its own
//! thread, which puts the batch into the series and the exemplar store.
//! So what is visible is in the WAL, applies of concurrent commits run in
//! parallel, and a checkpoint's segment cut waits for the applies of what
//! was written before it (see [`crate::wal`]).

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use sonde_model::{
    AppendError, Appender, Apply, CommitDone, Exemplar, Labels, SeriesRef, StorageError, Timestamp,
};

use crate::db::DbInner;
use crate::exemplars::{Refusal, StoredExemplar};
use crate::head::{same_pairs, LookupScratch};
use crate::series::{MemSeries, Placement};
use crate::wal::{append_frame, Pending};
use crate::wal_record::{
    encode_exemplars, encode_samples, encode_series, REC_EXEMPLARS, REC_SAMPLES, REC_SERIES,
};

thread_local! {
    /// Buffers of `lookup_known`, kept by each thread between batches (an
    /// appender lives for one batch, a remote-write request).
    static LOOKUP: RefCell<LookupScratch> = RefCell::new(LookupScratch::default());
}

/// Largest lookup scratch a thread keeps (a request of 500 series takes
/// about 100 KiB); a rare larger request's buffers are given back.
const RETAIN_LOOKUP_BYTES: usize = 1 << 20;

thread_local! {
    /// A finished batch's vectors, emptied, for the thread's next
    /// appender: a remote-write request of 500 samples otherwise
    /// allocates them anew (the WAL records' buffer by doubling, ten
    /// reallocations and copies) and frees them again.
    static SPARE: RefCell<Spare> = RefCell::new(Spare::default());
}

/// Largest vector (in bytes) kept in [`SPARE`]: a request of 2,000
/// samples fits; a rare huge batch gives its memory back.
const RETAIN_SPARE_BYTES: usize = 256 << 10;

#[derive(Default)]
struct Spare {
    samples: Vec<(Arc<MemSeries>, i64, f64)>,
    buf: Vec<u8>,
    found: Vec<Option<Arc<MemSeries>>>,
    found_at: Vec<(usize, usize)>,
}

/// Keeps `v` (emptied) in `slot` unless it is over [`RETAIN_SPARE_BYTES`]
/// or `slot` already has a larger one.
fn keep<T>(slot: &mut Vec<T>, mut v: Vec<T>) {
    v.clear();
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes <= RETAIN_SPARE_BYTES && v.capacity() > slot.capacity() {
        *slot = v;
    }
}

pub struct HeadAppender {
    db: Arc<DbInner>,
    /// One entry per accepted sample: the series (its `pending` count held
    /// once per entry), t, v.
    samples: Vec<(Arc<MemSeries>, i64, f64)>,
    /// Accepted exemplars, each holding its series' `pending` count once.
    exemplars: Vec<(Arc<MemSeries>, StoredExemplar)>,
    /// Series id and time of the last sample appended (stored or a no-op):
    /// the time an exemplar without its own timestamp takes.
    last: (u32, i64),
    buf: Vec<u8>,
    /// Series found by [`Appender::lookup_known`], each holding its
    /// `pending` count until an append takes it (in the order of the
    /// lookup, so `next` is usually the one) or the batch ends.
    found: Vec<Option<Arc<MemSeries>>>,
    /// The slice each `found` entry was looked up with ([`slice_id`]).
    found_at: Vec<(usize, usize)>,
    next: usize,
    /// This batch's count with the WAL writer (see [`Pending`]): an
    /// appender is taken right before its samples are appended, so its
    /// commit is coming.
    pending: Option<Pending>,
}

impl HeadAppender {
    pub(crate) fn new(db: Arc<DbInner>) -> Self {
        let spare = SPARE
            .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
            .unwrap_or_default();
        HeadAppender {
            samples: spare.samples,
            exemplars: Vec::new(),
            last: (0, i64::MIN),
            buf: spare.buf,
            found: spare.found,
            found_at: spare.found_at,
            next: 0,
            pending: db.wal.pending(),
            db,
        }
    }

    /// The series `series_ref` names, if it still has these labels.
    fn by_ref(&mut self, series_ref: SeriesRef, labels: &Labels) -> Option<Arc<MemSeries>> {
        self.by_ref_where(series_ref, |s| s.labels == *labels)
    }

    fn by_ref_where(
        &mut self,
        series_ref: SeriesRef,
        same: impl Fn(&MemSeries) -> bool,
    ) -> Option<Arc<MemSeries>> {
        self.by_ref_checked(series_ref, None, same)
    }

    /// [`Self::by_ref_where`]; `pairs` is the slice an append by pairs
    /// came with: a series `lookup_known` found for that same slice is
    /// taken without comparing again (its contract: the slice does not
    /// change in between).
    fn by_ref_checked(
        &mut self,
        series_ref: SeriesRef,
        pairs: Option<&[(&str, &str)]>,
        same: impl Fn(&MemSeries) -> bool,
    ) -> Option<Arc<MemSeries>> {
        let id = u32::try_from(series_ref).ok().filter(|id| *id != 0)?;
        let (s, checked) = match self.take_found(id, pairs) {
            Some(found) => found,
            None => (self.db.head.get_by_id(id)?, false),
        };
        if checked || same(&s) {
            return Some(s);
        }
        s.release();
        None
    }

    /// The series with this id if this batch holds it already: the series
    /// of the sample appended last (a series' next sample), or one
    /// `lookup_known` found, searched from where the last one taken was;
    /// and whether it was found for exactly the slice `pairs` (then its
    /// labels were compared with them at the lookup).
    fn take_found(
        &mut self,
        id: u32,
        pairs: Option<&[(&str, &str)]>,
    ) -> Option<(Arc<MemSeries>, bool)> {
        if let Some((s, _, _)) = self.samples.last() {
            if s.id == id {
                // Marked already by the sample held: no collection race.
                s.pending.fetch_add(1, Ordering::AcqRel);
                return Some((s.clone(), false));
            }
        }
        let rest = self.found.get_mut(self.next..)?;
        let j = rest
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.id == id))?;
        let at = self.next + j;
        self.next = at + 1;
        let s = rest[j].take()?;
        let same_slice = pairs.is_some_and(|p| self.found_at.get(at) == Some(&slice_id(p)));
        Some((s, same_slice))
    }

    fn lookup(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
    ) -> Result<Arc<MemSeries>, AppendError> {
        match self.by_ref(series_ref, labels) {
            Some(s) => Ok(s),
            None => self.db.head.get_or_create(labels),
        }
    }

    /// The window checks that do not depend on the series, a refusal
    /// counted.
    fn check_bounds_counted(&self, t: i64) -> Result<(), AppendError> {
        let res = self.check_bounds(t);
        if let Err(e) = &res {
            self.db.metrics.count_refused(e);
        }
        res
    }

    /// The window checks that do not depend on the series.
    fn check_bounds(&self, t: i64) -> Result<(), AppendError> {
        let opts = &self.db.opts;
        // After a restart the head may be empty while blocks hold newer
        // data: the window is measured from the newest sample anywhere.
        let last_block = self.db.last_block_maxt();
        let head_max = self.db.head.max_time().max(last_block.saturating_sub(1));
        if head_max == i64::MIN {
            return Ok(());
        }
        if opts.out_of_order_window_ms > 0 {
            if t < head_max.saturating_sub(opts.out_of_order_window_ms) {
                return Err(AppendError::TooOld);
            }
            return Ok(());
        }
        // Prometheus without out-of-order ingestion: nothing older than half
        // a block range behind the head, nor inside a persisted block.
        let min_valid = last_block.max(head_max.saturating_sub(opts.block_range_ms / 2));
        if t < min_valid {
            return Err(AppendError::OutOfBounds);
        }
        Ok(())
    }

    fn release_all(&mut self) {
        self.pending = None;
        for (s, _, _) in self.samples.drain(..) {
            s.release();
        }
        for s in self.found.drain(..).flatten() {
            s.release();
        }
        self.next = 0;
        for (s, _) in self.exemplars.drain(..) {
            s.release();
        }
    }

    /// Checks the sample against the series and keeps it for the commit;
    /// takes over `s`'s pending mark.
    fn append_to(
        &mut self,
        s: Arc<MemSeries>,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let allow_ooo = self.db.opts.out_of_order_window_ms > 0;
        let placement = s.data.lock().placement(t, v, allow_ooo);
        match placement {
            Ok(Placement::Noop) => {
                let id = s.id;
                self.last = (id, t);
                s.release();
                Ok(id as SeriesRef)
            }
            Ok(_) => {
                let id = s.id;
                self.last = (id, t);
                self.samples.push((s, t, v));
                Ok(id as SeriesRef)
            }
            Err(e) => {
                // An exemplar of a refused sample still takes its time.
                self.last = (s.id, t);
                s.release();
                self.db.metrics.count_refused(&e);
                Err(e)
            }
        }
    }

    /// Encodes the batch's WAL records into `buf` and hands the batch
    /// over to be applied once they are written; `None` when there is
    /// nothing to write.
    fn take_batch(&mut self) -> Result<Option<Logged>, StorageError> {
        if self.samples.is_empty() && self.exemplars.is_empty() {
            return Ok(None);
        }
        if self.db.closed.load(Ordering::Acquire) {
            return Err(crate::error::TsdbError::Closed.into());
        }
        self.buf.clear();
        let mut unlogged: Vec<Arc<MemSeries>> = self
            .samples
            .iter()
            .map(|(s, _, _)| s)
            .chain(self.exemplars.iter().map(|(s, _)| s))
            .filter(|s| !s.logged.load(Ordering::Acquire))
            .cloned()
            .collect();
        unlogged.sort_by_key(|s| s.id);
        unlogged.dedup_by_key(|s| s.id);
        if !unlogged.is_empty() {
            append_frame(&mut self.buf, REC_SERIES, |dst| {
                encode_series(dst, unlogged.iter().map(|s| (s.id, &s.labels)));
            });
        }
        if !self.samples.is_empty() {
            append_frame(&mut self.buf, REC_SAMPLES, |dst| {
                encode_samples(dst, self.samples.iter().map(|(s, t, v)| (s.id, *t, *v)));
            });
        }
        if !self.exemplars.is_empty() {
            append_frame(&mut self.buf, REC_EXEMPLARS, |dst| {
                encode_exemplars(dst, self.exemplars.iter().map(|(s, e)| (s.id, e)));
            });
        }
        Ok(Some(Logged {
            db: self.db.clone(),
            samples: std::mem::take(&mut self.samples),
            exemplars: std::mem::take(&mut self.exemplars),
            unlogged,
        }))
    }
}

/// A batch whose records are on their way to the WAL; the WAL writer
/// applies it to the head once they are written. Dropped unapplied (the
/// write failed), it only releases its series.
struct Logged {
    db: Arc<DbInner>,
    samples: Vec<(Arc<MemSeries>, i64, f64)>,
    exemplars: Vec<(Arc<MemSeries>, StoredExemplar)>,
    /// Series whose series record is in this batch.
    unlogged: Vec<Arc<MemSeries>>,
}

impl Logged {
    /// Puts the batch into the head, releasing each series' pending mark
    /// as its sample is in (one pass; `Drop` releases only what is left).
    fn apply(mut self) {
        let db = self.db.clone();
        let allow_ooo = db.opts.out_of_order_window_ms > 0;
        let range = db.opts.block_range_ms;
        let total = self.samples.len() as u64;
        let mut dropped = 0u64;
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        // The series' lines start loading together instead of one miss
        // after another in the loop below (500 series are ~100 KiB: they
        // stay in the second-level cache until their turn).
        for (s, _, _) in &self.samples {
            s.prefetch();
        }
        for (s, t, v) in self.samples.drain(..) {
            let mut d = s.data.lock();
            // Re-checked: another batch may have committed meanwhile.
            match d.placement(t, v, allow_ooo) {
                Ok(p) => {
                    d.insert(t, v, p, range);
                    min_t = min_t.min(t);
                    max_t = max_t.max(t);
                }
                Err(_) => dropped += 1,
            }
            drop(d);
            s.release();
        }
        if min_t <= max_t {
            // Once per batch: these atomics are shared by all appenders.
            db.head.observe_time(min_t);
            db.head.observe_time(max_t);
        }
        // Refusals here (out of order against a batch committed meanwhile)
        // are counted by the store, as in Prometheus' commit.
        for (s, e) in self.exemplars.drain(..) {
            let _ = db.exemplars.add(&s.labels, e);
            s.release();
        }
        for s in self.unlogged.drain(..) {
            s.logged.store(true, Ordering::Release);
        }
        let m = &db.metrics;
        m.samples_appended
            .fetch_add(total - dropped, Ordering::Relaxed);
        m.samples_dropped_at_commit
            .fetch_add(dropped, Ordering::Relaxed);
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        for (s, _, _) in self.samples.drain(..) {
            s.release();
        }
        for (s, _) in self.exemplars.drain(..) {
            s.release();
        }
        let samples = std::mem::take(&mut self.samples);
        let _ = SPARE.try_with(|s| keep(&mut s.borrow_mut().samples, samples));
    }
}

impl Appender for HeadAppender {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        self.check_bounds_counted(t)?;
        let s = self.lookup(series_ref, labels)?;
        self.append_to(s, t, v)
    }

    /// Found by the pairs, without building a label set: the hot path of
    /// remote write, where every sample comes with its series' labels.
    fn append_known(
        &mut self,
        series_ref: SeriesRef,
        pairs: &[(&str, &str)],
        t: Timestamp,
        v: f64,
    ) -> Result<Option<SeriesRef>, AppendError> {
        let same = |s: &MemSeries| same_pairs(s.labels.encoded(), pairs);
        let found = match self.by_ref_checked(series_ref, Some(pairs), same) {
            Some(s) => Some(s),
            None => self.db.head.get_by_pairs(pairs),
        };
        let Some(s) = found else {
            return Ok(None);
        };
        if let Err(e) = self.check_bounds_counted(t) {
            s.release();
            return Err(e);
        }
        self.append_to(s, t, v).map(Some)
    }

    /// Finds the series of a whole request at once
    /// ([`crate::head::Head::get_many_by_pairs`]) and keeps them, marked,
    /// for the appends that follow.
    fn lookup_known(&mut self, series: &[&[(&str, &str)]], refs: &mut Vec<SeriesRef>) {
        // Found series of an earlier lookup that no append took.
        for s in self.found.drain(..).flatten() {
            s.release();
        }
        self.next = 0;
        let mut found = std::mem::take(&mut self.found);
        LOOKUP.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            self.db
                .head
                .get_many_by_pairs(series, &mut scratch, &mut found);
            if scratch.capacity() > RETAIN_LOOKUP_BYTES {
                *scratch = LookupScratch::default();
            }
        });
        refs.clear();
        refs.extend(
            found
                .iter()
                .map(|s| s.as_ref().map_or(0, |s| s.id as SeriesRef)),
        );
        self.found = found;
        self.found_at.clear();
        self.found_at.extend(series.iter().map(|p| slice_id(p)));
        self.samples.reserve(series.len());
    }

    /// Checks the exemplar against the store now (so the caller learns at
    /// once if it is out of order or its labels are too long) and keeps it
    /// for the commit. Disabled storage and duplicates are no-ops, as in
    /// Prometheus 2.42. An exemplar without a timestamp takes its sample's:
    /// the last sample appended to the series in this batch, else the
    /// series' newest. As in Prometheus, the series must exist.
    fn append_exemplar(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        exemplar: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        if !self.db.exemplars.enabled() {
            return Ok(series_ref);
        }
        let found = self.by_ref(series_ref, labels);
        let Some(s) = found.or_else(|| self.db.head.get(labels)) else {
            return Err(AppendError::InvalidLabels {
                labels: labels.to_string(),
                reason: "no such series to attach an exemplar to".into(),
            });
        };
        let id = s.id as SeriesRef;
        let ts = match exemplar.ts {
            Some(t) => t,
            None if self.last.0 == s.id => self.last.1,
            None => s.data.lock().max_t,
        };
        if ts == i64::MIN {
            s.release();
            return Err(AppendError::InvalidLabels {
                labels: labels.to_string(),
                reason: "exemplar without a timestamp on a series without samples".into(),
            });
        }
        let e = StoredExemplar {
            labels: without_empty(&exemplar.labels),
            value: exemplar.value,
            ts,
            has_ts: exemplar.ts.is_some(),
        };
        match self.db.exemplars.validate(&s.labels, &e, true) {
            Ok(false) => {
                self.exemplars.push((s, e));
                Ok(id)
            }
            Ok(true) | Err(Refusal::Disabled) => {
                s.release();
                Ok(id)
            }
            Err(r) => {
                s.release();
                Err(r.into())
            }
        }
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.commit_then(Box::new(move |res| {
            let _ = tx.send(res);
        }));
        let apply = rx.recv().unwrap_or_else(|_| {
            Err(StorageError::Other(
                "BUG: the WAL writer dropped a batch".into(),
            ))
        })?;
        apply.run();
        Ok(())
    }

    /// Queued for the WAL writer on return; `done` runs on that thread once
    /// the batch is written (and fsynced, per the policy), with the
    /// [`Apply`] that puts it into the head, or with the failure (then
    /// nothing of it is applied).
    fn commit_then(mut self: Box<Self>, done: CommitDone) {
        let batch = match self.take_batch() {
            Ok(Some(b)) => b,
            Ok(None) => return done(Ok(Apply::done())),
            Err(e) => return done(Err(e)),
        };
        let db = self.db.clone();
        let pending = self.pending.take();
        self.db.submit_wal(
            &self.buf,
            Box::new(move |res| match res {
                Ok(()) => {
                    // Taken while the writer holds the segment: no
                    // checkpoint cut until this batch is in the head.
                    let hold = db.wal.hold_for_apply();
                    done(Ok(Apply::new(move || {
                        batch.apply();
                        drop(hold);
                    })))
                }
                Err(e) => {
                    drop(batch);
                    done(Err(e))
                }
            }),
            pending,
        );
    }

    fn rollback(mut self: Box<Self>) {
        self.release_all();
    }
}

/// Where a slice of pairs is and how long it is: which slice an append by
/// pairs came with.
fn slice_id(pairs: &[(&str, &str)]) -> (usize, usize) {
    (pairs.as_ptr() as usize, pairs.len())
}

/// The labels with empty values dropped (Prometheus' `WithoutEmpty`).
fn without_empty(labels: &Labels) -> Labels {
    if labels.iter().any(|(_, v)| v.is_empty()) {
        let pairs: Vec<(&str, &str)> = labels.iter().filter(|(_, v)| !v.is_empty()).collect();
        Labels::from_sorted(pairs)
    } else {
        labels.clone()
    }
}

impl Drop for HeadAppender {
    fn drop(&mut self) {
        self.release_all();
        let (buf, found, found_at) = (
            std::mem::take(&mut self.buf),
            std::mem::take(&mut self.found),
            std::mem::take(&mut self.found_at),
        );
        let samples = std::mem::take(&mut self.samples);
        // (Not at all while the thread's locals are being torn down.)
        let _ = SPARE.try_with(|s| {
            let mut s = s.borrow_mut();
            keep(&mut s.samples, samples);
            keep(&mut s.buf, buf);
            keep(&mut s.found, found);
            keep(&mut s.found_at, found_at);
        });
    }
}
