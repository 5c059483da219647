//! Range-query throughput over the in-memory storage: 1,000 series with
//! two hours of 15s samples (480,000 samples), evaluated over the full two
//! hours at a 15s step (480 steps), so every sample is visited.
//! Throughput is in input samples per second.

#![allow(clippy::unwrap_used)] // benchmark setup

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sonde_model::Labels;
use sonde_promql::testing::MemStorage;
use sonde_promql::{Engine, EngineOptions};

const SERIES: usize = 1000;
const SAMPLES: i64 = 480;
const STEP: i64 = 15_000;

fn storage() -> MemStorage {
    let mut s = MemStorage::new();
    for i in 0..SERIES {
        let job = format!("job{}", i % 10);
        let instance = format!("instance{i}");
        let le = ["0.1", "1", "10", "+Inf"][i % 4];
        let labels = Labels::from_pairs(&[
            ("__name__", "requests_total"),
            ("job", job.as_str()),
            ("instance", instance.as_str()),
            ("le", le),
        ]);
        for t in 0..SAMPLES {
            s.add(labels.clone(), t * STEP, (t * (i as i64 % 7 + 1)) as f64);
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let storage = storage();
    // One thread, and the default (runs of steps on up to 4 cores).
    let engines = [
        (
            "1 thread",
            Engine::new(EngineOptions {
                max_threads_per_query: 1,
                ..EngineOptions::default()
            }),
        ),
        ("default threads", Engine::new(EngineOptions::default())),
    ];
    let mut g = c.benchmark_group("range_query_1000x480");
    g.throughput(Throughput::Elements(SERIES as u64 * SAMPLES as u64));
    g.sample_size(10);
    for q in [
        "requests_total",
        "rate(requests_total[5m])",
        "sum by (job) (rate(requests_total[5m]))",
        "topk(5, requests_total)",
        "requests_total / on (instance, job, le) requests_total",
        "histogram_quantile(0.9, sum by (le, job) (rate(requests_total[5m])))",
        "max_over_time(requests_total[10m:1m])",
        "rate(requests_total[1h] @ 7185)",
    ] {
        for (threads, engine) in &engines {
            g.bench_function(format!("{q} ({threads})"), |b| {
                b.iter(|| {
                    engine
                        .range_query(&storage, q, 0, (SAMPLES - 1) * STEP, STEP)
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
