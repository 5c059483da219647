//! A deterministic workload shaped like a node_exporter + application
//! scrape at a 15s interval, shared by the benchmarks. Each series follows
//! one of the value patterns seen in real scrapes:
//! - integer counters (requests, bytes): a per-series rate of 1..200 per
//!   scrape with +-10% noise,
//! - float counters (`node_cpu_seconds_total`): +14.00..15.00s per scrape,
//!   2 decimals,
//! - integer gauges (memory bytes): unchanged 70% of scrapes, otherwise a
//!   step of 1..16 pages of 4 KiB up or down,
//! - float gauges (load average): a 2-decimal random walk of +-0.05,
//! - constants (`up`, `*_info`).
//!
//! The noise is uniform random, so this is harder to compress than most
//! real scrapes (where many counters and gauges repeat exactly).
//!
//! Scrape timestamps are 15s apart with 0..=3ms of jitter on half of
//! them, as a scrape loop's timestamps have.

#![allow(dead_code)]

use sonde_model::Labels;

pub const INTERVAL_MS: i64 = 15_000;

/// A small deterministic PRNG (xorshift64*), so runs are comparable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Pattern {
    IntCounter,
    FloatCounter,
    IntGauge,
    FloatGauge,
    Constant,
}

pub const PATTERNS: [Pattern; 5] = [
    Pattern::IntCounter,
    Pattern::FloatCounter,
    Pattern::IntGauge,
    Pattern::FloatGauge,
    Pattern::Constant,
];

/// `n` samples of one series of the given pattern.
pub fn samples(p: Pattern, n: usize, seed: u64) -> Vec<(i64, f64)> {
    let mut rng = Rng::new(seed);
    let mut t = 1_700_000_000_000i64;
    let mut v: f64 = match p {
        Pattern::IntCounter => rng.below(1_000_000) as f64,
        Pattern::FloatCounter => rng.below(10_000_000) as f64 / 100.0,
        Pattern::IntGauge => (rng.below(1 << 20) * 4096) as f64,
        Pattern::FloatGauge => rng.below(400) as f64 / 100.0,
        Pattern::Constant => 1.0,
    };
    let rate = 1 + rng.below(200) as i64;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let jitter = if rng.below(2) == 0 {
            rng.below(4) as i64
        } else {
            0
        };
        out.push((t + jitter, v));
        t += INTERVAL_MS;
        v = match p {
            Pattern::IntCounter => {
                let noise = rng.below((rate / 5 + 1) as u64) as i64 - rate / 10;
                v + (rate + noise) as f64
            }
            Pattern::FloatCounter => ((v * 100.0).round() + 1400.0 + rng.below(101) as f64) / 100.0,
            Pattern::IntGauge if rng.below(10) < 7 => v,
            Pattern::IntGauge => {
                let step = (1 + rng.below(16)) as f64;
                let up = rng.below(2) == 0;
                (v + if up { step } else { -step } * 4096.0).max(0.0)
            }
            Pattern::FloatGauge => {
                ((v * 100.0).round() + rng.below(11) as f64 - 5.0).max(0.0) / 100.0
            }
            Pattern::Constant => v,
        };
    }
    out
}

/// Label sets of `n` series: node_exporter-like names, 8 labels each.
pub fn labels(n: usize) -> Vec<(Labels, Pattern)> {
    const NAMES: [&str; 10] = [
        "node_cpu_seconds_total",
        "node_network_receive_bytes_total",
        "node_memory_MemAvailable_bytes",
        "node_load1",
        "up",
        "http_requests_total",
        "node_disk_read_bytes_total",
        "process_resident_memory_bytes",
        "node_filesystem_avail_bytes",
        "go_goroutines",
    ];
    const KINDS: [Pattern; 10] = [
        Pattern::FloatCounter,
        Pattern::IntCounter,
        Pattern::IntGauge,
        Pattern::FloatGauge,
        Pattern::Constant,
        Pattern::IntCounter,
        Pattern::IntCounter,
        Pattern::IntGauge,
        Pattern::IntGauge,
        Pattern::IntGauge,
    ];
    (0..n)
        .map(|i| {
            let k = i % NAMES.len();
            let host = format!("host-{:04}.dc1.example.com:9100", i / 100);
            let dev = format!("dev{}", (i / NAMES.len()) % 10);
            let l = Labels::from_pairs(&[
                ("__name__", NAMES[k]),
                ("instance", host.as_str()),
                ("job", "node"),
                ("env", "prod"),
                ("region", "eu-west-1"),
                ("cluster", "inference-a"),
                ("device", dev.as_str()),
                ("mode", ["user", "system", "idle", "iowait"][i % 4]),
            ]);
            (l, KINDS[k])
        })
        .collect()
}
