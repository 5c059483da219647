//! One series in the head: its labels and its chunks.
//!
//! Thread safety: `id` and `labels` are immutable; everything else is in
//! `data`, behind a per-series mutex held only for the few instructions of
//! an append or of copying chunk handles for a query (sealed chunks are
//! immutable and shared by `Arc`, so readers never decode under the lock).
//!
//! Invariants of [`SeriesData`]: `sealed` chunks are in-order, sorted and
//! non-overlapping, and end before `open` starts; an in-order chunk never
//! crosses a multiple of the block range, so cutting a block at such a
//! boundary never splits a chunk. Out-of-order samples live in `ooo`
//! (a small sorted map) until there are enough to seal into `ooo_chunks`.
//! `frozen` chunks are being written to a block and stay readable until the
//! block is.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use parking_lot::Mutex;
use sonde_model::{AppendError, Labels};

use crate::chunk::{Chunk, ChunkIter, Encoding, XorAppender, MAX_SAMPLES_PER_CHUNK};

pub struct MemSeries {
    pub id: u32,
    pub labels: Labels,
    /// Where the labels' bytes are, for prefetching them
    /// ([`MemSeries::prefetch_labels`]).
    labels_at: usize,
    pub data: Mutex<SeriesData>,
    /// Whether a series record for this series is in the WAL (since the
    /// last checkpoint, which rewrites all live series).
    pub logged: AtomicBool,
    /// Appenders holding uncommitted samples for this series; garbage
    /// collection skips series with pending appends.
    pub pending: AtomicU32,
}

impl MemSeries {
    pub fn new(id: u32, labels: Labels) -> Self {
        // The first name lies a length prefix into the labels' buffer.
        let labels_at = labels.iter().next().map_or(0, |(n, _)| n.as_ptr() as usize);
        MemSeries {
            id,
            labels,
            labels_at,
            data: Mutex::new(SeriesData::default()),
            logged: AtomicBool::new(false),
            pending: AtomicU32::new(0),
        }
    }

    /// Starts loading the labels' bytes into the cache.
    #[inline]
    pub(crate) fn prefetch_labels(&self) {
        if self.labels_at != 0 {
            let lines = (self.labels_at % 64 + self.labels.byte_size()).div_ceil(64);
            crate::prefetch::prefetch_lines(self.labels_at, lines);
        }
    }

    /// Starts loading the series' own cache lines (its reference counts,
    /// `pending` and `data`, where an append's state lives) into the
    /// cache: a commit's apply touches hundreds of series, each evicted
    /// since its append by the WAL write in between.
    #[inline]
    pub(crate) fn prefetch(&self) {
        // The `Arc`'s counts lie just before the series.
        let at = (self as *const MemSeries as usize).wrapping_sub(16);
        let lines = (at % 64 + 16 + std::mem::size_of::<MemSeries>()).div_ceil(64);
        crate::prefetch::prefetch_lines(at, lines);
    }

    pub fn release(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where a valid sample goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    InOrder,
    OutOfOrder,
    /// Same timestamp and same value as a stored sample: nothing to do.
    Noop,
}

#[derive(Debug)]
pub struct SeriesData {
    sealed: Vec<Chunk>,
    open: Option<XorAppender>,
    /// Newest in-order timestamp, `i64::MIN` when there is none.
    pub max_t: i64,
    last_bits: u64,
    /// What most series never have, boxed so that they pay 8 bytes for it
    /// instead of ~100.
    rare: Option<Box<Rare>>,
}

#[derive(Debug, Default)]
struct Rare {
    ooo: BTreeMap<i64, f64>,
    ooo_chunks: Vec<Chunk>,
    frozen: Vec<Chunk>,
    /// Deleted time ranges (inclusive), applied on read and at block cut.
    tombstones: Vec<(i64, i64)>,
}

impl Rare {
    fn is_empty(&self) -> bool {
        self.ooo.is_empty()
            && self.ooo_chunks.is_empty()
            && self.frozen.is_empty()
            && self.tombstones.is_empty()
    }
}

impl Default for SeriesData {
    fn default() -> Self {
        SeriesData {
            sealed: Vec::new(),
            open: None,
            max_t: i64::MIN,
            last_bits: 0,
            rare: None,
        }
    }
}

impl SeriesData {
    /// Decides where `(t, v)` would go, or why it is refused.
    pub fn placement(&self, t: i64, v: f64, allow_ooo: bool) -> Result<Placement, AppendError> {
        if t > self.max_t {
            return Ok(Placement::InOrder);
        }
        if t == self.max_t {
            return if v.to_bits() == self.last_bits {
                Ok(Placement::Noop)
            } else {
                Err(AppendError::DuplicateSampleForTimestamp)
            };
        }
        if !allow_ooo {
            return Err(AppendError::OutOfOrder);
        }
        match self.value_at(t) {
            Some(bits) if bits == v.to_bits() => Ok(Placement::Noop),
            Some(_) => Err(AppendError::DuplicateSampleForTimestamp),
            None => Ok(Placement::OutOfOrder),
        }
    }

    /// Stores a sample already checked by [`Self::placement`].
    pub fn insert(&mut self, t: i64, v: f64, p: Placement, block_range: i64) {
        match p {
            Placement::Noop => {}
            Placement::InOrder => self.append_in_order(t, v, block_range),
            Placement::OutOfOrder => {
                let r = self.rare_mut();
                r.ooo.insert(t, v);
                if r.ooo.len() >= MAX_SAMPLES_PER_CHUNK as usize {
                    let samples: Vec<(i64, f64)> = std::mem::take(&mut r.ooo).into_iter().collect();
                    r.ooo_chunks.push(Chunk::from_samples(&samples));
                }
            }
        }
    }

    fn append_in_order(&mut self, t: i64, v: f64, block_range: i64) {
        let cut = match &self.open {
            None => false,
            Some(o) => {
                o.num_samples() >= MAX_SAMPLES_PER_CHUNK
                    || t >= (o.mint().div_euclid(block_range) + 1) * block_range
            }
        };
        if cut {
            if let Some(o) = self.open.take() {
                let (chunk, buf) = o.seal_keeping_buffer();
                self.sealed.push(chunk);
                self.open = Some(XorAppender::with_buffer(buf));
            }
        }
        self.open.get_or_insert_with(XorAppender::new).append(t, v);
        self.max_t = t;
        self.last_bits = v.to_bits();
    }

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    fn shrink_rare(&mut self) {
        if self.rare.as_ref().is_some_and(|r| r.is_empty()) {
            self.rare = None;
        }
    }

    pub fn tombstones(&self) -> &[(i64, i64)] {
        self.rare.as_ref().map_or(&[], |r| &r.tombstones)
    }

    /// The newest in-order sample, `(max_t, value)`, read from what the
    /// append path keeps anyway (no decoding), while it is the open chunk's
    /// last sample: out-of-order samples are always older than `max_t`, so
    /// it is then the newest sample the series holds. `None` when there is
    /// no open chunk (none yet, or it was frozen for a block).
    pub fn newest(&self) -> Option<(i64, f64)> {
        self.open.as_ref().filter(|o| o.maxt() == self.max_t)?;
        Some((self.max_t, f64::from_bits(self.last_bits)))
    }

    pub fn add_tombstone(&mut self, mint: i64, maxt: i64) {
        self.rare_mut().tombstones.push((mint, maxt));
    }

    /// The bits of the stored value at exactly `t`, if any.
    fn value_at(&self, t: i64) -> Option<u64> {
        let rare = self.rare.as_deref();
        if let Some(v) = rare.and_then(|r| r.ooo.get(&t)) {
            return Some(v.to_bits());
        }
        let at = |mut it: ChunkIter<&[u8]>| it.find(|s| s.0 >= t).filter(|s| s.0 == t);
        if let Some(o) = self
            .open
            .as_ref()
            .filter(|o| o.mint() <= t && t <= o.maxt())
        {
            // Only for a sample at or before the newest (out of order or
            // a duplicate): the copy does not weigh.
            let c = o.snapshot();
            if let Some((_, v)) = at(ChunkIter::new(Encoding::Xor, c.data.as_ref())) {
                return Some(v.to_bits());
            }
        }
        let empty: &[Chunk] = &[];
        let chunks = self
            .sealed
            .iter()
            .chain(rare.map_or(empty, |r| &r.ooo_chunks).iter())
            .chain(rare.map_or(empty, |r| &r.frozen).iter());
        for c in chunks {
            if c.mint <= t && t <= c.maxt {
                if let Some((_, v)) = at(ChunkIter::new(c.enc, c.data.as_ref())) {
                    return Some(v.to_bits());
                }
            }
        }
        None
    }

    /// Handles of every chunk overlapping `[mint, maxt]` (the open chunk and
    /// the unsealed out-of-order samples as fresh snapshots).
    pub fn chunks_in(&self, mint: i64, maxt: i64) -> Vec<Chunk> {
        self.chunks(mint, maxt, false)
    }

    /// [`SeriesData::chunks_in`] for a reader of the samples from `mint`
    /// on: the open chunk comes with a decoder mark before `mint` when it
    /// has one ([`XorAppender::snapshot_from`]).
    pub fn chunks_from(&self, mint: i64, maxt: i64) -> Vec<Chunk> {
        self.chunks(mint, maxt, true)
    }

    fn chunks(&self, mint: i64, maxt: i64, marked: bool) -> Vec<Chunk> {
        let overlaps = |c: &&Chunk| c.mint <= maxt && c.maxt >= mint;
        let mut out: Vec<Chunk> = self.sealed.iter().filter(overlaps).cloned().collect();
        if let Some(o) = &self.open {
            if o.mint() <= maxt && o.maxt() >= mint {
                out.push(if marked {
                    o.snapshot_from(mint)
                } else {
                    o.snapshot()
                });
            }
        }
        if let Some(r) = &self.rare {
            out.extend(r.frozen.iter().filter(overlaps).cloned());
            out.extend(r.ooo_chunks.iter().filter(overlaps).cloned());
            if mint <= maxt {
                let ooo: Vec<(i64, f64)> =
                    r.ooo.range(mint..=maxt).map(|(t, v)| (*t, *v)).collect();
                if !ooo.is_empty() {
                    out.push(Chunk::from_samples(&ooo));
                }
            }
        }
        out
    }

    /// Moves all data before `cut` into `frozen` and returns it.
    pub fn freeze(&mut self, cut: i64) -> Vec<Chunk> {
        let (old, keep): (Vec<Chunk>, Vec<Chunk>) = std::mem::take(&mut self.sealed)
            .into_iter()
            .partition(|c| c.maxt < cut);
        self.sealed = keep;
        let mut frozen = old;
        if self.open.as_ref().is_some_and(|o| o.maxt() < cut) {
            if let Some(o) = self.open.take() {
                frozen.push(o.seal());
            }
        }
        if frozen.is_empty() && self.rare.is_none() {
            return Vec::new();
        }
        let r = self.rare_mut();
        r.frozen.extend(frozen);
        let mut late: Vec<(i64, f64)> = Vec::new();
        for c in std::mem::take(&mut r.ooo_chunks) {
            if c.maxt < cut {
                r.frozen.push(c);
            } else if c.mint >= cut {
                r.ooo_chunks.push(c);
            } else {
                let (a, b): (Vec<_>, Vec<_>) = c.iter().partition(|s| s.0 < cut);
                late.extend(a);
                r.ooo_chunks.push(Chunk::from_samples(&b));
            }
        }
        let newer = r.ooo.split_off(&cut);
        late.extend(std::mem::replace(&mut r.ooo, newer));
        if !late.is_empty() {
            late.sort_by_key(|s| s.0);
            r.frozen.push(Chunk::from_samples(&late));
        }
        let out = r.frozen.clone();
        self.shrink_rare();
        out
    }

    /// Drops the frozen chunks once their block is readable.
    pub fn drop_frozen(&mut self, cut: i64) {
        if let Some(r) = &mut self.rare {
            r.frozen.clear();
            r.tombstones.retain(|iv| iv.1 >= cut);
        }
        self.shrink_rare();
    }

    pub fn is_empty(&self) -> bool {
        self.sealed.is_empty()
            && self.open.is_none()
            && self
                .rare
                .as_ref()
                .is_none_or(|r| r.ooo.is_empty() && r.ooo_chunks.is_empty() && r.frozen.is_empty())
    }

    pub fn num_chunks(&self) -> usize {
        let rare = self.rare.as_ref().map_or(0, |r| {
            r.ooo_chunks.len() + !r.ooo.is_empty() as usize + r.frozen.len()
        });
        self.sealed.len() + self.open.is_some() as usize + rare
    }

    /// Oldest timestamp held, if any.
    pub fn min_time(&self) -> Option<i64> {
        let rare = self.rare.as_deref();
        let empty: &[Chunk] = &[];
        let firsts = self
            .sealed
            .iter()
            .chain(rare.map_or(empty, |r| &r.frozen).iter())
            .chain(rare.map_or(empty, |r| &r.ooo_chunks).iter())
            .map(|c| c.mint)
            .chain(self.open.as_ref().map(|o| o.mint()))
            .chain(rare.and_then(|r| r.ooo.keys().next().copied()));
        firsts.min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_model::STALE_NAN;

    const RANGE: i64 = 7_200_000;

    fn put(d: &mut SeriesData, t: i64, v: f64) -> Result<Placement, AppendError> {
        let p = d.placement(t, v, true)?;
        d.insert(t, v, p, RANGE);
        Ok(p)
    }

    fn all(d: &SeriesData) -> Vec<(i64, u64)> {
        let mut v: Vec<(i64, u64)> = d
            .chunks_in(i64::MIN, i64::MAX)
            .iter()
            .flat_map(|c| c.iter().collect::<Vec<_>>())
            .map(|(t, v)| (t, v.to_bits()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn duplicates_and_out_of_order() {
        let mut d = SeriesData::default();
        assert_eq!(put(&mut d, 100, 1.0), Ok(Placement::InOrder));
        assert_eq!(put(&mut d, 100, 1.0), Ok(Placement::Noop));
        assert_eq!(
            put(&mut d, 100, 2.0),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        assert_eq!(put(&mut d, 50, STALE_NAN), Ok(Placement::OutOfOrder));
        assert_eq!(put(&mut d, 50, STALE_NAN), Ok(Placement::Noop));
        assert_eq!(
            put(&mut d, 50, 3.0),
            Err(AppendError::DuplicateSampleForTimestamp)
        );
        assert_eq!(d.placement(10, 1.0, false), Err(AppendError::OutOfOrder));
        assert_eq!(
            all(&d),
            vec![(50, STALE_NAN.to_bits()), (100, 1f64.to_bits())]
        );
    }

    #[test]
    fn chunks_cut_at_block_boundaries_and_freeze() {
        let mut d = SeriesData::default();
        for i in 0..500 {
            put(&mut d, i * 60_000, i as f64).unwrap();
        }
        for c in &d.sealed {
            assert_eq!(c.mint.div_euclid(RANGE), c.maxt.div_euclid(RANGE));
        }
        put(&mut d, 30_000, -1.0).unwrap();
        let frozen = d.freeze(RANGE);
        let n: usize = frozen.iter().map(|c| c.num_samples() as usize).sum();
        assert_eq!(n, 121);
        assert!(frozen.iter().all(|c| c.maxt < RANGE));
        assert_eq!(all(&d).len(), 501);
        d.drop_frozen(RANGE);
        assert_eq!(all(&d).len(), 380);
        assert_eq!(d.min_time(), Some(RANGE));
    }
}
