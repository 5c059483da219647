//! Protobuf wire-format primitives for the hand-written decoder: a cursor
//! over a borrowed buffer whose offsets stay absolute, so errors can name
//! the byte where decoding stopped.

use crate::error::DecodeError;

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const FIXED32: u8 = 5;

/// A cursor over `buf[pos..end]`. `buf` is cut at `end`, so reads need no
/// second bound check; it starts at the outermost buffer's byte 0, so `pos`
/// is an absolute offset for error messages.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

/// Error context: which message is being decoded.
pub(crate) type Path<'p> = &'p dyn Fn() -> String;

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    pub(crate) fn err(&self, path: Path<'_>, reason: impl Into<String>) -> DecodeError {
        DecodeError::Protobuf {
            offset: self.pos,
            path: path(),
            reason: reason.into(),
        }
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self, path: Path<'_>) -> Result<u64, DecodeError> {
        // Fast path: one byte (field keys, lengths of labels, most
        // timestamps' keys) inlined; longer varints take the loop.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow(path)
    }

    #[cold]
    #[inline(never)]
    fn varint_slow(&mut self, path: Path<'_>) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err(path, "truncated varint"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.err(path, "varint longer than 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.err(path, "varint longer than 10 bytes"))
    }

    /// A field key: (field number, wire type).
    #[inline(always)]
    pub(crate) fn key(&mut self, path: Path<'_>) -> Result<(u32, u8), DecodeError> {
        let k = self.varint(path)?;
        let field = k >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(self.err(path, format!("invalid field number {field}")));
        }
        Ok((field as u32, (k & 7) as u8))
    }

    #[inline]
    pub(crate) fn fixed64(&mut self, path: Path<'_>) -> Result<u64, DecodeError> {
        let Some(bytes) = self.buf.get(self.pos..self.pos + 8) else {
            return Err(self.err(path, "truncated 64-bit field"));
        };
        let mut a = [0u8; 8];
        a.copy_from_slice(bytes);
        self.pos += 8;
        Ok(u64::from_le_bytes(a))
    }

    /// A length-delimited field's body, as a reader bounded to it.
    #[inline(always)]
    pub(crate) fn sub(&mut self, path: Path<'_>) -> Result<Reader<'a>, DecodeError> {
        let len = self.varint(path)?;
        let start = self.pos;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|e| *e <= self.end)
            .ok_or_else(|| {
                self.err(
                    path,
                    format!("length {len} runs past the end of the message"),
                )
            })?;
        self.pos = end;
        Ok(Reader {
            buf: &self.buf[..end],
            pos: start,
            end,
        })
    }

    /// A length-delimited field read as UTF-8 text, borrowed.
    #[inline(always)]
    pub(crate) fn string(&mut self, path: Path<'_>) -> Result<&'a str, DecodeError> {
        let r = self.sub(path)?;
        let bytes = &self.buf[r.pos..r.end];
        std::str::from_utf8(bytes).map_err(|e| DecodeError::Protobuf {
            offset: r.pos + e.valid_up_to(),
            path: path(),
            reason: "string is not valid UTF-8".into(),
        })
    }

    /// The labels at the start of a `TimeSeries` as Prometheus writes
    /// them, taken in two tight passes: the run of `Label` fields of the
    /// form `0x0a len 0x0a nlen name 0x12 vlen value` (one-byte lengths),
    /// at most `max` of them, is found and checked as UTF-8 at once, then
    /// its strings are pushed to `out`. What the general decoding of those
    /// fields would give, without its per-field steps. Returns whether it
    /// took any; when not (no such label first, or the run is not UTF-8)
    /// nothing is consumed or pushed, and the caller decodes field by
    /// field, errors included.
    #[inline]
    pub(crate) fn labels_run(&mut self, max: usize, out: &mut Vec<(&'a str, &'a str)>) -> bool {
        let b: &'a [u8] = &self.buf[..self.end];
        let start = self.pos;
        let (mut p, mut n) = (start, 0);
        while n < max {
            let Some(&[0x0a, len, 0x0a, nlen]) = b.get(p..p + 4) else {
                break;
            };
            let (len, nlen) = (usize::from(len), usize::from(nlen));
            if len >= 0x80 || nlen >= 0x80 {
                break;
            }
            let name_end = p + 4 + nlen;
            let end = p + 2 + len;
            match b.get(name_end..name_end + 2) {
                Some(&[0x12, vlen]) if vlen < 0x80 && name_end + 2 + usize::from(vlen) == end => {}
                _ => break,
            }
            if end > b.len() {
                break;
            }
            p = end;
            n += 1;
        }
        if n == 0 {
            return false;
        }
        let Some(text) = crate::ascii::text(&b[start..p]) else {
            return false;
        };
        // The framing bytes are ASCII, so every string starts and ends on
        // a character boundary of `text`; `get` checks it all the same.
        let t = text.as_bytes();
        out.reserve(n);
        let mut q = 0;
        for _ in 0..n {
            let nlen = usize::from(t[q + 3]);
            let vs = q + 6 + nlen;
            let vlen = usize::from(t[vs - 1]);
            let (Some(name), Some(value)) = (text.get(q + 4..vs - 2), text.get(vs..vs + vlen))
            else {
                return false;
            };
            out.push((name, value));
            q = vs + vlen;
        }
        self.pos = p;
        true
    }

    /// A `Sample` message as Prometheus writes it, taken whole when the
    /// next bytes (after its field key) are `len 0x09 value(8) 0x10
    /// timestamp(varint)` with a one-byte length: what the general decoding
    /// would return. `None`, having consumed nothing, for any other form
    /// (a zero value or timestamp, which proto3 leaves out, among them).
    #[inline(always)]
    pub(crate) fn sample_fast(&mut self) -> Option<(u64, u64)> {
        let b = self.buf.get(..self.end)?;
        let p = self.pos;
        let len = usize::from(*b.get(p).filter(|x| **x < 0x80)?);
        let end = p + 1 + len;
        let body = b.get(p + 1..end)?;
        let [0x09, v0, v1, v2, v3, v4, v5, v6, v7, 0x10, ts @ ..] = body else {
            return None;
        };
        // The timestamp varint must end exactly at the message's end.
        let mut t: u64 = 0;
        for (i, &x) in ts.iter().enumerate() {
            if i >= 10 || (i == 9 && x > 1) {
                return None;
            }
            t |= u64::from(x & 0x7f) << (7 * i);
            if x < 0x80 {
                if i + 1 != ts.len() {
                    return None;
                }
                self.pos = end;
                return Some((
                    u64::from_le_bytes([*v0, *v1, *v2, *v3, *v4, *v5, *v6, *v7]),
                    t,
                ));
            }
        }
        None
    }

    /// Skips a field of an unknown number.
    pub(crate) fn skip(&mut self, wire: u8, path: Path<'_>) -> Result<(), DecodeError> {
        match wire {
            VARINT => self.varint(path).map(drop),
            FIXED64 => self.fixed64(path).map(drop),
            LEN => self.sub(path).map(drop),
            FIXED32 => {
                if self.pos + 4 > self.end {
                    return Err(self.err(path, "truncated 32-bit field"));
                }
                self.pos += 4;
                Ok(())
            }
            w => Err(self.err(path, format!("unsupported wire type {w}"))),
        }
    }

    /// The error for a known field sent with the wrong wire type.
    pub(crate) fn wrong_wire(&self, field: u32, wire: u8, path: Path<'_>) -> DecodeError {
        self.err(
            path,
            format!("field {field} has wire type {wire}, which its type does not allow"),
        )
    }
}
