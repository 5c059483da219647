//! Counters an engine keeps about its queries, for the server's own
//! `/metrics` (`sonde_engine_*`, after Prometheus' `prometheus_engine_*`).
//!
//! Thread safety: all counters are atomics; engines made with
//! [`crate::Engine::with_options`] share them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::QueryError;

/// The `errorType`s a query can fail with, in [`EngineStats::snapshot`]'s
/// order.
pub const ERROR_TYPES: [&str; 5] = ["bad_data", "execution", "timeout", "canceled", "internal"];

#[derive(Debug, Default)]
pub struct EngineStats {
    instant_queries: AtomicU64,
    range_queries: AtomicU64,
    failures: [AtomicU64; 5],
    eval_micros: AtomicU64,
    samples: AtomicU64,
}

/// A point-in-time copy of an engine's counters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EngineStatsSnapshot {
    pub instant_queries: u64,
    pub range_queries: u64,
    /// Failed queries per `errorType`, in [`ERROR_TYPES`] order.
    pub failures: [u64; 5],
    /// Time spent evaluating, in seconds.
    pub eval_seconds: f64,
    /// Samples taken into memory by all queries (selected, windowed,
    /// computed).
    pub samples: u64,
}

impl EngineStats {
    pub(crate) fn record(&self, range: bool, micros: u64, samples: u64, err: Option<&QueryError>) {
        let q = if range {
            &self.range_queries
        } else {
            &self.instant_queries
        };
        q.fetch_add(1, Ordering::Relaxed);
        self.eval_micros.fetch_add(micros, Ordering::Relaxed);
        self.samples.fetch_add(samples, Ordering::Relaxed);
        if let Some(e) = err {
            if let Some(i) = ERROR_TYPES.iter().position(|t| *t == e.error_type()) {
                self.failures[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn snapshot(&self) -> EngineStatsSnapshot {
        EngineStatsSnapshot {
            instant_queries: self.instant_queries.load(Ordering::Relaxed),
            range_queries: self.range_queries.load(Ordering::Relaxed),
            failures: std::array::from_fn(|i| self.failures[i].load(Ordering::Relaxed)),
            eval_seconds: self.eval_micros.load(Ordering::Relaxed) as f64 / 1e6,
            samples: self.samples.load(Ordering::Relaxed),
        }
    }
}
