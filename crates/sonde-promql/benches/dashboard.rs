//! The dashboard query suite of `bench/` (issue 4) over the in-memory
//! storage, so the evaluator's share can be measured apart from the tsdb
//! and HTTP: a fleet of `DASH_INSTANCES` (default 100) instances with the
//! series those 15 queries read (node_exporter CPU, network, disk, memory,
//! load, filesystem, context switches; an HTTP service's request counters
//! and latency histograms), 6 h of 15 s scrapes with a per-target offset,
//! each query evaluated over the 6 h at a 30 s step like a Grafana panel.
//!
//! Prints, per query, the mean CPU time of the evaluating thread over the
//! repetitions (`/proc/thread-self/schedstat`, robust to other processes on
//! the box; it may advance in scheduler ticks, hence a mean over many
//! repetitions rather than a median), the median wall time, the mean CPU
//! time of writing the result's JSON
//! and a digest of the result JSON, so two builds can be checked to give
//! bit-identical answers. Arguments: a substring to pick queries;
//! `DASH_ITERS` (default 15) repetitions; `DASH_THREADS` (default 1)
//! evaluation threads per query; `DASH_INSTANT=1` evaluates instant
//! queries at the end of the data instead. `DASH_ITERS=0` only builds the data, for
//! subtracting setup from `perf stat` counts. `DASH_DIR=<data dir>` reads
//! a Sonde data directory instead (`sonde-bench --keep-data`'s, opened
//! read-only: blocks and the head replayed from the WAL, as a restarted
//! server answers), the queries ending at its newest sample, so the
//! storage's decoding is measured with the evaluator (under
//! `valgrind --tool=callgrind --toggle-collect='*Engine*range_query*'`
//! for instruction counts).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use std::hash::Hasher;

use sonde_model::{Labels, Queryable};
use sonde_promql::testing::MemStorage;
use sonde_promql::{Engine, EngineOptions};

// The queries of the whole-system benchmark, from the one list.
#[path = "../../../bench/src/suite.rs"]
mod suite;
use suite::SUITE;

const SCRAPES: i64 = 6 * 240; // 6 h of 15 s scrapes
const INTERVAL: i64 = 15_000;
const START: i64 = 1_700_000_000_000;

/// How one series moves from scrape to scrape.
#[derive(Clone, Copy)]
enum Kind {
    /// Grows by about `mean` per scrape, in whole `unit`s; resets rarely.
    Counter {
        mean: f64,
        unit: f64,
    },
    /// Wanders around its start.
    Gauge {
        spread: f64,
    },
    Const,
}

fn rng(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

fn add_series(
    s: &mut MemStorage,
    seed: &mut u64,
    instance: usize,
    pairs: &[(&str, &str)],
    kind: Kind,
    start: f64,
) {
    let inst = format!("host-{instance:04}:9100");
    let mut all: Vec<(&str, &str)> = pairs.to_vec();
    all.push(("instance", &inst));
    let labels = Labels::from_pairs(&all);
    let offset = (instance as i64 * 7919) % INTERVAL;
    let mut v = start;
    for k in 0..SCRAPES {
        let jitter = (k * 31 + instance as i64) % 6;
        v = match kind {
            Kind::Counter { mean, unit } => {
                let mut next = v + (mean * (0.5 + rng(seed)) / unit).round() * unit;
                if rng(seed) < 0.0005 {
                    next = 0.0; // a restart
                }
                next
            }
            Kind::Gauge { spread } => (v + (rng(seed) - 0.5) * spread).max(0.0).round(),
            Kind::Const => v,
        };
        s.add(labels.clone(), START + k * INTERVAL + offset + jitter, v);
    }
}

fn node(name: &str) -> [(&str, &str); 2] {
    [("__name__", name), ("job", "node")]
}

fn api(name: &str) -> [(&str, &str); 2] {
    [("__name__", name), ("job", "api")]
}

fn storage(instances: usize) -> MemStorage {
    let mut s = MemStorage::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let buckets = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
    ];
    for i in 0..instances {
        for cpu in ["0", "1", "2", "3"] {
            for mode in [
                "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
            ] {
                let mut p = node("node_cpu_seconds_total").to_vec();
                p.extend([("cpu", cpu), ("mode", mode)]);
                let kind = Kind::Counter {
                    mean: 1.0,
                    unit: 0.01,
                };
                add_series(&mut s, &mut seed, i, &p, kind, 1e5);
            }
        }
        for dev in ["eth0", "lo"] {
            for dir in ["receive", "transmit"] {
                let name = format!("node_network_{dir}_bytes_total");
                let mut p = node(&name).to_vec();
                p.push(("device", dev));
                let kind = Kind::Counter {
                    mean: 4e5,
                    unit: 1.0,
                };
                add_series(&mut s, &mut seed, i, &p, kind, 1e11);
            }
        }
        for dev in ["sda", "sdb"] {
            let mut p = node("node_disk_io_time_seconds_total").to_vec();
            p.push(("device", dev));
            let kind = Kind::Counter {
                mean: 0.4,
                unit: 0.001,
            };
            add_series(&mut s, &mut seed, i, &p, kind, 86_400.0);
        }
        let mem = Kind::Gauge { spread: 8e6 };
        add_series(
            &mut s,
            &mut seed,
            i,
            &node("node_memory_MemTotal_bytes"),
            Kind::Const,
            1.6e10,
        );
        add_series(
            &mut s,
            &mut seed,
            i,
            &node("node_memory_MemAvailable_bytes"),
            mem,
            1e10,
        );
        add_series(
            &mut s,
            &mut seed,
            i,
            &node("node_load1"),
            Kind::Gauge { spread: 2.0 },
            1.0,
        );
        for (mp, dev) in [("/", "/dev/sda1"), ("/data", "/dev/sdb1")] {
            let mut p = node("node_filesystem_avail_bytes").to_vec();
            p.extend([("device", dev), ("fstype", "ext4"), ("mountpoint", mp)]);
            add_series(&mut s, &mut seed, i, &p, mem, 2e11);
        }
        let ctx = Kind::Counter {
            mean: 3e4,
            unit: 1.0,
        };
        add_series(
            &mut s,
            &mut seed,
            i,
            &node("node_context_switches_total"),
            ctx,
            1e10,
        );
        for handler in ["/api/query", "/api/write", "/health", "/metrics"] {
            for (code, mean) in [("200", 300.0), ("500", 2.0)] {
                let mut p = api("http_requests_total").to_vec();
                p.extend([("code", code), ("handler", handler)]);
                let kind = Kind::Counter { mean, unit: 1.0 };
                add_series(&mut s, &mut seed, i, &p, kind, 1e6);
            }
        }
        for handler in ["/api/query", "/api/write"] {
            for (b, le) in buckets.iter().enumerate() {
                let mut p = api("http_request_duration_seconds_bucket").to_vec();
                p.extend([("handler", handler), ("le", le)]);
                let kind = Kind::Counter {
                    mean: 10.0 * (b + 1) as f64,
                    unit: 1.0,
                };
                add_series(&mut s, &mut seed, i, &p, kind, 0.0);
            }
        }
        for q in ["ingest", "query", "compact"] {
            let mut p = api("app_queue_depth").to_vec();
            p.push(("queue", q));
            add_series(&mut s, &mut seed, i, &p, Kind::Gauge { spread: 8.0 }, 10.0);
        }
        add_series(&mut s, &mut seed, i, &api("up"), Kind::Const, 1.0);
    }
    s
}

/// CPU nanoseconds this thread has run.
fn thread_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    s.split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let instances = env("DASH_INSTANCES", 100);
    let iters = env("DASH_ITERS", 15);
    let threads = env("DASH_THREADS", 1);
    let instant = env("DASH_INSTANT", 0) == 1;
    let (storage, end): (Box<dyn Queryable>, i64) = match std::env::var_os("DASH_DIR") {
        Some(dir) => {
            let db = sonde_tsdb::ReadOnlyDb::open(std::path::Path::new(&dir)).unwrap();
            let end = db.head().max_time();
            (Box::new(db), end)
        }
        None => (
            Box::new(storage(instances)),
            START + (SCRAPES - 1) * INTERVAL,
        ),
    };
    if iters == 0 {
        return;
    }
    let engine = Engine::new(EngineOptions {
        max_threads_per_query: threads,
        ..EngineOptions::default()
    });
    let start = end - 6 * 3_600_000;
    println!(
        "{:<26} {:>12} {:>12} {:>18}",
        "query", "cpu ms", "wall ms", "digest"
    );
    for (name, q) in SUITE {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let mut cpu = Vec::new();
        let mut wall = Vec::new();
        let mut json_cpu = Vec::new();
        let mut digest = 0;
        for _ in 0..iters {
            let (c0, w0) = (thread_cpu_ns(), std::time::Instant::now());
            let v = if instant {
                engine.instant_query(storage.as_ref(), q, end).unwrap()
            } else {
                engine
                    .range_query(storage.as_ref(), q, start, end, 30_000)
                    .unwrap()
            };
            cpu.push(thread_cpu_ns() - c0);
            wall.push(w0.elapsed().as_nanos() as u64);
            let c1 = thread_cpu_ns();
            let json = v.to_json();
            json_cpu.push(thread_cpu_ns() - c1);
            let mut h = std::collections::hash_map::DefaultHasher::new();
            h.write(json.as_bytes());
            digest = h.finish();
        }
        wall.sort_unstable();
        let mean = |x: &[u64]| x.iter().sum::<u64>() as f64 / x.len() as f64 / 1e6;
        println!(
            "{:<26} {:>12.2} {:>12.2} {:>18x} {:>12.2}",
            name,
            mean(&cpu),
            wall[wall.len() / 2] as f64 / 1e6,
            digest,
            mean(&json_cpu),
        );
    }
}
