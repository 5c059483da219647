//! Decoding chunks (`docs/storage.md` section "Chunks"): sample by
//! sample ([`ChunkIter`], [`DecodeState`]) and in bulk, the samples of a
//! time range appended to a caller's buffer ([`ChunkIter::collect_range`]).
//!
//! Invariants: decoding never reads past the chunk's bytes; a malformed
//! stream ends the chunk (the samples before the bad field are returned),
//! never panics. The bulk decoder returns exactly the samples the
//! iterator gives, bit for bit: it runs the same field readers in a loop
//! that keeps the state in locals, without the per-sample dispatch on
//! the encoding and sample number (about a third of the decoding cost of
//! range queries, docs/benchmarks.md "Session 4: range queries").

use sonde_model::Sample;

use crate::bitstream::{bucket_table, bucketed_in, BitReader, BucketTable, OutOfBits};
use crate::chunk::{header_count, ChunkData, Encoding, XorMark, XorValue, T_BUCKETS};
use crate::chunk_int::{IntMode, POW10, V_BUCKETS};
use crate::chunk_packed::PackedState;

/// Decoder state, separate from the bytes so that owners of any byte
/// container (an `Arc<[u8]>`, a memory map) can drive it.
#[derive(Debug, Clone, Default)]
pub struct DecodeState {
    pos: usize,
    i: u16,
    n: u16,
    t: i64,
    tdelta: i64,
    xor: XorValue,
    iv: i64,
    vdelta: i64,
    scale: f64,
    mode: IntMode,
    divisor: i64,
    /// Boxed: a packed chunk's state is large, and iterators over the
    /// other encodings should not carry it.
    packed: Option<Box<PackedState>>,
}

impl DecodeState {
    /// `times` is the shared time column of a packed block chunk (empty
    /// for every other chunk).
    pub fn new(enc: Encoding, data: &[u8], times: &[u8]) -> Self {
        if enc == Encoding::Packed {
            let (p, n) = PackedState::new(data, times);
            return DecodeState {
                n,
                packed: Some(Box::new(p)),
                ..Default::default()
            };
        }
        let mut st = DecodeState {
            pos: 16,
            n: header_count(data),
            scale: 1.0,
            divisor: 1,
            ..Default::default()
        };
        if enc == Encoding::Int {
            let mut d = crate::wal_record::Decoder::new(data);
            d.pos = 2;
            let hdr = (|| {
                let exp = *d.bytes(1)?.first()?;
                let mode = match *d.bytes(1)?.first()? {
                    0 => IntMode::DeltaOfDelta,
                    1 => IntMode::Delta,
                    _ => return None,
                };
                let g = i64::try_from(d.uvarint()?).ok()?;
                Some((*POW10.get(exp as usize)?, mode, g))
            })();
            match hdr {
                Some((scale, mode, g)) => {
                    st.scale = scale;
                    st.mode = mode;
                    st.divisor = g;
                    st.pos = d.pos * 8;
                }
                // A malformed header reads as an empty chunk.
                None => st.n = 0,
            }
        }
        st
    }

    /// The next sample, or `None` at the end (or at a malformed stream).
    #[inline]
    pub fn next(&mut self, enc: Encoding, data: &[u8], times: &[u8]) -> Option<(i64, f64)> {
        if self.i >= self.n {
            return None;
        }
        let mut r = BitReader::new(data, self.pos);
        let res = match (enc, &mut self.packed) {
            (Encoding::Packed, Some(p)) => p.next(self.i, data, times),
            (Encoding::Packed, None) => Err(OutOfBits),
            (Encoding::Xor, _) => self.next_xor(&mut r),
            (Encoding::Int, _) => self.next_int(&mut r),
        };
        match res {
            Ok(s) => {
                self.pos = r.pos();
                self.i += 1;
                Some(s)
            }
            Err(OutOfBits) => {
                self.i = self.n;
                None
            }
        }
    }

    fn next_xor(&mut self, r: &mut BitReader<'_>) -> Result<(i64, f64), OutOfBits> {
        match self.i {
            0 => {
                self.t = r.read_varint()?;
                self.xor.set(r.read_bits(64)?);
            }
            1 => {
                self.tdelta = r.read_varint()?;
                self.t = self.t.wrapping_add(self.tdelta);
                self.xor.read(r)?;
            }
            _ => {
                self.tdelta = self.tdelta.wrapping_add(r.read_bucketed(T_BUCKETS)?);
                self.t = self.t.wrapping_add(self.tdelta);
                self.xor.read(r)?;
            }
        }
        Ok((self.t, f64::from_bits(self.xor.bits())))
    }

    fn next_int(&mut self, r: &mut BitReader<'_>) -> Result<(i64, f64), OutOfBits> {
        match self.i {
            0 => {
                self.t = r.read_varint()?;
                self.iv = r.read_varint()?;
            }
            1 => {
                self.tdelta = r.read_varint()?;
                self.vdelta = r.read_varint()?;
                self.t = self.t.wrapping_add(self.tdelta);
                self.iv = self.iv.wrapping_add(self.vdelta.wrapping_mul(self.divisor));
            }
            _ => {
                self.tdelta = self.tdelta.wrapping_add(r.read_bucketed(T_BUCKETS)?);
                let x = r.read_bucketed(V_BUCKETS)?;
                self.vdelta = match self.mode {
                    IntMode::DeltaOfDelta => self.vdelta.wrapping_add(x),
                    IntMode::Delta => x,
                };
                self.t = self.t.wrapping_add(self.tdelta);
                self.iv = self.iv.wrapping_add(self.vdelta.wrapping_mul(self.divisor));
            }
        }
        Ok((self.t, self.iv as f64 / self.scale))
    }
}

/// An iterator over a chunk's samples, owning (a handle to) its bytes.
pub struct ChunkIter<B: ChunkData> {
    enc: Encoding,
    data: B,
    st: DecodeState,
}

impl<B: ChunkData> ChunkIter<B> {
    pub fn new(enc: Encoding, data: B) -> Self {
        let st = DecodeState::new(enc, data.bytes(), data.times());
        ChunkIter { enc, data, st }
    }
}

impl<B: ChunkData> Iterator for ChunkIter<B> {
    type Item = (i64, f64);

    #[inline]
    fn next(&mut self) -> Option<(i64, f64)> {
        self.st.next(self.enc, self.data.bytes(), self.data.times())
    }
}

/// Where decoded samples go in a bulk decode: those before `mint` are
/// skipped, then samples are appended until one is after `maxt` (what
/// `skip_while(t < mint).take_while(t <= maxt)` does to an iterator).
pub(crate) struct RangeSink<'a> {
    mint: i64,
    maxt: i64,
    started: bool,
    out: &'a mut Vec<Sample>,
}

impl<'a> RangeSink<'a> {
    pub(crate) fn new(mint: i64, maxt: i64, out: &'a mut Vec<Sample>) -> Self {
        RangeSink {
            mint,
            maxt,
            started: false,
            out,
        }
    }

    pub(crate) fn mint(&self) -> i64 {
        self.mint
    }

    pub(crate) fn maxt(&self) -> i64 {
        self.maxt
    }

    /// The buffer, for a decoder that finds the range's ends itself (and
    /// so skips and stops as [`RangeSink::put`] would).
    pub(crate) fn out(&mut self) -> &mut Vec<Sample> {
        self.out
    }

    /// Takes one sample; false once the range is over (stop decoding).
    #[inline]
    pub(crate) fn put(&mut self, t: i64, v: f64) -> bool {
        if !self.started {
            if t < self.mint {
                return true;
            }
            self.started = true;
        }
        if t > self.maxt {
            return false;
        }
        self.out.push(Sample::new(t, v));
        true
    }
}

impl<B: ChunkData> ChunkIter<B> {
    /// Appends the samples of the rest of the chunk from the first at or
    /// after `mint` up to the last at or before `maxt` to `out`: what
    /// `self.skip_while(|s| s.0 < mint).take_while(|s| s.0 <= maxt)`
    /// gives, decoded in one loop. A packed chunk finds its first sample
    /// by a binary search of its time column instead of decoding the
    /// ones before it.
    pub fn collect_range(mut self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let (data, times) = (self.data.bytes(), self.data.times());
        let st = &mut self.st;
        out.reserve(st.n.saturating_sub(st.i) as usize);
        let mut sink = RangeSink::new(mint, maxt, out);
        if let Some(p) = &mut st.packed {
            p.collect_range(st.i, st.n, data, times, &mut sink);
            return;
        }
        if st.i == 0 && self.enc == Encoding::Xor {
            // Samples up to a mark before `mint` would all be skipped.
            if let Some(m) = self.data.mark().filter(|m| m.t < mint) {
                st.resume(m);
            }
        }
        // The first two samples have their own fields.
        while st.i < 2 {
            match st.next(self.enc, data, times) {
                Some((t, v)) if sink.put(t, v) => {}
                _ => return,
            }
        }
        match self.enc {
            Encoding::Xor => st.collect_xor(data, &mut sink),
            Encoding::Int => st.collect_int(data, &mut sink),
            Encoding::Packed => {}
        }
    }
}

impl DecodeState {
    /// Continues an XOR chunk's decoding from `m` (a state the writer
    /// recorded before sample `m.i`); a mark that does not fit the chunk
    /// is ignored.
    fn resume(&mut self, m: &XorMark) {
        if m.i < 2 || m.i >= self.n || m.pos < 16 {
            return;
        }
        self.pos = m.pos as usize;
        self.i = m.i;
        self.t = m.t;
        self.tdelta = m.tdelta;
        self.xor = m.xor;
    }

    /// Samples 2 and later of an XOR chunk into `sink`.
    fn collect_xor(&self, data: &[u8], sink: &mut RangeSink<'_>) {
        let mut r = BitReader::new(data, self.pos);
        let (mut t, mut td, mut xor) = (self.t, self.tdelta, self.xor);
        for _ in self.i..self.n {
            let dod = match bucketed_in(r.peek(), &T_TABLE, 57) {
                Some((dod, used)) if r.consume(used).is_ok() => dod,
                _ => match r.read_bucketed(T_BUCKETS) {
                    Ok(dod) => dod,
                    Err(OutOfBits) => return,
                },
            };
            td = td.wrapping_add(dod);
            t = t.wrapping_add(td);
            if xor.read(&mut r).is_err() || !sink.put(t, f64::from_bits(xor.bits())) {
                return;
            }
        }
    }

    /// Samples 2 and later of an integer chunk into `sink`. Both fields of
    /// a sample usually come from one [`BitReader::peek`].
    fn collect_int(&self, data: &[u8], sink: &mut RangeSink<'_>) {
        let mut r = BitReader::new(data, self.pos);
        let (mut t, mut td, mut iv, mut vd) = (self.t, self.tdelta, self.iv, self.vdelta);
        let (g, scale) = (self.divisor, self.scale);
        let dod_mode = self.mode == IntMode::DeltaOfDelta;
        for _ in self.i..self.n {
            let Ok((dod, x)) = int_fields(&mut r) else {
                return;
            };
            td = td.wrapping_add(dod);
            t = t.wrapping_add(td);
            vd = if dod_mode { vd.wrapping_add(x) } else { x };
            iv = iv.wrapping_add(vd.wrapping_mul(g));
            if !sink.put(t, iv as f64 / scale) {
                return;
            }
        }
    }
}

/// The timestamp buckets' decoding table.
static T_TABLE: BucketTable = bucket_table(T_BUCKETS);
/// The integer value buckets' decoding table.
static V_TABLE: BucketTable = bucket_table(V_BUCKETS);

/// The timestamp and value fields of an integer chunk's sample 2 or
/// later: from one peek when both fit in it, else field by field (which
/// also finds where the stream ends).
#[inline(always)]
fn int_fields(r: &mut BitReader<'_>) -> Result<(i64, i64), OutOfBits> {
    let w = r.peek();
    if let Some((dod, tu)) = bucketed_in(w, &T_TABLE, 57) {
        if let Some((x, vu)) = bucketed_in(w << tu, &V_TABLE, 57 - tu) {
            if r.consume(tu + vu).is_ok() {
                return Ok((dod, x));
            }
        }
    }
    Ok((r.read_bucketed(T_BUCKETS)?, r.read_bucketed(V_BUCKETS)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunk;

    fn bits(s: &[(i64, f64)]) -> Vec<(i64, u64)> {
        s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    /// A packed chunk and the shared time column it points at.
    struct Shared<'a>(&'a [u8], &'a [u8]);

    impl ChunkData for Shared<'_> {
        fn bytes(&self) -> &[u8] {
            self.0
        }

        fn times(&self) -> &[u8] {
            self.1
        }
    }

    /// `collect_range` against the iterator over every window around the
    /// chunk's samples, and after the iterator has moved.
    fn check_ranges<B: ChunkData>(name: &str, make: impl Fn() -> ChunkIter<B>) {
        let all: Vec<(i64, f64)> = make().collect();
        let mut edges: Vec<i64> = all.iter().flat_map(|s| [s.0 - 1, s.0, s.0 + 1]).collect();
        edges.extend([i64::MIN, i64::MAX]);
        for &mint in &edges {
            for &maxt in &edges {
                let want: Vec<(i64, f64)> = all
                    .iter()
                    .copied()
                    .skip_while(|s| s.0 < mint)
                    .take_while(|s| s.0 <= maxt)
                    .collect();
                let mut got = vec![Sample::new(-7, 1.0)];
                make().collect_range(mint, maxt, &mut got);
                let got: Vec<(i64, f64)> = got[1..].iter().map(|s| (s.t, s.v)).collect();
                assert_eq!(bits(&got), bits(&want), "{name} [{mint}, {maxt}]");
            }
        }
        for skip in 0..all.len().min(4) {
            let mut it = make();
            it.by_ref().take(skip).for_each(drop);
            let mut got = Vec::new();
            it.collect_range(i64::MIN, i64::MAX, &mut got);
            let got: Vec<(i64, f64)> = got.iter().map(|s| (s.t, s.v)).collect();
            assert_eq!(bits(&got), bits(&all[skip..]), "{name} after {skip}");
        }
    }

    fn check_encodings(samples: &[(i64, f64)]) {
        let c = Chunk::from_samples(samples);
        check_ranges("sealed", || ChunkIter::new(c.enc, c.data.as_ref()));
        let mut xor = crate::chunk::XorAppender::new();
        for &(t, v) in samples {
            xor.append(t, v);
        }
        let xor = xor.snapshot();
        check_ranges("xor", || ChunkIter::new(Encoding::Xor, xor.data.as_ref()));
        let p = Chunk::packed_from_samples(samples);
        check_ranges("packed", || {
            ChunkIter::new(Encoding::Packed, p.data.as_ref())
        });
        let mut col = Vec::new();
        let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
        crate::chunk_packed::encode_times(&ts, &mut col);
        let shared = crate::chunk_packed::encode_packed(samples, Some(77));
        check_ranges("shared", || {
            ChunkIter::new(Encoding::Packed, Shared(&shared, &col))
        });
    }

    #[test]
    fn collect_range_matches_the_iterator() {
        let t = |i: i64| 1_700_000_000_000 + i * 15_000 + (i * 7919 % 6);
        let counter: Vec<(i64, f64)> = (0..120).map(|i| (t(i), (i * 37 + i % 5) as f64)).collect();
        let cpu: Vec<(i64, f64)> = (0..120)
            .map(|i| (t(i), (1_000_000 + i * 1497 + i % 3) as f64 / 100.0))
            .collect();
        let floats: Vec<(i64, f64)> = (0..100).map(|i| (t(i), (i as f64).sin())).collect();
        let gauge: Vec<(i64, f64)> = (0..50)
            .map(|i| (t(i) + (i / 3) * 70_000, ((i * 7919) % 101) as f64))
            .collect();
        let odd = [
            (1, 0.0),
            (2, -0.0),
            (3, f64::NAN),
            (4, sonde_model::STALE_NAN),
            (5, f64::INFINITY),
            (1 << 40, 1e300),
            ((1 << 40) + 3, 1e300),
        ];
        for s in [
            &counter[..],
            &cpu,
            &floats,
            &gauge,
            &odd,
            &counter[..1],
            &counter[..2],
        ] {
            check_encodings(s);
        }
    }

    #[test]
    fn collect_range_of_truncated_chunks_stops_where_the_iterator_does() {
        let s: Vec<(i64, f64)> = (0..60)
            .map(|i| (i * 1000 + i % 4, (i * i) as f64 * 0.5))
            .collect();
        let mut xor = crate::chunk::XorAppender::new();
        for &(t, v) in &s {
            xor.append(t, v);
        }
        let chunks = [
            (Encoding::Xor, xor.snapshot().data.as_ref().to_vec()),
            (
                Encoding::Int,
                Chunk::from_samples(&s).data.as_ref().to_vec(),
            ),
            (
                Encoding::Packed,
                Chunk::packed_from_samples(&s).data.as_ref().to_vec(),
            ),
        ];
        for (enc, data) in &chunks {
            for cut in 0..data.len() {
                let data = &data[..cut];
                let want: Vec<(i64, f64)> = ChunkIter::new(*enc, data).collect();
                let mut got = Vec::new();
                ChunkIter::new(*enc, data).collect_range(i64::MIN, i64::MAX, &mut got);
                let got: Vec<(i64, f64)> = got.iter().map(|s| (s.t, s.v)).collect();
                assert_eq!(bits(&got), bits(&want), "{enc:?} cut at {cut}");
            }
        }
    }

    /// An open chunk read from a mark gives what reading it from its
    /// start gives, at every length and from every start time.
    fn check_marks(samples: &[(i64, f64)]) -> usize {
        let mut app = crate::chunk::XorAppender::new();
        let mut resumed = 0;
        for (n, &(t, v)) in samples.iter().enumerate() {
            app.append(t, v);
            let plain = app.snapshot();
            // The samples' times and the times just after them, around
            // the marks and at a sample in five elsewhere.
            let starts: Vec<i64> = samples[..=n]
                .iter()
                .enumerate()
                .filter(|(k, _)| k % 32 <= 2 || k % 32 == 31 || k % 5 == 0)
                .flat_map(|(_, s)| [s.0, s.0 + 1])
                .collect();
            for &mint in &starts {
                let marked = app.snapshot_from(mint);
                resumed += usize::from(marked.data.mark().is_some());
                for maxt in [t, t - 1, samples[n / 2].0, i64::MAX] {
                    let mut want = Vec::new();
                    plain.iter().collect_range(mint, maxt, &mut want);
                    let mut got = vec![Sample::new(-7, 1.0)];
                    marked.iter().collect_range(mint, maxt, &mut got);
                    let want: Vec<(i64, f64)> = want.iter().map(|s| (s.t, s.v)).collect();
                    let got: Vec<(i64, f64)> = got[1..].iter().map(|s| (s.t, s.v)).collect();
                    assert_eq!(bits(&got), bits(&want), "{n} samples [{mint}, {maxt}]");
                }
            }
        }
        resumed
    }

    #[test]
    fn open_chunks_read_from_a_mark_as_from_their_start() {
        let t = |i: i64| 1_700_000_000_000 + i * 15_000 + (i * 7919 % 6);
        let cpu: Vec<(i64, f64)> = (0..120)
            .map(|i| (t(i), (1_000_000 + i * 1497 + i % 3) as f64 / 100.0))
            .collect();
        let odd: Vec<(i64, f64)> = (0..100)
            .map(|i| match i % 7 {
                0 => (t(i), f64::NAN),
                1 => (t(i), sonde_model::STALE_NAN),
                2 => (t(i), -0.0),
                3 => (t(i) + 3, 1e300),
                _ => (t(i) + (i / 5) * 70_000, (i as f64).sin()),
            })
            .collect();
        let mut odd = odd;
        odd.sort_by_key(|s| s.0);
        odd.dedup_by_key(|s| s.0);
        assert!(check_marks(&cpu) > 500);
        assert!(check_marks(&odd) > 0);
    }

    proptest::proptest! {
        #[test]
        fn collect_range_matches_on_any_samples(
            deltas in proptest::collection::vec(1i64..100_000_000, 1..150),
            vals in proptest::collection::vec(proptest::num::f64::ANY, 150),
            ints in proptest::collection::vec(-1_000_000i64..1_000_000, 150),
            kind in 0u8..3,
            window in (0usize..150, 0usize..150),
        ) {
            let samples = crate::chunk::tests::proptest_samples(&deltas, &vals, &ints, kind);
            let at = |k: usize| samples[k.min(samples.len() - 1)].0;
            let (mint, maxt) = (at(window.0) - (window.0 as i64 % 2), at(window.1));
            for c in [Chunk::from_samples(&samples), Chunk::packed_from_samples(&samples)] {
                let want: Vec<(i64, u64)> = c.iter()
                    .skip_while(|s| s.0 < mint)
                    .take_while(|s| s.0 <= maxt)
                    .map(|s| (s.0, s.1.to_bits()))
                    .collect();
                let mut got = Vec::new();
                c.iter().collect_range(mint, maxt, &mut got);
                let got: Vec<(i64, u64)> = got.iter().map(|s| (s.t, s.v.to_bits())).collect();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
