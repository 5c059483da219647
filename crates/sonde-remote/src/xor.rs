//! Prometheus' XOR chunk encoding (`tsdb/chunkenc/xor.go`, described in
//! `tsdb/docs/format/chunks.md`), which STREAMED_XOR_CHUNKS remote-read
//! responses carry. Sonde's own chunks use a different bit layout, so read
//! responses re-encode samples in this one.
//!
//! Layout: a big-endian u16 sample count, then a bit stream (most
//! significant bit first): the first timestamp as a zig-zag varint and the
//! first value's 64 bits; the second timestamp as an unsigned varint delta;
//! later timestamps as delta-of-delta in buckets `0`, `10`+14 bits,
//! `110`+17, `1110`+20, `1111`+64; every value after the first as the XOR
//! with the previous one: `0` if equal, `10` + the meaningful bits when they
//! fit in the previous leading/trailing-zero window, else `11` + 5 bits of
//! leading zeros + 6 bits of significant-bit count (64 written as 0) + bits.

/// Samples per chunk, as Prometheus' head cuts them.
pub const SAMPLES_PER_CHUNK: usize = 120;

#[derive(Debug, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Free bits in the last byte (0 = need a new byte).
    free: u8,
}

impl BitWriter {
    fn bit(&mut self, b: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        if b {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 1 << (self.free - 1);
            }
        }
        self.free -= 1;
    }

    fn bits(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    fn byte(&mut self, b: u8) {
        self.bits(u64::from(b), 8);
    }
}

/// Appends samples to one XOR chunk.
#[derive(Debug)]
pub struct XorEncoder {
    w: BitWriter,
    n: u16,
    t: i64,
    t_delta: u64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl XorEncoder {
    pub fn new() -> Self {
        XorEncoder {
            w: BitWriter {
                bytes: vec![0, 0],
                free: 0,
            },
            n: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    pub fn len(&self) -> usize {
        usize::from(self.n)
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Appends a sample; timestamps must increase (remote read hands them
    /// over in storage order).
    pub fn append(&mut self, t: i64, v: f64) {
        let v = v.to_bits();
        match self.n {
            0 => {
                let zz = ((t << 1) ^ (t >> 63)) as u64;
                self.uvarint(zz);
                self.w.bits(v, 64);
            }
            1 => {
                let d = t.wrapping_sub(self.t) as u64;
                self.uvarint(d);
                self.t_delta = d;
                self.xor_value(v);
            }
            _ => {
                let d = t.wrapping_sub(self.t) as u64;
                let dod = d.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    self.w.bit(false);
                } else if in_range(dod, 14) {
                    self.w.bits(0b10, 2);
                    self.w.bits(dod as u64, 14);
                } else if in_range(dod, 17) {
                    self.w.bits(0b110, 3);
                    self.w.bits(dod as u64, 17);
                } else if in_range(dod, 20) {
                    self.w.bits(0b1110, 4);
                    self.w.bits(dod as u64, 20);
                } else {
                    self.w.bits(0b1111, 4);
                    self.w.bits(dod as u64, 64);
                }
                self.t_delta = d;
                self.xor_value(v);
            }
        }
        self.t = t;
        self.v = v;
        self.n += 1;
    }

    fn uvarint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.w.byte((x as u8) | 0x80);
            x >>= 7;
        }
        self.w.byte(x as u8);
    }

    fn xor_value(&mut self, v: u64) {
        let delta = v ^ self.v;
        if delta == 0 {
            self.w.bit(false);
            return;
        }
        self.w.bit(true);
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.bit(false);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.w.bits(delta >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.w.bit(true);
        self.w.bits(u64::from(leading), 5);
        let sig = 64 - u32::from(leading) - u32::from(trailing);
        // 64 significant bits are written as 0: six bits cannot hold 64.
        self.w.bits(u64::from(sig) & 0x3f, 6);
        self.w.bits(delta >> trailing, sig);
    }

    /// The chunk's bytes, the sample count in front.
    pub fn finish(mut self) -> Vec<u8> {
        let n = self.n.to_be_bytes();
        self.w.bytes[0] = n[0];
        self.w.bytes[1] = n[1];
        self.w.bytes
    }
}

/// Whether `x` fits in the `n`-bit bucket as Prometheus' `bitRange` defines it.
fn in_range(x: i64, n: u32) -> bool {
    -((1i64 << (n - 1)) - 1) <= x && x <= 1i64 << (n - 1)
}

/// Decodes a Prometheus XOR chunk (used by tests and by clients of remote
/// read). `None` when the bytes end early.
pub fn decode_xor(data: &[u8]) -> Option<Vec<(i64, f64)>> {
    let n = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
    let mut r = BitReader {
        data: &data[2..],
        pos: 0,
    };
    let mut out = Vec::with_capacity(usize::from(n));
    let (mut t, mut d, mut v) = (0i64, 0i64, 0u64);
    let (mut leading, mut trailing) = (0u32, 0u32);
    for i in 0..n {
        match i {
            0 => {
                let zz = r.uvarint()?;
                t = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
                v = r.bits(64)?;
            }
            _ => {
                if i == 1 {
                    d = r.uvarint()? as i64;
                } else {
                    let mut prefix = 0;
                    while prefix < 4 && r.bit()? {
                        prefix += 1;
                    }
                    let width = [0, 14, 17, 20, 64][prefix];
                    if width > 0 {
                        let raw = r.bits(width)?;
                        // Prometheus reads a bucket's bits as two's
                        // complement, +2^(n-1) staying positive.
                        let dod = if width < 64 && raw > 1u64 << (width - 1) {
                            raw.wrapping_sub(1u64 << width) as i64
                        } else {
                            raw as i64
                        };
                        d = d.wrapping_add(dod);
                    }
                }
                t = t.wrapping_add(d);
                if r.bit()? {
                    if r.bit()? {
                        leading = r.bits(5)? as u32;
                        let mut sig = r.bits(6)? as u32;
                        if sig == 0 {
                            sig = 64;
                        }
                        trailing = 64 - leading - sig;
                    }
                    let sig = 64 - leading - trailing;
                    v ^= r.bits(sig)? << trailing;
                }
            }
        }
        out.push((t, f64::from_bits(v)));
    }
    Some(out)
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<bool> {
        let b = self.data.get(self.pos / 8)?;
        let bit = (b >> (7 - self.pos % 8)) & 1 == 1;
        self.pos += 1;
        Some(bit)
    }

    fn bits(&mut self, n: u32) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Some(v)
    }

    fn uvarint(&mut self) -> Option<u64> {
        let mut x = 0u64;
        for i in 0..10 {
            let b = self.bits(8)?;
            x |= (b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(x);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_every_bucket_and_special_values() {
        let ts = [
            -5_000,
            10_000,
            25_000,
            40_000,
            40_001,
            60_000,
            160_000,
            1_000_000,
            90_000_000,
            90_000_015,
            5_000_000_000_000,
        ];
        let vs = [
            1.0,
            1.0,
            2.5,
            f64::NAN,
            -0.0,
            1e300,
            f64::from_bits(0x7ff0_0000_0000_0002),
            f64::INFINITY,
            3.25,
            3.25,
            1.0 / 3.0,
        ];
        let mut e = XorEncoder::new();
        for (t, v) in ts.iter().zip(vs) {
            e.append(*t, v);
        }
        let got = decode_xor(&e.finish()).unwrap();
        assert_eq!(got.len(), ts.len());
        for ((gt, gv), (t, v)) in got.iter().zip(ts.iter().zip(vs)) {
            assert_eq!(gt, t);
            assert_eq!(gv.to_bits(), v.to_bits());
        }
    }

    #[test]
    fn known_bytes_of_two_samples() {
        // t=1000 (zig-zag 2000 = 0xd0 0x0f), v=1.0, then t=2000 (delta 1000
        // = 0xe8 0x07), same value (bit 0).
        let mut e = XorEncoder::new();
        e.append(1000, 1.0);
        e.append(2000, 1.0);
        let b = e.finish();
        assert_eq!(
            b,
            vec![0, 2, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xe8, 0x07, 0x00]
        );
    }
}
