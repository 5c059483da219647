//! Writing a block directory: `chunks`, `index`, `tombstones`, `meta.json`
//! in `<id>.tmp`, each fsynced, then renamed into place. Layouts in
//! `docs/storage.md` sections "Block chunks", "Block index", "Tombstones".

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;
use sonde_model::{Labels, Sample};

use crate::block::{
    BlockCompaction, BlockMeta, BlockStats, CHUNKS_MAGIC, FORMAT_VERSION, INDEX_MAGIC,
    TOMBSTONES_MAGIC,
};
use crate::chunk::{Chunk, Encoding};
use crate::chunk_packed::{encode_packed, encode_times, times_are, TIMES_ENTRY};
use crate::error::TsdbError;
use crate::head::{fold, IdMap};
use crate::wal::sync_dir;
use crate::wal_record::put_uvarint;
use crate::wal_record::put_varint;

/// A new block's identity: a ULID (48-bit ms time, 80 random bits, Crockford
/// base32), so block directories sort by creation time like Prometheus'.
pub fn new_block_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ms = now.as_millis() & ((1 << 48) - 1);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.as_nanos());
    let r1 = h.finish() as u128;
    h.write_u64(std::process::id() as u64);
    let r2 = (h.finish() & 0xffff) as u128;
    let mut v: u128 = (ms << 80) | (r1 << 16) | r2;
    let mut out = [0u8; 26];
    for i in (0..26).rev() {
        out[i] = ALPHABET[(v & 31) as usize];
        v >>= 5;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes a block of `series` (sorted by labels, chunks sorted and not
/// overlapping) under `parent` and returns its directory.
/// A failed write (a full disk) removes what it wrote, so that it does not
/// keep the disk full until the next open.
pub fn write_block(
    parent: &Path,
    series: &[(Labels, Vec<Chunk>)],
    level: u32,
    sources: Vec<String>,
) -> Result<PathBuf, TsdbError> {
    let id = new_block_id();
    let tmp = parent.join(format!("{id}.tmp"));
    let res = write_block_in(parent, id, &tmp, series, level, sources);
    if res.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    res
}

fn write_block_in(
    parent: &Path,
    id: String,
    tmp: &Path,
    series: &[(Labels, Vec<Chunk>)],
    level: u32,
    sources: Vec<String>,
) -> Result<PathBuf, TsdbError> {
    let dir = parent.join(&id);
    fs::create_dir_all(tmp).map_err(|e| TsdbError::io("create block directory", tmp, e))?;

    let chunks_path = tmp.join("chunks");
    let mut cw = ChunkWriter::create(&chunks_path)?;
    let mut refs: Vec<Vec<(i64, i64, u64)>> = Vec::with_capacity(series.len());
    let mut stats = BlockStats {
        num_samples: 0,
        num_series: series.len() as u64,
        num_chunks: 0,
    };
    let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
    for (_, chunks) in series {
        let mut r = Vec::new();
        cw.write_series(chunks, &mut r)
            .map_err(|e| TsdbError::io("write", &chunks_path, e))?;
        for &(mint, maxt, _, n) in &r {
            stats.num_samples += n as u64;
            stats.num_chunks += 1;
            min_t = min_t.min(mint);
            max_t = max_t.max(maxt);
        }
        refs.push(r.into_iter().map(|(a, b, off, _)| (a, b, off)).collect());
    }
    cw.finish()
        .map_err(|e| TsdbError::io("write", &chunks_path, e))?;
    let index_buf = encode_index(series, &refs);
    let meta = BlockMeta {
        ulid: id.clone(),
        min_time: if min_t == i64::MAX { 0 } else { min_t },
        max_time: if max_t == i64::MIN {
            0
        } else {
            max_t.saturating_add(1)
        },
        stats,
        compaction: BlockCompaction {
            level,
            sources: if sources.is_empty() {
                vec![id.clone()]
            } else {
                sources
            },
        },
        version: 1,
    };
    write_file(&tmp.join("index"), &index_buf)?;
    write_file(&tmp.join("tombstones"), &encode_tombstones(&HashMap::new()))?;
    let json = serde_json::to_vec_pretty(&meta)
        .map_err(|e| TsdbError::io("encode", &tmp.join("meta.json"), std::io::Error::other(e)))?;
    write_file(&tmp.join("meta.json"), &json)?;
    sync_dir(tmp)?;
    fs::rename(tmp, &dir).map_err(|e| TsdbError::io("rename into place", &dir, e))?;
    sync_dir(parent)?;
    Ok(dir)
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), TsdbError> {
    let mut f = fs::File::create(path).map_err(|e| TsdbError::io("create", path, e))?;
    f.write_all(data)
        .map_err(|e| TsdbError::io("write", path, e))?;
    f.sync_all().map_err(|e| TsdbError::io("fsync", path, e))
}

/// Samples per chunk in blocks, at most: a block's samples of a series are
/// cut into `ceil(n / MAX)` chunks of equal counts, so series with the same
/// timestamps (one scrape target) are cut alike and share time columns.
/// A chunk costs ~40 bytes besides its samples (frame, checksum, header,
/// index entry): ~0.08 bytes per sample at 480 samples, 0.04 at 1024 (the
/// whole-system benchmark's snapshot: 1.02 -> 1.00 bytes per sample).
/// A 2h block at 15s (480 samples) or 10s (720) is one chunk per series,
/// and a seek decodes at most 1024 samples (~5 us).
pub const BLOCK_CHUNK_SAMPLES: usize = 1024;
/// Bytes of time columns remembered for sharing while writing one block:
/// past it, chunks carry their own column. Bounds the writer's memory on
/// series whose timestamps are all different (where sharing finds nothing).
const MAX_SHARED_COLUMN_BYTES: usize = 16 << 20;

/// Writes the chunks file as a stream: chunks re-encoded as packed chunks,
/// each distinct time column written once (`docs/storage.md` section
/// "Block chunks").
struct ChunkWriter {
    out: std::io::BufWriter<fs::File>,
    pos: u64,
    /// Encoded time column -> offset of its entry.
    columns: HashMap<Vec<u8>, u64>,
    column_bytes: usize,
    /// Hash of a chunk's timestamps ([`times_hash`]) -> the encoded time
    /// column of the last chunk written with that hash (a key of
    /// `columns`, so bounded as they are): the series of one scrape
    /// target have the same timestamps, and checking a column
    /// ([`times_are`]) costs a tenth of encoding it.
    by_times: IdMap<u64, Vec<u8>>,
    samples: Vec<(i64, f64)>,
    /// The series' samples as decoded, before `samples`.
    decoded: Vec<Sample>,
    ts: Vec<i64>,
    column: Vec<u8>,
    frame: Vec<u8>,
}

impl ChunkWriter {
    fn create(path: &Path) -> Result<ChunkWriter, TsdbError> {
        let file = fs::File::create(path).map_err(|e| TsdbError::io("create", path, e))?;
        let mut w = ChunkWriter {
            out: std::io::BufWriter::with_capacity(1 << 16, file),
            pos: 0,
            columns: HashMap::new(),
            column_bytes: 0,
            by_times: IdMap::default(),
            samples: Vec::new(),
            decoded: Vec::new(),
            ts: Vec::new(),
            column: Vec::new(),
            frame: Vec::new(),
        };
        let mut head = CHUNKS_MAGIC.to_vec();
        head.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
        w.put(&head).map_err(|e| TsdbError::io("write", path, e))?;
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.out.write_all(b)?;
        self.pos += b.len() as u64;
        Ok(())
    }

    /// Writes one series (chunks sorted, not overlapping); pushes
    /// `(mint, maxt, offset, samples)` of each chunk written.
    fn write_series(
        &mut self,
        chunks: &[Chunk],
        refs: &mut Vec<(i64, i64, u64, u16)>,
    ) -> std::io::Result<()> {
        let mut samples = std::mem::take(&mut self.samples);
        samples.clear();
        // Decoded in bulk (one loop per chunk, state in locals).
        self.decoded.clear();
        for c in chunks {
            c.iter()
                .collect_range(i64::MIN, i64::MAX, &mut self.decoded);
        }
        samples.extend(self.decoded.iter().map(|s| (s.t, s.v)));
        let parts = samples.len().div_ceil(BLOCK_CHUNK_SAMPLES).max(1);
        let per = samples.len().div_ceil(parts);
        let mut res = Ok(());
        for part in samples.chunks(per.max(1)) {
            res = self.write_chunk(part, refs);
            if res.is_err() {
                break;
            }
        }
        self.samples = samples;
        res
    }

    fn write_chunk(
        &mut self,
        part: &[(i64, f64)],
        refs: &mut Vec<(i64, i64, u64, u16)>,
    ) -> std::io::Result<()> {
        let (Some(first), Some(last)) = (part.first(), part.last()) else {
            return Ok(());
        };
        self.ts.clear();
        self.ts.extend(part.iter().map(|s| s.0));
        self.column.clear();
        let key = times_hash(&self.ts);
        match self.by_times.get(&key) {
            Some(known) if times_are(known, &self.ts) => self.column.extend_from_slice(known),
            _ => encode_times(&self.ts, &mut self.column),
        }
        let shared = match self.columns.get(&self.column) {
            Some(&off) => Some(off),
            None if self.column_bytes + self.column.len() <= MAX_SHARED_COLUMN_BYTES => {
                let off = self.pos;
                let column = std::mem::take(&mut self.column);
                self.put_entry(TIMES_ENTRY, &column)?;
                self.column_bytes += column.len();
                self.by_times.insert(key, column.clone());
                self.columns.insert(column, off);
                Some(off)
            }
            None => None,
        };
        let at = self.pos;
        let data = encode_packed(part, shared.map(|off| at - off));
        self.put_entry(Encoding::Packed as u8, &data)?;
        refs.push((first.0, last.0, at, part.len() as u16));
        Ok(())
    }

    /// `encoding u8 | len uvarint | data | crc32c(encoding, data) u32 LE`.
    fn put_entry(&mut self, enc: u8, data: &[u8]) -> std::io::Result<()> {
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        frame.push(enc);
        put_uvarint(&mut frame, data.len() as u64);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&[enc]), data);
        let res = self
            .put(&frame)
            .and_then(|_| self.put(data))
            .and_then(|_| self.put(&crc.to_le_bytes()));
        self.frame = frame;
        res
    }

    fn finish(self) -> std::io::Result<()> {
        self.out
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
    }
}

/// A hash of a chunk's timestamps, to find a time column written before
/// for the same timestamps.
fn times_hash(ts: &[i64]) -> u64 {
    let mut h = ts.len() as u64;
    for pair in ts.chunks(2) {
        let (a, b) = match *pair {
            [a, b] => (a, b),
            [a] => (a, 0),
            _ => (0, 0),
        };
        h = fold(h ^ a as u64, b as u64 ^ 0x9E37_79B9_7F4A_7C15);
    }
    h
}

fn encode_index(series: &[(Labels, Vec<Chunk>)], refs: &[Vec<(i64, i64, u64)>]) -> Vec<u8> {
    let mut symbols: Vec<&str> = series
        .iter()
        .flat_map(|(l, _)| l.iter().flat_map(|(n, v)| [n, v]))
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    let sym_id: HashMap<&str, u32> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u32))
        .collect();

    let mut out = Vec::with_capacity(1 << 20);
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
    let mut sym_offsets = Vec::with_capacity(symbols.len());
    for s in &symbols {
        sym_offsets.push(out.len() as u32);
        put_uvarint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    let symbols_table = out.len();
    for o in &sym_offsets {
        out.extend_from_slice(&o.to_le_bytes());
    }

    let mut postings: HashMap<(u32, u32), RoaringBitmap> = HashMap::new();
    let mut series_offsets = Vec::with_capacity(series.len());
    for (ord, ((labels, _), chunk_refs)) in series.iter().zip(refs).enumerate() {
        series_offsets.push(out.len() as u64);
        put_uvarint(&mut out, labels.len() as u64);
        for (n, v) in labels.iter() {
            let (ns, vs) = (sym_id[n], sym_id[v]);
            put_uvarint(&mut out, ns as u64);
            put_uvarint(&mut out, vs as u64);
            if !v.is_empty() {
                postings.entry((ns, vs)).or_default().insert(ord as u32);
            }
        }
        put_uvarint(&mut out, chunk_refs.len() as u64);
        let (mut prev_t, mut prev_off) = (0i64, 0u64);
        for (mint, maxt, off) in chunk_refs {
            put_varint(&mut out, mint.wrapping_sub(prev_t));
            put_uvarint(&mut out, maxt.wrapping_sub(*mint) as u64);
            put_uvarint(&mut out, off - prev_off);
            prev_t = *maxt;
            prev_off = *off;
        }
    }
    let series_table = out.len();
    for o in &series_offsets {
        out.extend_from_slice(&o.to_le_bytes());
    }

    let mut pairs: Vec<((u32, u32), RoaringBitmap)> = postings.into_iter().collect();
    pairs.sort_unstable_by_key(|p| p.0);
    let mut entries = Vec::with_capacity(pairs.len());
    for ((n, v), bm) in &pairs {
        let off = out.len() as u64;
        // Writing into a Vec cannot fail.
        let _ = bm.serialize_into(&mut out);
        entries.push((*n, *v, off, (out.len() as u64 - off) as u32));
    }
    let postings_table = out.len();
    for (n, v, off, len) in entries {
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
    }

    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&(symbols_table as u64).to_le_bytes());
    out.extend_from_slice(&(symbols.len() as u32).to_le_bytes());
    out.extend_from_slice(&(series_table as u64).to_le_bytes());
    out.extend_from_slice(&(series.len() as u32).to_le_bytes());
    out.extend_from_slice(&(postings_table as u64).to_le_bytes());
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(INDEX_MAGIC);
    out
}

/// `magic | version u8 | 3 zero bytes | (ordinal uvarint, mint varint,
/// maxt varint)* | crc32c of all before u32 LE`.
pub(crate) fn encode_tombstones(t: &HashMap<u32, Vec<(i64, i64)>>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(TOMBSTONES_MAGIC);
    out.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
    let mut keys: Vec<&u32> = t.keys().collect();
    keys.sort();
    for k in keys {
        for (a, b) in &t[k] {
            put_uvarint(&mut out, *k as u64);
            put_varint(&mut out, *a);
            put_varint(&mut out, *b);
        }
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Block;

    fn samples(n: i64, f: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
        (0..n).map(|i| (i * 15_000 + i % 3, f(i))).collect()
    }

    fn read_back(dir: &Path) -> Vec<(Labels, Vec<(i64, u64)>)> {
        let b = Block::open(dir).unwrap();
        b.read_series(i64::MIN, i64::MAX, &[])
            .unwrap()
            .into_iter()
            .map(|(l, cs)| {
                let s = cs
                    .iter()
                    .flat_map(|c| c.iter())
                    .map(|(t, v)| (t, v.to_bits()));
                (l, s.collect())
            })
            .collect()
    }

    fn bits(s: &[(i64, f64)]) -> Vec<(i64, u64)> {
        s.iter().map(|(t, v)| (*t, v.to_bits())).collect()
    }

    #[test]
    fn series_with_the_same_timestamps_share_time_columns() {
        let dir = tempfile::tempdir().unwrap();
        let a = samples(2500, |i| (i * 37) as f64);
        let b = samples(2500, |i| (i % 7) as f64 * 0.25);
        let c = samples(10, |i| (i as f64).sin());
        let series = vec![
            (
                Labels::from_pairs(&[("n", "a")]),
                vec![
                    Chunk::from_samples(&a[..100]),
                    Chunk::from_samples(&a[100..]),
                ],
            ),
            (
                Labels::from_pairs(&[("n", "b")]),
                vec![Chunk::from_samples(&b)],
            ),
            (
                Labels::from_pairs(&[("n", "c")]),
                vec![Chunk::from_samples(&c)],
            ),
        ];
        let out = write_block(dir.path(), &series, 1, Vec::new()).unwrap();
        let got = read_back(&out);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].1, bits(&a));
        assert_eq!(got[1].1, bits(&b));
        assert_eq!(got[2].1, bits(&c));
        let blk = Block::open(&out).unwrap();
        // 2500 samples: 3 chunks of 834/833/833 for a and b, 1 for c.
        assert_eq!(blk.meta.stats.num_chunks, 7);
        assert_eq!(blk.meta.stats.num_samples, 5010);
        // a's and b's columns are written once: 3 + 1 columns in all.
        let bytes = fs::read(out.join("chunks")).unwrap();
        let mut d = crate::wal_record::Decoder::new(&bytes);
        d.pos = 8;
        let mut columns = 0;
        while !d.done() {
            let enc = d.bytes(1).unwrap()[0];
            let len = d.uvarint().unwrap() as usize;
            d.bytes(len + 4).unwrap();
            columns += (enc == TIMES_ENTRY) as usize;
        }
        assert_eq!(columns, 4);
    }

    /// Blocks written before encoding 3 copied the head's XOR and integer
    /// chunks as they were; they must stay readable.
    #[test]
    fn blocks_of_xor_and_integer_chunks_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("old");
        fs::create_dir_all(&tmp).unwrap();
        let a = samples(120, |i| (i * 37 + i % 5) as f64);
        let b = samples(50, |i| (i as f64).sqrt());
        let series = vec![
            (
                Labels::from_pairs(&[("n", "a")]),
                vec![Chunk::from_samples(&a)],
            ),
            (
                Labels::from_pairs(&[("n", "b")]),
                vec![Chunk::from_samples(&b)],
            ),
        ];
        assert_eq!(series[0].1[0].enc, Encoding::Int);
        assert_eq!(series[1].1[0].enc, Encoding::Xor);
        let mut file = CHUNKS_MAGIC.to_vec();
        file.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
        let mut refs = Vec::new();
        for (_, cs) in &series {
            let c = &cs[0];
            refs.push(vec![(c.mint, c.maxt, file.len() as u64)]);
            file.push(c.enc as u8);
            put_uvarint(&mut file, c.data.len() as u64);
            file.extend_from_slice(c.data.as_ref());
            let crc = crc32c::crc32c_append(crc32c::crc32c(&[c.enc as u8]), c.data.as_ref());
            file.extend_from_slice(&crc.to_le_bytes());
        }
        write_file(&tmp.join("chunks"), &file).unwrap();
        write_file(&tmp.join("index"), &encode_index(&series, &refs)).unwrap();
        let meta = BlockMeta {
            ulid: "old".into(),
            min_time: 0,
            max_time: 2_000_000,
            stats: BlockStats {
                num_samples: 170,
                num_series: 2,
                num_chunks: 2,
            },
            compaction: BlockCompaction {
                level: 1,
                sources: vec!["old".into()],
            },
            version: 1,
        };
        write_file(&tmp.join("meta.json"), &serde_json::to_vec(&meta).unwrap()).unwrap();
        let got = read_back(&tmp);
        assert_eq!(got[0].1, bits(&a));
        assert_eq!(got[1].1, bits(&b));
    }
}
