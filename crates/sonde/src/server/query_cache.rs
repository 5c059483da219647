//! The range query result cache (`--query.result-cache-size`): every writer
//! of the storage (scraping, remote write, Influx, import) goes through one
//! [`TrackedAppendable`], so that late samples cut cached results back;
//! retention clears the cache through the storage's deletion counter.

use std::sync::Arc;

use anyhow::Context;
use prometheus_client::metrics::MetricType;
use sonde_config::units::ByteSize;
use sonde_model::Appendable;
use sonde_tsdb::Db;
use sonde_web::{QueryCache, TrackedAppendable, WriteTracker};

use crate::cli::ServerArgs;
use crate::own_metrics::OwnMetric;

/// The cache, when enabled, and what every writer must append to.
pub struct Wiring {
    pub cache: Option<Arc<QueryCache>>,
    pub appendable: Arc<dyn Appendable>,
}

pub fn start(args: &ServerArgs, db: &Arc<Db>) -> anyhow::Result<Wiring> {
    let size = ByteSize::parse(&args.query_result_cache_size)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "--query.result-cache-size {:?} (e.g. 64MB, 1GiB; 0 disables)",
                args.query_result_cache_size
            )
        })?;
    if size.bytes() == 0 {
        return Ok(Wiring {
            cache: None,
            appendable: db.clone(),
        });
    }
    let tracker = Arc::new(WriteTracker::new());
    let epoch_db = db.clone();
    let cache = QueryCache::new(
        usize::try_from(size.bytes()).unwrap_or(usize::MAX),
        tracker.clone(),
    )
    .with_storage_epoch(Box::new(move || epoch_db.progress().retention_deletions));
    let appendable = Arc::new(TrackedAppendable::new(db.clone(), tracker));
    Ok(Wiring {
        cache: Some(Arc::new(cache)),
        appendable,
    })
}

/// The cache's counters as own metrics (`sonde_query_cache_*`).
pub fn metrics(cache: &QueryCache) -> Vec<OwnMetric> {
    let s = cache.stats();
    let metric = |name, help, kind, value: u64| OwnMetric {
        name,
        help,
        kind,
        labels: Vec::new(),
        value: value as f64,
    };
    use MetricType::{Counter, Gauge};
    vec![
        metric(
            "sonde_query_cache_hits_total",
            "Range queries that reused cached steps",
            Counter,
            s.hits,
        ),
        metric(
            "sonde_query_cache_misses_total",
            "Cacheable range queries that found no cached steps",
            Counter,
            s.misses,
        ),
        metric(
            "sonde_query_cache_uncacheable_total",
            "Range queries not cacheable (@ modifier, negative offset)",
            Counter,
            s.uncacheable,
        ),
        metric(
            "sonde_query_cache_steps_reused_total",
            "Range query steps served from the cache",
            Counter,
            s.steps_reused,
        ),
        metric(
            "sonde_query_cache_invalidations_total",
            "Cache entries cut back or dropped by late writes, deletions or retention",
            Counter,
            s.invalidations,
        ),
        metric(
            "sonde_query_cache_evictions_total",
            "Cache entries dropped to stay within --query.result-cache-size",
            Counter,
            s.evictions,
        ),
        metric(
            "sonde_query_cache_entries",
            "Entries in the query result cache",
            Gauge,
            s.entries,
        ),
        metric(
            "sonde_query_cache_bytes",
            "Estimated bytes held by the query result cache",
            Gauge,
            s.bytes,
        ),
        metric(
            "sonde_query_cache_max_bytes",
            "Size limit of the query result cache (--query.result-cache-size)",
            Gauge,
            s.max_bytes,
        ),
    ]
}
