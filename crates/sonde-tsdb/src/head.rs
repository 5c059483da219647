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
//! a bucket holds every series whose labels collide on it. The hash is of the
//! pairs ([`write_key`]), so a series can be found from the label pairs a
//! client sent without building a [`Labels`] first
//! ([`Head::get_by_pairs`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use roaring::RoaringBitmap;
use sonde_model::{AppendError, Labels, Matcher};

use crate::head_order::SeriesOrder;
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

/// One hash stripe. Most hashes name one series, held in `first` without a
/// bucket of its own (a lookup then costs no extra allocation to chase, and
/// a series no extra memory); the rare other series of a colliding hash wait
/// in `collided`.
#[derive(Default)]
struct Stripe {
    first: IdMap<u64, Arc<MemSeries>>,
    collided: IdMap<u64, Vec<Arc<MemSeries>>>,
}

impl Stripe {
    fn find(&self, hash: u64, same: impl Fn(&MemSeries) -> bool) -> Option<Arc<MemSeries>> {
        let s = self.first.get(&hash)?;
        if same(s) {
            return Some(s.clone());
        }
        self.collided.get(&hash)?.iter().find(|s| same(s)).cloned()
    }

    fn insert(&mut self, hash: u64, s: Arc<MemSeries>) {
        match self.first.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(s);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.entry(hash).or_default().push(s);
            }
        }
    }

    /// Removes the series `dead` says so of; a collided series takes the
    /// place of a removed first one.
    fn remove_where(&mut self, mut dead: impl FnMut(&MemSeries) -> bool) {
        self.collided.retain(|_, bucket| {
            bucket.retain(|s| !dead(s));
            !bucket.is_empty()
        });
        let mut emptied = Vec::new();
        self.first.retain(|hash, s| {
            let d = dead(s);
            if d {
                emptied.push(*hash);
            }
            !d
        });
        for hash in emptied {
            let Some(bucket) = self.collided.get_mut(&hash) else {
                continue;
            };
            if let Some(s) = bucket.pop() {
                self.first.insert(hash, s);
            }
            if bucket.is_empty() {
                self.collided.remove(&hash);
            }
        }
    }
}

/// Appends the bytes a label set is hashed from: each name and each value
/// followed by 0xff, a byte UTF-8 never contains, so different sets give
/// different keys. The same for a [`Labels`] and for its pairs as sent.
pub(crate) fn write_key<'a>(dst: &mut Vec<u8>, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    dst.clear();
    for (n, v) in pairs {
        dst.extend_from_slice(n.as_bytes());
        dst.push(0xff);
        dst.extend_from_slice(v.as_bytes());
        dst.push(0xff);
    }
}

fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

thread_local! {
    /// Key buffer of the lookups by [`Labels`] (appends by label set,
    /// replay, exemplars), reused so that hashing does not allocate.
    static KEY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Whether `labels` are exactly `pairs`, in order.
pub(crate) fn same_pairs(labels: &Labels, pairs: &[(&str, &str)]) -> bool {
    let mut it = labels.iter();
    for (n, v) in pairs {
        match it.next() {
            Some((a, b))
                if same_bytes(a.as_bytes(), n.as_bytes())
                    && same_bytes(b.as_bytes(), v.as_bytes()) => {}
            _ => return false,
        }
    }
    it.next().is_none()
}

/// `a == b` for the short strings of labels, eight bytes at a time without
/// a call to `memcmp` per string (a third of the lookup's instructions were
/// those calls).
#[inline]
fn same_bytes(mut a: &[u8], mut b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    while let (Some((x, ra)), Some((y, rb))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if x != y {
            return false;
        }
        (a, b) = (ra, rb);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

pub struct Head {
    /// Hash of a [`write_key`]; replaceable in tests to force collisions.
    hash: fn(&[u8]) -> u64,
    mask: usize,
    by_hash: Vec<RwLock<Stripe>>,
    by_id: Vec<RwLock<IdMap<u32, Arc<MemSeries>>>>,
    postings: RwLock<MemPostings>,
    next_id: AtomicU32,
    num_series: AtomicU64,
    /// Oldest and newest sample time in the head (`i64::MAX`/`MIN` when empty).
    min_t: AtomicI64,
    max_t: AtomicI64,
    /// The series' label order, for sorting selections (read path).
    order: SeriesOrder,
}

impl Head {
    pub fn new(stripes: usize) -> Self {
        Head {
            hash: key_hash,
            mask: stripes - 1,
            by_hash: (0..stripes)
                .map(|_| RwLock::new(Stripe::default()))
                .collect(),
            by_id: (0..stripes)
                .map(|_| RwLock::new(IdMap::default()))
                .collect(),
            postings: RwLock::new(MemPostings::default()),
            next_id: AtomicU32::new(1),
            num_series: AtomicU64::new(0),
            min_t: AtomicI64::new(i64::MAX),
            max_t: AtomicI64::new(i64::MIN),
            order: SeriesOrder::default(),
        }
    }

    /// The hash of `labels` (a key written into this thread's buffer).
    fn hash_labels(&self, labels: &Labels) -> u64 {
        KEY.with(|k| {
            let mut k = k.borrow_mut();
            write_key(&mut k, labels.iter());
            (self.hash)(&k)
        })
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
        let hash = self.hash_labels(labels);
        let stripe = &self.by_hash[hash as usize & self.mask];
        let same = |s: &MemSeries| s.labels == *labels;
        if let Some(s) = stripe.read().find(hash, same) {
            s.pending.fetch_add(1, Ordering::AcqRel);
            return Ok(s);
        }
        validate_labels(labels)?;
        let mut w = stripe.write();
        if let Some(s) = w.find(hash, same) {
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
        let hash = self.hash_labels(labels);
        let s = self.by_hash[hash as usize & self.mask]
            .read()
            .find(hash, |s| s.labels == *labels)?;
        s.pending.fetch_add(1, Ordering::AcqRel);
        Some(s)
    }

    /// The series whose label set is exactly `pairs` if it exists, marked
    /// as having a pending append (unsorted pairs, or pairs with an empty
    /// value, are no stored set: `None`).
    /// Nothing is built or allocated: `key` is the caller's buffer for the
    /// hashed bytes.
    pub fn get_by_pairs(
        &self,
        pairs: &[(&str, &str)],
        key: &mut Vec<u8>,
    ) -> Option<Arc<MemSeries>> {
        write_key(key, pairs.iter().copied());
        let hash = (self.hash)(key);
        let s = self.by_hash[hash as usize & self.mask]
            .read()
            .find(hash, |s| same_pairs(&s.labels, pairs))?;
        s.pending.fetch_add(1, Ordering::AcqRel);
        Some(s)
    }

    /// Recreates a series from the WAL with its recorded id. Returns the
    /// series now holding these labels (an existing one when the WAL
    /// recorded the labels twice).
    pub fn restore(&self, id: u32, labels: Labels) -> Arc<MemSeries> {
        let hash = self.hash_labels(&labels);
        let mut w = self.by_hash[hash as usize & self.mask].write();
        if let Some(s) = w.find(hash, |s| s.labels == labels) {
            return s;
        }
        self.next_id
            .fetch_max(id.saturating_add(1), Ordering::AcqRel);
        let s = Arc::new(MemSeries::new(id, labels));
        self.insert(&mut w, hash, s.clone());
        s
    }

    fn insert(&self, stripe: &mut Stripe, hash: u64, s: Arc<MemSeries>) {
        stripe.insert(hash, s.clone());
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
        self.order
            .sort(&mut out, self.num_series() as usize, || self.all_series());
        out
    }

    #[cfg(test)]
    pub(crate) fn order(&self) -> &SeriesOrder {
        &self.order
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
            stripe.write().remove_where(|s| {
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
                dead
            });
        }
        self.num_series.fetch_sub(removed as u64, Ordering::Relaxed);
        removed
    }
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

    /// Found by the pairs as sent, with or without collisions; a collided
    /// series stays findable when the first of its hash is collected.
    #[test]
    fn pairs_find_the_series_and_collisions_survive_gc() {
        for collide in [false, true] {
            let mut head = Head::new(4);
            if collide {
                head.hash = |_| 42;
            }
            let sets: Vec<Labels> = ["a", "b", "c"]
                .iter()
                .map(|n| Labels::from_pairs(&[("__name__", *n), ("job", "x")]))
                .collect();
            let ids: Vec<u32> = sets
                .iter()
                .map(|l| {
                    let s = head.get_or_create(l).unwrap();
                    s.release();
                    s.id
                })
                .collect();
            let mut key = Vec::new();
            for (l, id) in sets.iter().zip(&ids) {
                let pairs: Vec<(&str, &str)> = l.iter().collect();
                let s = head.get_by_pairs(&pairs, &mut key).unwrap();
                assert_eq!(s.id, *id);
                s.release();
            }
            assert!(head.get_by_pairs(&[("__name__", "a")], &mut key).is_none());
            assert!(head
                .get_by_pairs(&[("__name__", "a"), ("job", "x"), ("z", "1")], &mut key)
                .is_none());
            // Only "b" holds data: "a" (the first of the hash) and "c" go.
            let b = head.get(&sets[1]).unwrap();
            b.data
                .lock()
                .insert(1, 1.0, crate::series::Placement::InOrder, 7_200_000);
            b.release();
            assert_eq!(head.gc(), 2);
            let pairs: Vec<(&str, &str)> = sets[1].iter().collect();
            let s = head.get_by_pairs(&pairs, &mut key).unwrap();
            assert_eq!(s.id, ids[1]);
            s.release();
            assert!(head.get(&sets[0]).is_none());
            let again = head.get_or_create(&sets[0]).unwrap();
            assert_ne!(again.id, ids[0]);
            again.release();
            assert_eq!(head.num_series(), 2);
        }
    }

    #[test]
    fn same_bytes_is_equality() {
        let words = [
            "",
            "a",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnopq",
        ];
        for a in words {
            for b in words {
                assert_eq!(same_bytes(a.as_bytes(), b.as_bytes()), a == b, "{a} {b}");
            }
            let mut c = a.as_bytes().to_vec();
            if let Some(last) = c.last_mut() {
                *last ^= 1;
                assert!(!same_bytes(a.as_bytes(), &c));
            }
        }
    }

    #[test]
    fn key_of_labels_and_of_pairs_agree() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("instance", "h:9100")]);
        let pairs: Vec<(&str, &str)> = l.iter().collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_key(&mut a, l.iter());
        write_key(&mut b, pairs.iter().copied());
        assert_eq!(a, b);
        // Name and value boundaries are part of the key.
        write_key(&mut a, [("ab", "c")].into_iter());
        write_key(&mut b, [("a", "bc")].into_iter());
        assert_ne!(a, b);
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
