//! The integer chunk encoding: values that are decimals with at most 9
//! digits after the point are scaled to integers and stored as deltas or
//! delta-of-deltas divided by their common divisor, whichever is smaller
//! (`docs/storage.md` section "Encoding 2: integer"). Decoded by
//! [`crate::chunk::DecodeState`].

use crate::bitstream::BitWriter;
use crate::chunk::{write_bucketed, T_BUCKETS};

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
pub(crate) fn decimal_scale(samples: &[(i64, f64)]) -> Option<(u8, Vec<i64>)> {
    'exp: for (e, p) in POW10.iter().enumerate() {
        let mut out = Vec::with_capacity(samples.len());
        for &(_, v) in samples {
            let m = (v * p).round();
            // Checked through the integer, exactly as the decoder computes
            // it (this is what rejects -0.0).
            let in_range = m.abs() < MAX_SCALED; // false for NaN
            if !in_range || ((m as i64) as f64 / p).to_bits() != v.to_bits() {
                continue 'exp;
            }
            out.push(m as i64);
        }
        return Some((e as u8, out));
    }
    None
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Encodes sorted samples whose values are decimals (see
/// [`decimal_scale`]) in the smaller of the two value modes.
pub(crate) fn encode_int(samples: &[(i64, f64)]) -> Option<Vec<u8>> {
    let (exp, ms) = decimal_scale(samples)?;
    let mut g = 0u64;
    for w in ms.windows(2) {
        g = gcd(g, w[1].checked_sub(w[0])?.unsigned_abs());
    }
    let g = g.max(1);
    let a = encode_int_mode(samples, &ms, exp, IntMode::DeltaOfDelta, g);
    let b = encode_int_mode(samples, &ms, exp, IntMode::Delta, g);
    Some(if b.len() < a.len() { b } else { a })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum IntMode {
    /// Counters at a steady rate: the change of the increment is small.
    #[default]
    DeltaOfDelta = 0,
    /// Gauges wandering at random: the increment itself is smaller.
    Delta = 1,
}

/// `count u16 BE | exp u8 | mode u8 | divisor uvarint | bit stream`.
fn encode_int_mode(samples: &[(i64, f64)], ms: &[i64], exp: u8, mode: IntMode, g: u64) -> Vec<u8> {
    let mut head = Vec::with_capacity(8);
    head.extend_from_slice(&(samples.len() as u16).to_be_bytes());
    head.push(exp);
    head.push(mode as u8);
    crate::wal_record::put_uvarint(&mut head, g);
    let mut w = BitWriter::from_parts(head.clone(), head.len() * 8);
    let g = g as i64;
    let (mut t, mut td, mut vd) = (0i64, 0i64, 0i64);
    for (i, (&(st, _), &m)) in samples.iter().zip(ms).enumerate() {
        match i {
            0 => {
                w.write_varint(st);
                w.write_varint(m);
            }
            1 => {
                td = st - t;
                vd = (m - ms[0]) / g;
                w.write_varint(td);
                w.write_varint(vd);
            }
            _ => {
                let ntd = st - t;
                let nvd = (m - ms[i - 1]) / g;
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
    w.into_bytes()
}
