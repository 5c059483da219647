//! Range queries cut into runs of steps on several threads give exactly
//! the answers of one thread: same series, same order, same bits, same
//! errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use sonde_model::{Labels, STALE_NAN};
use sonde_promql::testing::MemStorage;
use sonde_promql::{Engine, EngineOptions, QueryError};

const STEP: i64 = 15_000;
const SAMPLES: i64 = 1_000;

/// Counters with resets, gauges that go stale and come back, a classic
/// histogram: a little of everything steps can disagree on.
fn storage() -> MemStorage {
    let mut s = MemStorage::new();
    let mut x: u64 = 7;
    let mut rand = move || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    for instance in 0..6 {
        for mode in ["idle", "user", "system"] {
            let l = Labels::from_pairs(&[
                ("__name__", "cpu_seconds_total"),
                ("instance", &instance.to_string()),
                ("mode", mode),
            ]);
            let mut v = 0.0;
            for i in 0..SAMPLES {
                if rand() < 0.005 {
                    v = 0.0;
                }
                v += (rand() * 15.0).floor();
                s.add(l.clone(), i * STEP, v);
            }
        }
        let g = Labels::from_pairs(&[("__name__", "temp"), ("instance", &instance.to_string())]);
        for i in 0..SAMPLES {
            let v = if (300..340).contains(&i) && instance % 2 == 0 {
                STALE_NAN
            } else {
                20.0 + rand() * 5.0
            };
            s.add(g.clone(), i * STEP, v);
        }
        let mut buckets = [0.0; 4];
        for i in 0..SAMPLES {
            for (b, count) in buckets.iter_mut().enumerate() {
                *count += (rand() * (b + 1) as f64 * 3.0).floor();
            }
            for (le, count) in ["0.1", "0.5", "1", "+Inf"].iter().zip(buckets) {
                let l = Labels::from_pairs(&[
                    ("__name__", "latency_seconds_bucket"),
                    ("instance", &instance.to_string()),
                    ("le", le),
                ]);
                s.add(l, i * STEP, count);
            }
        }
    }
    s
}

fn engine(threads: usize, max_samples: usize) -> Engine {
    Engine::new(EngineOptions {
        max_threads_per_query: threads,
        max_samples,
        ..EngineOptions::default()
    })
}

const QUERIES: &[&str] = &[
    "cpu_seconds_total",
    "rate(cpu_seconds_total[5m])",
    "sum by (instance) (rate(cpu_seconds_total{mode!=\"idle\"}[5m]))",
    "topk(2, rate(cpu_seconds_total[1m]))",
    "histogram_quantile(0.9, sum by (le) (rate(latency_seconds_bucket[5m])))",
    "avg_over_time(temp[10m])",
    "temp > 22",
    "count by (__name__) ({__name__=~\".+\"})",
    "absent(temp{instance=\"9\"})",
    "max_over_time(rate(cpu_seconds_total[1m])[10m:1m])",
    "temp @ start()",
    "temp @ end() - temp",
    "time() - timestamp(temp)",
    "resets(cpu_seconds_total[30m])",
    "scalar(sum(temp))",
    "label_replace(temp, \"host\", \"h$1\", \"instance\", \"(.*)\")",
    "temp offset 1h",
    "changes(temp[1h])",
];

#[test]
fn every_query_gives_the_same_answer_on_one_and_on_four_threads() {
    let s = storage();
    let one = engine(1, 50_000_000);
    let four = engine(4, 50_000_000);
    let (start, end) = (3_600_000, (SAMPLES - 1) * STEP);
    let mut compared = 0;
    for q in QUERIES {
        for step in [STEP, 60_000, 17_000] {
            let a = one.range_query(&s, q, start, end, step).unwrap().to_json();
            let b = four.range_query(&s, q, start, end, step).unwrap().to_json();
            assert_eq!(a, b, "{q} step {step}");
            compared += 1;
        }
    }
    assert_eq!(compared, QUERIES.len() * 3);
}

#[test]
fn the_sample_budget_covers_all_threads_of_a_query() {
    let s = storage();
    // One thread's share would fit under the limit; the whole does not.
    let (start, end) = (0, (SAMPLES - 1) * STEP);
    let whole = one_thread_samples(&s, start, end);
    let limit = whole - 1;
    for threads in [1, 4] {
        let err = engine(threads, limit)
            .range_query(&s, "cpu_seconds_total", start, end, STEP)
            .unwrap_err();
        assert_eq!(
            err,
            QueryError::Execution(
                "query processing would load too many samples into memory in query execution"
                    .into()
            ),
            "{threads} threads"
        );
        engine(threads, whole)
            .range_query(&s, "cpu_seconds_total", start, end, STEP)
            .unwrap();
    }
}

/// Samples of the result of `cpu_seconds_total` over the range.
fn one_thread_samples(s: &MemStorage, start: i64, end: i64) -> usize {
    let v = engine(1, 50_000_000)
        .range_query(s, "cpu_seconds_total", start, end, STEP)
        .unwrap();
    match v {
        sonde_promql::Value::Matrix(series) => series.iter().map(|s| s.samples.len()).sum(),
        other => panic!("not a matrix: {other:?}"),
    }
}
