//! Compressed chunks of samples: Gorilla XOR (delta-of-delta timestamps, XOR
//! floats) and an integer variant (encoded in `chunk_int.rs`) for integer-valued series (delta-of-delta
//! of the values), both specified in `docs/storage.md` section "Chunks".
//!
//! Invariants: a [`Chunk`] is immutable and holds samples in strictly
//! increasing time order; `data` starts with the sample count as a big-endian
//! u16 followed by the bit stream. Values round-trip bit-exactly (the stale
//! NaN included). The head appends to a [`XorAppender`]; when it is sealed,
//! [`XorAppender::seal`] re-encodes integer-valued chunks as
//! [`Encoding::Int`] when that is smaller (measured per chunk, so it never
//! loses against XOR).

use std::cell::RefCell;
use std::sync::Arc;

use sonde_model::Sample;

use crate::bitstream::{BitReader, BitWriter, OutOfBits};
use crate::chunk_int::{encode_int_into, IntScratch};
pub use crate::chunk_read::{ChunkIter, DecodeState};

/// Samples per chunk before the head cuts a new one. 120 is Prometheus'
/// choice: at a 15s scrape interval a chunk spans 30 minutes, and decoding a
/// chunk to reach one sample stays cheap, while the first sample's ~18 bytes
/// are amortised to ~0.15 bytes per sample.
pub const MAX_SAMPLES_PER_CHUNK: u16 = 120;

/// Bit widths of the timestamp delta-of-delta buckets after the `0` bucket
/// (prefixes `10`, `110`, `1110`, `11110`, `11111`). Prometheus' are
/// 14/17/20/64; the extra 5-bit bucket holds the few milliseconds of jitter
/// of scrape timestamps in 7 bits instead of 16 (measured in
/// `benches/chunk.rs`).
pub(crate) const T_BUCKETS: &[u32] = &[5, 14, 17, 20, 64];
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    Xor = 1,
    Int = 2,
    /// Blocks only (`chunk_packed.rs`): bit-packed, timestamps possibly in
    /// a time column shared with other series.
    Packed = 3,
}

impl Encoding {
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            1 => Some(Encoding::Xor),
            2 => Some(Encoding::Int),
            3 => Some(Encoding::Packed),
            _ => None,
        }
    }
}

/// An immutable, sealed chunk. Cheap to share: the bytes are reference
/// counted.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub enc: Encoding,
    pub mint: i64,
    pub maxt: i64,
    pub data: ChunkBytes,
}

/// The bytes of a chunk: owned by the head, or a range of a block's
/// memory-mapped chunk file (kept alive by the `Arc`).
#[derive(Clone)]
pub enum ChunkBytes {
    Owned(Arc<[u8]>),
    Mapped(Arc<crate::mmap::MappedFile>, usize, usize),
    /// A packed block chunk (`start..end`) whose timestamps are the time
    /// column at `times_start..times_end` of the same file.
    MappedShared {
        file: Arc<crate::mmap::MappedFile>,
        start: usize,
        end: usize,
        times_start: usize,
        times_end: usize,
    },
    /// A snapshot of the head's open XOR chunk with the decoder's state
    /// before one of its samples ([`XorAppender::snapshot_from`]).
    Resumable(Arc<[u8]>, Box<XorMark>),
}

impl AsRef<[u8]> for ChunkBytes {
    /// The chunk's own bytes (without a shared time column).
    #[inline]
    fn as_ref(&self) -> &[u8] {
        match self {
            ChunkBytes::Owned(b) | ChunkBytes::Resumable(b, _) => b,
            ChunkBytes::Mapped(m, start, end) => &m.bytes()[*start..*end],
            ChunkBytes::MappedShared {
                file, start, end, ..
            } => &file.bytes()[*start..*end],
        }
    }
}

/// What a chunk decoder reads: the chunk's bytes and, for a packed block
/// chunk sharing its timestamps, the time column (empty otherwise).
pub trait ChunkData {
    fn bytes(&self) -> &[u8];
    fn times(&self) -> &[u8] {
        &[]
    }
    /// Where a decoder may start instead of the first sample (XOR only).
    fn mark(&self) -> Option<&XorMark> {
        None
    }
}

impl ChunkData for ChunkBytes {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.as_ref()
    }

    #[inline]
    fn times(&self) -> &[u8] {
        match self {
            ChunkBytes::MappedShared {
                file,
                times_start,
                times_end,
                ..
            } => &file.bytes()[*times_start..*times_end],
            _ => &[],
        }
    }

    #[inline]
    fn mark(&self) -> Option<&XorMark> {
        match self {
            ChunkBytes::Resumable(_, m) => Some(m),
            _ => None,
        }
    }
}

impl ChunkData for &[u8] {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for ChunkBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunkBytes({} bytes)", self.as_ref().len())
    }
}

impl ChunkBytes {
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_ref().is_empty()
    }
}

impl Chunk {
    pub fn num_samples(&self) -> u16 {
        header_count(self.data.as_ref())
    }

    pub fn iter(&self) -> ChunkIter<ChunkBytes> {
        ChunkIter::new(self.enc, self.data.clone())
    }

    /// Encodes sorted samples (at most `u16::MAX`) in the smaller encoding.
    pub fn from_samples(samples: &[(i64, f64)]) -> Chunk {
        let mut app = XorAppender::new();
        for &(t, v) in samples {
            app.append(t, v);
        }
        app.seal()
    }

    /// Encodes sorted samples (at most `u16::MAX`) in the block encoding,
    /// [`Encoding::Packed`], with the time column inline. Blocks share
    /// time columns between series instead (`block_write.rs`); this form
    /// is for measuring the encoding alone.
    pub fn packed_from_samples(samples: &[(i64, f64)]) -> Chunk {
        Chunk {
            enc: Encoding::Packed,
            mint: samples.first().map_or(0, |s| s.0),
            maxt: samples.last().map_or(0, |s| s.0),
            data: ChunkBytes::Owned(Arc::from(crate::chunk_packed::encode_packed(samples, None))),
        }
    }
}

pub(crate) fn header_count(data: &[u8]) -> u16 {
    match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

pub(crate) fn fits(v: i64, bits: u32) -> bool {
    if bits >= 64 {
        return true;
    }
    let lim = 1i64 << (bits - 1);
    -lim <= v && v < lim
}

pub(crate) fn write_bucketed(w: &mut BitWriter, v: i64, buckets: &[u32]) {
    if v == 0 {
        w.write_bit(false);
        return;
    }
    for (i, &bits) in buckets.iter().enumerate() {
        if fits(v, bits) {
            let ones = i as u32 + 1;
            let (prefix, len) = if ones < buckets.len() as u32 {
                // `ones` one bits then a zero.
                (((1u64 << ones) - 1) << 1, ones + 1)
            } else {
                ((1u64 << ones) - 1, ones)
            };
            let payload = v as u64 & mask(bits);
            if len + bits <= 64 {
                // Prefix and payload in one write.
                w.write_bits((prefix << bits) | payload, len + bits);
            } else {
                w.write_bits(prefix, len);
                w.write_bits(payload, bits);
            }
            return;
        }
    }
    unreachable!("BUG: the last bucket holds 64 bits");
}

pub(crate) fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The Gorilla XOR value field state shared by the XOR chunks and the
/// packed chunks' XOR form (`docs/storage.md` section "Encoding 1").
#[derive(Debug, Clone, Copy)]
pub(crate) struct XorValue {
    v_bits: u64,
    /// 0xff until the first window is written.
    leading: u8,
    trailing: u8,
}

impl Default for XorValue {
    fn default() -> Self {
        XorValue {
            v_bits: 0,
            leading: 0xff,
            trailing: 0,
        }
    }
}

impl XorValue {
    #[inline]
    pub(crate) fn bits(&self) -> u64 {
        self.v_bits
    }

    /// Sets the previous value (the first sample's, written raw).
    #[inline]
    pub(crate) fn set(&mut self, bits: u64) {
        self.v_bits = bits;
    }

    /// Writes the field of `bits` against the previous value and makes it
    /// the previous value.
    #[inline]
    pub(crate) fn write(&mut self, w: &mut BitWriter, bits: u64) {
        let x = bits ^ self.v_bits;
        self.v_bits = bits;
        if x == 0 {
            w.write_bit(false);
            return;
        }
        let leading = (x.leading_zeros() as u8).min(31);
        let trailing = x.trailing_zeros() as u8;
        // The control bits, and the window's fields after `11`, go with
        // the value's bits in one write when they fit in 64 bits.
        let (head, head_len, sig, shift) =
            if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
                let sig = 64 - self.leading as u32 - self.trailing as u32;
                (0b10u64, 2, sig, self.trailing)
            } else {
                self.leading = leading;
                self.trailing = trailing;
                let sig = 64 - leading as u32 - trailing as u32;
                // 64 significant bits are written as 0: 6 bits cannot hold 64.
                let head = (0b11u64 << 11) | ((leading as u64) << 6) | (sig & 63) as u64;
                (head, 13, sig, trailing)
            };
        let value = x >> shift;
        if head_len + sig <= 64 {
            w.write_bits((head << sig) | value, head_len + sig);
        } else {
            w.write_bits(head, head_len);
            w.write_bits(value, sig);
        }
    }

    /// Reads one field, updating the previous value. The control bits,
    /// a new window's header and (up to 44 bits) the meaningful bits come
    /// from one [`BitReader::peek`]; errors where reading them one by one
    /// would.
    #[inline]
    pub(crate) fn read(&mut self, r: &mut BitReader<'_>) -> Result<(), OutOfBits> {
        let w = r.peek();
        if w >> 63 == 0 {
            return r.consume(1);
        }
        let header = if w >> 62 == 0b11 {
            self.leading = ((w >> 57) & 31) as u8;
            let sig = match ((w >> 51) & 63) as u8 {
                0 => 64,
                s => s,
            };
            self.trailing = 64u8.checked_sub(self.leading + sig).ok_or(OutOfBits)?;
            13
        } else if self.leading == 0xff {
            // A window reused before one was set: malformed.
            return Err(OutOfBits);
        } else {
            2
        };
        // 1..=64 bits: a window always holds at least one.
        let sig = 64 - self.leading as u32 - self.trailing as u32;
        let x = if header + sig <= 57 {
            r.consume(header + sig)?;
            (w << header) >> (64 - sig)
        } else {
            r.consume(header)?;
            r.read_bits(sig)?
        };
        self.v_bits ^= x << self.trailing;
        Ok(())
    }
}

/// Appends samples to a growing XOR chunk (the head's open chunk).
///
/// The chunk's count header is not kept in the bit stream but written when
/// the bytes are taken ([`XorAppender::snapshot`], [`XorAppender::seal`]),
/// and the stream's unfinished word waits in the writer: an append then
/// touches the heap buffer only when a 64-bit word is complete, not at every
/// sample (see [`BitWriter`]).
#[derive(Debug, Clone)]
pub struct XorAppender {
    /// The bit stream after the 2-byte count.
    w: BitWriter,
    count: u16,
    t: i64,
    tdelta: i64,
    xor: XorValue,
    mint: i64,
    all_finite: bool,
    /// The decoder's state before samples `MARK_EVERY * k`, for the two
    /// newest `k` (`i == 0`: none yet), in slot `k % 2`.
    marks: [XorMark; 2],
}

/// Samples between [`XorMark`]s of an open chunk: a window of up to 32
/// samples (8 minutes at 15 s) at the chunk's end starts at most 32
/// samples after a mark, instead of up to 120 after the chunk's start.
const MARK_EVERY: u16 = 32;

/// An XOR decoder's state before sample `i` of a chunk (`i` >= 2): the
/// bit position of that sample's fields, and the time, time delta and
/// value state after sample `i - 1`, which is at `t`. Kept by the open
/// chunk's appender as it writes, so that a query reading only the end
/// of the chunk (an instant `rate(x[5m])`) decodes from a mark instead of
/// from the chunk's start (60-75% of such queries' instructions,
/// docs/benchmarks.md "Session 5").
#[derive(Debug, Clone, Copy, Default)]
pub struct XorMark {
    pub(crate) t: i64,
    pub(crate) tdelta: i64,
    pub(crate) xor: XorValue,
    pub(crate) pos: u32,
    pub(crate) i: u16,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    pub fn new() -> Self {
        Self::with_buffer(Vec::new())
    }

    /// An empty appender writing into `buf` (emptied; its capacity is
    /// kept), e.g. the buffer of the series' chunk sealed before it.
    pub fn with_buffer(mut buf: Vec<u8>) -> Self {
        buf.clear();
        XorAppender {
            w: BitWriter::from_parts(buf, 0),
            count: 0,
            t: 0,
            tdelta: 0,
            xor: XorValue::default(),
            mint: 0,
            all_finite: true,
            marks: [XorMark::default(); 2],
        }
    }

    pub fn num_samples(&self) -> u16 {
        self.count
    }

    pub fn mint(&self) -> i64 {
        self.mint
    }

    pub fn maxt(&self) -> i64 {
        self.t
    }

    /// Size of the chunk's bytes (count header included).
    pub fn byte_len(&self) -> usize {
        2 + self.w.byte_len()
    }

    /// The chunk's bytes: the count, the flushed words, the unfinished
    /// tail, in one allocation.
    fn to_bytes(&self) -> Arc<[u8]> {
        // Assembled in a scratch buffer and copied into the `Arc` whole:
        // collecting the chained byte iterators into it went byte by byte
        // (a quarter of an instant `rate` query's instructions, since
        // every query copies the open chunks it reads; docs/benchmarks.md
        // "Session 5").
        BYTES.with(|cell| {
            let mut buf = cell.borrow_mut();
            self.bytes_into(&mut buf);
            let bytes = Arc::from(buf.as_slice());
            if buf.capacity() > RETAIN_SEAL_BYTES {
                *buf = Vec::new();
            }
            bytes
        })
    }

    /// The chunk's bytes into `dst` (cleared first).
    fn bytes_into(&self, dst: &mut Vec<u8>) {
        let (tail, n) = self.w.tail();
        dst.clear();
        dst.extend_from_slice(&self.count.to_be_bytes());
        dst.extend_from_slice(self.w.flushed());
        dst.extend_from_slice(&tail[..n]);
    }

    /// Appends a sample; `t` must be greater than the last one.
    pub fn append(&mut self, t: i64, v: f64) {
        if self.count % MARK_EVERY == 0 && self.count > 0 {
            self.mark();
        }
        let bits = v.to_bits();
        match self.count {
            0 => {
                self.w.write_varint(t);
                self.w.write_bits(bits, 64);
                self.mint = t;
            }
            1 => {
                self.tdelta = t - self.t;
                self.w.write_varint(self.tdelta);
                self.xor.write(&mut self.w, bits);
            }
            _ => {
                let delta = t - self.t;
                write_bucketed(&mut self.w, delta - self.tdelta, T_BUCKETS);
                self.tdelta = delta;
                self.xor.write(&mut self.w, bits);
            }
        }
        self.t = t;
        self.xor.set(bits);
        self.all_finite &= v.is_finite();
        self.count += 1;
    }

    /// Records the decoder's state before the sample about to be written.
    #[inline(never)]
    fn mark(&mut self) {
        let slot = usize::from(self.count / MARK_EVERY % 2);
        self.marks[slot] = XorMark {
            t: self.t,
            tdelta: self.tdelta,
            xor: self.xor,
            pos: u32::try_from(16 + self.w.bit_len()).unwrap_or(u32::MAX),
            i: self.count,
        };
    }

    /// [`XorAppender::snapshot`] for a reader of the samples from `mint`
    /// on: with the newest mark before `mint` when there is one.
    pub fn snapshot_from(&self, mint: i64) -> Chunk {
        let best = self
            .marks
            .iter()
            .filter(|m| m.i > 0 && m.t < mint && m.pos != u32::MAX)
            .max_by_key(|m| m.i);
        match best {
            Some(m) => Chunk {
                enc: Encoding::Xor,
                mint: self.mint,
                maxt: self.t,
                data: ChunkBytes::Resumable(self.to_bytes(), Box::new(*m)),
            },
            None => self.snapshot(),
        }
    }

    /// A snapshot of the open chunk as an immutable XOR chunk.
    pub fn snapshot(&self) -> Chunk {
        Chunk {
            enc: Encoding::Xor,
            mint: self.mint,
            maxt: self.t,
            data: ChunkBytes::Owned(self.to_bytes()),
        }
    }

    /// Closes the chunk, choosing the smallest of XOR and the integer
    /// encoding (decimal-scaled values, delta or delta-of-delta mode).
    pub fn seal(self) -> Chunk {
        self.seal_keeping_buffer().0
    }

    /// [`XorAppender::seal`], giving back the bit stream's buffer (empty,
    /// its capacity kept) for the series' next chunk: the head then grows
    /// a chunk's buffer once per series, not once per chunk. The chunk's
    /// bytes are the one allocation: the XOR form and the integer form
    /// are assembled in this thread's scratch buffers.
    pub fn seal_keeping_buffer(self) -> (Chunk, Vec<u8>) {
        let (enc, data) = SEAL.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let sealed = self.seal_with(&mut scratch);
            if scratch.capacity() > RETAIN_SEAL_BYTES {
                *scratch = SealScratch::default();
            }
            sealed
        });
        let chunk = Chunk {
            enc,
            mint: self.mint,
            maxt: self.t,
            data: ChunkBytes::Owned(data),
        };
        (chunk, self.w.into_empty_buffer())
    }

    fn seal_with(&self, scratch: &mut SealScratch) -> (Encoding, Arc<[u8]>) {
        if !(self.all_finite && self.count > 2) {
            return (Encoding::Xor, self.to_bytes());
        }
        let SealScratch {
            xor,
            samples,
            int,
            int_scratch,
        } = scratch;
        self.bytes_into(xor);
        samples.clear();
        ChunkIter::new(Encoding::Xor, xor.as_slice()).collect_range(i64::MIN, i64::MAX, samples);
        if encode_int_into(samples, xor.len(), int_scratch, int) {
            return (Encoding::Int, Arc::from(int.as_slice()));
        }
        (Encoding::Xor, Arc::from(xor.as_slice()))
    }
}

/// Buffers of [`XorAppender::seal`], kept by each thread between seals.
#[derive(Debug, Default)]
struct SealScratch {
    xor: Vec<u8>,
    samples: Vec<Sample>,
    int: Vec<u8>,
    int_scratch: IntScratch,
}

impl SealScratch {
    fn capacity(&self) -> usize {
        self.xor.capacity()
            + self.samples.capacity() * std::mem::size_of::<Sample>()
            + self.int.capacity()
            + self.int_scratch.capacity()
    }
}

thread_local! {
    static SEAL: RefCell<SealScratch> = RefCell::new(SealScratch::default());
    /// [`XorAppender::to_bytes`]' scratch.
    static BYTES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Largest seal scratch a thread keeps: a head chunk of 120 samples takes
/// about 4 KiB; the rare chunk of thousands of samples (an out-of-order
/// or imported one) gives its buffers back.
const RETAIN_SEAL_BYTES: usize = 64 << 10;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sonde_model::STALE_NAN;

    fn round_trip(samples: &[(i64, f64)]) -> Chunk {
        let c = Chunk::from_samples(samples);
        let got: Vec<(i64, f64)> = c.iter().collect();
        assert_eq!(got.len(), samples.len());
        for (a, b) in got.iter().zip(samples) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits(), "value at t={}", a.0);
        }
        assert_eq!(c.num_samples() as usize, samples.len());
        c
    }

    #[test]
    fn xor_round_trips_awkward_values() {
        let vals = [
            0.0,
            -0.0,
            1.5,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            STALE_NAN,
            1e-300,
            -7.25,
            42.0,
        ];
        let samples: Vec<(i64, f64)> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 * 15_000 + (i as i64 % 3) * 7 - 1_000_000, *v))
            .collect();
        let c = round_trip(&samples);
        assert_eq!(c.enc, Encoding::Xor);
    }

    #[test]
    fn counters_choose_int_encoding_when_smaller() {
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * 37 + (i % 5)) as f64))
            .collect();
        let c = round_trip(&samples);
        assert_eq!(c.enc, Encoding::Int);
        let mut xor = XorAppender::new();
        for &(t, v) in &samples {
            xor.append(t, v);
        }
        assert!(c.data.len() < xor.byte_len());
        assert_eq!(xor.byte_len(), xor.snapshot().data.len());
    }

    #[test]
    fn decimals_and_multiples_choose_int_encoding() {
        let cpu: Vec<(i64, f64)> = (0..120)
            .map(|i| (i * 15_000, (1_000_000 + i * 1497 + i % 3) as f64 / 100.0))
            .collect();
        assert_eq!(round_trip(&cpu).enc, Encoding::Int);
        let pages: Vec<(i64, f64)> = (0..120)
            .map(|i| {
                (
                    i * 15_000 + i % 2,
                    ((1 << 20) + (i * 7919) % 64) as f64 * 4096.0,
                )
            })
            .collect();
        let c = round_trip(&pages);
        assert_eq!(c.enc, Encoding::Int);
        assert!(c.data.len() < 120 * 2, "{} bytes", c.data.len());
        // -0.0 and a value with too many decimals stay XOR.
        assert_eq!(
            round_trip(&[(1, 1.0), (2, -0.0), (3, 1.0)]).enc,
            Encoding::Xor
        );
        assert_eq!(
            round_trip(&[(1, 0.1), (2, 1.0 / 3.0), (3, 1.0)]).enc,
            Encoding::Xor
        );
    }

    #[test]
    fn large_gaps_and_jitter_use_all_buckets() {
        let mut t = -5i64;
        let mut samples = Vec::new();
        for (i, gap) in [1i64, 10_000, 1 << 15, 1 << 18, 1 << 40, 3, 3, 3]
            .iter()
            .enumerate()
        {
            t += gap;
            samples.push((t, (i as f64) * 1e15));
        }
        round_trip(&samples);
        let ints: Vec<(i64, f64)> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| (s.0, [0.0, 1e15, -1e15, 5.0, 1e10, 1.0, 2.0, 3.0][i]))
            .collect();
        round_trip(&ints);
    }

    #[test]
    fn truncated_data_ends_iteration_without_panic() {
        let samples: Vec<(i64, f64)> = (0..50).map(|i| (i * 1000, i as f64 * 0.1)).collect();
        let c = Chunk::from_samples(&samples);
        for cut in 0..c.data.len() {
            let it = ChunkIter::new(c.enc, &c.data.as_ref()[..cut]);
            assert!(it.count() <= 50);
        }
    }

    /// The fields written in one go are the bits the format lays out one
    /// field after another (`docs/storage.md`), at every alignment.
    #[test]
    fn combined_writes_lay_out_the_fields_in_order() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut fast, mut slow) = (BitWriter::new(), BitWriter::new());
        let (mut fx, mut sx) = (XorValue::default(), XorValue::default());
        for i in 0..5000 {
            let r = next();
            // Values sharing more or fewer bits with the previous one.
            let bits = match i % 4 {
                0 => r,
                1 => fx.bits() ^ (r >> (r % 64)),
                2 => fx.bits() ^ ((r & 0xff) << (r % 56)),
                _ => fx.bits(),
            };
            fx.write(&mut fast, bits);
            reference_xor(&mut sx, &mut slow, bits);
            let dod = (r as i64) >> (r % 64);
            write_bucketed(&mut fast, dod, T_BUCKETS);
            reference_bucketed(&mut slow, dod, T_BUCKETS);
            fast.write_bits(r, (r % 7) as u32);
            slow.write_bits(r, (r % 7) as u32);
        }
        assert_eq!(fast.into_bytes(), slow.into_bytes());
    }

    fn reference_xor(st: &mut XorValue, w: &mut BitWriter, bits: u64) {
        let x = bits ^ st.v_bits;
        st.v_bits = bits;
        if x == 0 {
            w.write_bit(false);
            return;
        }
        w.write_bit(true);
        let leading = (x.leading_zeros() as u8).min(31);
        let trailing = x.trailing_zeros() as u8;
        if st.leading != 0xff && leading >= st.leading && trailing >= st.trailing {
            w.write_bit(false);
            w.write_bits(
                x >> st.trailing,
                64 - st.leading as u32 - st.trailing as u32,
            );
        } else {
            st.leading = leading;
            st.trailing = trailing;
            w.write_bit(true);
            w.write_bits(leading as u64, 5);
            let sig = 64 - leading as u32 - trailing as u32;
            w.write_bits((sig & 63) as u64, 6);
            w.write_bits(x >> trailing, sig);
        }
    }

    fn reference_bucketed(w: &mut BitWriter, v: i64, buckets: &[u32]) {
        if v == 0 {
            w.write_bit(false);
            return;
        }
        let i = buckets.iter().position(|b| fits(v, *b)).unwrap();
        for _ in 0..=i {
            w.write_bit(true);
        }
        if i + 1 < buckets.len() {
            w.write_bit(false);
        }
        w.write_bits(v as u64 & mask(buckets[i]), buckets[i]);
    }

    /// Samples for the property tests: increasing times from `deltas`,
    /// values of one `kind`: any float (0), integers (1), decimals (2).
    pub(crate) fn proptest_samples(
        deltas: &[i64],
        vals: &[f64],
        ints: &[i64],
        kind: u8,
    ) -> Vec<(i64, f64)> {
        let mut t = -1_000_000_000i64;
        deltas
            .iter()
            .enumerate()
            .map(|(i, d)| {
                t += d;
                let v = match kind {
                    0 => vals[i],
                    1 => ints[i] as f64,
                    _ => ints[i] as f64 / 1000.0,
                };
                (t, v)
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn any_sorted_samples_round_trip(
            deltas in proptest::collection::vec(1i64..1_000_000_000, 1..200),
            vals in proptest::collection::vec(proptest::num::f64::ANY, 200),
            ints in proptest::collection::vec(-1_000_000i64..1_000_000, 200),
            kind in 0u8..3,
        ) {
            let samples = proptest_samples(&deltas, &vals, &ints, kind);
            round_trip(&samples);
            crate::chunk_packed::tests::check(&samples);
        }
    }
}
