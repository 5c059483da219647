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

    /// The writer's buffer, emptied, for another writer to reuse.
    pub fn into_empty_buffer(mut self) -> Vec<u8> {
        self.buf.clear();
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

    /// The 64 bits from the current position, first bit highest, without
    /// consuming them; bits past the end of the slice read as zeros. The
    /// top 57 are always the stream's (the load is of whole bytes, so the
    /// lowest `pos % 8` bits are zeros instead of the next byte's).
    #[inline]
    pub fn peek(&self) -> u64 {
        let byte = self.pos / 8;
        let word = match self.data.get(byte..byte + 8) {
            Some(w) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(w);
                u64::from_be_bytes(word)
            }
            None => self.peek_tail(byte),
        };
        word << (self.pos % 8)
    }

    /// [`BitReader::peek`]'s load within the last 8 bytes, zero-padded.
    #[cold]
    fn peek_tail(&self, byte: usize) -> u64 {
        let mut word = [0u8; 8];
        let tail = self.data.get(byte..).unwrap_or(&[]);
        word[..tail.len()].copy_from_slice(tail);
        u64::from_be_bytes(word)
    }

    /// Consumes `n` bits that were peeked; an error (nothing consumed)
    /// when the slice has fewer left.
    #[inline]
    pub fn consume(&mut self, n: u32) -> Result<(), OutOfBits> {
        let end = self.pos + n as usize;
        if end > self.data.len() * 8 {
            return Err(OutOfBits);
        }
        self.pos = end;
        Ok(())
    }

    /// Reads a bucketed field: `k` one bits (at most `buckets.len()`),
    /// the terminating zero when `k` is below that, then, for `k > 0`,
    /// `buckets[k - 1]` bits as a signed two's complement value (64: the
    /// raw bits); `k = 0` is the value 0. Bits are taken from one
    /// [`BitReader::peek`] when the field fits in it (the delta-of-delta
    /// of jittered scrape times takes 7), instead of one read per prefix
    /// bit. Errors exactly where reading the prefix bit by bit and then
    /// the payload would.
    #[inline(always)]
    pub fn read_bucketed(&mut self, buckets: &[u32]) -> Result<i64, OutOfBits> {
        let max = buckets.len() as u32;
        let w = self.peek();
        let k = w.leading_ones().min(max);
        if k == 0 {
            self.consume(1)?;
            return Ok(0);
        }
        let prefix = if k < max { k + 1 } else { k };
        let bits = buckets[k as usize - 1];
        if prefix + bits <= 57 {
            self.consume(prefix + bits)?;
            // 0 < bits < 64 here.
            return Ok(sign_extend((w << prefix) >> (64 - bits), bits));
        }
        self.consume(prefix)?;
        let raw = self.read_bits(bits)?;
        Ok(if bits >= 64 {
            raw as i64
        } else {
            sign_extend(raw, bits)
        })
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

/// How the first 8 bits of a bucketed field (see
/// [`BitReader::read_bucketed`]) decode: per byte value, `[prefix bits,
/// payload bits]`. Every bucket list has at most 7 buckets, so the byte
/// holds the whole prefix.
pub type BucketTable = [[u8; 2]; 256];

/// The [`BucketTable`] of `buckets` (at most 7 of them).
pub const fn bucket_table(buckets: &[u32]) -> BucketTable {
    assert!(
        buckets.len() <= 7,
        "BUG: a bucket prefix must fit in a byte"
    );
    let max = buckets.len() as u32;
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        let ones = (b as u8).leading_ones();
        let k = if ones < max { ones } else { max };
        table[b] = if k == 0 {
            [1, 0]
        } else {
            let prefix = if k < max { k + 1 } else { k };
            [prefix as u8, buckets[k as usize - 1] as u8]
        };
        b += 1;
    }
    table
}

/// A bucketed field at the top of `w` (a [`BitReader::peek`], or one
/// shifted by the fields before it): its value and its length in bits,
/// or `None` when it is longer than `avail` bits (read it with
/// [`BitReader::read_bucketed`] then). The sign extension is one
/// arithmetic shift.
#[inline(always)]
pub fn bucketed_in(w: u64, table: &BucketTable, avail: u32) -> Option<(i64, u32)> {
    let [prefix, bits] = table[(w >> 56) as usize];
    let (prefix, bits) = (prefix as u32, bits as u32);
    let used = prefix + bits;
    if used > avail {
        return None;
    }
    // `bits` < 57 here; for 0 bits the mask clears the shifted bits.
    let raw = (((w << prefix) as i64) >> (63 - bits)) >> 1;
    let mask = if bits == 0 { 0 } else { -1 };
    Some((raw & mask, used))
}

/// The `width`-bit field (`width` <= 64) at bit `pos` of `data`, for a
/// caller that knows it lies within `data` (bits past the end read as
/// zeros): one load and two shifts for fields of up to 56 bits, which is
/// what fixed-width columns hold.
#[inline(always)]
pub fn field_at(data: &[u8], pos: usize, width: u32) -> u64 {
    let byte = pos / 8;
    if width <= 56 {
        if let Some(w) = data.get(byte..byte + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            // `pos % 8 + width` <= 63; two shifts so that width 0 gives 0.
            return (u64::from_be_bytes(word) << (pos % 8)) >> (63 - width) >> 1;
        }
        if width == 0 {
            // Constant columns end where their data does.
            return 0;
        }
    }
    field_at_slow(data, pos, width)
}

#[cold]
fn field_at_slow(data: &[u8], pos: usize, width: u32) -> u64 {
    let end = (data.len() * 8).min(pos + width as usize);
    let avail = end.saturating_sub(pos) as u32;
    let got = BitReader::new(data, pos).read_bits(avail).unwrap_or(0);
    // Missing low bits are zeros.
    if avail == 0 {
        0
    } else {
        got << (width - avail)
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

    /// The bucketed field read bit by bit: the reference for
    /// `read_bucketed`, errors included.
    fn bucketed_bit_by_bit(r: &mut BitReader<'_>, buckets: &[u32]) -> Result<i64, OutOfBits> {
        let mut k = 0;
        while k < buckets.len() && r.read_bit()? {
            k += 1;
        }
        if k == 0 {
            return Ok(0);
        }
        let bits = buckets[k - 1];
        let raw = r.read_bits(bits)?;
        Ok(if bits == 64 {
            raw as i64
        } else {
            sign_extend(raw, bits)
        })
    }

    #[test]
    fn bucketed_fields_and_fixed_fields_read_as_bit_by_bit_up_to_the_end() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let buckets: &[u32] = &[3, 6, 9, 12, 16, 24, 64];
        let mut w = BitWriter::new();
        for _ in 0..3000 {
            let r = next();
            let k = (r % 8) as usize;
            if k == 0 {
                w.write_bit(false);
            } else {
                let ones = k as u32;
                if k < buckets.len() {
                    w.write_bits(((1u64 << ones) - 1) << 1, ones + 1);
                } else {
                    w.write_bits((1u64 << ones) - 1, ones);
                }
                w.write_bits(next(), buckets[k - 1]);
            }
        }
        let data = w.into_bytes();
        let data = &data[..];
        for cut in [data.len(), data.len() - 1, data.len() - 5, data.len() - 9] {
            let data = &data[..cut];
            let (mut a, mut b) = (BitReader::new(data, 0), BitReader::new(data, 0));
            loop {
                let (x, y) = (
                    a.read_bucketed(buckets),
                    bucketed_bit_by_bit(&mut b, buckets),
                );
                assert_eq!(x, y, "at bit {} of {}", a.pos(), data.len() * 8);
                if x.is_err() {
                    break;
                }
                assert_eq!(a.pos(), b.pos());
            }
        }
        // Fixed-width fields at every alignment and width, to the last bit.
        for width in 0..=64u32 {
            for pos in (0..data.len() * 8 - width as usize).step_by(61) {
                let want = BitReader::new(data, pos).read_bits(width).unwrap();
                assert_eq!(field_at(data, pos, width), want, "{width} bits at {pos}");
            }
            let last = data.len() * 8 - width as usize;
            let want = BitReader::new(data, last).read_bits(width).unwrap();
            assert_eq!(field_at(data, last, width), want, "{width} bits at the end");
        }
    }

    #[test]
    fn sign_extension() {
        assert_eq!(sign_extend(0b1111, 4), -1);
        assert_eq!(sign_extend(0b0111, 4), 7);
        assert_eq!(unzigzag(zigzag(i64::MIN)), i64::MIN);
    }
}
