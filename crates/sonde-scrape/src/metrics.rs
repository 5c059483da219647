//! The crate's own metrics, as plain atomics that the server exports under
//! `sonde_scrape_*` and `sonde_sd_*` (see [`ScrapeMetrics::snapshot`]).
//!
//! Thread safety: every field is an atomic updated with relaxed ordering;
//! readers may see counters from slightly different instants.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::SCRAPE_ERROR_KINDS;

/// Counters of the discovery providers.
#[derive(Debug, Default)]
pub struct DiscoveryMetrics {
    /// File SD files that could not be read or parsed.
    pub file_read_errors: AtomicU64,
    /// HTTP SD refreshes that failed.
    pub http_failures: AtomicU64,
    /// Target-group updates handed to the scrape manager.
    pub updates_sent: AtomicU64,
}

/// Counters and gauges of scraping.
#[derive(Debug, Default)]
pub struct ScrapeMetrics {
    pub scrapes: AtomicU64,
    pub samples_appended: AtomicU64,
    pub samples_out_of_order: AtomicU64,
    pub samples_duplicate: AtomicU64,
    pub samples_out_of_bounds: AtomicU64,
    pub exceeded_sample_limit: AtomicU64,
    pub exceeded_body_size_limit: AtomicU64,
    pub exceeded_label_limits: AtomicU64,
    pub exceeded_target_limit: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    /// Sum of scrape durations in microseconds (with `scrapes`, a mean).
    pub scrape_duration_micros: AtomicU64,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    pub discovery: Arc<DiscoveryMetrics>,
}

pub use sonde_model::MetricValue;

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl ScrapeMetrics {
    /// Counts a failed scrape of this kind (see `ScrapeError::kind`).
    pub fn record_error(&self, kind: &'static str) {
        if let Ok(mut m) = self.errors.lock() {
            *m.entry(kind).or_default() += 1;
        }
    }

    /// Failed scrapes of this kind so far.
    pub fn errors(&self, kind: &str) -> u64 {
        self.errors
            .lock()
            .ok()
            .and_then(|m| m.get(kind).copied())
            .unwrap_or(0)
    }

    /// Every counter, plus the `pools` and `targets` gauges given by the
    /// manager, ready to be written in the exposition format.
    pub fn snapshot(&self, pools: usize, targets: usize) -> Vec<MetricValue> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        let mut out = vec![
            mv(
                "sonde_scrape_pools",
                "Scrape pools (jobs) running.",
                "gauge",
                pools as f64,
            ),
            mv(
                "sonde_scrape_targets",
                "Active scrape targets.",
                "gauge",
                targets as f64,
            ),
            mv(
                "sonde_scrape_scrapes_total",
                "Scrapes done.",
                "counter",
                g(&self.scrapes),
            ),
            mv(
                "sonde_scrape_samples_appended_total",
                "Samples appended by scrapes, staleness markers included.",
                "counter",
                g(&self.samples_appended),
            ),
            mv(
                "sonde_scrape_samples_out_of_order_total",
                "Scraped samples dropped as out of order.",
                "counter",
                g(&self.samples_out_of_order),
            ),
            mv(
                "sonde_scrape_samples_duplicate_total",
                "Scraped samples dropped as duplicates for a timestamp.",
                "counter",
                g(&self.samples_duplicate),
            ),
            mv(
                "sonde_scrape_samples_out_of_bounds_total",
                "Scraped samples dropped as out of bounds.",
                "counter",
                g(&self.samples_out_of_bounds),
            ),
            mv(
                "sonde_scrape_exceeded_sample_limit_total",
                "Scrapes that hit sample_limit.",
                "counter",
                g(&self.exceeded_sample_limit),
            ),
            mv(
                "sonde_scrape_exceeded_body_size_limit_total",
                "Scrapes that hit body_size_limit.",
                "counter",
                g(&self.exceeded_body_size_limit),
            ),
            mv(
                "sonde_scrape_exceeded_label_limits_total",
                "Scrapes that hit a label limit.",
                "counter",
                g(&self.exceeded_label_limits),
            ),
            mv(
                "sonde_scrape_exceeded_target_limit_total",
                "Pool syncs that hit target_limit.",
                "counter",
                g(&self.exceeded_target_limit),
            ),
            mv(
                "sonde_scrape_reloads_total",
                "Scrape pool reloads.",
                "counter",
                g(&self.reloads),
            ),
            mv(
                "sonde_scrape_reload_failures_total",
                "Scrape pool reloads that failed.",
                "counter",
                g(&self.reload_failures),
            ),
            mv(
                "sonde_scrape_duration_seconds_total",
                "Total time spent scraping, in seconds.",
                "counter",
                g(&self.scrape_duration_micros) / 1e6,
            ),
            mv(
                "sonde_sd_file_read_errors_total",
                "File SD files that could not be read or parsed.",
                "counter",
                g(&self.discovery.file_read_errors),
            ),
            mv(
                "sonde_sd_http_failures_total",
                "HTTP SD refreshes that failed.",
                "counter",
                g(&self.discovery.http_failures),
            ),
            mv(
                "sonde_sd_updates_total",
                "Target-group updates sent to the scrape manager.",
                "counter",
                g(&self.discovery.updates_sent),
            ),
        ];
        for kind in SCRAPE_ERROR_KINDS {
            out.push(MetricValue {
                name: "sonde_scrape_errors_total",
                help: "Failed scrapes by kind of error.",
                kind: "counter",
                labels: vec![("kind", kind.to_string())],
                value: self.errors(kind) as f64,
            });
        }
        out
    }
}

fn mv(name: &'static str, help: &'static str, kind: &'static str, value: f64) -> MetricValue {
    MetricValue {
        name,
        help,
        kind,
        labels: Vec::new(),
        value,
    }
}
