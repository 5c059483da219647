//! Bit-level writer and reader for the Gorilla chunk encodings.
//!
//! Invariants: bits are written most-significant first; a writer's buffer
//! always holds whole bytes, the last one padded with zero bits, and
//! `bit_len` says how many bits are meaningful. The reader never reads past
//! the slice it is given: running out of bits is an `Err(OutOfBits)` the chunk
//! decoder turns into the end of the chunk, never a panic.

/// Appends bits to a byte buffer it owns.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    bit_len: usize,
}

impl BitWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes writing after `bit_len` bits of `buf`.
    pub fn from_parts(buf: Vec<u8>, bit_len: usize) -> Self {
        BitWriter { buf, bit_len }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn bit_len(&self) -> usize {
        self.bit_len
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The buffer, for patching a header written before the bits.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    pub fn write_bit(&mut self, bit: bool) {
        self.write_bits(bit as u64, 1);
    }

    /// Writes the low `n` bits of `v` (n <= 64), high bit first.
    pub fn write_bits(&mut self, v: u64, mut n: u32) {
        debug_assert!(n <= 64);
        while n > 0 {
            let used = (self.bit_len % 8) as u32;
            if used == 0 {
                self.buf.push(0);
            }
            let free = 8 - used;
            let take = free.min(n);
            // The `take` bits of v just below bit n.
            let chunk = ((v >> (n - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.buf.len() - 1;
            self.buf[last] |= chunk << (free - take);
            self.bit_len += take as usize;
            n -= take;
        }
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

    /// Reads `n` bits (n <= 64) as the low bits of the result.
    #[inline]
    pub fn read_bits(&mut self, mut n: u32) -> Result<u64, OutOfBits> {
        if self.pos + n as usize > self.data.len() * 8 {
            return Err(OutOfBits);
        }
        let mut out = 0u64;
        while n > 0 {
            let byte = self.data[self.pos / 8];
            let used = (self.pos % 8) as u32;
            let avail = 8 - used;
            let take = avail.min(n);
            let bits = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            out = (out << take) | bits as u64;
            self.pos += take as usize;
            n -= take;
        }
        Ok(out)
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
            let mut r = BitReader::new(w.bytes(), 0);
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
    fn sign_extension() {
        assert_eq!(sign_extend(0b1111, 4), -1);
        assert_eq!(sign_extend(0b0111, 4), 7);
        assert_eq!(unzigzag(zigzag(i64::MIN)), i64::MIN);
    }
}
