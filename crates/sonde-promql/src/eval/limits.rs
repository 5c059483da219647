//! The per-query budget: samples held in memory, the deadline and the
//! caller's cancel flag. Checked in every loop over steps and series.
//!
//! Thread safety: one `Limits` belongs to one query on one thread; the
//! cancel flag is the only part shared (an `Arc<AtomicBool>`).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{QueryError, Result};

pub(crate) struct Limits {
    pub max_samples: usize,
    current: Cell<usize>,
    total: Cell<u64>,
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
            current: Cell::new(0),
            total: Cell::new(0),
            deadline,
            cancel,
        }
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
        let now = self.current.get() + n;
        self.current.set(now);
        if now > self.max_samples {
            return Err(QueryError::too_many_samples());
        }
        Ok(())
    }

    /// All samples ever accounted, for statistics.
    pub fn total(&self) -> u64 {
        self.total.get()
    }

    /// Gives back `n` samples that are no longer held.
    pub fn release(&self, n: usize) {
        self.current.set(self.current.get().saturating_sub(n));
    }
}
