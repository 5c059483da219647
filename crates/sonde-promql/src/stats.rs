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

/// What one query cost, as Prometheus 2.42's `stats` in query responses:
/// timings in seconds and the samples it read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryStats {
    /// Parse, open the querier, evaluate and sort (`evalTotalTime`).
    pub eval_total: f64,
    /// Sorting the result (`resultSortTime`).
    pub result_sort: f64,
    /// Parsing and opening the querier (`queryPreparationTime`).
    pub query_preparation: f64,
    /// Evaluating the syntax tree (`innerEvalTime`).
    pub inner_eval: f64,
    /// Waiting for a slot under `--query.max-concurrency` (`execQueueTime`);
    /// set by the caller that queues.
    pub exec_queue: f64,
    /// Queue wait and evaluation (`execTotalTime`).
    pub exec_total: f64,
    /// Samples the selectors read: 1 per series and step for instant
    /// selectors, the points in each window for range selectors and
    /// subqueries (`totalQueryableSamples`).
    pub total_queryable_samples: u64,
    /// Most samples held in memory at once (`peakSamples`).
    pub peak_samples: u64,
    /// `totalQueryableSamples` per step `(time ms, count)`, when asked for
    /// (`totalQueryableSamplesPerStep`).
    pub per_step: Option<Vec<(sonde_model::Timestamp, u64)>>,
}

impl QueryStats {
    /// Adds the figures of one run of steps evaluated on its own thread:
    /// times and samples add up, the peak is the largest, per-step counts
    /// follow each other.
    pub(crate) fn absorb(&mut self, part: &QueryStats) {
        self.query_preparation += part.query_preparation;
        self.inner_eval += part.inner_eval;
        self.total_queryable_samples += part.total_queryable_samples;
        self.peak_samples = self.peak_samples.max(part.peak_samples);
        if let Some(steps) = &part.per_step {
            self.per_step
                .get_or_insert_with(Vec::new)
                .extend_from_slice(steps);
        }
    }

    /// Sums the parts into the totals once evaluation is over.
    pub(crate) fn finish(&mut self) {
        self.eval_total = self.query_preparation + self.inner_eval + self.result_sort;
        self.exec_total = self.exec_queue + self.eval_total;
    }

    /// Adds time spent preparing the query (parsing) to the totals.
    pub fn add_preparation_time(&mut self, secs: f64) {
        self.query_preparation += secs;
        self.eval_total += secs;
        self.exec_total += secs;
    }

    /// Adds the time spent waiting in the queue to the queue and total times.
    pub fn add_queue_time(&mut self, secs: f64) {
        self.exec_queue += secs;
        self.exec_total += secs;
    }

    /// Writes the `stats` object of a query response, with Prometheus'
    /// keys in Prometheus' order.
    pub fn write_json(&self, dst: &mut String) {
        use std::fmt::Write;
        dst.push_str("{\"timings\":{");
        let timings = [
            ("evalTotalTime", self.eval_total),
            ("resultSortTime", self.result_sort),
            ("queryPreparationTime", self.query_preparation),
            ("innerEvalTime", self.inner_eval),
            ("execQueueTime", self.exec_queue),
            ("execTotalTime", self.exec_total),
        ];
        for (i, (k, v)) in timings.iter().enumerate() {
            if i > 0 {
                dst.push(',');
            }
            let _ = write!(dst, "\"{k}\":");
            write_go_json_float(dst, *v);
        }
        dst.push_str("},\"samples\":{");
        if let Some(steps) = &self.per_step {
            dst.push_str("\"totalQueryableSamplesPerStep\":[");
            for (i, (t, n)) in steps.iter().enumerate() {
                if i > 0 {
                    dst.push(',');
                }
                dst.push('[');
                crate::value::write_time(dst, *t);
                let _ = write!(dst, ",{n}]");
            }
            dst.push_str("],");
        }
        let _ = write!(
            dst,
            "\"totalQueryableSamples\":{},\"peakSamples\":{}}}}}",
            self.total_queryable_samples, self.peak_samples
        );
    }
}

/// A float as Go's `encoding/json` writes it: plain decimals, an exponent
/// with at least two digits below 1e-6 and from 1e21 (`7.31e-07`).
fn write_go_json_float(dst: &mut String, v: f64) {
    use std::fmt::Write;
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        let _ = write!(dst, "{mantissa}e{sign}{digits:0>2}");
    } else {
        let _ = write!(dst, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_json_has_prometheus_keys_and_go_floats() {
        let mut s = QueryStats {
            eval_total: 0.000088812,
            result_sort: 7.31e-7,
            total_queryable_samples: 3,
            peak_samples: 4,
            ..QueryStats::default()
        };
        let mut out = String::new();
        s.write_json(&mut out);
        assert_eq!(
            out,
            r#"{"timings":{"evalTotalTime":0.000088812,"resultSortTime":7.31e-07,"queryPreparationTime":0,"innerEvalTime":0,"execQueueTime":0,"execTotalTime":0},"samples":{"totalQueryableSamples":3,"peakSamples":4}}"#
        );
        s.per_step = Some(vec![(1_500, 1), (2_000, 2)]);
        out.clear();
        s.write_json(&mut out);
        assert!(
            out.contains(r#""samples":{"totalQueryableSamplesPerStep":[[1.5,1],[2,2]],"totalQueryableSamples":3"#),
            "{out}"
        );
    }
}
