//! Bit-level writer and reader for the Gorilla chunk encodings.
//!
//! Invariants: bits are written most-significant first; a writer's buffer
//! always holds whole bytes, the last one padded with zero bits, and
//! `bit_len` says how many bits are meaningful. The reader never reads past
//! the slice it is given: running out of bits is an `Err(OutOfBits)` the chunk
//! decoder turns into the end of the chunk, never a panic.

/// Appends bits to a byte buffer it owns.
///
/// The bits not yet making a whole 64-bit word wait in `acc`, inside the
/// writer, and reach `buf` eight bytes at a time: a writer embedded in a
/// bigger struct (the head's open chunk, inside its series) then touches
/// its heap buffer once per word instead of reading and rewriting the
/// buffer's last byte for every field (that load was a cache miss per
/// sample in remote-write ingest, where thousands of series are appended
/// to between two appends to one). Readers take the bytes through
/// [`BitWriter::flushed`] and [`BitWriter::tail`], or [`BitWriter::into_bytes`].
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    /// Whole bytes written so far.
    buf: Vec<u8>,
    /// The last `pending` bits written, in its low bits (the bits above
    /// them are zero).
    acc: u64,
    pending: u32,
}

impl BitWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes writing after `bit_len` bits of `buf` (which holds
    /// `bit_len.div_ceil(8)` bytes).
    pub fn from_parts(mut buf: Vec<u8>, bit_len: usize) -> Self {
        let whole = bit_len / 8;
        let rest = (bit_len % 8) as u32;
        let mut acc = 0;
        if rest > 0 {
            acc = u64::from(buf.get(whole).copied().unwrap_or(0) >> (8 - rest));
        }
        buf.truncate(whole);
        BitWriter {
            buf,
            acc,
            pending: rest,
        }
    }

    /// The whole 64-bit words written so far (after the bytes given to
    /// [`BitWriter::from_parts`]); the bits after them are in
    /// [`BitWriter::tail`].
    #[inline]
    pub fn flushed(&self) -> &[u8] {
        &self.buf
    }

    /// The bits after [`BitWriter::flushed`], padded with zero bits to
    /// whole bytes: the first `.1` bytes of `.0`.
    #[inline]
    pub fn tail(&self) -> ([u8; 8], usize) {
        if self.pending == 0 {
            return ([0; 8], 0);
        }
        let bytes = (self.acc << (64 - self.pending)).to_be_bytes();
        (bytes, self.pending.div_ceil(8) as usize)
    }

    /// Bytes [`BitWriter::into_bytes`] would return.
    pub fn byte_len(&self) -> usize {
        self.buf.len() + self.tail().1
    }

    pub fn bit_len(&self) -> usize {
        self.buf.len() * 8 + self.pending as usize
    }

    /// Every bit written, the last byte padded with zero bits.
    pub fn into_bytes(mut self) -> Vec<u8> {
        let (tail, n) = self.tail();
        self.buf.extend_from_slice(&tail[..n]);
        self.buf
    }

    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        self.write_bits(bit as u64, 1);
    }

    /// Writes the low `n` bits of `v` (n <= 64), high bit first.
    #[inline]
    pub fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        let v = if n < 64 { v & ((1u64 << n) - 1) } else { v };
        let free = 64 - self.pending;
        if n < free {
            self.acc = (self.acc << n) | v;
            self.pending += n;
            return;
        }
        // The word fills up: `free` bits of `v` complete it, `rest` stay.
        let rest = n - free;
        // `free` is 64 only when nothing is pending (`acc` is 0).
        let word = self.acc.checked_shl(free).unwrap_or(0) | (v >> rest);
        self.buf.extend_from_slice(&word.to_be_bytes());
        self.acc = if rest == 0 {
            0
        } else {
            v & ((1u64 << rest) - 1)
        };
        self.pending = rest;
    }

    /// Writes an unsigned LEB128 varint, byte by byte in the bit stream.
    pub fn write_uvarint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.write_bits(b as u64, 8);
                return;
            }
            self.write_bits((b | 0x80) as u64, 8);
        }
    }

    pub fn write_varint(&mut self, v: i64) {
        self.write_uvarint(zigzag(v));
    }
}

/// The bit stream ended before the value being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBits;

/// Reads bits from a borrowed slice, starting at a bit position.
#[derive(Debug, Clone, Copy)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        BitReader { data, pos }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub fn read_bit(&mut self) -> Result<bool, OutOfBits> {
        let byte = *self.data.get(self.pos / 8).ok_or(OutOfBits)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` bits (n <= 64) as the low bits of the result. Loads eight
    /// (or nine) bytes at once where the slice has them.
    #[inline]
    pub fn read_bits(&mut self, n: u32) -> Result<u64, OutOfBits> {
        if n == 0 {
            return Ok(0);
        }
        if self.pos + n as usize > self.data.len() * 8 {
            return Err(OutOfBits);
        }
        let byte = self.pos / 8;
        let off = (self.pos % 8) as u32;
        let out = match self.data.get(byte..byte + 8) {
            Some(w) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(w);
                let w = u64::from_be_bytes(word) << off;
                if off + n <= 64 {
                    w >> (64 - n)
                } else {
                    // The ninth byte exists: the length check above passed.
                    let extra = off + n - 64;
                    let next = self.data.get(byte + 8).copied().unwrap_or(0) as u64;
                    (w >> (64 - n)) | (next >> (8 - extra))
                }
            }
            None => self.read_bits_slow(n),
        };
        self.pos += n as usize;
        Ok(out)
    }

    /// Bit by bit, near the end of the slice.
    fn read_bits_slow(&self, n: u32) -> u64 {
        let mut out = 0u64;
        for i in 0..n as usize {
            let p = self.pos + i;
            let bit = (self.data[p / 8] >> (7 - (p % 8))) & 1;
            out = (out << 1) | bit as u64;
        }
        out
    }

    /// Counts leading one bits up to `max` (the bucket prefix of a
    /// delta-of-delta), consuming them and the terminating zero if any.
    #[inline]
    pub fn read_unary(&mut self, max: u32) -> Result<u32, OutOfBits> {
        let mut n = 0;
        while n < max {
            if !self.read_bit()? {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    pub fn read_uvarint(&mut self) -> Result<u64, OutOfBits> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.read_bits(8)?;
            v |= (b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(OutOfBits)
    }

    pub fn read_varint(&mut self) -> Result<i64, OutOfBits> {
        Ok(unzigzag(self.read_uvarint()?))
    }
}

#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Sign-extends the low `bits` bits of `v`.
#[inline]
pub fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_twice_on_same_buffers() {
        let mut w = BitWriter::new();
        for round in 0..2 {
            w = BitWriter::from_parts(Vec::new(), 0);
            w.write_bit(true);
            w.write_bits(0b1011, 4);
            w.write_bits(u64::MAX, 64);
            w.write_varint(-300 - round);
            w.write_bits(5, 3);
            let bytes = w.clone().into_bytes();
            let mut r = BitReader::new(&bytes, 0);
            assert!(r.read_bit().unwrap());
            assert_eq!(r.read_bits(4).unwrap(), 0b1011);
            assert_eq!(r.read_bits(64).unwrap(), u64::MAX);
            assert_eq!(r.read_varint().unwrap(), -300 - round);
            assert_eq!(r.read_bits(3).unwrap(), 5);
            assert!(r.read_bits(8).is_err());
        }
        assert_eq!(w.bit_len(), 1 + 4 + 64 + 16 + 3);
    }

    #[test]
    fn random_widths_round_trip_at_every_alignment() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut fields = Vec::new();
        let mut w = BitWriter::new();
        for i in 0..2000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 65) as u32;
            let v = if n == 64 { x } else { x & ((1u64 << n) - 1) };
            w.write_bits(v, n);
            fields.push((v, n, i));
        }
        let bits = w.bit_len();
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), bits.div_ceil(8));
        let mut r = BitReader::new(&bytes, 0);
        for (v, n, i) in fields {
            assert_eq!(r.read_bits(n).unwrap(), v, "field {i} of {n} bits");
        }
        assert_eq!(r.pos(), bits);
    }

    /// The word-buffered writer lays out exactly the bytes of a bit-by-bit
    /// writer, its view (flushed words and tail) included, at every step,
    /// resumed from parts at any bit length, with high bits above `n`
    /// ignored.
    #[test]
    fn bytes_match_a_bit_by_bit_writer() {
        fn naive(bits: &[bool]) -> Vec<u8> {
            let mut out = vec![0u8; bits.len().div_ceil(8)];
            for (i, b) in bits.iter().enumerate() {
                out[i / 8] |= (*b as u8) << (7 - i % 8);
            }
            out
        }
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for start in 0..17usize {
            let mut bits: Vec<bool> = (0..start).map(|i| i % 3 == 0).collect();
            let mut w = BitWriter::from_parts(naive(&bits), start);
            for _ in 0..300 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = (x % 65) as u32;
                let v = x.rotate_left(17);
                w.write_bits(v, n);
                bits.extend((0..n).rev().map(|i| (v >> i) & 1 == 1));
                let (tail, k) = w.tail();
                let mut view = w.flushed().to_vec();
                view.extend_from_slice(&tail[..k]);
                assert_eq!(view, naive(&bits));
                assert_eq!(w.bit_len(), bits.len());
                assert_eq!(w.byte_len(), view.len());
            }
            assert_eq!(w.into_bytes(), naive(&bits));
        }
    }

    #[test]
    fn sign_extension() {
        assert_eq!(sign_extend(0b1111, 4), -1);
        assert_eq!(sign_extend(0b0111, 4), 7);
        assert_eq!(unzigzag(zigzag(i64::MIN)), i64::MIN);
    }
}
