//! The block chunk encoding (`Encoding::Packed`, 3) and the time columns of
//! a block's chunks file, specified in `docs/storage.md` sections
//! "Encoding 3: packed" and "Block chunks".
//!
//! A block is written once, so its chunks are re-encoded for size rather
//! than append speed: timestamps are residuals from a constant step,
//! bit-packed at one width per chunk, in a time column that every chunk of
//! the block with the same timestamps shares (all the series of one scrape
//! target); values are decimal-scaled integers whose deltas (or
//! delta-of-deltas) are bit-packed at one width per chunk after taking off
//! their minimum and dividing by their common divisor, or Gorilla XOR
//! floats when they are not decimals (or when that is smaller).
//!
//! Invariants: values and timestamps round-trip bit-exactly (checked
//! through the decoder's own arithmetic, see
//! [`crate::chunk_int::decimal_scale`]); every field is fixed-width after
//! a small header, so the decoder has no per-sample branches but the XOR
//! ones, and timestamp `i` is found without decoding the ones before it.
//! Malformed bytes end iteration (`OutOfBits`), never panic.

use sonde_model::Sample;

use crate::bitstream::{field_at, BitReader, BitWriter, OutOfBits};
use crate::chunk::XorValue;
use crate::chunk_read::RangeSink;

/// Encoding byte of a time column entry in a block's chunks file. It is
/// never a chunk's encoding: only packed chunks point at it.
pub(crate) const TIMES_ENTRY: u8 = 4;
/// Second header byte of a packed chunk: its time column follows inline.
const TIMES_INLINE: u8 = 0;
/// ... or it is a shared column, `back uvarint` bytes before the chunk.
const TIMES_SHARED: u8 = 1;

/// How a packed chunk's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ValueKind {
    #[default]
    Xor = 0,
    Delta = 1,
    DeltaOfDelta = 2,
}

fn width_of(max: u64) -> u32 {
    64 - max.leading_zeros()
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Encodes the time column of `ts` (sorted, 1 to 65535 timestamps):
/// `count u16 BE | t0 varint | step varint | base varint | width u8 |
/// count fields of width bits`, field `i` being
/// `t_i - (t0 + i * step) - base` (wrapping) and `base` the smallest such
/// residual. `step` is the median or the mean gap, whichever needs fewer
/// bits (the mean follows jitter that does not average out in the median,
/// the median ignores a gap in the scrapes).
pub(crate) fn encode_times(ts: &[i64], dst: &mut Vec<u8>) {
    let t0 = ts.first().copied().unwrap_or(0);
    let mean = match ts {
        [a, .., b] => {
            let n = ts.len() as i128 - 1;
            let span = *b as i128 - *a as i128;
            ((2 * span + n).div_euclid(2 * n)) as i64
        }
        _ => 0,
    };
    let a = residuals(ts, median_gap(ts));
    let b = residuals(ts, mean);
    let (base, step, width) = if b.2 < a.2 { b } else { a };
    let bit_len = dst.len() * 8;
    let mut w = BitWriter::from_parts(std::mem::take(dst), bit_len);
    w.write_bits(ts.len() as u64, 16);
    w.write_varint(t0);
    w.write_varint(step);
    w.write_varint(base);
    w.write_bits(width as u64, 8);
    for (i, t) in ts.iter().enumerate() {
        w.write_bits(residual(t0, step, i, *t).wrapping_sub(base) as u64, width);
    }
    *dst = w.into_bytes();
}

#[inline]
fn residual(t0: i64, step: i64, i: usize, t: i64) -> i64 {
    t.wrapping_sub(t0.wrapping_add((i as i64).wrapping_mul(step)))
}

/// `(base, step, width)` of the residuals of `ts` against `step`.
fn residuals(ts: &[i64], step: i64) -> (i64, i64, u32) {
    let t0 = ts.first().copied().unwrap_or(0);
    let r = |(i, t): (usize, &i64)| residual(t0, step, i, *t);
    let base = ts.iter().enumerate().map(r).min().unwrap_or(0);
    let max = ts
        .iter()
        .enumerate()
        .map(|x| r(x).wrapping_sub(base) as u64)
        .max()
        .unwrap_or(0);
    (base, step, width_of(max))
}

fn median_gap(ts: &[i64]) -> i64 {
    if ts.len() < 2 {
        return 0;
    }
    let mut gaps: Vec<i64> = ts.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let mid = gaps.len() / 2;
    *gaps.select_nth_unstable(mid).1
}

/// Whether `column` (an encoded time column, [`encode_times`]) holds
/// exactly the timestamps `ts`: decoding a column is a few instructions
/// per timestamp, encoding one (two residual passes and a median) about a
/// hundred, so a block writer checks a remembered column this way first.
pub(crate) fn times_are(column: &[u8], ts: &[i64]) -> bool {
    let Ok((times, _)) = Times::parse(column, 0) else {
        return false;
    };
    if usize::from(times.n) != ts.len() {
        return false;
    }
    let width = times.width;
    let mut pos = times.pos;
    let mut t = times.time(0, 0);
    for &want in ts {
        if t.wrapping_add(field_at(column, pos, width) as i64) != want {
            return false;
        }
        pos += width as usize;
        t = t.wrapping_add(times.step);
    }
    true
}

/// For a packed chunk whose time column is shared: how many bytes before
/// the chunk's entry the column's entry starts.
pub(crate) fn shared_times_back(enc: crate::chunk::Encoding, data: &[u8]) -> Option<u64> {
    if enc != crate::chunk::Encoding::Packed || data.get(2) != Some(&TIMES_SHARED) {
        return None;
    }
    BitReader::new(data, 24).read_uvarint().ok()
}

/// A parsed time column: timestamp `i` is computed from field `i` alone.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Times {
    n: u16,
    t0: i64,
    step: i64,
    base: i64,
    width: u32,
    /// Bit position of field 0 in the column's slice.
    pos: usize,
}

impl Times {
    /// Parses the column starting at byte `at` of `data`; returns it and
    /// the byte just after it.
    pub(crate) fn parse(data: &[u8], at: usize) -> Result<(Times, usize), OutOfBits> {
        let mut r = BitReader::new(data, at * 8);
        let n = r.read_bits(16)? as u16;
        let t0 = r.read_varint()?;
        let step = r.read_varint()?;
        let base = r.read_varint()?;
        let width = r.read_bits(8)? as u32;
        if width > 64 {
            return Err(OutOfBits);
        }
        let pos = r.pos();
        let end_bit = pos + n as usize * width as usize;
        if end_bit > data.len() * 8 {
            return Err(OutOfBits);
        }
        let t = Times {
            n,
            t0,
            step,
            base,
            width,
            pos,
        };
        Ok((t, end_bit.div_ceil(8)))
    }

    #[inline]
    fn get(&self, data: &[u8], i: u16) -> Result<i64, OutOfBits> {
        let mut r = BitReader::new(data, self.pos + i as usize * self.width as usize);
        let u = r.read_bits(self.width)?;
        Ok(self.time(i, u))
    }

    /// Appends timestamps `from..to` of a column parsed from `data` (so
    /// fields below `n` are within it: checked by [`Times::parse`]) as
    /// samples valued 0.
    fn append_range(&self, data: &[u8], from: u16, to: u16, out: &mut Vec<Sample>) {
        out.reserve(to.saturating_sub(from) as usize);
        let width = self.width;
        let mut pos = self.pos + from as usize * width as usize;
        let mut t = self.time(from, 0);
        for _ in from..to {
            out.push(Sample::new(
                t.wrapping_add(field_at(data, pos, width) as i64),
                0.0,
            ));
            pos += width as usize;
            t = t.wrapping_add(self.step);
        }
    }

    #[inline(always)]
    fn time(&self, i: u16, field: u64) -> i64 {
        self.t0
            .wrapping_add((i as i64).wrapping_mul(self.step))
            .wrapping_add(self.base)
            .wrapping_add(field as i64)
    }
}

/// Encodes a packed chunk of `samples` (sorted, 1 to 65535), its time
/// column inline (`shared_back` = None) or shared, `back` bytes before the
/// chunk's entry in the chunks file.
pub(crate) fn encode_packed(samples: &[(i64, f64)], shared_back: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + samples.len());
    out.extend_from_slice(&(samples.len() as u16).to_be_bytes());
    match shared_back {
        Some(back) => {
            out.push(TIMES_SHARED);
            crate::wal_record::put_uvarint(&mut out, back);
        }
        None => {
            out.push(TIMES_INLINE);
            let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
            encode_times(&ts, &mut out);
        }
    }
    encode_values(samples, &mut out);
    out
}

/// Appends the smallest value form: XOR, or decimal delta or
/// delta-of-delta packing with corrections. XOR is not tried when the
/// decimal form takes 4 bits per sample or less: XOR spends at least 1 bit
/// on a repeated value and ~13 on a changed one.
fn encode_values(samples: &[(i64, f64)], dst: &mut Vec<u8>) {
    let plan = plan_decimal(samples);
    if let Some(p) = plan.filter(|p| p.bytes() * 2 <= samples.len() as u64) {
        p.write(samples, dst);
        return;
    }
    let xor = encode_xor(samples);
    match plan.filter(|p| p.bytes() < xor.len() as u64) {
        Some(p) => p.write(samples, dst),
        None => dst.extend_from_slice(&xor),
    }
}

/// `kind u8 = 0 | first value 64 bits | Gorilla XOR value fields`.
fn encode_xor(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut w = BitWriter::from_parts(vec![ValueKind::Xor as u8], 8);
    let mut x = XorValue::default();
    for (i, &(_, v)) in samples.iter().enumerate() {
        if i == 0 {
            w.write_bits(v.to_bits(), 64);
            x.set(v.to_bits());
        } else {
            x.write(&mut w, v.to_bits());
        }
    }
    w.into_bytes()
}

/// Decimal exponents tried: 10^e is exact in f64 up to 10^22; 15 digits
/// after the point cover every value a person or an exporter writes.
const MAX_EXP: usize = 15;
/// Powers of ten for [`MAX_EXP`], exact in f64.
const POW10_PACKED: [f64; MAX_EXP + 1] = [
    1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];
/// Scaled integers stay below 2^60, so their deltas and delta-of-deltas
/// cannot overflow an i64.
const MAX_SCALED: f64 = (1u64 << 60) as f64;
/// Exponents tried past the best one before the search stops, once the
/// best one's corrections are down to [`SETTLED_CORRECTION_BITS`]: each
/// more digit adds ~3.3 bits to every delta and takes as much off the
/// corrections only until they reach the rounding noise of the sums.
/// While corrections are wide the cost is flat from one exponent to the
/// next (`0.00035`-multiples rounded on the way cost the same at 10^1 and
/// 10^3, and 10 bits less at 10^5), so the search goes on.
const PATIENCE: usize = 3;
const SETTLED_CORRECTION_BITS: u32 = 8;

/// `v` at exponent `p = 10^e`: the integer `m = round(v * p)` and the
/// correction `c` = the bits of `v` minus the bits of `m / p` (as i64,
/// wrapping), zero when `v` is that decimal and a few units in the last
/// place when it is a sum of decimals rounded on the way
/// (`0.001 + 0.001 + ...`). None when `m` is out of range (or `v` NaN).
#[inline]
fn scaled(v: f64, p: f64) -> Option<(i64, i64)> {
    let m = crate::chunk_int::round_below(v * p, MAX_SCALED)?;
    Some((
        m,
        (v.to_bits() as i64).wrapping_sub(decimal(m, p).to_bits() as i64),
    ))
}

/// Running bounds of a stream of fields, and the greatest common divisor
/// of their differences from the first (that of their differences from
/// the smallest, which is one of them).
#[derive(Debug, Clone, Copy, Default)]
struct Bounds {
    first: Option<i64>,
    min: i64,
    max: i64,
    g: u64,
}

impl Bounds {
    #[inline]
    fn add(&mut self, x: i64) {
        match self.first {
            None => (self.first, self.min, self.max) = (Some(x), x, x),
            Some(f) => {
                self.min = self.min.min(x);
                self.max = self.max.max(x);
                // Once 1, the divisor stays 1: skip the divisions (most
                // gauges get there within a few samples).
                if self.g != 1 {
                    self.g = gcd(self.g, x.wrapping_sub(f).unsigned_abs());
                }
            }
        }
    }

    /// `(base, divisor, width)` of fields `(x - base) / divisor`.
    fn packing(&self, divide: bool) -> (i64, u64, u32) {
        let g = if divide { self.g.max(1) } else { 1 };
        let range = self.max.wrapping_sub(self.min) as u64;
        (self.min, g, width_of(range / g))
    }
}

/// How a chunk's values are packed in decimal form (the fields themselves
/// are computed again when written).
#[derive(Debug, Clone, Copy)]
struct DecimalPlan {
    e: u8,
    kind: ValueKind,
    n: usize,
    m0: i64,
    /// `m1 - m0`, written in the header in delta-of-delta form.
    lead: Option<i64>,
    base: i64,
    g: u64,
    width: u32,
    cbase: i64,
    cwidth: u32,
}

impl DecimalPlan {
    /// The encoded size (exact: headers are counted as written).
    fn bytes(&self) -> u64 {
        let head = 2
            + varint_len(self.m0)
            + self.lead.map_or(0, varint_len)
            + varint_len(self.base)
            + varint_len(self.g as i64 * 2)
            + 1
            + varint_len(self.cbase)
            + 1;
        let fields = self.n.saturating_sub(self.skip()) as u64;
        let bits = fields * self.width as u64 + self.n as u64 * self.cwidth as u64;
        head + bits.div_ceil(8)
    }

    /// Samples without a value field.
    fn skip(&self) -> usize {
        match self.kind {
            ValueKind::DeltaOfDelta => 2,
            _ => 1,
        }
    }

    /// `kind u8 | e u8 | m0 varint | (m1 - m0 varint: delta-of-delta) |
    /// base varint | g uvarint | width u8 | cbase varint | cwidth u8 |`
    /// then per sample its value field (`(x - base) / g` in width bits;
    /// none for sample 0, nor for sample 1 in delta-of-delta) and its
    /// correction field (`c - cbase` in cwidth bits).
    fn write(&self, samples: &[(i64, f64)], dst: &mut Vec<u8>) {
        let bit_len = dst.len() * 8;
        let mut w = BitWriter::from_parts(std::mem::take(dst), bit_len);
        w.write_bits(self.kind as u64, 8);
        w.write_bits(self.e as u64, 8);
        w.write_varint(self.m0);
        if let Some(d) = self.lead {
            w.write_varint(d);
        }
        w.write_varint(self.base);
        w.write_uvarint(self.g);
        w.write_bits(self.width as u64, 8);
        w.write_varint(self.cbase);
        w.write_bits(self.cwidth as u64, 8);
        let p = POW10_PACKED[self.e as usize];
        let (mut prev_m, mut prev_d) = (0i64, 0i64);
        for (i, &(_, v)) in samples.iter().enumerate() {
            // The plan was made from the same values: always in range.
            let (m, c) = scaled(v, p).unwrap_or((0, 0));
            let d = m.wrapping_sub(prev_m);
            if i >= self.skip() {
                let x = match self.kind {
                    ValueKind::DeltaOfDelta => d.wrapping_sub(prev_d),
                    _ => d,
                };
                let f = x.wrapping_sub(self.base) as u64;
                // Most chunks' divisor is 1: no division then.
                w.write_bits(if self.g == 1 { f } else { f / self.g }, self.width);
            }
            w.write_bits(c.wrapping_sub(self.cbase) as u64, self.cwidth);
            (prev_m, prev_d) = (m, d);
        }
        *dst = w.into_bytes();
    }
}

fn varint_len(v: i64) -> u64 {
    (width_of(crate::bitstream::zigzag(v)).max(1) as u64).div_ceil(7)
}

/// The smallest decimal form, exponents tried from 0 up: the first that
/// makes every correction the same ends the search (more digits only
/// widen the deltas), as do [`PATIENCE`] exponents without a better form
/// after one with narrow corrections.
fn plan_decimal(samples: &[(i64, f64)]) -> Option<DecimalPlan> {
    let mut best: Option<DecimalPlan> = None;
    let mut since_best = 0;
    for e in 0..=MAX_EXP as u8 {
        // Out of range here is out of range for every larger exponent.
        let Some(plans) = plan_at(samples, e) else {
            break;
        };
        since_best += 1;
        for p in plans {
            if best.is_none_or(|b| p.bytes() < b.bytes()) {
                best = Some(p);
                since_best = 0;
            }
        }
        let settled = best.is_some_and(|b| b.cwidth <= SETTLED_CORRECTION_BITS);
        if plans[0].cwidth == 0 || (settled && since_best >= PATIENCE) {
            break;
        }
    }
    best
}

/// The delta and the delta-of-delta plans at exponent `e`, in one pass.
fn plan_at(samples: &[(i64, f64)], e: u8) -> Option<[DecimalPlan; 2]> {
    let p = POW10_PACKED[e as usize];
    let (mut corr, mut delta, mut dod) = (Bounds::default(), Bounds::default(), Bounds::default());
    let (mut m0, mut lead) = (0i64, None);
    let (mut prev_m, mut prev_d) = (0i64, 0i64);
    for (i, &(_, v)) in samples.iter().enumerate() {
        let (m, c) = scaled(v, p)?;
        corr.add(c);
        let d = m - prev_m;
        match i {
            0 => m0 = m,
            1 => {
                lead = Some(d);
                delta.add(d);
            }
            _ => {
                delta.add(d);
                dod.add(d - prev_d);
            }
        }
        (prev_m, prev_d) = (m, d);
    }
    let (cbase, _, cwidth) = corr.packing(false);
    let plan = |kind: ValueKind, b: &Bounds, lead: Option<i64>| {
        let (base, g, width) = b.packing(true);
        DecimalPlan {
            e,
            kind,
            n: samples.len(),
            m0,
            lead,
            base,
            g,
            width,
            cbase,
            cwidth,
        }
    };
    Some([
        plan(ValueKind::Delta, &delta, None),
        plan(ValueKind::DeltaOfDelta, &dod, lead),
    ])
}

/// `m / 10^e`, computed exactly as the decoder does.
#[inline]
fn decimal(m: i64, p: f64) -> f64 {
    m as f64 / p
}

/// Decoder state of a packed chunk.
#[derive(Debug, Clone, Default)]
pub(crate) struct PackedState {
    times: Times,
    /// The time column is in the chunk's own bytes (else in `times` slice).
    inline: bool,
    kind: ValueKind,
    pos: usize,
    xor: XorValue,
    m: i64,
    d: i64,
    base: i64,
    g: i64,
    width: u32,
    cbase: i64,
    cwidth: u32,
    scale: f64,
}

impl PackedState {
    /// Parses the header; returns the sample count (0 for malformed bytes,
    /// which then read as an empty chunk).
    pub(crate) fn new(data: &[u8], times: &[u8]) -> (PackedState, u16) {
        Self::parse(data, times).unwrap_or_default()
    }

    fn parse(data: &[u8], times: &[u8]) -> Result<(PackedState, u16), OutOfBits> {
        let mut st = PackedState::default();
        let mut r = BitReader::new(data, 0);
        let n = r.read_bits(16)? as u16;
        let at = match r.read_bits(8)? as u8 {
            TIMES_INLINE => {
                let (t, end) = Times::parse(data, 3)?;
                st.times = t;
                st.inline = true;
                end
            }
            TIMES_SHARED => {
                r.read_uvarint()?;
                st.times = Times::parse(times, 0)?.0;
                r.pos() / 8
            }
            _ => return Err(OutOfBits),
        };
        if st.times.n != n {
            return Err(OutOfBits);
        }
        let mut r = BitReader::new(data, at * 8);
        st.kind = match r.read_bits(8)? {
            0 => ValueKind::Xor,
            1 => ValueKind::Delta,
            2 => ValueKind::DeltaOfDelta,
            _ => return Err(OutOfBits),
        };
        if st.kind != ValueKind::Xor {
            st.scale = *POW10_PACKED
                .get(r.read_bits(8)? as usize)
                .ok_or(OutOfBits)?;
            st.m = r.read_varint()?;
            if st.kind == ValueKind::DeltaOfDelta && n > 1 {
                st.d = r.read_varint()?;
            }
            st.base = r.read_varint()?;
            st.g = r.read_uvarint()? as i64;
            st.width = r.read_bits(8)? as u32;
            st.cbase = r.read_varint()?;
            st.cwidth = r.read_bits(8)? as u32;
            if st.width > 64 || st.cwidth > 64 {
                return Err(OutOfBits);
            }
        }
        st.pos = r.pos();
        Ok((st, n))
    }

    /// Sample `i`; samples are read in order from 0.
    #[inline]
    pub(crate) fn next(
        &mut self,
        i: u16,
        data: &[u8],
        times: &[u8],
    ) -> Result<(i64, f64), OutOfBits> {
        let t = if self.inline {
            self.times.get(data, i)?
        } else {
            self.times.get(times, i)?
        };
        let mut r = BitReader::new(data, self.pos);
        self.advance(i, &mut r)?;
        let v = match self.kind {
            ValueKind::Xor => f64::from_bits(self.xor.bits()),
            ValueKind::Delta | ValueKind::DeltaOfDelta => self.corrected(&mut r)?,
        };
        self.pos = r.pos();
        Ok((t, v))
    }

    /// Samples `i..n` from the first at or after `mint` up to the last at
    /// or before `maxt` appended to `out` (what `next` gives, skipped and
    /// cut as `skip_while`/`take_while` would): both ends are found by a
    /// binary search of the time column (timestamps strictly increase),
    /// the values before the first skipped by their integer running sums
    /// (or XOR fields) without being converted. Decimal values are then
    /// filled in a second loop over the appended samples, so that each
    /// loop keeps its few fields in registers.
    pub(crate) fn collect_range(
        &mut self,
        i: u16,
        n: u16,
        data: &[u8],
        times: &[u8],
        sink: &mut RangeSink<'_>,
    ) {
        let tdata = if self.inline { data } else { times };
        let first = self.first_at_or_after(tdata, i, n, sink.mint());
        if self.skip_values(i, first, data).is_err() {
            return;
        }
        if self.kind == ValueKind::Xor {
            for i in first..n {
                match self.next(i, data, times) {
                    Ok((t, v)) if sink.put(t, v) => {}
                    _ => return,
                }
            }
            return;
        }
        let end = self.first_at_or_after(tdata, first, n, sink.maxt().saturating_add(1));
        let out = sink.out();
        let at = out.len();
        self.times.append_range(tdata, first, end, out);
        let filled = if self.kind == ValueKind::DeltaOfDelta {
            self.fill_decimal::<true>(first, data, &mut out[at..])
        } else {
            self.fill_decimal::<false>(first, data, &mut out[at..])
        };
        out.truncate(at + filled);
    }

    /// Sets the values of `out`, samples `first..` of a decimal chunk
    /// (delta-of-delta when `DOD`), as [`PackedState::next`] computes
    /// them, reading the fixed-width fields at positions the loop keeps.
    /// Returns how many were set: fewer where `next` would find a field
    /// past the end of `data`.
    fn fill_decimal<const DOD: bool>(
        &mut self,
        first: u16,
        data: &[u8],
        out: &mut [Sample],
    ) -> usize {
        let (width, cwidth) = (self.width, self.cwidth);
        let (base, g, cbase, scale) = (self.base, self.g, self.cbase, self.scale);
        let (mut m, mut d, mut pos) = (self.m, self.d, self.pos);
        let end = data.len() * 8;
        for (k, s) in out.iter_mut().enumerate() {
            let i = first as usize + k;
            let has_field = i > usize::from(DOD);
            let fw = if has_field { width as usize } else { 0 };
            if pos + fw + cwidth as usize > end {
                return k;
            }
            if has_field {
                let x = base.wrapping_add((field_at(data, pos, width) as i64).wrapping_mul(g));
                pos += fw;
                if DOD {
                    d = d.wrapping_add(x);
                } else {
                    m = m.wrapping_add(x);
                }
            }
            if DOD && i > 0 {
                m = m.wrapping_add(d);
            }
            let c = cbase.wrapping_add(field_at(data, pos, cwidth) as i64);
            pos += cwidth as usize;
            s.v = f64::from_bits(decimal(m, scale).to_bits().wrapping_add(c as u64));
        }
        (self.m, self.d, self.pos) = (m, d, pos);
        out.len()
    }

    /// The first of samples `i..n` at or after `t` (`n` when none).
    fn first_at_or_after(&self, tdata: &[u8], i: u16, n: u16, t: i64) -> u16 {
        let (mut lo, mut hi) = (i, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.times.get(tdata, mid) {
                Ok(x) if x < t => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    /// Moves the value cursor from sample `from` to sample `to`.
    fn skip_values(&mut self, from: u16, to: u16, data: &[u8]) -> Result<(), OutOfBits> {
        let mut r = BitReader::new(data, self.pos);
        for i in from..to {
            self.advance(i, &mut r)?;
            if self.kind != ValueKind::Xor {
                r.consume(self.cwidth)?;
            }
        }
        self.pos = r.pos();
        Ok(())
    }

    /// Reads sample `i`'s value fields up to its correction: the XOR value,
    /// or the running decimal (delta, delta of delta) brought to sample
    /// `i`. Shared by reading (`next`, which then applies the correction)
    /// and skipping (`skip_values`, which steps over it).
    #[inline(always)]
    fn advance(&mut self, i: u16, r: &mut BitReader<'_>) -> Result<(), OutOfBits> {
        match self.kind {
            ValueKind::Xor if i == 0 => self.xor.set(r.read_bits(64)?),
            ValueKind::Xor => self.xor.read(r)?,
            ValueKind::Delta => {
                if i > 0 {
                    let x = self.field(r)?;
                    self.m = self.m.wrapping_add(x);
                }
            }
            ValueKind::DeltaOfDelta => {
                if i > 1 {
                    let x = self.field(r)?;
                    self.d = self.d.wrapping_add(x);
                }
                if i > 0 {
                    self.m = self.m.wrapping_add(self.d);
                }
            }
        }
        Ok(())
    }

    /// The current decimal with its correction field applied.
    #[inline]
    fn corrected(&self, r: &mut BitReader<'_>) -> Result<f64, OutOfBits> {
        let c = self.cbase.wrapping_add(r.read_bits(self.cwidth)? as i64);
        let bits = decimal(self.m, self.scale).to_bits();
        Ok(f64::from_bits(bits.wrapping_add(c as u64)))
    }

    #[inline]
    fn field(&self, r: &mut BitReader<'_>) -> Result<i64, OutOfBits> {
        let u = r.read_bits(self.width)?;
        Ok(self.base.wrapping_add((u as i64).wrapping_mul(self.g)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn decode(data: &[u8], times: &[u8]) -> Vec<(i64, f64)> {
        let (mut st, n) = PackedState::new(data, times);
        (0..n).map_while(|i| st.next(i, data, times).ok()).collect()
    }

    /// Round-trips `samples` with the time column inline and shared.
    pub(crate) fn check(samples: &[(i64, f64)]) -> Vec<u8> {
        let inline = encode_packed(samples, None);
        let got = decode(&inline, &[]);
        assert_eq!(got.len(), samples.len());
        for (a, b) in got.iter().zip(samples) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits(), "value at t={}", a.0);
        }
        let mut col = Vec::new();
        let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
        encode_times(&ts, &mut col);
        let shared = encode_packed(samples, Some(12345));
        assert_eq!(decode(&shared, &col).len(), samples.len());
        inline
    }

    /// A column is recognised as the one of exactly its timestamps: not
    /// of one more or one fewer, nor with any one of them moved.
    #[test]
    fn times_are_recognises_exactly_the_encoded_timestamps() {
        let sets: Vec<Vec<i64>> = vec![
            vec![5],
            (0..480)
                .map(|i| 1_700_000_000_000 + i * 15_000 + (i * 7) % 5)
                .collect(),
            (0..100).map(|i| i * i * 1000).collect(),
            vec![i64::MIN, 0, i64::MAX],
        ];
        for ts in &sets {
            let mut col = Vec::new();
            encode_times(ts, &mut col);
            assert!(times_are(&col, ts));
            assert!(!times_are(&col, &ts[1..]));
            let mut longer = ts.clone();
            longer.push(ts[ts.len() - 1].wrapping_add(1));
            assert!(!times_are(&col, &longer));
            for i in 0..ts.len() {
                let mut moved = ts.clone();
                moved[i] = moved[i].wrapping_add(1);
                assert!(!times_are(&col, &moved), "{i}");
            }
        }
        assert!(!times_are(&[], &[1]));
    }

    #[test]
    fn jittered_scrapes_cost_three_bits_of_time() {
        let ts: Vec<i64> = (0..480)
            .map(|i| 1_700_000_000_000 + i * 15_000 + (i * 7919 % 6))
            .collect();
        let mut col = Vec::new();
        encode_times(&ts, &mut col);
        assert!(
            col.len() <= 3 + 6 + 3 + 2 + 1 + 480 * 3 / 8 + 1,
            "{}",
            col.len()
        );
        let samples: Vec<(i64, f64)> = ts.iter().map(|&t| (t, 1.0)).collect();
        // A constant value costs a few header bytes.
        let c = check(&samples);
        assert!(c.len() < col.len() + 16, "{}", c.len());
    }

    #[test]
    fn decimals_pages_and_floats_round_trip() {
        let t = |i: i64| i * 15_000 + i % 3;
        let cpu: Vec<(i64, f64)> = (0..480)
            .map(|i| (t(i), (1_000_000 + i * 1497 + (i * 31 % 17)) as f64 / 100.0))
            .collect();
        check(&cpu);
        let pages: Vec<(i64, f64)> = (0..300)
            .map(|i| (t(i), ((1 << 20) + (i * 7919) % 64) as f64 * 4096.0))
            .collect();
        let c = check(&pages);
        assert!(c.len() < 300, "{} bytes", c.len());
        let floats: Vec<(i64, f64)> = (0..100).map(|i| (t(i), (i as f64).sin())).collect();
        check(&floats);
        let odd = [
            (1, 0.0),
            (2, -0.0),
            (3, f64::NAN),
            (4, sonde_model::STALE_NAN),
            (5, f64::INFINITY),
            (6, 1e300),
        ];
        check(&odd);
        check(&[(-5, 3.0)]);
        check(&[(i64::MIN, 1.0), (i64::MAX, 2.0)]);
        check(&[(0, 9e15), (1, -9e15), (2, 9e15)]);
    }

    #[test]
    fn sums_of_decimals_rounded_on_the_way_cost_a_few_bits() {
        let mut v = 86_400.0f64;
        let samples: Vec<(i64, f64)> = (0..480)
            .map(|i| {
                v += ((i * 7919 % 400) + 200) as f64 * 0.001;
                (i * 15_000, v)
            })
            .collect();
        assert!(
            crate::chunk_int::decimal_scale(&samples).is_none(),
            "not exact decimals"
        );
        let c = check(&samples);
        // 9 bits of delta and a few of correction, against ~45 for XOR.
        assert!(c.len() < 480 * 14 / 8, "{} bytes", c.len());
    }

    /// Values with five decimals off by rounding: the search must go on
    /// past the exponents where corrections are wide, to 10^5.
    #[test]
    fn sums_needing_many_digits_find_their_exponent() {
        // Five-decimal values (increments of 0.01000..0.02999) off by up
        // to one unit in the last place, as float sums are.
        let mut m = 3_000_000_000i64;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let samples: Vec<(i64, f64)> = (0..480i64)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                m += 1000 + (x % 2000) as i64;
                let v = f64::from_bits(((m as f64 / 1e5).to_bits() as i64 + i % 3 - 1) as u64);
                (i * 15_000, v)
            })
            .collect();
        let c = check(&samples);
        // 11 bits of delta and 2 of correction (XOR: ~40).
        assert!(c.len() < 480 * 14 / 8, "{} bytes", c.len());
    }

    #[test]
    fn full_precision_noise_round_trips() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut v = 0.004f64;
        for n in [1usize, 2, 3, 100, 480] {
            let samples: Vec<(i64, f64)> = (0..n as i64)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                    v = (0.8 * v + 0.2 * 0.004 + (u - 0.5) * 0.002).max(0.0);
                    (i * 15_000, v)
                })
                .collect();
            check(&samples);
        }
    }

    #[test]
    fn truncated_bytes_end_iteration() {
        let s: Vec<(i64, f64)> = (0..50).map(|i| (i * 1000, i as f64 * 0.1)).collect();
        let c = encode_packed(&s, None);
        for cut in 0..c.len() {
            assert!(decode(&c[..cut], &[]).len() <= 50);
        }
    }
}
