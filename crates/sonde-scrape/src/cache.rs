//! The per-loop scrape cache (Prometheus' `scrapeCache`): the raw series
//! text of a line (`name{labels}` as exposed) maps to the storage ref and
//! the final labels, so a steady-state scrape neither parses labels nor
//! relabels nor allocates per sample. It also tracks which series were seen
//! in the previous and the current scrape, for staleness markers, and keeps
//! the metadata (TYPE/HELP/UNIT) of the target.
//!
//! Thread safety: the cache belongs to one scrape loop task. The metadata is
//! shared with readers (the API) behind a mutex, locked per metadata line.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use sonde_model::{Labels, MetricMetadata, MetricType, SeriesRef};

/// FxHash (rustc's hasher): the cache is keyed by series text a target
/// sends, looked up once per sample; SipHash's DoS resistance is not needed
/// for a map whose keys one target controls and whose size is bounded by
/// the sample limit, and Fx is several times faster on short keys.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ (rest.len() as u64) << 56);
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A series seen before.
#[derive(Debug)]
pub(crate) struct CacheEntry {
    pub series_ref: SeriesRef,
    /// Final labels (target labels added, metric relabeling applied).
    /// Shared so tracking staleness does not copy them.
    pub labels: Arc<Labels>,
    /// `labels.stable_hash()`, the staleness identity.
    pub hash: u64,
    /// The cache iteration of the last scrape that exposed it.
    pub last_iter: u64,
    /// The scrape (append call) number that last exposed it, to spot a
    /// duplicate line within one scrape.
    pub last_scrape: u64,
    /// The scrape that created the entry; its ref is forgotten if that
    /// scrape's batch is rolled back.
    pub created_scrape: u64,
}

#[derive(Debug, Clone)]
struct MetaEntry {
    meta: MetricMetadata,
    last_iter: u64,
}

/// Metadata of one target, by metric family name. Shared with the API.
#[derive(Debug, Default)]
pub struct MetadataStore {
    entries: Mutex<HashMap<String, MetaEntry>>,
}

impl MetadataStore {
    /// A copy of all entries, sorted by metric name.
    pub fn list(&self) -> Vec<(String, MetricMetadata)> {
        let Ok(m) = self.entries.lock() else {
            return Vec::new();
        };
        let mut out: Vec<(String, MetricMetadata)> =
            m.iter().map(|(k, e)| (k.clone(), e.meta.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The metadata of one metric family.
    pub fn get(&self, metric: &str) -> Option<MetricMetadata> {
        self.entries
            .lock()
            .ok()?
            .get(metric)
            .map(|e| e.meta.clone())
    }

    fn update(&self, name: &str, iter: u64, f: impl FnOnce(&mut MetricMetadata)) {
        let Ok(mut m) = self.entries.lock() else {
            return;
        };
        if let Some(e) = m.get_mut(name) {
            e.last_iter = iter;
            f(&mut e.meta);
            return;
        }
        let mut meta = MetricMetadata::default();
        f(&mut meta);
        m.insert(
            name.to_string(),
            MetaEntry {
                meta,
                last_iter: iter,
            },
        );
    }

    fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    fn expire(&self, iter: u64) {
        if let Ok(mut m) = self.entries.lock() {
            // Prometheus keeps metadata for 10 scrapes after its metric went.
            m.retain(|_, e| iter.saturating_sub(e.last_iter) <= 10);
        }
    }
}

/// The scrape cache of one loop.
#[derive(Debug, Default)]
pub(crate) struct ScrapeCache {
    series: FxMap<Box<[u8]>, CacheEntry>,
    /// Raw series that metric relabeling dropped, with their last iteration.
    dropped: FxMap<Box<[u8]>, u64>,
    /// Series (by hash) exposed by the current and the previous scrape,
    /// without explicit timestamps.
    cur: FxMap<u64, Arc<Labels>>,
    prev: FxMap<u64, Arc<Labels>>,
    iter: u64,
    scrape_no: u64,
    successful_count: usize,
    pub metadata: Arc<MetadataStore>,
    /// Hashes already marked stale in this append, to mark each once.
    seen: HashSet<u64, BuildHasherDefault<FxHasher>>,
}

impl ScrapeCache {
    /// Starts one scrape's append; returns its number.
    pub fn begin(&mut self) -> u64 {
        self.scrape_no += 1;
        self.scrape_no
    }

    pub fn get_mut(&mut self, raw: &[u8]) -> Option<&mut CacheEntry> {
        let iter = self.iter;
        let e = self.series.get_mut(raw)?;
        e.last_iter = iter;
        Some(e)
    }

    pub fn add(&mut self, raw: &[u8], series_ref: SeriesRef, labels: Arc<Labels>, scrape_no: u64) {
        let hash = labels.stable_hash();
        self.series.insert(
            raw.into(),
            CacheEntry {
                series_ref,
                labels,
                hash,
                last_iter: self.iter,
                last_scrape: scrape_no,
                created_scrape: scrape_no,
            },
        );
    }

    pub fn is_dropped(&mut self, raw: &[u8]) -> bool {
        let iter = self.iter;
        match self.dropped.get_mut(raw) {
            Some(i) => {
                *i = iter;
                true
            }
            None => false,
        }
    }

    pub fn add_dropped(&mut self, raw: &[u8]) {
        self.dropped.insert(raw.into(), self.iter);
    }

    /// Forgets the storage refs handed out by a batch that was rolled back.
    pub fn forget_refs_of(&mut self, scrape_no: u64) {
        for e in self.series.values_mut() {
            if e.created_scrape == scrape_no {
                e.series_ref = 0;
            }
        }
    }

    /// Forgets what a failed (rolled back) append tracked as exposed, so
    /// the empty append that follows marks every previous series stale.
    /// (Prometheus 2.42 keeps them, so series appended before the sample
    /// limit was hit escape their markers although their samples were
    /// rolled back; its comment says the empty append is meant to mark
    /// them stale, which is what this does.)
    pub fn forget_current(&mut self) {
        self.cur.clear();
    }

    /// Notes that a series without explicit timestamp was exposed now.
    pub fn track_staleness(&mut self, hash: u64, labels: &Arc<Labels>) {
        self.cur.insert(hash, labels.clone());
    }

    /// Series exposed by the previous scrape and not by this one.
    pub fn stale_series(&mut self) -> Vec<Arc<Labels>> {
        self.seen.clear();
        let mut out = Vec::new();
        for (h, l) in &self.prev {
            if !self.cur.contains_key(h) && self.seen.insert(*h) {
                out.push(l.clone());
            }
        }
        out
    }

    pub fn set_type(&self, name: &str, t: MetricType) {
        self.metadata.update(name, self.iter, |m| m.metric_type = t);
    }

    pub fn set_help(&self, name: &str, help: &str) {
        self.metadata.update(name, self.iter, |m| {
            if m.help != help {
                help.clone_into(&mut m.help);
            }
        });
    }

    pub fn set_unit(&self, name: &str, unit: &str) {
        self.metadata.update(name, self.iter, |m| {
            if m.unit != unit {
                unit.clone_into(&mut m.unit);
            }
        });
    }

    /// Ends one append (Prometheus' `iterDone`): after a non-empty scrape,
    /// entries not seen in it are forgotten; after empty (failed) scrapes
    /// they are kept unless the cache has grown past twice its last good
    /// size plus 1000 (varying labels in failing scrapes). Then the current
    /// series become the previous ones.
    pub fn iter_done(&mut self, flush: bool) {
        let count = self.series.len() + self.dropped.len() + self.metadata.len();
        let mut flush = flush;
        if flush {
            self.successful_count = count;
        } else if count > self.successful_count * 2 + 1000 {
            flush = true;
        }
        if flush {
            let iter = self.iter;
            self.series.retain(|_, e| e.last_iter == iter);
            self.dropped.retain(|_, i| *i == iter);
            self.metadata.expire(iter);
            self.iter += 1;
        }
        std::mem::swap(&mut self.cur, &mut self.prev);
        self.cur.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: &str) -> Arc<Labels> {
        Arc::new(Labels::from_pairs(&[("__name__", n)]))
    }

    #[test]
    fn staleness_is_previous_minus_current() {
        let mut c = ScrapeCache::default();
        let (a, b) = (labels("a"), labels("b"));
        c.track_staleness(a.stable_hash(), &a);
        c.track_staleness(b.stable_hash(), &b);
        c.iter_done(true);
        c.track_staleness(a.stable_hash(), &a);
        assert_eq!(c.stale_series(), vec![b.clone()]);
        c.iter_done(true);
        // b was already reported; a vanishes now.
        assert_eq!(c.stale_series(), vec![a]);
    }

    #[test]
    fn entries_unseen_in_a_good_scrape_are_forgotten_and_failed_scrapes_keep_them() {
        let mut c = ScrapeCache::default();
        let n = c.begin();
        c.add(b"a", 1, labels("a"), n);
        c.add(b"b", 2, labels("b"), n);
        c.iter_done(true);
        c.begin();
        assert!(c.get_mut(b"a").is_some());
        c.iter_done(false); // an empty (failed) scrape keeps everything
        assert!(c.series.contains_key(&b"b"[..]));
        c.begin();
        assert!(c.get_mut(b"a").is_some());
        c.iter_done(true); // a good scrape without b forgets it
        assert!(!c.series.contains_key(&b"b"[..]));
        assert_eq!(c.get_mut(b"a").map(|e| e.series_ref), Some(1));
    }

    #[test]
    fn rolled_back_refs_are_forgotten() {
        let mut c = ScrapeCache::default();
        let n = c.begin();
        c.add(b"a", 9, labels("a"), n);
        c.forget_refs_of(n);
        assert_eq!(c.get_mut(b"a").map(|e| e.series_ref), Some(0));
    }

    #[test]
    fn metadata_outlives_its_metric_by_more_than_ten_scrapes() {
        let mut c = ScrapeCache::default();
        c.set_type("m", MetricType::Gauge);
        c.set_help("m", "help");
        assert_eq!(c.metadata.get("m").unwrap().help, "help");
        // Prometheus deletes it once `iter - last_iter > 10` at a flush.
        for _ in 0..12 {
            assert!(c.metadata.get("m").is_some());
            c.iter_done(true);
        }
        assert!(c.metadata.get("m").is_none());
    }
}
