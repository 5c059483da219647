//! Immutable, memory-mapped blocks: a directory with `meta.json`, `chunks`,
//! `index` and `tombstones` (written by [`crate::block_write`]). Byte layouts are in `docs/storage.md` sections
//! "Block chunks", "Block index" and "Tombstones"; `block_write.rs` and
//! this reader are the reference.
//!
//! Invariants: a block is written to `<id>.tmp`, every file fsynced, then
//! renamed to `<id>`; a directory without the `.tmp` suffix is complete.
//! Series are stored sorted by labels, so a series' ordinal (its position)
//! is its id in the postings, and postings in id order are in label order.
//! Only the tombstones file changes after creation (rewritten atomically).
//!
//! Thread safety: `Block` is immutable except `tombstones` (behind a lock);
//! readers share it through `Arc`, and the maps stay valid until the last
//! reader drops it, even after the directory is deleted.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use sonde_model::{Labels, Matcher};

use crate::chunk::{Chunk, ChunkBytes, Encoding};
use crate::error::TsdbError;
use crate::iter::{apply_tombstones, SeriesLabels};
use crate::mmap::MappedFile;
use crate::postings::{select_postings, PostingsSource};
use crate::querier::Source;
use crate::wal::write_durably;
use crate::wal_record::Decoder;

pub(crate) const CHUNKS_MAGIC: &[u8; 4] = b"SNDC";
pub(crate) const INDEX_MAGIC: &[u8; 4] = b"SNDI";
pub(crate) const TOMBSTONES_MAGIC: &[u8; 4] = b"SNDT";
pub(crate) const FORMAT_VERSION: u8 = 1;
/// (min time, max time, offset in the chunks file) of one chunk.
type ChunkRef = (i64, i64, usize);
/// symbols table offset u64, count u32, series table offset u64, count u32,
/// postings table offset u64, count u32, crc32c u32, magic 4.
const TOC_LEN: usize = 44;
/// name symbol u32, value symbol u32, offset u64, length u32.
const POSTING_ENTRY: usize = 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    pub num_samples: u64,
    pub num_series: u64,
    pub num_chunks: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlockCompaction {
    pub level: u32,
    pub sources: Vec<String>,
}

/// `meta.json`, shaped like Prometheus' (times in ms, `maxTime` exclusive).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    pub ulid: String,
    pub min_time: i64,
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: BlockCompaction,
    pub version: u32,
}

pub struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    index: MappedFile,
    chunks: Arc<MappedFile>,
    toc: Toc,
    tombstones: RwLock<HashMap<u32, Vec<(i64, i64)>>>,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Toc {
    symbols: usize,
    n_symbols: usize,
    series: usize,
    n_series: usize,
    postings: usize,
    n_pairs: usize,
}

fn decode_tombstones(path: &Path, data: &[u8]) -> Result<HashMap<u32, Vec<(i64, i64)>>, TsdbError> {
    let bad = |r: &str| TsdbError::block(path, format!("tombstones: {r}"));
    if data.len() < 12 || &data[..4] != TOMBSTONES_MAGIC {
        return Err(bad("bad magic or too short"));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(bad("checksum mismatch"));
    }
    let mut d = Decoder::new(&body[8..]);
    let mut out: HashMap<u32, Vec<(i64, i64)>> = HashMap::new();
    while !d.done() {
        let (k, a, b) = (d.uvarint(), d.varint(), d.varint());
        match (k, a, b) {
            (Some(k), Some(a), Some(b)) => out.entry(k as u32).or_default().push((a, b)),
            _ => return Err(bad("truncated entry")),
        }
    }
    Ok(out)
}

impl Block {
    pub fn open(dir: &Path) -> Result<Block, TsdbError> {
        let meta_path = dir.join("meta.json");
        let raw = fs::read(&meta_path).map_err(|e| TsdbError::io("read", &meta_path, e))?;
        let meta: BlockMeta = serde_json::from_slice(&raw)
            .map_err(|e| TsdbError::block(dir, format!("meta.json: {e}")))?;
        let index = MappedFile::open(&dir.join("index"))?;
        let chunks = Arc::new(MappedFile::open(&dir.join("chunks"))?);
        let toc = read_toc(dir, index.bytes())?;
        if chunks.bytes().get(..4) != Some(CHUNKS_MAGIC.as_slice()) {
            return Err(TsdbError::block(dir, "chunks: bad magic"));
        }
        let tpath = dir.join("tombstones");
        let tombstones = match fs::read(&tpath) {
            Ok(data) => decode_tombstones(&tpath, &data)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(TsdbError::io("read", &tpath, e)),
        };
        let size_bytes = (index.bytes().len() + chunks.bytes().len()) as u64;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            toc,
            tombstones: RwLock::new(tombstones),
            size_bytes,
        })
    }

    fn symbol(&self, i: u32) -> Option<&str> {
        let b = self.index.bytes();
        if i as usize >= self.toc.n_symbols {
            return None;
        }
        let at = self.toc.symbols + i as usize * 4;
        let off = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        let mut d = Decoder::new(b);
        d.pos = off;
        d.str()
    }

    fn find_symbol(&self, s: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.toc.n_symbols);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.symbol(mid as u32)?.cmp(s) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// (name symbol, value symbol, offset, length) of postings entry `i`.
    fn pair(&self, i: usize) -> Option<(u32, u32, usize, usize)> {
        let at = self.toc.postings + i * POSTING_ENTRY;
        let e = self.index.bytes().get(at..at + POSTING_ENTRY)?;
        let u32_at = |o: usize| u32::from_le_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]);
        let off = u64::from_le_bytes(e[8..16].try_into().ok()?) as usize;
        Some((u32_at(0), u32_at(4), off, u32_at(16) as usize))
    }

    /// The range of postings entries whose name symbol is `name`.
    fn pairs_of(&self, name: u32) -> std::ops::Range<usize> {
        let key = |i: usize| self.pair(i).map_or(u32::MAX, |p| p.0);
        let lower = partition_point(self.toc.n_pairs, |i| key(i) < name);
        let upper = partition_point(self.toc.n_pairs, |i| key(i) <= name);
        lower..upper
    }

    fn bitmap(&self, off: usize, len: usize) -> RoaringBitmap {
        self.index
            .bytes()
            .get(off..off + len)
            .and_then(|b| RoaringBitmap::deserialize_from(b).ok())
            .unwrap_or_default()
    }

    /// Labels and chunk references of the series with this ordinal.
    fn series(&self, ord: u32) -> Option<(Labels, Vec<ChunkRef>)> {
        let (at, refs) = self.series_refs(ord)?;
        Some((self.series_labels(at)?, refs))
    }

    /// Where the series with this ordinal starts in the index, and its
    /// chunk references; the label pairs are skipped undecoded, so series
    /// without chunks in a query's range cost no label set.
    fn series_refs(&self, ord: u32) -> Option<(usize, Vec<ChunkRef>)> {
        let b = self.index.bytes();
        let at = self.toc.series + ord as usize * 8;
        let off = u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?) as usize;
        let mut d = Decoder::new(b);
        d.pos = off;
        let n = d.uvarint()? as usize;
        for _ in 0..2 * n {
            d.uvarint()?;
        }
        let nc = d.uvarint()? as usize;
        let mut refs = Vec::with_capacity(nc.min(1024));
        let (mut prev_t, mut prev_off) = (0i64, 0u64);
        for _ in 0..nc {
            let mint = prev_t.wrapping_add(d.varint()?);
            let maxt = mint.wrapping_add(d.uvarint()? as i64);
            let off = prev_off + d.uvarint()?;
            refs.push((mint, maxt, off as usize));
            prev_t = maxt;
            prev_off = off;
        }
        Some((off, refs))
    }

    /// The label set of the series entry at index offset `off`.
    fn series_labels(&self, off: usize) -> Option<Labels> {
        let mut d = Decoder::new(self.index.bytes());
        d.pos = off;
        let n = d.uvarint()? as usize;
        let mut pairs = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let (ns, vs) = (d.uvarint()? as u32, d.uvarint()? as u32);
            pairs.push((self.symbol(ns)?, self.symbol(vs)?));
        }
        // The writer stores labels sorted; a damaged or foreign file gets
        // the slower path instead of a set that compares wrongly.
        Some(if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
            Labels::from_sorted(pairs)
        } else {
            Labels::from_pairs(&pairs)
        })
    }

    fn chunk(&self, mint: i64, maxt: i64, off: usize) -> Result<Chunk, TsdbError> {
        let bad =
            |r: &str| TsdbError::block(&self.dir, format!("chunks file at offset {off}: {r}"));
        let (enc_byte, start, end) = self.entry(off).map_err(bad)?;
        let enc = Encoding::from_u8(enc_byte).ok_or_else(|| bad("unknown encoding"))?;
        let file = self.chunks.clone();
        let data = match crate::chunk_packed::shared_times_back(enc, &file.bytes()[start..end]) {
            None => ChunkBytes::Mapped(file, start, end),
            Some(back) => {
                let at = off
                    .checked_sub(back as usize)
                    .ok_or_else(|| bad("time column before the start"))?;
                let (kind, times_start, times_end) = self
                    .entry(at)
                    .map_err(|r| bad(&format!("time column at offset {at}: {r}")))?;
                if kind != crate::chunk_packed::TIMES_ENTRY {
                    return Err(bad(&format!("offset {at} is not a time column")));
                }
                ChunkBytes::MappedShared {
                    file,
                    start,
                    end,
                    times_start,
                    times_end,
                }
            }
        };
        Ok(Chunk {
            enc,
            mint,
            maxt,
            data,
        })
    }

    /// The entry of the chunks file at `off` (a chunk or a time column):
    /// its encoding byte and the range of its bytes, checksum verified.
    fn entry(&self, off: usize) -> Result<(u8, usize, usize), &'static str> {
        let b = self.chunks.bytes();
        let enc_byte = *b.get(off).ok_or("offset past the end")?;
        let mut d = Decoder::new(b);
        d.pos = off + 1;
        let len = d.uvarint().ok_or("bad length")? as usize;
        let start = d.pos;
        let data = d.bytes(len).ok_or("data past the end")?;
        let crc = d.u32_le().ok_or("checksum past the end")?;
        if crc32c::crc32c_append(crc32c::crc32c(&[enc_byte]), data) != crc {
            return Err("checksum mismatch");
        }
        Ok((enc_byte, start, start + len))
    }

    /// Series with their chunks in `[mint, maxt]`, tombstones applied.
    pub fn read_series(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<(Labels, Vec<Chunk>)>, TsdbError> {
        let ords = select_postings(self, matchers);
        let tombstones = self.tombstones.read();
        let mut out = Vec::with_capacity(ords.len() as usize);
        let bad = |ord: u32| TsdbError::block(&self.dir, format!("index: bad series {ord}"));
        for ord in ords.iter() {
            let (at, refs) = self.series_refs(ord).ok_or_else(|| bad(ord))?;
            let mut chunks = Vec::new();
            for (cmin, cmax, off) in refs {
                if cmin <= maxt && cmax >= mint {
                    chunks.push(self.chunk(cmin, cmax, off)?);
                }
            }
            if let Some(ts) = tombstones.get(&ord) {
                chunks = apply_tombstones(chunks, ts);
            }
            if !chunks.is_empty() {
                let labels = self.series_labels(at).ok_or_else(|| bad(ord))?;
                out.push((labels, chunks));
            }
        }
        Ok(out)
    }

    /// Records deletion of `[mint, maxt]` for the series matching `matchers`.
    /// Returns how many series were affected.
    pub fn delete(&self, mint: i64, maxt: i64, matchers: &[Matcher]) -> Result<u64, TsdbError> {
        let ords = select_postings(self, matchers);
        if ords.is_empty() || mint >= self.meta.max_time || maxt < self.meta.min_time {
            return Ok(0);
        }
        let mut t = self.tombstones.write();
        for ord in ords.iter() {
            t.entry(ord).or_default().push((mint, maxt));
        }
        let path = self.dir.join("tombstones");
        write_durably(
            &self.dir.join("tombstones.tmp"),
            &path,
            &crate::block_write::encode_tombstones(&t),
        )?;
        Ok(ords.len())
    }

    pub fn has_tombstones(&self) -> bool {
        !self.tombstones.read().is_empty()
    }

    /// Distinct label names of series matching `matchers`.
    fn names(&self, matchers: &[Matcher]) -> Vec<String> {
        let mut names = Vec::new();
        if matchers.is_empty() {
            let mut i = 0;
            while let Some((n, ..)) = self.pair(i) {
                if let Some(s) = self.symbol(n) {
                    names.push(s.to_string());
                }
                i = self.pairs_of(n).end.max(i + 1);
            }
            return names;
        }
        let mut set = std::collections::BTreeSet::new();
        for ord in select_postings(self, matchers).iter() {
            if let Some((l, _)) = self.series(ord) {
                for (n, v) in l.iter() {
                    if !v.is_empty() {
                        set.insert(n.to_string());
                    }
                }
            }
        }
        set.into_iter().collect()
    }

    fn values(&self, name: &str, matchers: &[Matcher]) -> Vec<String> {
        let Some(ns) = self.find_symbol(name) else {
            return Vec::new();
        };
        let sel = (!matchers.is_empty()).then(|| select_postings(self, matchers));
        let mut out = Vec::new();
        for i in self.pairs_of(ns) {
            let Some((_, vs, off, len)) = self.pair(i) else {
                continue;
            };
            if let Some(sel) = &sel {
                if self.bitmap(off, len).is_disjoint(sel) {
                    continue;
                }
            }
            if let Some(v) = self.symbol(vs) {
                out.push(v.to_string());
            }
        }
        out
    }
}

fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn read_toc(dir: &Path, b: &[u8]) -> Result<Toc, TsdbError> {
    let bad = |r: &str| TsdbError::block(dir, format!("index: {r}"));
    if b.len() < 8 + TOC_LEN || &b[..4] != INDEX_MAGIC || &b[b.len() - 4..] != INDEX_MAGIC {
        return Err(bad("bad magic or too short"));
    }
    if b[4] != FORMAT_VERSION {
        return Err(bad(&format!(
            "version {} (this build reads {FORMAT_VERSION})",
            b[4]
        )));
    }
    let toc_at = b.len() - TOC_LEN;
    let mut d = Decoder::new(&b[toc_at..]);
    let symbols = d.u64_le().ok_or_else(|| bad("toc"))? as usize;
    let n_symbols = d.u32_le().ok_or_else(|| bad("toc"))? as usize;
    let series = d.u64_le().ok_or_else(|| bad("toc"))? as usize;
    let n_series = d.u32_le().ok_or_else(|| bad("toc"))? as usize;
    let postings = d.u64_le().ok_or_else(|| bad("toc"))? as usize;
    let n_pairs = d.u32_le().ok_or_else(|| bad("toc"))? as usize;
    let crc = d.u32_le().ok_or_else(|| bad("toc"))?;
    if crc32c::crc32c(&b[..toc_at]) != crc {
        return Err(bad("checksum mismatch"));
    }
    let fits = |off: usize, n: usize, w: usize| off.checked_add(n * w).is_some_and(|e| e <= toc_at);
    if !fits(symbols, n_symbols, 4)
        || !fits(series, n_series, 8)
        || !fits(postings, n_pairs, POSTING_ENTRY)
    {
        return Err(bad("table offsets past the end"));
    }
    Ok(Toc {
        symbols,
        n_symbols,
        series,
        n_series,
        postings,
        n_pairs,
    })
}

impl PostingsSource for Block {
    fn all(&self) -> RoaringBitmap {
        let mut r = RoaringBitmap::new();
        r.insert_range(0..self.toc.n_series as u32);
        r
    }

    fn get(&self, name: &str, value: &str) -> RoaringBitmap {
        let (Some(ns), Some(vs)) = (self.find_symbol(name), self.find_symbol(value)) else {
            return RoaringBitmap::new();
        };
        let range = self.pairs_of(ns);
        let key = |i: usize| self.pair(range.start + i).map_or(u32::MAX, |p| p.1);
        let i = range.start + partition_point(range.len(), |i| key(i) < vs);
        match self.pair(i) {
            Some((n, v, off, len)) if n == ns && v == vs => self.bitmap(off, len),
            _ => RoaringBitmap::new(),
        }
    }

    fn union_where(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        let Some(ns) = self.find_symbol(name) else {
            return out;
        };
        for i in self.pairs_of(ns) {
            if let Some((_, vs, off, len)) = self.pair(i) {
                if self.symbol(vs).is_some_and(&mut *pred) {
                    out |= self.bitmap(off, len);
                }
            }
        }
        out
    }
}

impl Source for Block {
    fn select_chunks(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<(SeriesLabels, Vec<Chunk>)>, TsdbError> {
        let series = self.read_series(mint, maxt, matchers)?;
        Ok(series.into_iter().map(|(l, c)| (l.into(), c)).collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError> {
        Ok(self.names(matchers))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError> {
        Ok(self.values(name, matchers))
    }
}
