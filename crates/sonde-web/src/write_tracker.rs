//! Tracks what storage writes could change, for the query result cache.
//!
//! Every committed batch of samples, and every deletion, is recorded as a
//! *mark*: a new generation number and the lowest sample time it touched.
//! A cached result remembers the generation it read before it was
//! evaluated; [`WriteTracker::earliest_since`] then says from which time on
//! its steps may be stale. With no `@` modifier and no negative offset, the
//! value of a PromQL expression at step `t` depends only on samples at or
//! before `t`, so steps before the earliest write since are still exact.
//!
//! Invariants: marks are kept with increasing generation *and* increasing
//! time, because a mark at an earlier time hides every older mark at a later
//! time (a query about "since generation g" only needs the minimum). When
//! there are too many marks the two oldest merge into one with the older
//! time and the newer generation, which can only cut more, never less.
//!
//! Thread safety: one mutex around the marks; held for a few comparisons
//! per commit and per cache lookup.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use sonde_model::{
    AppendError, Appendable, Appender, CommitDone, Exemplar, Labels, SeriesRef, StorageError,
    Timestamp,
};

/// Most marks kept. In-order scraping adds one mark per commit (each at a
/// later time); merging the oldest ones only makes old cache entries cut a
/// little more, so a small bound costs nothing measurable.
const MAX_MARKS: usize = 1024;

/// The generations of writes and the lowest time each touched.
#[derive(Debug, Default)]
pub struct WriteTracker {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    generation: u64,
    /// `(generation, lowest time)`, both increasing front to back.
    marks: VecDeque<(u64, Timestamp)>,
}

impl WriteTracker {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every step; a panic elsewhere while
        // holding the lock cannot leave it half-changed.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current generation. Read it *before* evaluating a query whose
    /// result is to be cached.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Records a write (or deletion) that touched samples at `min_t` or
    /// later. Call it *after* the write is visible to queries.
    pub fn record(&self, min_t: Timestamp) {
        let mut st = self.lock();
        st.generation += 1;
        let generation = st.generation;
        while st.marks.back().is_some_and(|(_, t)| *t >= min_t) {
            st.marks.pop_back();
        }
        st.marks.push_back((generation, min_t));
        if st.marks.len() > MAX_MARKS {
            if let (Some((_, oldest_t)), Some((g2, _))) =
                (st.marks.pop_front(), st.marks.pop_front())
            {
                st.marks.push_front((g2, oldest_t));
            }
        }
    }

    /// Records that anything may have changed (retention dropped data).
    pub fn record_everything(&self) {
        self.record(Timestamp::MIN);
    }

    /// The lowest sample time written after `generation`, if any.
    pub fn earliest_since(&self, generation: u64) -> Option<Timestamp> {
        let st = self.lock();
        let i = st.marks.partition_point(|(g, _)| *g <= generation);
        // The first mark after `generation` has the lowest time of all
        // marks after it (times increase with generations).
        st.marks.get(i).map(|(_, t)| *t)
    }
}

/// An [`Appendable`] that records each committed batch in a tracker.
pub struct TrackedAppendable {
    inner: Arc<dyn Appendable>,
    tracker: Arc<WriteTracker>,
}

impl TrackedAppendable {
    pub fn new(inner: Arc<dyn Appendable>, tracker: Arc<WriteTracker>) -> Self {
        TrackedAppendable { inner, tracker }
    }
}

impl Appendable for TrackedAppendable {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(TrackedAppender {
            inner: self.inner.appender(),
            tracker: self.tracker.clone(),
            min_t: Timestamp::MAX,
        })
    }
}

struct TrackedAppender {
    inner: Box<dyn Appender>,
    tracker: Arc<WriteTracker>,
    min_t: Timestamp,
}

impl Appender for TrackedAppender {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        // Counted even when refused: cutting a little more is harmless.
        self.min_t = self.min_t.min(t);
        self.inner.append(series_ref, labels, t, v)
    }

    fn append_known(
        &mut self,
        series_ref: SeriesRef,
        pairs: &[(&str, &str)],
        t: Timestamp,
        v: f64,
    ) -> Result<Option<SeriesRef>, AppendError> {
        self.min_t = self.min_t.min(t);
        self.inner.append_known(series_ref, pairs, t, v)
    }

    fn lookup_known(&mut self, series: &[&[(&str, &str)]], refs: &mut Vec<SeriesRef>) {
        self.inner.lookup_known(series, refs);
    }

    fn append_exemplar(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        exemplar: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        // Exemplars are not read by PromQL.
        self.inner.append_exemplar(series_ref, labels, exemplar)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let TrackedAppender {
            inner,
            tracker,
            min_t,
        } = *self;
        let res = inner.commit();
        // Recorded after the batch is visible, and even when the commit
        // failed (part of it may be visible).
        if min_t != Timestamp::MAX {
            tracker.record(min_t);
        }
        res
    }

    fn commit_then(self: Box<Self>, done: CommitDone) {
        let TrackedAppender {
            inner,
            tracker,
            min_t,
        } = *self;
        let record = move || {
            if min_t != Timestamp::MAX {
                tracker.record(min_t);
            }
        };
        // Recorded once the batch is visible and before the sender hears of
        // it, so that a query it sends next cannot be answered from a stale
        // cache entry.
        inner.commit_then(Box::new(move |res| {
            done(res.map(|apply| apply.then(record)))
        }));
    }

    fn rollback(self: Box<Self>) {
        self.inner.rollback();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_write_since_a_generation() {
        let w = WriteTracker::new();
        let g0 = w.generation();
        assert_eq!(w.earliest_since(g0), None);
        w.record(100);
        let g1 = w.generation();
        w.record(50);
        w.record(70);
        assert_eq!(w.earliest_since(g0), Some(50));
        assert_eq!(w.earliest_since(g1), Some(50));
        assert_eq!(w.earliest_since(w.generation()), None);
        let g = w.generation();
        w.record(200);
        assert_eq!(w.earliest_since(g), Some(200));
    }

    #[test]
    fn merged_marks_only_cut_more() {
        let w = WriteTracker::new();
        let mut gens = Vec::new();
        for i in 0..(MAX_MARKS as i64 * 3) {
            gens.push((w.generation(), i));
            w.record(i);
        }
        assert!(w.lock().marks.len() <= MAX_MARKS);
        for (g, t) in gens {
            // The exact answer is `t`; merging may only give less.
            let got = w.earliest_since(g).unwrap();
            assert!(got <= t, "since {g}: {got} > {t}");
        }
    }
}
