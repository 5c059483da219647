//! Payloads of WAL records (series, samples, tombstones, chunks,
//! exemplars), specified in
//! `docs/storage.md` section "WAL records". Encoders append to a buffer the
//! caller owns; decoders return `None` on malformed input (the frame's
//! checksum already passed, so that means a bug or a foreign file).

use std::sync::Arc;

use sonde_model::Labels;

use crate::chunk::{Chunk, ChunkBytes, Encoding};
use crate::exemplars::StoredExemplar;

pub const REC_SERIES: u8 = 1;
pub const REC_SAMPLES: u8 = 2;
pub const REC_TOMBSTONES: u8 = 3;
pub const REC_CHUNK: u8 = 4;
pub const REC_EXEMPLARS: u8 = 5;

/// Bit 0 of an exemplar's flags byte: it came with its own timestamp.
const EXEMPLAR_HAS_TS: u8 = 1;

/// A decoded record.
#[derive(Debug, Clone)]
pub enum Record {
    Series(Vec<(u32, Labels)>),
    Samples(Vec<(u32, i64, f64)>),
    Tombstones(Vec<(u32, i64, i64)>),
    /// A head chunk of one series, written by checkpoints (smaller than the
    /// same samples as a samples record).
    Chunk(u32, Chunk),
    /// Exemplars of head series, by series id.
    Exemplars(Vec<(u32, StoredExemplar)>),
}

pub fn put_uvarint(dst: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        dst.push((v as u8) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

pub fn put_varint(dst: &mut Vec<u8>, v: i64) {
    put_uvarint(dst, crate::bitstream::zigzag(v));
}

fn put_str(dst: &mut Vec<u8>, s: &str) {
    put_uvarint(dst, s.len() as u64);
    dst.extend_from_slice(s.as_bytes());
}

/// A cursor over a byte slice for decoding varint-based formats.
pub struct Decoder<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    pub fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub fn varint(&mut self) -> Option<i64> {
        self.uvarint().map(crate::bitstream::unzigzag)
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    pub fn str(&mut self) -> Option<&'a str> {
        let n = self.uvarint()? as usize;
        std::str::from_utf8(self.bytes(n)?).ok()
    }

    pub fn u64_le(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    pub fn u32_le(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }
}

pub fn encode_series<'a>(dst: &mut Vec<u8>, series: impl Iterator<Item = (u32, &'a Labels)>) {
    for (id, labels) in series {
        put_uvarint(dst, id as u64);
        put_uvarint(dst, labels.len() as u64);
        for (n, v) in labels.iter() {
            put_str(dst, n);
            put_str(dst, v);
        }
    }
}

/// A time of a samples or exemplars record: the first in full, the others
/// as deltas from it.
fn put_batch_time(dst: &mut Vec<u8>, base: &mut Option<i64>, t: i64) {
    match *base {
        None => {
            put_varint(dst, t);
            *base = Some(t);
        }
        Some(b) => put_varint(dst, t.wrapping_sub(b)),
    }
}

/// Reads back what [`put_batch_time`] wrote.
fn batch_time(base: &mut Option<i64>, raw: i64) -> i64 {
    match *base {
        None => {
            *base = Some(raw);
            raw
        }
        Some(b) => b.wrapping_add(raw),
    }
}

/// Samples: the first timestamp in full, the others as deltas from it.
pub fn encode_samples(dst: &mut Vec<u8>, samples: impl Iterator<Item = (u32, i64, f64)>) {
    let mut base: Option<i64> = None;
    for (id, t, v) in samples {
        put_uvarint(dst, id as u64);
        put_batch_time(dst, &mut base, t);
        dst.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

pub fn encode_tombstones(dst: &mut Vec<u8>, ts: impl Iterator<Item = (u32, i64, i64)>) {
    for (id, mint, maxt) in ts {
        put_uvarint(dst, id as u64);
        put_varint(dst, mint);
        put_varint(dst, maxt);
    }
}

pub fn encode_chunk(dst: &mut Vec<u8>, id: u32, c: &Chunk) {
    put_uvarint(dst, id as u64);
    dst.push(c.enc as u8);
    put_varint(dst, c.mint);
    put_varint(dst, c.maxt);
    put_uvarint(dst, c.data.len() as u64);
    dst.extend_from_slice(c.data.as_ref());
}

/// Exemplars: the first timestamp in full, the others as deltas from it.
pub fn encode_exemplars<'a>(
    dst: &mut Vec<u8>,
    exemplars: impl Iterator<Item = (u32, &'a StoredExemplar)>,
) {
    let mut base: Option<i64> = None;
    for (id, e) in exemplars {
        put_uvarint(dst, id as u64);
        put_batch_time(dst, &mut base, e.ts);
        dst.extend_from_slice(&e.value.to_bits().to_le_bytes());
        dst.push(if e.has_ts { EXEMPLAR_HAS_TS } else { 0 });
        put_uvarint(dst, e.labels.len() as u64);
        for (n, v) in e.labels.iter() {
            put_str(dst, n);
            put_str(dst, v);
        }
    }
}

fn decode_exemplars(d: &mut Decoder<'_>) -> Option<Record> {
    let mut out = Vec::new();
    let mut base: Option<i64> = None;
    while !d.done() {
        let id = u32::try_from(d.uvarint()?).ok()?;
        let ts = batch_time(&mut base, d.varint()?);
        let value = f64::from_bits(d.u64_le()?);
        let flags = *d.bytes(1)?.first()?;
        let n = d.uvarint()? as usize;
        let mut pairs = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            pairs.push((d.str()?, d.str()?));
        }
        let e = StoredExemplar {
            labels: Labels::from_pairs(&pairs),
            value,
            ts,
            has_ts: flags & EXEMPLAR_HAS_TS != 0,
        };
        out.push((id, e));
    }
    Some(Record::Exemplars(out))
}

pub fn decode(kind: u8, payload: &[u8]) -> Option<Record> {
    let mut d = Decoder::new(payload);
    match kind {
        REC_SERIES => {
            let mut out = Vec::new();
            while !d.done() {
                let id = u32::try_from(d.uvarint()?).ok()?;
                let n = d.uvarint()? as usize;
                let mut pairs = Vec::with_capacity(n.min(256));
                for _ in 0..n {
                    pairs.push((d.str()?, d.str()?));
                }
                out.push((id, Labels::from_pairs(&pairs)));
            }
            Some(Record::Series(out))
        }
        REC_SAMPLES => {
            let mut out = Vec::new();
            let mut base: Option<i64> = None;
            while !d.done() {
                let id = u32::try_from(d.uvarint()?).ok()?;
                let t = batch_time(&mut base, d.varint()?);
                out.push((id, t, f64::from_bits(d.u64_le()?)));
            }
            Some(Record::Samples(out))
        }
        REC_TOMBSTONES => {
            let mut out = Vec::new();
            while !d.done() {
                let id = u32::try_from(d.uvarint()?).ok()?;
                out.push((id, d.varint()?, d.varint()?));
            }
            Some(Record::Tombstones(out))
        }
        REC_CHUNK => {
            let id = u32::try_from(d.uvarint()?).ok()?;
            let enc = Encoding::from_u8(*d.bytes(1)?.first()?)?;
            let (mint, maxt) = (d.varint()?, d.varint()?);
            let n = d.uvarint()? as usize;
            let data = ChunkBytes::Owned(Arc::from(d.bytes(n)?));
            Some(Record::Chunk(
                id,
                Chunk {
                    enc,
                    mint,
                    maxt,
                    data,
                },
            ))
        }
        REC_EXEMPLARS => decode_exemplars(&mut d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_model::STALE_NAN;

    #[test]
    fn exemplar_records_round_trip_twice_on_same_buffer() {
        let list = [
            (
                3u32,
                StoredExemplar {
                    labels: Labels::from_pairs(&[("trace_id", "abc"), ("span_id", "é1")]),
                    value: 0.25,
                    ts: 1_700_000_000_123,
                    has_ts: true,
                },
            ),
            (
                1,
                StoredExemplar {
                    labels: Labels::empty(),
                    value: STALE_NAN,
                    ts: 1_699_999_999_000,
                    has_ts: false,
                },
            ),
        ];
        let mut buf = Vec::new();
        for _ in 0..2 {
            buf.clear();
            encode_exemplars(&mut buf, list.iter().map(|(id, e)| (*id, e)));
            match decode(REC_EXEMPLARS, &buf) {
                Some(Record::Exemplars(got)) => {
                    assert_eq!(got.len(), 2);
                    assert_eq!(got[0], list[0]);
                    assert_eq!(got[1].1.value.to_bits(), STALE_NAN.to_bits());
                    assert_eq!(
                        (got[1].0, got[1].1.ts, got[1].1.has_ts),
                        (1, 1_699_999_999_000, false)
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn records_round_trip_twice_on_same_buffer() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
        let mut buf = Vec::new();
        for _ in 0..2 {
            buf.clear();
            encode_series(&mut buf, [(7u32, &l)].into_iter());
            match decode(REC_SERIES, &buf) {
                Some(Record::Series(v)) => assert_eq!(v, vec![(7, l.clone())]),
                other => panic!("{other:?}"),
            }
            buf.clear();
            let s = vec![(1u32, 1000i64, 1.5), (2, 900, -2.0), (1, i64::MIN, 0.0)];
            encode_samples(&mut buf, s.iter().copied());
            match decode(REC_SAMPLES, &buf) {
                Some(Record::Samples(v)) => assert_eq!(v, s),
                other => panic!("{other:?}"),
            }
            buf.clear();
            let c = Chunk::from_samples(&[(1, 1.0), (2, 2.0)]);
            encode_chunk(&mut buf, 9, &c);
            match decode(REC_CHUNK, &buf) {
                Some(Record::Chunk(9, d)) => {
                    assert_eq!(d.iter().collect::<Vec<_>>(), vec![(1, 1.0), (2, 2.0)])
                }
                other => panic!("{other:?}"),
            }
            buf.clear();
            encode_samples(&mut buf, [(3u32, 5i64, STALE_NAN)].into_iter());
            match decode(REC_SAMPLES, &buf) {
                Some(Record::Samples(v)) => assert_eq!(v[0].2.to_bits(), STALE_NAN.to_bits()),
                other => panic!("{other:?}"),
            }
        }
        assert!(decode(REC_SAMPLES, &[0x80]).is_none());
        assert!(decode(REC_EXEMPLARS, &[0x01, 0x02]).is_none());
        assert!(decode(9, &[]).is_none());
    }
}
