//! The head: the in-memory series of recent data, found by label hash or by
//! id, and the inverted index over them.
//!
//! Thread safety: the series maps are split into `stripes` independently
//! locked shards (by label hash and by id), so appenders on different series
//! rarely meet on a lock; the postings index has one `RwLock`, written only
//! when a series is created or garbage-collected, never per sample. Lock
//! order: hash stripe, then id stripe, then postings, then a series' data.
//!
//! Series identity is the sorted label set: the hash only picks a bucket, and
//! a bucket holds every series whose labels collide on it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use roaring::RoaringBitmap;
use sonde_model::{AppendError, Labels, Matcher};

use crate::postings::{select_postings, MemPostings};
use crate::series::MemSeries;

/// A hasher for keys that already are hashes or dense ids.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn write_u32(&mut self, v: u32) {
        // Spread dense ids over the table's buckets.
        self.0 = (v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdentityHasher>>;

pub struct Head {
    /// `Labels::stable_hash`, replaceable in tests to force collisions.
    hash: fn(&Labels) -> u64,
    mask: usize,
    by_hash: Vec<RwLock<IdMap<u64, Vec<Arc<MemSeries>>>>>,
    by_id: Vec<RwLock<IdMap<u32, Arc<MemSeries>>>>,
    postings: RwLock<MemPostings>,
    next_id: AtomicU32,
    num_series: AtomicU64,
    /// Oldest and newest sample time in the head (`i64::MAX`/`MIN` when empty).
    min_t: AtomicI64,
    max_t: AtomicI64,
}

impl Head {
    pub fn new(stripes: usize) -> Self {
        Head {
            hash: Labels::stable_hash,
            mask: stripes - 1,
            by_hash: (0..stripes)
                .map(|_| RwLock::new(IdMap::default()))
                .collect(),
            by_id: (0..stripes)
                .map(|_| RwLock::new(IdMap::default()))
                .collect(),
            postings: RwLock::new(MemPostings::default()),
            next_id: AtomicU32::new(1),
            num_series: AtomicU64::new(0),
            min_t: AtomicI64::new(i64::MAX),
            max_t: AtomicI64::new(i64::MIN),
        }
    }

    pub fn num_series(&self) -> u64 {
        self.num_series.load(Ordering::Relaxed)
    }

    pub fn min_time(&self) -> i64 {
        self.min_t.load(Ordering::Acquire)
    }

    pub fn max_time(&self) -> i64 {
        self.max_t.load(Ordering::Acquire)
    }

    pub fn observe_time(&self, t: i64) {
        self.min_t.fetch_min(t, Ordering::AcqRel);
        self.max_t.fetch_max(t, Ordering::AcqRel);
    }

    pub fn set_min_time(&self, t: i64) {
        self.min_t.store(t, Ordering::Release);
    }

    fn id_stripe(&self, id: u32) -> usize {
        id as usize & self.mask
    }

    /// The series with this id, marked as having a pending append.
    pub fn get_by_id(&self, id: u32) -> Option<Arc<MemSeries>> {
        let s = self.by_id[self.id_stripe(id)].read().get(&id).cloned()?;
        s.pending.fetch_add(1, Ordering::AcqRel);
        Some(s)
    }

    /// The series with these labels, created if new, marked as having a
    /// pending append.
    pub fn get_or_create(&self, labels: &Labels) -> Result<Arc<MemSeries>, AppendError> {
        let hash = (self.hash)(labels);
        let stripe = &self.by_hash[hash as usize & self.mask];
        if let Some(s) = find(&stripe.read(), hash, labels) {
            s.pending.fetch_add(1, Ordering::AcqRel);
            return Ok(s);
        }
        validate_labels(labels)?;
        let mut w = stripe.write();
        if let Some(s) = find(&w, hash, labels) {
            s.pending.fetch_add(1, Ordering::AcqRel);
            return Ok(s);
        }
        let id = self.next_id.fetch_add(1, Ordering::AcqRel);
        if id == u32::MAX {
            return Err(AppendError::Storage(sonde_model::StorageError::Other(
                "the head ran out of series ids (2^32); restart to compact them".into(),
            )));
        }
        let s = Arc::new(MemSeries::new(id, labels.clone()));
        s.pending.fetch_add(1, Ordering::AcqRel);
        self.insert(&mut w, hash, s.clone());
        Ok(s)
    }

    /// The series with these labels if it exists, marked as having a
    /// pending append (exemplars attach only to existing series).
    pub fn get(&self, labels: &Labels) -> Option<Arc<MemSeries>> {
        let hash = (self.hash)(labels);
        let s = find(
            &self.by_hash[hash as usize & self.mask].read(),
            hash,
            labels,
        )?;
        s.pending.fetch_add(1, Ordering::AcqRel);
        Some(s)
    }

    /// Recreates a series from the WAL with its recorded id. Returns the
    /// series now holding these labels (an existing one when the WAL
    /// recorded the labels twice).
    pub fn restore(&self, id: u32, labels: Labels) -> Arc<MemSeries> {
        let hash = (self.hash)(&labels);
        let mut w = self.by_hash[hash as usize & self.mask].write();
        if let Some(s) = find(&w, hash, &labels) {
            return s;
        }
        self.next_id
            .fetch_max(id.saturating_add(1), Ordering::AcqRel);
        let s = Arc::new(MemSeries::new(id, labels));
        self.insert(&mut w, hash, s.clone());
        s
    }

    fn insert(
        &self,
        bucket_map: &mut IdMap<u64, Vec<Arc<MemSeries>>>,
        hash: u64,
        s: Arc<MemSeries>,
    ) {
        bucket_map.entry(hash).or_default().push(s.clone());
        self.by_id[self.id_stripe(s.id)]
            .write()
            .insert(s.id, s.clone());
        self.postings.write().add(s.id, &s.labels);
        self.num_series.fetch_add(1, Ordering::Relaxed);
    }

    /// Ids of the series matching `matchers`.
    pub fn select_ids(&self, matchers: &[Matcher]) -> RoaringBitmap {
        select_postings(&*self.postings.read(), matchers)
    }

    pub fn postings(&self) -> parking_lot::RwLockReadGuard<'_, MemPostings> {
        self.postings.read()
    }

    /// The series with these ids (those still alive), sorted by labels.
    pub fn series_sorted(&self, ids: &RoaringBitmap) -> Vec<Arc<MemSeries>> {
        let mut out: Vec<Arc<MemSeries>> = ids
            .iter()
            .filter_map(|id| self.by_id[self.id_stripe(id)].read().get(&id).cloned())
            .collect();
        // Label sets are unique in the head: an unstable sort gives the
        // same order without a scratch buffer.
        out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Every live series, in no particular order.
    pub fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let mut out = Vec::with_capacity(self.num_series() as usize);
        for stripe in &self.by_id {
            out.extend(stripe.read().values().cloned());
        }
        out
    }

    /// Removes series that hold no data and have no pending appends.
    /// Returns how many were removed.
    pub fn gc(&self) -> usize {
        let mut removed = 0;
        for stripe in &self.by_hash {
            let mut w = stripe.write();
            w.retain(|_, bucket| {
                bucket.retain(|s| {
                    // Both ways of finding a series (this hash stripe, held
                    // for writing, and its id stripe) are locked before
                    // `pending` is read, so no appender can pick the series
                    // up between the check and the removal.
                    let mut by_id = self.by_id[self.id_stripe(s.id)].write();
                    let dead = s.pending.load(Ordering::Acquire) == 0 && s.data.lock().is_empty();
                    if dead {
                        by_id.remove(&s.id);
                        drop(by_id);
                        self.postings.write().remove(s.id, &s.labels);
                        removed += 1;
                    }
                    !dead
                });
                !bucket.is_empty()
            });
        }
        self.num_series.fetch_sub(removed as u64, Ordering::Relaxed);
        removed
    }
}

fn find(
    map: &IdMap<u64, Vec<Arc<MemSeries>>>,
    hash: u64,
    labels: &Labels,
) -> Option<Arc<MemSeries>> {
    map.get(&hash)?
        .iter()
        .find(|s| s.labels == *labels)
        .cloned()
}

/// Rejects label sets no series may have: empty, or with a repeated name.
fn validate_labels(labels: &Labels) -> Result<(), AppendError> {
    let invalid = |reason: &str| {
        Err(AppendError::InvalidLabels {
            labels: labels.to_string(),
            reason: reason.to_string(),
        })
    };
    if labels.is_empty() {
        return invalid("a series needs at least one label");
    }
    let mut prev: Option<&str> = None;
    for (n, _) in labels.iter() {
        if prev == Some(n) {
            return invalid(&format!("label name {n:?} appears more than once"));
        }
        prev = Some(n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_labels_same_series_across_threads() {
        let head = Arc::new(Head::new(16));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let head = head.clone();
                std::thread::spawn(move || {
                    (0..200)
                        .map(|i| {
                            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
                            let s = head.get_or_create(&l).unwrap();
                            s.release();
                            s.id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let ids: Vec<Vec<u32>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(head.num_series(), 200);
        assert_eq!(head.gc(), 200);
        assert_eq!(head.num_series(), 0);
        assert!(head.postings().label_names().is_empty());
    }

    #[test]
    fn colliding_hashes_keep_series_apart() {
        let mut head = Head::new(4);
        head.hash = |_| 42;
        let a = Labels::from_pairs(&[("__name__", "a")]);
        let b = Labels::from_pairs(&[("__name__", "b")]);
        let sa = head.get_or_create(&a).unwrap();
        let sb = head.get_or_create(&b).unwrap();
        assert_ne!(sa.id, sb.id);
        assert_eq!(head.get_or_create(&a).unwrap().id, sa.id);
        assert_eq!(head.get_or_create(&b).unwrap().id, sb.id);
        assert_eq!(head.restore(99, b.clone()).id, sb.id);
        assert_eq!(head.num_series(), 2);
        for s in [&sa, &sb, &sa, &sb] {
            s.release();
        }
        assert_eq!(head.gc(), 2);
    }

    #[test]
    fn invalid_label_sets_are_refused() {
        let head = Head::new(4);
        assert!(matches!(
            head.get_or_create(&Labels::empty()),
            Err(AppendError::InvalidLabels { .. })
        ));
    }
}
