//! The range query result cache: a dashboard that refreshes `now-1h..now`
//! every 30 s asks again for the same steps plus a few new ones, so the
//! steps already computed are taken from the cache and only the missing
//! tail is evaluated (the scheme of VictoriaMetrics' rollup result cache).
//!
//! An entry is keyed by the query text, the step, the start's phase on the
//! step grid (`start mod step`) and the engine options that change results
//! (lookback delta, default subquery step). It holds the result of the last
//! query with that key and the write generation read *before* it was
//! evaluated. On lookup, the [`WriteTracker`] gives the lowest sample time
//! written since then (late samples, out-of-order or backfilled, remote
//! write of old data, deletions); the entry is cut back to the steps before
//! that time, which no such write can change: without `@` and negative
//! offsets, the value at step `t` reads only samples at or before `t`.
//! Queries with `@` or a negative offset are never cached. Retention
//! (data dropped at the old end) clears everything, through the storage
//! epoch the binary provides.
//!
//! The query text is the key as sent, not a normalised form: the parser's
//! printed form is not guaranteed to tell apart every pair of different
//! queries, and a wrong hit is far worse than a missed one; dashboards send
//! the same text on every refresh.
//!
//! Memory is bounded by `max_bytes` (estimated sizes; least recently used
//! entries go first, an entry over a quarter of the budget is not kept).
//!
//! Thread safety: entries live behind one mutex, held for lookups and
//! stores only, never during evaluation; counters are atomics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use promql_parser::parser::{AtModifier, Expr, Offset};
use sonde_model::{Queryable, Sample, Timestamp};
use sonde_promql::{CancelToken, Engine, QueryError, QueryOptions, RangeSeries, Value};

use crate::write_tracker::WriteTracker;

/// Reports a number that changes when storage dropped data (retention).
pub type StorageEpoch = Box<dyn Fn() -> u64 + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    query: String,
    step: i64,
    phase: i64,
    lookback_ms: i64,
    subquery_step_ms: i64,
}

struct Entry {
    /// Write generation read before the steps were evaluated.
    generation: u64,
    /// First and last step held.
    start: Timestamp,
    end: Timestamp,
    series: Vec<RangeSeries>,
    bytes: usize,
    last_used: u64,
}

struct Entries {
    map: HashMap<Key, Entry>,
    bytes: usize,
    tick: u64,
    epoch: Option<u64>,
}

/// Counters of the cache, for `/metrics` (`sonde_query_cache_*`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryCacheStats {
    /// Range queries that took at least one step from the cache.
    pub hits: u64,
    /// Cacheable range queries that found nothing to reuse.
    pub misses: u64,
    /// Range queries that cannot be cached (`@`, negative offset).
    pub uncacheable: u64,
    /// Steps served from the cache.
    pub steps_reused: u64,
    /// Entries cut back or dropped because of writes or deletions since.
    pub invalidations: u64,
    /// Entries dropped to stay within the size limit.
    pub evictions: u64,
    pub entries: u64,
    /// Estimated bytes held.
    pub bytes: u64,
    /// The size limit.
    pub max_bytes: u64,
}

/// The cache. See the module documentation.
pub struct QueryCache {
    max_bytes: usize,
    tracker: Arc<WriteTracker>,
    storage_epoch: Option<StorageEpoch>,
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
    uncacheable: AtomicU64,
    steps_reused: AtomicU64,
    invalidations: AtomicU64,
    evictions: AtomicU64,
}

impl QueryCache {
    /// A cache of at most `max_bytes` that learns about writes from
    /// `tracker`: every writer of the storage must go through a
    /// [`crate::TrackedAppendable`] on the same tracker.
    pub fn new(max_bytes: usize, tracker: Arc<WriteTracker>) -> Self {
        QueryCache {
            max_bytes,
            tracker,
            storage_epoch: None,
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                bytes: 0,
                tick: 0,
                epoch: None,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            uncacheable: AtomicU64::new(0),
            steps_reused: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Clears the cache whenever `epoch` changes (storage dropped old data).
    pub fn with_storage_epoch(mut self, epoch: StorageEpoch) -> Self {
        self.storage_epoch = Some(epoch);
        self
    }

    /// The tracker writes must be recorded in.
    pub fn tracker(&self) -> &Arc<WriteTracker> {
        &self.tracker
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Every change to `Entries` keeps `bytes` equal to the sum of the
        // entries' sizes before it can panic; a poisoned lock is usable.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stats(&self) -> QueryCacheStats {
        let e = self.lock();
        QueryCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            uncacheable: self.uncacheable.load(Ordering::Relaxed),
            steps_reused: self.steps_reused.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: e.map.len() as u64,
            bytes: e.bytes as u64,
            max_bytes: self.max_bytes as u64,
        }
    }

    /// Evaluates a range query like [`Engine::range_query_expr`],
    /// taking the steps it can from the cache. `query` is the text `expr`
    /// was parsed from.
    #[allow(clippy::too_many_arguments)] // the query's own parameters
    pub fn range_query(
        &self,
        engine: &Engine,
        storage: &dyn Queryable,
        query: &str,
        expr: &Expr,
        start: Timestamp,
        end: Timestamp,
        step: i64,
        cancel: Option<CancelToken>,
    ) -> Result<Value, QueryError> {
        let opts = QueryOptions {
            cancel,
            ..QueryOptions::default()
        };
        let eval = |s: Timestamp, e: Timestamp| {
            engine.range_query_expr(storage, expr, s, e, step, &opts).0
        };
        if self.max_bytes == 0 || step <= 0 || end < start || !cacheable(expr) {
            self.uncacheable.fetch_add(1, Ordering::Relaxed);
            return eval(start, end);
        }
        let opts = engine.options();
        let key = Key {
            query: query.to_string(),
            step,
            phase: start.rem_euclid(step),
            lookback_ms: opts.lookback_delta.as_millis() as i64,
            subquery_step_ms: opts.default_subquery_step.as_millis() as i64,
        };
        let generation = self.tracker.generation();
        let cached = self.valid_prefix(&key, generation, start, end);
        let (reused, tail_start) = match cached {
            Some((series, last)) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                self.steps_reused
                    .fetch_add(((last - start) / step + 1) as u64, Ordering::Relaxed);
                (series, last + step)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                (Vec::new(), start)
            }
        };
        let tail = if tail_start <= end {
            match eval(tail_start, end)? {
                Value::Matrix(m) => m,
                other => return Ok(other), // not a range result: nothing to cache
            }
        } else {
            Vec::new()
        };
        let series = merge(reused, tail);
        self.store(key, generation, start, end, &series);
        Ok(Value::Matrix(series))
    }

    /// The cached steps from `start` on (at most to `end`) that are still
    /// exact, with the last of them; cuts the entry first.
    fn valid_prefix(
        &self,
        key: &Key,
        generation: u64,
        start: Timestamp,
        end: Timestamp,
    ) -> Option<(Vec<RangeSeries>, Timestamp)> {
        let epoch = self.storage_epoch.as_ref().map(|f| f());
        let mut entries = self.lock();
        if epoch.is_some() && entries.epoch != epoch {
            let dropped = entries.map.len() as u64;
            entries.map.clear();
            entries.bytes = 0;
            entries.epoch = epoch;
            self.invalidations.fetch_add(dropped, Ordering::Relaxed);
        }
        entries.tick += 1;
        let tick = entries.tick;
        let entry = entries.map.get_mut(key)?;
        entry.last_used = tick;
        if let Some(written) = self.tracker.earliest_since(entry.generation) {
            if written <= entry.end {
                self.invalidations.fetch_add(1, Ordering::Relaxed);
                // Steps at or after `written` may have changed.
                let last_ok = last_step_before(entry.start, key.step, written);
                entry.end = last_ok;
                cut_after(&mut entry.series, last_ok);
            }
        }
        // What is left is exact as of `generation`, read before this lookup.
        entry.generation = generation;
        let old_bytes = entry.bytes;
        entry.bytes = estimate_bytes(&entry.series);
        let new_bytes = entry.bytes;
        let (e_start, e_end) = (entry.start, entry.end);
        let prefix = (e_start <= start && start <= e_end).then(|| {
            let last = e_end.min(end);
            (slice(&entry.series, start, last), last)
        });
        entries.bytes = entries.bytes - old_bytes + new_bytes;
        if e_end < e_start {
            entries.map.remove(key);
            entries.bytes -= new_bytes;
        }
        prefix
    }

    fn store(
        &self,
        key: Key,
        generation: u64,
        start: Timestamp,
        end: Timestamp,
        series: &[RangeSeries],
    ) {
        let bytes = estimate_bytes(series);
        if bytes > self.max_bytes / 4 {
            return;
        }
        let mut entries = self.lock();
        entries.tick += 1;
        let entry = Entry {
            generation,
            start,
            end,
            series: series.to_vec(),
            bytes,
            last_used: entries.tick,
        };
        if let Some(old) = entries.map.insert(key, entry) {
            entries.bytes -= old.bytes;
        }
        entries.bytes += bytes;
        while entries.bytes > self.max_bytes {
            let Some(oldest) = entries
                .map
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = entries.map.remove(&oldest) {
                entries.bytes -= e.bytes;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Whether every step's value depends only on samples at or before it: no
/// `@` anywhere (it pins reads to other times) and no negative offset (it
/// reads the future).
pub fn cacheable(e: &Expr) -> bool {
    let ok = |at: &Option<AtModifier>, off: &Option<Offset>| {
        at.is_none() && !matches!(off, Some(Offset::Neg(_)))
    };
    match e {
        Expr::VectorSelector(vs) => ok(&vs.at, &vs.offset),
        Expr::MatrixSelector(ms) => ok(&ms.vs.at, &ms.vs.offset),
        Expr::Subquery(sq) => ok(&sq.at, &sq.offset) && cacheable(&sq.expr),
        Expr::Aggregate(a) => cacheable(&a.expr) && a.param.as_deref().is_none_or(cacheable),
        Expr::Unary(u) => cacheable(&u.expr),
        Expr::Binary(b) => cacheable(&b.lhs) && cacheable(&b.rhs),
        Expr::Paren(p) => cacheable(&p.expr),
        Expr::Call(c) => c.args.args.iter().all(|a| cacheable(a)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::Extension(_) => false,
    }
}

/// The last step of the grid `start + k*step` strictly before `t`
/// (below `start` when there is none).
fn last_step_before(start: Timestamp, step: i64, t: Timestamp) -> Timestamp {
    if t <= start {
        return start - step;
    }
    start + (t - 1 - start) / step * step
}

fn cut_after(series: &mut Vec<RangeSeries>, last: Timestamp) {
    for s in series.iter_mut() {
        let keep = s.samples.partition_point(|p| p.t <= last);
        s.samples.truncate(keep);
    }
    series.retain(|s| !s.samples.is_empty());
}

fn slice(series: &[RangeSeries], first: Timestamp, last: Timestamp) -> Vec<RangeSeries> {
    series
        .iter()
        .filter_map(|s| {
            let a = s.samples.partition_point(|p| p.t < first);
            let b = s.samples.partition_point(|p| p.t <= last);
            (a < b).then(|| RangeSeries {
                labels: s.labels.clone(),
                samples: s.samples[a..b].to_vec(),
            })
        })
        .collect()
}

/// Joins two label-sorted results whose steps do not overlap (`a` before
/// `b`) into one label-sorted result.
fn merge(a: Vec<RangeSeries>, b: Vec<RangeSeries>) -> Vec<RangeSeries> {
    if a.is_empty() {
        return b;
    }
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let mut b = b.into_iter().peekable();
    for mut s in a {
        while b.peek().is_some_and(|t| t.labels < s.labels) {
            out.extend(b.next());
        }
        if b.peek().is_some_and(|t| t.labels == s.labels) {
            if let Some(t) = b.next() {
                s.samples.extend(t.samples);
            }
        }
        out.push(s);
    }
    out.extend(b);
    out
}

/// Roughly what a result holds in memory.
fn estimate_bytes(series: &[RangeSeries]) -> usize {
    series
        .iter()
        .map(|s| {
            let labels: usize = s.labels.iter().map(|(n, v)| n.len() + v.len() + 8).sum();
            64 + labels + s.samples.len() * std::mem::size_of::<Sample>()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_model::Labels;

    fn rs(name: &str, pts: &[(i64, f64)]) -> RangeSeries {
        RangeSeries {
            labels: Labels::from_pairs(&[("x", name)]),
            samples: pts.iter().map(|(t, v)| Sample::new(*t, *v)).collect(),
        }
    }

    #[test]
    fn merge_keeps_label_order_and_joins_steps() {
        let a = vec![rs("a", &[(1, 1.0)]), rs("c", &[(1, 3.0)])];
        let b = vec![
            rs("b", &[(2, 2.0)]),
            rs("c", &[(2, 4.0)]),
            rs("d", &[(2, 5.0)]),
        ];
        let m = merge(a, b);
        let names: Vec<_> = m.iter().map(|s| s.labels.get("x").unwrap()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(m[2].samples.len(), 2);
    }

    #[test]
    fn steps_before_a_time() {
        assert_eq!(last_step_before(0, 10, 25), 20);
        assert_eq!(last_step_before(0, 10, 20), 10);
        assert_eq!(last_step_before(0, 10, 0), -10);
        assert_eq!(last_step_before(5, 10, 6), 5);
    }

    #[test]
    fn at_and_negative_offsets_are_not_cacheable() {
        let p = |q: &str| sonde_promql::parse(q).unwrap();
        assert!(cacheable(&p("rate(x[5m] offset 1h) + sum(y)")));
        assert!(cacheable(&p("max_over_time(rate(x[1m])[10m:1m])")));
        assert!(!cacheable(&p("x @ 100")));
        assert!(!cacheable(&p("rate(x[5m] @ end())")));
        assert!(!cacheable(&p("x offset -5m")));
        assert!(!cacheable(&p("max_over_time(x[10m:1m] @ start())")));
    }
}
