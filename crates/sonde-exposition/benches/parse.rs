//! Parse throughput over the `/metrics` of a real node_exporter 1.5
//! (testdata/node_exporter.prom), in samples/s and bytes/s:
//! `cargo bench -p sonde-exposition --bench parse`.
//!
//! `scrape` is the scrape hot path (pull every entry, read every sample's
//! value and timestamp, touch the series bytes); `scrape_labels` also walks
//! every label pair, as a scrape does for a series it has not cached;
//! `strict` is the validator behind `sonde check metrics`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sonde_exposition::{Entry, Format, Mode, Parser, Scratch};

const BODY: &[u8] = include_bytes!("../testdata/node_exporter.prom");

fn run(body: &[u8], mode: Mode, walk_labels: bool, scratch: &mut Scratch) -> usize {
    let mut p = Parser::new(body, Format::PrometheusText, mode, scratch);
    let mut n = 0usize;
    while let Some(e) = p.next().expect("node_exporter output parses") {
        if let Entry::Sample(s) = e {
            n += s.series.len()
                + s.value.to_bits() as usize % 2
                + s.timestamp_ms.unwrap_or(0) as usize;
            if walk_labels {
                for (k, v) in s.labels.iter() {
                    n += k.len() + v.len();
                }
            }
        }
    }
    n
}

fn samples(body: &[u8]) -> u64 {
    let mut scratch = Scratch::new();
    sonde_exposition::validate(body, Format::PrometheusText, Mode::Scrape, &mut scratch)
        .expect("parses") as u64
}

fn bench(c: &mut Criterion) {
    let n = samples(BODY);
    for (unit, tp) in [
        ("bytes", Throughput::Bytes(BODY.len() as u64)),
        ("samples", Throughput::Elements(n)),
    ] {
        let mut g = c.benchmark_group(format!("node_exporter_{unit}"));
        g.throughput(tp);
        let mut scratch = Scratch::new();
        g.bench_function("scrape", |b| {
            b.iter(|| run(black_box(BODY), Mode::Scrape, false, &mut scratch))
        });
        g.bench_function("scrape_labels", |b| {
            b.iter(|| run(black_box(BODY), Mode::Scrape, true, &mut scratch))
        });
        g.bench_function("strict", |b| {
            b.iter(|| run(black_box(BODY), Mode::Strict, false, &mut scratch))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
