//! Chunk encoding and decoding throughput per value pattern, and the
//! resulting bytes per sample (printed once before the measurements).

#[path = "support/workload.rs"]
mod workload;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sonde_tsdb::chunk::{Chunk, XorAppender};
use workload::{samples, PATTERNS};

const N: usize = 120;
/// Samples of a block chunk of a 2h block at 15s (`BLOCK_CHUNK_SAMPLES`
/// allows up to 1024).
const N_BLOCK: usize = 480;

fn report_sizes() {
    let mut total_bytes = 0usize;
    let mut total_xor = 0usize;
    let mut total = 0usize;
    for (i, p) in PATTERNS.iter().enumerate() {
        let (mut bytes, mut xor_bytes) = (0usize, 0usize);
        for seed in 0..200u64 {
            let s = samples(*p, N, seed * 31 + i as u64 + 1);
            bytes += Chunk::from_samples(&s).data.len();
            let mut x = XorAppender::new();
            for (t, v) in &s {
                x.append(*t, *v);
            }
            xor_bytes += x.byte_len();
        }
        let n = 200 * N;
        println!(
            "chunk {p:?}: {:.3} bytes/sample (XOR only: {:.3})",
            bytes as f64 / n as f64,
            xor_bytes as f64 / n as f64
        );
        total_bytes += bytes;
        total_xor += xor_bytes;
        total += n;
    }
    println!(
        "chunk mix: {:.3} bytes/sample (XOR only: {:.3})",
        total_bytes as f64 / total as f64,
        total_xor as f64 / total as f64
    );
    let (mut packed, mut total) = (0usize, 0usize);
    for (i, p) in PATTERNS.iter().enumerate() {
        let mut bytes = 0usize;
        for seed in 0..50u64 {
            let s = samples(*p, N_BLOCK, seed * 31 + i as u64 + 1);
            bytes += Chunk::packed_from_samples(&s).data.len();
        }
        let n = 50 * N_BLOCK;
        println!(
            "block chunk {p:?} ({N_BLOCK} samples, time column inline): {:.3} bytes/sample",
            bytes as f64 / n as f64
        );
        packed += bytes;
        total += n;
    }
    println!(
        "block chunk mix: {:.3} bytes/sample",
        packed as f64 / total as f64
    );
}

fn bench(c: &mut Criterion) {
    report_sizes();
    group(c, "chunk", N, Chunk::from_samples);
    group(c, "block_chunk", N_BLOCK, Chunk::packed_from_samples);
}

/// Encode and decode throughput of each pattern in chunks of `n` samples
/// (decoding sample by sample, and in bulk into a buffer).
fn group(c: &mut Criterion, name: &str, n: usize, encode: fn(&[(i64, f64)]) -> Chunk) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(n as u64));
    for (i, p) in PATTERNS.iter().enumerate() {
        let s = samples(*p, n, i as u64 + 7);
        g.bench_with_input(BenchmarkId::new("encode", format!("{p:?}")), &s, |b, s| {
            b.iter(|| encode(black_box(s)))
        });
        let chunk = encode(&s);
        g.bench_with_input(
            BenchmarkId::new("decode", format!("{p:?}")),
            &chunk,
            |b, c| b.iter(|| c.iter().fold(0.0, |acc, (_, v)| acc + v)),
        );
        // What range queries do: every sample into a reused buffer.
        let mut buf = Vec::with_capacity(n);
        g.bench_with_input(
            BenchmarkId::new("decode_range", format!("{p:?}")),
            &chunk,
            |b, c| {
                b.iter(|| {
                    buf.clear();
                    c.iter().collect_range(i64::MIN, i64::MAX, &mut buf);
                    buf.len()
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
