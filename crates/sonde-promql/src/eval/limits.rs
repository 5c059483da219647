//! The per-query budget: samples held in memory, the deadline and the
//! caller's cancel flag. Checked in every loop over steps and series.
//!
//! Thread safety: one `Limits` belongs to one thread of a query. A query
//! evaluated on several threads (runs of steps) gives each its own, sharing
//! the count of samples held (so `--query.max-samples` bounds the whole
//! query) and the cancel flag.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{QueryError, Result};

pub(crate) struct Limits {
    pub max_samples: usize,
    /// Samples held by all threads of the query.
    held: Arc<AtomicUsize>,
    total: Cell<u64>,
    /// Most samples held at once (`peakSamples` of the query stats).
    peak: Cell<usize>,
    /// Samples the selectors read (`totalQueryableSamples`).
    queryable: Cell<u64>,
    /// The same per step of the query, when asked for: (start, step, counts).
    per_step: RefCell<Option<(i64, i64, Vec<u64>)>>,
    pub deadline: Option<Instant>,
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Limits {
    pub fn new(
        max_samples: usize,
        deadline: Option<Instant>,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Self {
        Limits {
            max_samples,
            held: Arc::new(AtomicUsize::new(0)),
            total: Cell::new(0),
            peak: Cell::new(0),
            queryable: Cell::new(0),
            per_step: RefCell::new(None),
            deadline,
            cancel,
        }
    }

    /// Counts held samples in `held`, shared with the query's other threads.
    pub fn sharing(mut self, held: Arc<AtomicUsize>) -> Self {
        self.held = held;
        self
    }

    /// Fails when the query was cancelled or ran out of time.
    pub fn check(&self) -> Result<()> {
        if let Some(c) = &self.cancel {
            if c.load(Ordering::Relaxed) {
                return Err(QueryError::Canceled("query execution".to_string()));
            }
        }
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                return Err(QueryError::Timeout("query execution".to_string()));
            }
        }
        Ok(())
    }

    /// Accounts for `n` more samples held in memory.
    pub fn add(&self, n: usize) -> Result<()> {
        self.total.set(self.total.get() + n as u64);
        let now = self.held.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.set(self.peak.get().max(now));
        if now > self.max_samples {
            return Err(QueryError::too_many_samples());
        }
        Ok(())
    }

    /// Accounts for `n` samples held only while one step is computed: the
    /// same total, peak and limit as `add(n)` followed by `release(n)`,
    /// without writing the count shared with the query's other threads
    /// (range functions do this for every series and step).
    pub fn hold_briefly(&self, n: usize) -> Result<()> {
        self.total.set(self.total.get() + n as u64);
        let now = self.held.load(Ordering::Relaxed) + n;
        self.peak.set(self.peak.get().max(now));
        if now > self.max_samples {
            return Err(QueryError::too_many_samples());
        }
        Ok(())
    }

    /// [`Limits::hold_briefly`] for each of a series' windows at once:
    /// `sum` samples in all, `most` in the largest. The same total, peak
    /// and limit as a call per window, as long as no other thread of the
    /// query moves the shared count meanwhile (then each gives a peak as
    /// of a slightly different moment).
    pub fn hold_each(&self, sum: usize, most: usize) -> Result<()> {
        self.total.set(self.total.get() + sum as u64);
        let now = self.held.load(Ordering::Relaxed) + most;
        self.peak.set(self.peak.get().max(now));
        if now > self.max_samples {
            return Err(QueryError::too_many_samples());
        }
        Ok(())
    }

    /// All samples ever accounted, for statistics.
    pub fn total(&self) -> u64 {
        self.total.get()
    }

    /// Most samples held at once so far.
    pub fn peak(&self) -> usize {
        self.peak.get()
    }

    /// Keeps `totalQueryableSamples` per step of the query `start, start +
    /// step, ... <= end` from now on.
    pub fn track_per_step(&self, start: i64, end: i64, step: i64) {
        let steps = ((end - start) / step.max(1) + 1).max(0) as usize;
        *self.per_step.borrow_mut() = Some((start, step.max(1), vec![0; steps]));
    }

    /// Whether samples are counted per step (else only their total is).
    pub fn tracks_per_step(&self) -> bool {
        self.per_step.borrow().is_some()
    }

    /// Accounts for `n` samples read by a selector at the query step `ts`.
    pub fn count_queryable(&self, ts: i64, n: usize) {
        self.queryable.set(self.queryable.get() + n as u64);
        if let Some((start, step, counts)) = self.per_step.borrow_mut().as_mut() {
            let i = (ts - *start) / *step;
            if ts >= *start && (ts - *start) % *step == 0 {
                if let Some(c) = counts.get_mut(i as usize) {
                    *c += n as u64;
                }
            }
        }
    }

    /// All samples read by selectors, and per step when tracked.
    pub fn queryable(&self) -> (u64, Option<Vec<u64>>) {
        let per_step = self.per_step.borrow().as_ref().map(|(_, _, c)| c.clone());
        (self.queryable.get(), per_step)
    }

    /// Gives back `n` samples that are no longer held.
    pub fn release(&self, n: usize) {
        // Never below zero: a part gives back only what it added.
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(n))
            });
    }
}
