//! The integer chunk encoding: values that are decimals with at most 9
//! digits after the point are scaled to integers and stored as deltas or
//! delta-of-deltas divided by their common divisor, whichever is smaller
//! (`docs/storage.md` section "Encoding 2: integer"). Decoded by
//! [`crate::chunk::DecodeState`].
//!
//! The head seals a chunk every 120 samples of every series, so this runs
//! on the ingest path: the sizes of both value modes are counted without
//! writing either, and only the smaller is written, when it beats the XOR
//! form, into buffers the caller keeps.

use sonde_model::Sample;

use crate::bitstream::{zigzag, BitWriter};
use crate::chunk::{fits, write_bucketed, T_BUCKETS};

/// Bit widths of the integer value buckets (deltas or delta-of-deltas,
/// divided by their common divisor). Finer than the timestamp buckets
/// because value changes are spread over all magnitudes.
pub(crate) const V_BUCKETS: &[u32] = &[3, 6, 9, 12, 16, 24, 64];
/// Powers of ten for the decimal scaling of the integer encoding, exact in
/// f64. Values with more than 9 decimals stay in XOR.
pub(crate) const POW10: [f64; 10] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// 2^53: beyond it not every integer is representable, and i64 deltas of
/// such values could overflow.
const MAX_SCALED: f64 = 9_007_199_254_740_992.0;

/// The smallest decimal exponent `e` such that every value is exactly
/// `m / 10^e` for an integer `m` (bit-exact, so -0.0 and NaNs never
/// qualify), with the scaled integers.
#[cfg(test)]
pub(crate) fn decimal_scale(samples: &[(i64, f64)]) -> Option<(u8, Vec<i64>)> {
    let mut out = Vec::new();
    let e = decimal_scale_into(samples.iter().map(|s| s.1), &mut out)?;
    Some((e, out))
}

/// [`decimal_scale`] into `out` (cleared first), which keeps its
/// allocation between calls.
fn decimal_scale_into(values: impl Iterator<Item = f64> + Clone, out: &mut Vec<i64>) -> Option<u8> {
    'exp: for (e, p) in POW10.iter().enumerate() {
        out.clear();
        for v in values.clone() {
            // Checked through the integer, exactly as the decoder computes
            // it (this is what rejects -0.0).
            match round_below(v * p, MAX_SCALED) {
                Some(m) if (m as f64 / p).to_bits() == v.to_bits() => out.push(m),
                _ => continue 'exp,
            }
        }
        return Some(e as u8);
    }
    None
}

/// `x.round()` (half away from zero) as an integer, if its magnitude is
/// below `limit` (a power of two of at least 2^52; `None` for NaN).
///
/// `f64::round` is a call into libm on x86-64 without SSE4.1; this is a
/// truncating conversion and a comparison, run for every value of every
/// chunk the head seals and of every block chunk (equal results: tested
/// against `f64::round`).
#[inline]
pub(crate) fn round_below(x: f64, limit: f64) -> Option<i64> {
    // Rounding is monotonic and `limit` an integer, so `|round(x)| < limit`
    // exactly when `|x| < limit`.
    if x.is_nan() || x.abs() >= limit {
        return None;
    }
    let i = x as i64;
    // Exact: below 2^52 the fraction is representable, above it is 0.
    let f = x - i as f64;
    Some(if f >= 0.5 {
        i + 1
    } else if f <= -0.5 {
        i - 1
    } else {
        i
    })
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Buffers of [`encode_int_into`], kept by the caller between chunks.
#[derive(Debug, Default)]
pub(crate) struct IntScratch {
    ms: Vec<i64>,
}

impl IntScratch {
    /// Bytes the buffers hold on to.
    pub(crate) fn capacity(&self) -> usize {
        self.ms.capacity() * 8
    }
}

/// Encodes sorted samples whose values are decimals (see
/// [`decimal_scale`]) in the smaller of the two value modes (delta-of-delta
/// when both take as many bytes) into `out`, if that takes fewer than
/// `limit` bytes; returns whether it did (`out` is then the chunk's bytes,
/// else unspecified).
pub(crate) fn encode_int_into(
    samples: &[Sample],
    limit: usize,
    scratch: &mut IntScratch,
    out: &mut Vec<u8>,
) -> bool {
    let ms = &mut scratch.ms;
    let Some(exp) = decimal_scale_into(samples.iter().map(|s| s.v), ms) else {
        return false;
    };
    let mut g = 0u64;
    for w in ms.windows(2) {
        let Some(d) = w[1].checked_sub(w[0]) else {
            return false;
        };
        if g != 1 {
            g = gcd(g, d.unsigned_abs());
        }
    }
    let g = g.max(1);
    let head = 4 + uvarint_len(g);
    let (dod_bits, delta_bits) = mode_bits(samples, ms, g as i64);
    let dod_len = head + dod_bits.div_ceil(8);
    let delta_len = head + delta_bits.div_ceil(8);
    let (mode, len) = if delta_len < dod_len {
        (IntMode::Delta, delta_len)
    } else {
        (IntMode::DeltaOfDelta, dod_len)
    };
    if len >= limit {
        return false;
    }
    encode_int_mode(samples, ms, exp, mode, g, out);
    debug_assert_eq!(out.len(), len, "BUG: counted and written sizes differ");
    true
}

/// Bits of the two modes' bit streams (after the header): delta-of-delta,
/// delta. Counts what [`encode_int_mode`] writes.
fn mode_bits(samples: &[Sample], ms: &[i64], g: i64) -> (usize, usize) {
    let (mut common, mut dod, mut delta) = (0usize, 0usize, 0usize);
    let (mut t, mut td, mut vd) = (0i64, 0i64, 0i64);
    for (i, (s, &m)) in samples.iter().zip(ms).enumerate() {
        match i {
            0 => common += 8 * (varint_len(s.t) + varint_len(m)),
            1 => {
                td = s.t - t;
                vd = div(m - ms[0], g);
                common += 8 * (varint_len(td) + varint_len(vd));
            }
            _ => {
                let ntd = s.t - t;
                let nvd = div(m - ms[i - 1], g);
                common += bucketed_bits(ntd - td, T_BUCKETS);
                dod += bucketed_bits(nvd - vd, V_BUCKETS);
                delta += bucketed_bits(nvd, V_BUCKETS);
                td = ntd;
                vd = nvd;
            }
        }
        t = s.t;
    }
    (common + dod, common + delta)
}

/// `d / g` for a divisor of every delta; `d` itself when `g` is 1, as it
/// is for most series (a 64-bit division costs 20-40 cycles, and this is
/// done twice for every sample of every chunk the head seals).
#[inline(always)]
fn div(d: i64, g: i64) -> i64 {
    if g == 1 {
        d
    } else {
        d / g
    }
}

/// Bits [`write_bucketed`] writes for `v`.
#[inline]
fn bucketed_bits(v: i64, buckets: &[u32]) -> usize {
    if v == 0 {
        return 1;
    }
    for (i, &bits) in buckets.iter().enumerate() {
        if fits(v, bits) {
            let ones = i + 1;
            let prefix = if ones < buckets.len() { ones + 1 } else { ones };
            return prefix + bits as usize;
        }
    }
    unreachable!("BUG: the last bucket holds 64 bits");
}

/// Bytes of `v`'s unsigned LEB128 varint.
#[inline]
fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes of `v`'s zigzag varint ([`BitWriter::write_varint`]).
#[inline]
fn varint_len(v: i64) -> usize {
    uvarint_len(zigzag(v))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum IntMode {
    /// Counters at a steady rate: the change of the increment is small.
    #[default]
    DeltaOfDelta = 0,
    /// Gauges wandering at random: the increment itself is smaller.
    Delta = 1,
}

/// `count u16 BE | exp u8 | mode u8 | divisor uvarint | bit stream`, into
/// `out` (cleared first).
fn encode_int_mode(
    samples: &[Sample],
    ms: &[i64],
    exp: u8,
    mode: IntMode,
    g: u64,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(&(samples.len() as u16).to_be_bytes());
    out.push(exp);
    out.push(mode as u8);
    crate::wal_record::put_uvarint(out, g);
    let head_bits = out.len() * 8;
    let mut w = BitWriter::from_parts(std::mem::take(out), head_bits);
    let g = g as i64;
    let (mut t, mut td, mut vd) = (0i64, 0i64, 0i64);
    for (i, (s, &m)) in samples.iter().zip(ms).enumerate() {
        let st = s.t;
        match i {
            0 => {
                w.write_varint(st);
                w.write_varint(m);
            }
            1 => {
                td = st - t;
                vd = div(m - ms[0], g);
                w.write_varint(td);
                w.write_varint(vd);
            }
            _ => {
                let ntd = st - t;
                let nvd = div(m - ms[i - 1], g);
                write_bucketed(&mut w, ntd - td, T_BUCKETS);
                let v = match mode {
                    IntMode::DeltaOfDelta => nvd - vd,
                    IntMode::Delta => nvd,
                };
                write_bucketed(&mut w, v, V_BUCKETS);
                td = ntd;
                vd = nvd;
            }
        }
        t = st;
    }
    *out = w.into_bytes();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The encoder before sizes were counted: both modes written in full,
    /// the smaller kept.
    fn reference(samples: &[Sample]) -> Option<Vec<u8>> {
        let pairs: Vec<(i64, f64)> = samples.iter().map(|s| (s.t, s.v)).collect();
        let (exp, ms) = decimal_scale(&pairs)?;
        let mut g = 0u64;
        for w in ms.windows(2) {
            g = gcd(g, w[1].checked_sub(w[0])?.unsigned_abs());
        }
        let g = g.max(1);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        encode_int_mode(samples, &ms, exp, IntMode::DeltaOfDelta, g, &mut a);
        encode_int_mode(samples, &ms, exp, IntMode::Delta, g, &mut b);
        Some(if b.len() < a.len() { b } else { a })
    }

    fn check(samples: &[Sample], scratch: &mut IntScratch, out: &mut Vec<u8>) {
        let want = reference(samples);
        let got = encode_int_into(samples, usize::MAX, scratch, out).then(|| out.clone());
        assert_eq!(got, want);
        if let Some(w) = want {
            // The limit is strict: not written when it takes that many.
            assert!(!encode_int_into(samples, w.len(), scratch, out));
            assert!(encode_int_into(samples, w.len() + 1, scratch, out));
            assert_eq!(*out, w);
        }
    }

    #[test]
    fn counted_sizes_pick_what_writing_both_picks_twice_on_the_same_buffers() {
        let (mut scratch, mut out) = (IntScratch::default(), Vec::new());
        let counter: Vec<Sample> = (0..120)
            .map(|i| Sample::new(i * 15_000 + i % 7, (i * i * 3) as f64))
            .collect();
        let gauge: Vec<Sample> = (0..120)
            .map(|i| Sample::new(i * 15_000, ((i * 7919) % 1000) as f64 * 0.01))
            .collect();
        let pages: Vec<Sample> = (0..120)
            .map(|i| Sample::new(i * 15_000, (4096 * (1000 + (i * 31) % 97)) as f64))
            .collect();
        let huge: Vec<Sample> = vec![Sample::new(0, 9e15), Sample::new(1, -9e15)];
        for _ in 0..2 {
            for s in [&counter, &gauge, &pages, &huge] {
                check(s, &mut scratch, &mut out);
            }
        }
    }

    #[test]
    fn round_below_is_f64_round() {
        let limit = 9_007_199_254_740_992.0;
        let mut xs = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            -2.5,
            0.49999999999999994,
            -0.49999999999999994,
            4503599627370495.5,
            -4503599627370495.5,
            4503599627370496.0,
            9007199254740991.0,
            -9007199254740991.0,
            limit,
            -limit,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ];
        let mut r = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..100_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let x = f64::from_bits(r);
            xs.push(x);
            xs.push((r % 2_000_001) as f64 / 1000.0 - 1000.0);
            xs.push(x * 1e-300);
            xs.push((r >> 4) as f64 * if r & 1 == 0 { 1.0 } else { -1.0 });
        }
        for x in xs {
            // The head's limit (2^53) and the block encoder's (2^60).
            for limit in [limit, (1u64 << 60) as f64] {
                let want = x.round();
                let want = (want.abs() < limit).then_some(want as i64);
                assert_eq!(round_below(x, limit), want, "{x:e}");
            }
        }
    }

    proptest! {
        #[test]
        fn counted_sizes_pick_what_writing_both_picks(
            deltas in proptest::collection::vec((1i64..100_000, -1_000_000i64..1_000_000, 0u32..4), 1..300),
        ) {
            let (mut t, mut m) = (1_700_000_000_000i64, 0i64);
            let samples: Vec<Sample> = deltas
                .iter()
                .map(|&(dt, dm, e)| {
                    t += dt;
                    m += dm;
                    Sample::new(t, m as f64 / POW10[e as usize])
                })
                .collect();
            let (mut scratch, mut out) = (IntScratch::default(), Vec::new());
            check(&samples, &mut scratch, &mut out);
        }
    }
}
