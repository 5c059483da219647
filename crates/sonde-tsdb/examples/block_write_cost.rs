//! CPU cost of writing a block (what a head cut or a compaction spends in
//! the block writer): 10,000 series x 480 samples (2h at 15s) of the
//! benchmarks' workload, one in ten a full-precision float, held as head
//! chunks of 120 samples, written 3 times; against the cost of only
//! decoding the same chunks. CPU seconds of this process (utime + stime),
//! which contention moves less than wall time.
//!
//! `cargo run --release -p sonde-tsdb --example block_write_cost [DIR]`:
//! with a directory of blocks (a snapshot), writes each of its blocks
//! again instead and reports their sizes: what a change of the encoder
//! does to real data.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool

#[path = "../benches/support/cpu.rs"]
mod cpu;
#[path = "../benches/support/workload.rs"]
mod workload;

use cpu::cpu_secs;
use sonde_tsdb::block_write::write_block;
use sonde_tsdb::chunk::Chunk;

fn rewrite(dir: &str) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    let (mut samples, mut bytes, mut cpu) = (0u64, 0u64, 0.0);
    for e in entries {
        if !e.path().join("meta.json").exists() {
            continue;
        }
        let b = sonde_tsdb::block::Block::open(&e.path()).unwrap();
        let series = b.read_series(i64::MIN, i64::MAX, &[]).unwrap();
        let out = tempfile::tempdir().unwrap();
        let c0 = cpu_secs();
        let d = write_block(out.path(), &series, 1, Vec::new()).unwrap();
        cpu += cpu_secs() - c0;
        let len = std::fs::metadata(d.join("chunks")).unwrap().len();
        println!(
            "{}: {} samples, chunks {} B (was {} B)",
            b.meta.ulid,
            b.meta.stats.num_samples,
            len,
            std::fs::metadata(e.path().join("chunks")).unwrap().len()
        );
        samples += b.meta.stats.num_samples;
        bytes += len;
    }
    println!(
        "chunks {:.4} B/sample, write_block {:.0} ns/sample",
        bytes as f64 / samples as f64,
        cpu * 1e9 / samples as f64
    );
}

fn main() {
    if let Some(dir) = std::env::args().nth(1) {
        return rewrite(&dir);
    }
    const SERIES: usize = 10_000;
    const N: usize = 480;
    let mut series = Vec::with_capacity(SERIES);
    for (i, (labels, p)) in workload::labels(SERIES).into_iter().enumerate() {
        let mut s = workload::samples(p, N, i as u64 + 1);
        if i % 10 == 9 {
            let mut v = 0.004f64;
            for (k, x) in s.iter_mut().enumerate() {
                v = 0.8 * v + 0.0008 + ((k * 7919 + i) % 1000) as f64 * 1.7e-6;
                x.1 = v;
            }
        }
        let chunks: Vec<Chunk> = s.chunks(120).map(Chunk::from_samples).collect();
        series.push((labels, chunks));
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let samples = (SERIES * N) as f64;
    for _ in 0..3 {
        let c0 = cpu_secs();
        let mut sum = 0.0;
        for (_, cs) in &series {
            for c in cs {
                sum += c.iter().map(|s| s.1).sum::<f64>();
            }
        }
        let c1 = cpu_secs();
        let dir = tempfile::tempdir().unwrap();
        let out = write_block(dir.path(), &series, 1, Vec::new()).unwrap();
        let c2 = cpu_secs();
        let bytes = std::fs::metadata(out.join("chunks")).unwrap().len();
        println!(
            "decode only {:.0} ns/sample; write_block {:.0} ns/sample ({:.2} s for {samples} samples), chunks {:.3} B/sample (check {})",
            (c1 - c0) * 1e9 / samples,
            (c2 - c1) * 1e9 / samples,
            c2 - c1,
            bytes as f64 / samples,
            sum.is_finite()
        );
    }
}
