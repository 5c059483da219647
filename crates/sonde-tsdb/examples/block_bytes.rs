//! Where the bytes of a directory of blocks (a data directory or a
//! snapshot) go: per block its chunks and index files and the bytes of
//! its time columns; per metric name the chunk bytes per sample, by
//! encoding, and what the timestamps alone would cost in encoding 1's
//! delta-of-delta buckets (what sharing time columns saves).
//!
//! `cargo run --release -p sonde-tsdb --example block_bytes -- DIR`

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool

use std::collections::BTreeMap;

use sonde_tsdb::block::Block;
use sonde_tsdb::chunk::Encoding;

#[derive(Default)]
struct Acc {
    series: u64,
    samples: u64,
    chunks: u64,
    /// Chunk bytes plus their frames (encoding, length, checksum).
    bytes: u64,
    by_enc: [u64; 4],
    ts_dod_bits: u64,
}

fn varint_bits(v: i64) -> u64 {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    8 * (64 - z.leading_zeros() as u64).max(1).div_ceil(7)
}

/// Bits of `ts` in encoding 1's timestamp fields.
fn ts_dod_bits(ts: &[i64]) -> u64 {
    let mut b = 0;
    for i in 0..ts.len() {
        b += match i {
            0 => varint_bits(ts[0]),
            1 => varint_bits(ts[1] - ts[0]),
            _ => match (ts[i] - ts[i - 1]) - (ts[i - 1] - ts[i - 2]) {
                0 => 1,
                -16..=15 => 7,
                -8192..=8191 => 17,
                -65536..=65535 => 21,
                -524288..=524287 => 25,
                _ => 69,
            },
        };
    }
    b
}

/// Count and bytes (with frames) of the time column entries of a chunks file.
fn time_columns(chunks: &[u8]) -> (u64, u64) {
    let (mut n, mut bytes, mut pos) = (0, 0, 8usize);
    while pos < chunks.len() {
        let enc = chunks[pos];
        let (mut len, mut shift, mut p) = (0usize, 0, pos + 1);
        loop {
            let b = chunks[p];
            len |= ((b & 0x7f) as usize) << shift;
            p += 1;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let end = p + len + 4;
        if enc == 4 {
            n += 1;
            bytes += (end - pos) as u64;
        }
        pos = end;
    }
    (n, bytes)
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: block_bytes DIR");
    let mut by_name: BTreeMap<String, Acc> = BTreeMap::new();
    let (mut chunk_file, mut index_file, mut samples) = (0u64, 0u64, 0u64);
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if !p.join("meta.json").exists() {
            continue;
        }
        let b = Block::open(&p).unwrap();
        let cbytes = std::fs::read(p.join("chunks")).unwrap();
        let xf = std::fs::metadata(p.join("index")).unwrap().len();
        let (cols, col_bytes) = time_columns(&cbytes);
        println!(
            "block {} level {} series {} samples {} chunks {}: chunks file {} B ({} time columns, {} B), index {} B",
            b.meta.ulid,
            b.meta.compaction.level,
            b.meta.stats.num_series,
            b.meta.stats.num_samples,
            b.meta.stats.num_chunks,
            cbytes.len(),
            cols,
            col_bytes,
            xf
        );
        chunk_file += cbytes.len() as u64;
        index_file += xf;
        samples += b.meta.stats.num_samples;
        for (labels, chunks) in b.read_series(i64::MIN, i64::MAX, &[]).unwrap() {
            let name = labels.get("__name__").unwrap_or("").to_string();
            let acc = by_name.entry(name).or_default();
            acc.series += 1;
            for c in &chunks {
                let ts: Vec<i64> = c.iter().map(|s| s.0).collect();
                if ts.len() != c.num_samples() as usize {
                    eprintln!("{labels:?}: chunk at {} decodes short", c.mint);
                }
                acc.samples += ts.len() as u64;
                acc.chunks += 1;
                acc.bytes += c.data.len() as u64 + 7;
                acc.by_enc[c.enc as usize - 1] += 1;
                acc.ts_dod_bits += ts_dod_bits(&ts);
            }
        }
    }
    let total = chunk_file + index_file;
    println!(
        "chunks files {chunk_file} B ({:.3} B/sample), index files {index_file} B ({:.3} B/sample), both {total} B ({:.3} B/sample)",
        chunk_file as f64 / samples as f64,
        index_file as f64 / samples as f64,
        total as f64 / samples as f64
    );
    println!(
        "{:<40} {:>6} {:>9} {:>7} {:>8} {:>7} {:>22}",
        "metric", "series", "samples", "chunks", "B/sample", "ts dod", "chunks xor/int/packed"
    );
    for (name, a) in &by_name {
        let n = a.samples.max(1) as f64;
        println!(
            "{:<40} {:>6} {:>9} {:>7} {:>8.3} {:>7.3} {:>22}",
            name,
            a.series,
            a.samples,
            a.chunks,
            a.bytes as f64 / n,
            a.ts_dod_bits as f64 / 8.0 / n,
            format!(
                "{}/{}/{}",
                a.by_enc[Encoding::Xor as usize - 1],
                a.by_enc[Encoding::Int as usize - 1],
                a.by_enc[Encoding::Packed as usize - 1]
            )
        );
    }
    println!("(B/sample: chunk bytes with frames, time columns not included; ts dod: the timestamps alone in encoding 1's delta-of-delta fields)");
}
