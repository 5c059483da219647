//! Writing a block directory: `chunks`, `index`, `tombstones`, `meta.json`
//! in `<id>.tmp`, each fsynced, then renamed into place. Layouts in
//! `docs/storage.md` sections "Block chunks", "Block index", "Tombstones".

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;
use sonde_model::Labels;

use crate::block::{
    BlockCompaction, BlockMeta, BlockStats, CHUNKS_MAGIC, FORMAT_VERSION, INDEX_MAGIC,
    TOMBSTONES_MAGIC,
};
use crate::chunk::Chunk;
use crate::error::TsdbError;
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

    let mut chunks_buf = Vec::with_capacity(1 << 20);
    chunks_buf.extend_from_slice(CHUNKS_MAGIC);
    chunks_buf.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
    let mut refs: Vec<Vec<(i64, i64, u64)>> = Vec::with_capacity(series.len());
    let mut stats = BlockStats {
        num_samples: 0,
        num_series: series.len() as u64,
        num_chunks: 0,
    };
    let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
    for (_, chunks) in series {
        let mut r = Vec::with_capacity(chunks.len());
        for c in chunks {
            r.push((c.mint, c.maxt, chunks_buf.len() as u64));
            write_chunk(&mut chunks_buf, c);
            stats.num_samples += c.num_samples() as u64;
            stats.num_chunks += 1;
            min_t = min_t.min(c.mint);
            max_t = max_t.max(c.maxt);
        }
        refs.push(r);
    }
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
    write_file(&tmp.join("chunks"), &chunks_buf)?;
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

/// `encoding u8 | len uvarint | data | crc32c(encoding, data) u32 LE`.
fn write_chunk(dst: &mut Vec<u8>, c: &Chunk) {
    let start = dst.len();
    dst.push(c.enc as u8);
    put_uvarint(dst, c.data.len() as u64);
    let data_start = dst.len();
    dst.extend_from_slice(c.data.as_ref());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&dst[start..start + 1]), &dst[data_start..]);
    dst.extend_from_slice(&crc.to_le_bytes());
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
