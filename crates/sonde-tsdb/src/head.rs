//! The head: the in-memory series of recent data, found by label hash or by
//! id, and the inverted index over them.
//!
//! Thread safety: the series maps are split into `stripes` independently
//! locked shards (by label hash and by id), so appenders on different series
//! rarely meet on a lock; the postings index has one `RwLock`, written only
//! when a series is created or garbage-collected, never per sample. Lock
//! order: hash stripe, then id stripe, then postings, then a series' data.
//!
//! Series identity is the sorted label set: the hash only picks a slot of a
//! stripe (`head_stripe.rs`), and series whose labels collide on it are told
//! apart by their labels. The hash is of the labels' strings in order
//! ([`hash_strs`]), which the pairs a client sent give as they are, so a
//! series is found from them without building a [`Labels`] or writing its
//! bytes first ([`Head::get_by_pairs`]), and compared with the stored
//! set's bytes ([`same_pairs`]).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use roaring::RoaringBitmap;
use sonde_model::{AppendError, Labels, Matcher};

use crate::head_order::SeriesOrder;
use crate::head_stripe::{Stripe, StripeWrite};
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

pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdentityHasher>>;

/// The hash a series is found by: of its labels' strings, name, value,
/// name, value..., each with its length. In memory only (never written),
/// so it may change between versions.
///
/// Each string goes in one folded multiplication (two for 17 bytes or
/// more), its bytes read as two overlapping words: the hash of a remote
/// write's series then costs about a tenth of writing its labels out in
/// [`Labels::encoded`]'s form and hashing those bytes, which was a tenth
/// of the server's instructions per sample.
#[inline]
pub(crate) fn hash_strs<'a>(strs: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h = SEED;
    for s in strs {
        h = hash_str(h, s.as_bytes());
    }
    fold(h, K2)
}

const SEED: u64 = 0x243F_6A88_85A3_08D3;
const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xBF58_476D_1CE4_E5B9;
const K3: u64 = 0x94D0_49BB_1331_11EB;

/// The high and low halves of the 128-bit product, xored: every bit of
/// both operands reaches the low bits (which pick the stripe).
#[inline(always)]
pub(crate) fn fold(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

#[inline(always)]
fn hash_str(mut h: u64, s: &[u8]) -> u64 {
    let n = s.len();
    h ^= (n as u64).wrapping_mul(K1);
    if let (Some(first), Some(last)) = (s.first_chunk::<8>(), s.last_chunk::<8>()) {
        if n > 16 {
            return hash_long(h, s);
        }
        return fold(
            h ^ u64::from_le_bytes(*first) ^ K3,
            u64::from_le_bytes(*last) ^ K2,
        );
    }
    let a = if let (Some(first), Some(last)) = (s.first_chunk::<4>(), s.last_chunk::<4>()) {
        (u64::from(u32::from_le_bytes(*first)) << 32) | u64::from(u32::from_le_bytes(*last))
    } else if let (Some(&a), Some(&b), Some(&c)) = (s.first(), s.get(n / 2), s.last()) {
        (u64::from(a) << 16) | (u64::from(b) << 8) | u64::from(c)
    } else {
        0
    };
    fold(h ^ a ^ K3, K2)
}

/// [`hash_str`] of a string of more than 16 bytes: 16 bytes per fold,
/// the last 16 overlapping.
#[inline(never)]
fn hash_long(mut h: u64, s: &[u8]) -> u64 {
    let n = s.len();
    let mut i = 0;
    while i + 16 < n {
        h = fold(h ^ word8(s, i) ^ K1, word8(s, i + 8) ^ K2);
        i += 16;
    }
    fold(h ^ word8(s, n - 16) ^ K3, word8(s, n - 8) ^ K2)
}

/// [`hash_strs`] of pairs in the order given.
#[inline]
fn hash_pairs(pairs: &[(&str, &str)]) -> u64 {
    let mut h = SEED;
    for (n, v) in pairs {
        h = hash_str(h, n.as_bytes());
        h = hash_str(h, v.as_bytes());
    }
    fold(h, K2)
}

/// Whether `enc` (a set's [`Labels::encoded`] bytes) holds exactly
/// `pairs`, in order: the comparison of [`Labels::encode_pairs`]'s bytes
/// with `enc`, without writing them.
#[inline]
pub(crate) fn same_pairs(enc: &[u8], pairs: &[(&str, &str)]) -> bool {
    let mut rest = enc;
    for (n, v) in pairs {
        if !take_str(&mut rest, n.as_bytes()) || !take_str(&mut rest, v.as_bytes()) {
            return false;
        }
    }
    rest.is_empty()
}

/// Consumes `s`'s encoding (LEB128 length, bytes) from the front of
/// `rest` if that is what `rest` starts with.
#[inline]
fn take_str(rest: &mut &[u8], s: &[u8]) -> bool {
    let len = s.len();
    let start = if len < 0x80 {
        match rest.first() {
            Some(&b) if b as usize == len => 1,
            _ => return false,
        }
    } else {
        let mut prefix = [0u8; 10];
        let (mut n, mut k) = (len, 0);
        while n >= 0x80 {
            prefix[k] = (n as u8) | 0x80;
            n >>= 7;
            k += 1;
        }
        prefix[k] = n as u8;
        if !rest.starts_with(&prefix[..=k]) {
            return false;
        }
        k + 1
    };
    match rest.get(start..start + len) {
        Some(bytes) if same_bytes(bytes, s) => {
            *rest = &rest[start + len..];
            true
        }
        _ => false,
    }
}

/// `a == b` for the short strings of labels, without a call to `memcmp`
/// per string (a third of the lookup's instructions were those calls):
/// eight bytes at a time with the last word overlapping, and short strings
/// as two overlapping 4-byte words or their first, middle and last bytes.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word8(a, i) != word8(b, i) {
                return false;
            }
            i += 8;
        }
        return word8(a, n - 8) == word8(b, n - 8);
    }
    if n >= 4 {
        return word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4);
    }
    n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1])
}

#[inline(always)]
fn word8(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_ne_bytes(w)
}

#[inline(always)]
fn word4(s: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[i..i + 4]);
    u32::from_ne_bytes(w)
}

/// Buffers of [`Head::get_many_by_pairs`], reused between calls.
#[derive(Debug, Default)]
pub struct LookupScratch {
    /// Every series' hash.
    hashes: Vec<u64>,
}

impl LookupScratch {
    /// Bytes the buffers hold on to.
    pub fn capacity(&self) -> usize {
        self.hashes.capacity() * 8
    }
}

pub struct Head {
    /// Applied to every [`hash_strs`]; the identity, replaced in tests to
    /// force collisions.
    rehash: fn(u64) -> u64,
    mask: usize,
    by_hash: Vec<Stripe>,
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
            rehash: |h| h,
            mask: stripes - 1,
            by_hash: (0..stripes).map(|_| Stripe::default()).collect(),
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

    /// The hash of `labels`.
    fn hash_labels(&self, labels: &Labels) -> u64 {
        (self.rehash)(hash_strs(labels.iter().flat_map(|(n, v)| [n, v])))
    }

    /// The hash of the set these pairs are, in this order.
    #[inline]
    fn hash_pairs(&self, pairs: &[(&str, &str)]) -> u64 {
        (self.rehash)(hash_pairs(pairs))
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

    fn stripe(&self, hash: u64) -> &Stripe {
        &self.by_hash[hash as usize & self.mask]
    }

    fn id_stripe(&self, id: u32) -> usize {
        id as usize & self.mask
    }

    /// The series with this id, marked as having a pending append.
    pub fn get_by_id(&self, id: u32) -> Option<Arc<MemSeries>> {
        // Marked while the stripe is locked: see `gc`.
        self.by_id[self.id_stripe(id)]
            .read()
            .get(&id)
            .map(|s| mark(s.clone()))
    }

    /// The series with these labels, created if new, marked as having a
    /// pending append.
    pub fn get_or_create(&self, labels: &Labels) -> Result<Arc<MemSeries>, AppendError> {
        let hash = self.hash_labels(labels);
        let stripe = self.stripe(hash);
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
        self.stripe(hash)
            .read()
            .find(hash, |s| s.labels == *labels)
            .map(mark)
    }

    /// The series whose label set is exactly `pairs` if it exists, marked
    /// as having a pending append (unsorted pairs, or pairs with an empty
    /// value, are no stored set: `None`). Nothing is built or allocated.
    pub fn get_by_pairs(&self, pairs: &[(&str, &str)]) -> Option<Arc<MemSeries>> {
        let hash = self.hash_pairs(pairs);
        self.stripe(hash)
            .read()
            .find(hash, |s| same_pairs(s.labels.encoded(), pairs))
            .map(mark)
    }

    /// [`Head::get_by_pairs`] for many series at once: `out[i]` is the
    /// series whose label set is exactly `series[i]`, if it exists (marked
    /// as having a pending append). The same answers, but the memory
    /// accesses of the lookups overlap: each step is done for every series
    /// before the next one, and starts loading what the next step reads
    /// (the stripe, then its slot for the hash, then the series, then its
    /// labels), so that the lookups do not wait for memory one after
    /// another. A remote-write request's series are spread over the whole
    /// head, so each of these loads is otherwise a cache miss.
    pub fn get_many_by_pairs(
        &self,
        series: &[&[(&str, &str)]],
        scratch: &mut LookupScratch,
        out: &mut Vec<Option<Arc<MemSeries>>>,
    ) {
        let hashes = &mut scratch.hashes;
        hashes.clear();
        for pairs in series {
            let hash = self.hash_pairs(pairs);
            self.stripe(hash).prefetch();
            hashes.push(hash);
        }
        for &hash in hashes.iter() {
            self.stripe(hash).prefetch_slot(hash);
        }
        for &hash in hashes.iter() {
            self.stripe(hash).prefetch_series(hash);
        }
        // The first series of each hash, marked: its labels are compared
        // in the next pass, once they have arrived.
        out.clear();
        for &hash in hashes.iter() {
            let s = self
                .stripe(hash)
                .read()
                .first(hash)
                .map(|s| mark(s.clone()));
            if let Some(s) = &s {
                s.prefetch_labels();
            }
            out.push(s);
        }
        for ((slot, &hash), pairs) in out.iter_mut().zip(hashes.iter()).zip(series) {
            let Some(s) = slot.take() else {
                // No series has this hash.
                continue;
            };
            if same_pairs(s.labels.encoded(), pairs) {
                *slot = Some(s);
                continue;
            }
            // A colliding hash: the full lookup.
            s.release();
            *slot = self
                .stripe(hash)
                .read()
                .find(hash, |s| same_pairs(s.labels.encoded(), pairs))
                .map(mark);
        }
    }

    /// Recreates a series from the WAL with its recorded id. Returns the
    /// series now holding these labels (an existing one when the WAL
    /// recorded the labels twice).
    pub fn restore(&self, id: u32, labels: Labels) -> Arc<MemSeries> {
        let hash = self.hash_labels(&labels);
        let mut w = self.stripe(hash).write();
        if let Some(s) = w.find(hash, |s| s.labels == labels) {
            return s;
        }
        self.next_id
            .fetch_max(id.saturating_add(1), Ordering::AcqRel);
        let s = Arc::new(MemSeries::new(id, labels));
        self.insert(&mut w, hash, s.clone());
        s
    }

    fn insert(&self, stripe: &mut StripeWrite<'_>, hash: u64, s: Arc<MemSeries>) {
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
        let mut out: Vec<Arc<MemSeries>> = Vec::with_capacity(ids.len() as usize);
        out.extend(
            ids.iter()
                .filter_map(|id| self.by_id[self.id_stripe(id)].read().get(&id).cloned()),
        );
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

/// Marks `s` as having a pending append. Callers do this while holding
/// the lock of the map they found `s` in, so that `Head::gc` (which checks
/// the mark with both maps locked for writing) cannot remove a series an
/// appender has just picked up.
fn mark(s: Arc<MemSeries>) -> Arc<MemSeries> {
    s.pending.fetch_add(1, Ordering::AcqRel);
    s
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
        head.rehash = |_| 42;
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
                head.rehash = |_| 42;
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
            for (l, id) in sets.iter().zip(&ids) {
                let pairs: Vec<(&str, &str)> = l.iter().collect();
                let s = head.get_by_pairs(&pairs).unwrap();
                assert_eq!(s.id, *id);
                s.release();
            }
            assert!(head.get_by_pairs(&[("__name__", "a")]).is_none());
            assert!(head
                .get_by_pairs(&[("__name__", "a"), ("job", "x"), ("z", "1")])
                .is_none());
            // Only "b" holds data: "a" (the first of the hash) and "c" go.
            let b = head.get(&sets[1]).unwrap();
            b.data
                .lock()
                .insert(1, 1.0, crate::series::Placement::InOrder, 7_200_000);
            b.release();
            assert_eq!(head.gc(), 2);
            let pairs: Vec<(&str, &str)> = sets[1].iter().collect();
            let s = head.get_by_pairs(&pairs).unwrap();
            assert_eq!(s.id, ids[1]);
            s.release();
            assert!(head.get(&sets[0]).is_none());
            let again = head.get_or_create(&sets[0]).unwrap();
            assert_ne!(again.id, ids[0]);
            again.release();
            assert_eq!(head.num_series(), 2);
        }
    }

    /// A set's hash is its pairs' hash; moving a byte across a boundary
    /// between strings, or changing any byte, changes it; hashes spread
    /// over the stripes.
    #[test]
    fn pairs_hash_as_their_set_and_boundaries_count() {
        let long = "y".repeat(40);
        let sets: Vec<Vec<(&str, &str)>> = vec![
            vec![],
            vec![("__name__", "up")],
            vec![("__name__", "u"), ("p", "")],
            vec![("__name__", "up"), ("instance", "h:9100"), ("job", "node")],
            vec![("__name__", "up"), ("instanc", "eh:9100"), ("job", "node")],
            vec![("__name__", "up"), ("a", long.as_str())],
            vec![("__name__", "up"), ("a", &long[1..])],
        ];
        let mut seen = std::collections::HashSet::new();
        for pairs in &sets {
            let h = hash_pairs(pairs);
            assert!(seen.insert(h), "{pairs:?}");
            if pairs.iter().all(|(_, v)| !v.is_empty()) {
                let l = Labels::from_sorted(pairs.iter().copied());
                assert_eq!(hash_strs(l.iter().flat_map(|(n, v)| [n, v])), h);
            }
        }
        // Every byte of strings of every length up to three words counts.
        for n in 0..40usize {
            let a: String = (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let h = hash_pairs(&[("k", a.as_str())]);
            for i in 0..n {
                let mut b = a.clone().into_bytes();
                b[i] = b'Z';
                let b = String::from_utf8(b).unwrap();
                assert_ne!(hash_pairs(&[("k", b.as_str())]), h, "length {n}, byte {i}");
            }
        }
        let mut stripes = [0usize; 16];
        for i in 0..16_000 {
            let v = i.to_string();
            stripes[hash_pairs(&[("__name__", "m"), ("i", v.as_str())]) as usize & 15] += 1;
        }
        assert!(
            stripes.iter().all(|n| (800..1200).contains(n)),
            "{stripes:?}"
        );
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
        // Every length up to three words, a difference at every position.
        for n in 0..25usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(same_bytes(&a, &a.clone()));
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x40;
                assert!(!same_bytes(&a, &b), "length {n}, byte {i}");
            }
        }
    }

    /// `same_pairs` agrees with comparing the encoded bytes, for sets and
    /// pairs that differ anywhere: order, a boundary, a length, a long
    /// string, a missing or extra pair, an empty value.
    #[test]
    fn same_pairs_is_encoded_equality() {
        let long = "x".repeat(150);
        let longer = "x".repeat(151);
        let sets: Vec<Vec<(&str, &str)>> = vec![
            vec![],
            vec![("__name__", "up")],
            vec![("__name__", "up"), ("instance", "h:9100")],
            vec![("instance", "h:9100"), ("__name__", "up")],
            vec![("__name__", "u"), ("pinstance", "h:9100")],
            vec![("__name__", "up"), ("instance", "h:9100"), ("z", "")],
            vec![("__name__", "up"), ("a", long.as_str())],
            vec![("__name__", "up"), ("a", longer.as_str())],
            vec![("__name__", "up"), (long.as_str(), "1")],
        ];
        let mut key = Vec::new();
        for a in sets
            .iter()
            .filter(|a| a.windows(2).all(|w| w[0].0 < w[1].0))
        {
            let l = Labels::from_sorted(a.iter().copied());
            for b in &sets {
                Labels::encode_pairs(&mut key, b.iter().copied());
                assert_eq!(
                    same_pairs(l.encoded(), b),
                    l.encoded() == key.as_slice(),
                    "{a:?} {b:?}"
                );
            }
            assert!(same_pairs(l.encoded(), a), "{a:?}");
        }
    }

    /// Many series found at once: the same answers as one by one, with
    /// and without colliding hashes, for known, unknown and repeated sets.
    #[test]
    fn many_at_once_find_what_one_by_one_finds() {
        for collide in [false, true] {
            let mut head = Head::new(4);
            if collide {
                head.rehash = |h| h % 3;
            }
            let sets: Vec<Labels> = (0..40)
                .map(|i| Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]))
                .collect();
            for l in sets.iter().step_by(2) {
                head.get_or_create(l).unwrap().release();
            }
            let pairs: Vec<Vec<(&str, &str)>> = sets.iter().map(|l| l.iter().collect()).collect();
            let mut req: Vec<&[(&str, &str)]> = pairs.iter().map(|p| p.as_slice()).collect();
            req.push(&pairs[2]);
            let (mut scratch, mut out) = (LookupScratch::default(), Vec::new());
            head.get_many_by_pairs(&req, &mut scratch, &mut out);
            assert_eq!(out.len(), req.len());
            for (p, got) in req.iter().zip(&out) {
                let one = head.get_by_pairs(p);
                assert_eq!(got.as_ref().map(|s| s.id), one.as_ref().map(|s| s.id));
                for s in [got.as_ref(), one.as_ref()].into_iter().flatten() {
                    s.release();
                }
            }
            // Every mark was released: all series are collectable.
            assert_eq!(head.gc(), 20);
        }
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
