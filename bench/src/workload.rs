//! The synthetic fleet: per instance 100 series shaped like what
//! node_exporter 1.5 and an instrumented HTTP service expose (counters that
//! grow by whole units or by 1/100 s ticks, gauges, one latency histogram
//! per handler), scraped every 15 s with a per-target offset and a few
//! milliseconds of jitter, as Prometheus scrapes.
//!
//! Values come from a seeded generator, so every server receives exactly the
//! same samples and a run can be repeated.

/// Series per instance; `--series` is rounded to a multiple of this.
pub const SERIES_PER_INSTANCE: usize = 100;

const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
/// Mean seconds per 15 s interval of each CPU mode on a mostly idle box.
const CPU_MODE_SECS: [f64; 8] = [12.0, 0.3, 0.01, 0.05, 0.1, 0.0, 0.9, 1.6];
const HANDLERS: [&str; 4] = ["/api/query", "/api/write", "/health", "/metrics"];
const HIST_HANDLERS: [&str; 2] = ["/api/query", "/api/write"];
/// Upper bounds of the latency buckets (client_golang's defaults).
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Share of observations falling in each bucket (the last: above 5 s).
const BUCKET_SHARE: [f64; 11] = [
    0.05, 0.15, 0.25, 0.2, 0.15, 0.1, 0.05, 0.03, 0.015, 0.004, 0.001,
];

/// How a series' value moves from one scrape to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Counter of whole units, growing by about `mean` per scrape.
    Counter { mean: f64, unit: f64 },
    /// Counter of 1/100 s ticks (what node_exporter reads from /proc/stat).
    Ticks { mean_secs: f64 },
    /// Integer gauge wandering around its start by steps of `unit`.
    IntGauge { unit: f64, spread: f64 },
    /// Float gauge rounded to `decimals` (0: full precision noise).
    FloatGauge {
        mean: f64,
        spread: f64,
        decimals: i32,
    },
    /// Constant value.
    Const,
    /// Bucket `i` (cumulative) of histogram `h` of the instance.
    Bucket { h: usize, i: usize },
    /// `_sum` of histogram `h`.
    HistSum { h: usize },
    /// `_count` of histogram `h`.
    HistCount { h: usize },
}

#[derive(Debug, Clone)]
pub struct SeriesDef {
    /// Sorted by name, `__name__` first (as Prometheus sends them).
    pub labels: Vec<(String, String)>,
    pub rule: Rule,
    pub start: f64,
}

/// The whole workload: series, schedule and generator seed.
#[derive(Debug, Clone)]
pub struct Workload {
    pub instances: usize,
    pub series: Vec<SeriesDef>,
    pub steps: usize,
    pub interval_ms: i64,
    /// Scrape `k` of every target happens at about `start_ms + k * interval`.
    pub start_ms: i64,
}

impl Workload {
    /// `series` rounded up to whole instances; the last scrape lands before
    /// `now_ms`.
    pub fn new(series: usize, steps: usize, interval_ms: i64, now_ms: i64) -> Workload {
        let instances = series.div_ceil(SERIES_PER_INSTANCE).max(1);
        let mut defs = Vec::with_capacity(instances * SERIES_PER_INSTANCE);
        for i in 0..instances {
            instance_series(i, &mut defs);
        }
        // Every timestamp is at most start + (steps-1)*interval + offset (<
        // interval) + jitter (<= 5 ms), so this keeps them all before now.
        let start_ms = now_ms - steps as i64 * interval_ms - 1_000;
        Workload {
            instances,
            series: defs,
            steps,
            interval_ms,
            start_ms,
        }
    }

    pub fn samples(&self) -> u64 {
        (self.series.len() * self.steps) as u64
    }

    /// Later than every sample: the evaluation time of the query suite.
    pub fn end_ms(&self) -> i64 {
        self.start_ms + self.steps as i64 * self.interval_ms
    }

    /// Timestamp of scrape `step` of `instance`: a fixed offset per target
    /// (Prometheus spreads targets over the interval) plus 0-5 ms jitter.
    pub fn timestamp(&self, instance: usize, step: usize) -> i64 {
        let offset = (mix(instance as u64 ^ 0x5eed) % self.interval_ms as u64) as i64;
        let jitter = (mix(((instance as u64) << 32) | step as u64) % 6) as i64;
        self.start_ms + step as i64 * self.interval_ms + offset + jitter
    }

    pub fn instance_of(&self, series: usize) -> usize {
        series / SERIES_PER_INSTANCE
    }
}

/// Produces the value of every series scrape after scrape.
pub struct Generator {
    values: Vec<f64>,
    rngs: Vec<u64>,
    /// Per instance and histogram: observations this step, per bucket.
    hist_obs: Vec<[u64; 11]>,
    hist_sum_inc: Vec<f64>,
}

impl Generator {
    pub fn new(w: &Workload) -> Generator {
        Generator {
            values: w.series.iter().map(|s| s.start).collect(),
            rngs: (0..w.instances).map(|i| mix(i as u64 + 1)).collect(),
            hist_obs: vec![[0; 11]; w.instances * HIST_HANDLERS.len()],
            hist_sum_inc: vec![0.0; w.instances * HIST_HANDLERS.len()],
        }
    }

    /// Advances to the next scrape (the first call gives scrape 0's values,
    /// which are the start values moved once) and returns all values.
    pub fn step(&mut self, w: &Workload) -> &[f64] {
        for inst in 0..w.instances {
            let rng = &mut self.rngs[inst];
            for h in 0..HIST_HANDLERS.len() {
                let n = 40 + next(rng) % 120;
                let mut obs = [0u64; 11];
                let mut sum = 0.0;
                for (b, share) in BUCKET_SHARE.iter().enumerate() {
                    let want = n as f64 * share;
                    let c = (want * (0.5 + unit(rng))).round() as u64;
                    obs[b] = c;
                    let upper = BUCKETS.get(b).copied().unwrap_or(10.0);
                    sum += c as f64 * upper * 0.7;
                }
                self.hist_obs[inst * HIST_HANDLERS.len() + h] = obs;
                self.hist_sum_inc[inst * HIST_HANDLERS.len() + h] = sum;
            }
            let base = inst * SERIES_PER_INSTANCE;
            for s in base..base + SERIES_PER_INSTANCE {
                let v = &mut self.values[s];
                let def = &w.series[s];
                *v = match def.rule {
                    Rule::Counter { mean, unit: u } => {
                        *v + ((mean * (0.5 + unit(rng))) / u).round() * u
                    }
                    Rule::Ticks { mean_secs } => {
                        let ticks =
                            (*v * 100.0).round() + (mean_secs * 100.0 * (0.5 + unit(rng))).round();
                        ticks / 100.0
                    }
                    Rule::IntGauge { unit: u, spread } => {
                        let delta = ((unit(rng) - 0.5) * spread / u).round() * u;
                        (*v + delta).max(0.0)
                    }
                    Rule::FloatGauge {
                        mean,
                        spread,
                        decimals,
                    } => {
                        let x = (0.8 * *v + 0.2 * mean + (unit(rng) - 0.5) * spread).max(0.0);
                        if decimals > 0 {
                            let p = 10f64.powi(decimals);
                            (x * p).round() / p
                        } else {
                            x
                        }
                    }
                    Rule::Const => *v,
                    Rule::Bucket { h, i } => {
                        let obs = &self.hist_obs[inst * HIST_HANDLERS.len() + h];
                        *v + obs[..=i].iter().sum::<u64>() as f64
                    }
                    Rule::HistCount { h } => {
                        *v + self.hist_obs[inst * HIST_HANDLERS.len() + h]
                            .iter()
                            .sum::<u64>() as f64
                    }
                    Rule::HistSum { h } => *v + self.hist_sum_inc[inst * HIST_HANDLERS.len() + h],
                };
            }
        }
        &self.values
    }
}

/// The 100 series of instance `i`, appended to `out` in a fixed order.
fn instance_series(i: usize, out: &mut Vec<SeriesDef>) {
    let node = format!("host-{i:04}:9100");
    let app = format!("host-{i:04}:8080");
    let mut add = |name: &str, job: &str, extra: &[(&str, &str)], rule: Rule, start: f64| {
        let inst = if job == "node" { &node } else { &app };
        let mut labels: Vec<(String, String)> = vec![
            ("__name__".into(), name.into()),
            ("instance".into(), inst.clone()),
            ("job".into(), job.into()),
        ];
        labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        labels[1..].sort();
        out.push(SeriesDef {
            labels,
            rule,
            start,
        });
    };
    let day = 86_400.0 * 30.0;
    for cpu in ["0", "1", "2", "3"] {
        for (mode, secs) in CPU_MODES.iter().zip(CPU_MODE_SECS) {
            let rule = Rule::Ticks {
                mean_secs: secs / 4.0,
            };
            add(
                "node_cpu_seconds_total",
                "node",
                &[("cpu", cpu), ("mode", mode)],
                rule,
                (day * secs / 60.0).round(),
            );
        }
    }
    for dev in ["eth0", "lo"] {
        for dir in ["receive", "transmit"] {
            let rule = Rule::Counter {
                mean: 400_000.0,
                unit: 1.0,
            };
            add(
                &format!("node_network_{dir}_bytes_total"),
                "node",
                &[("device", dev)],
                rule,
                1e11,
            );
        }
    }
    for dev in ["sda", "sdb"] {
        let bytes = Rule::Counter {
            mean: 2_000_000.0,
            unit: 4096.0,
        };
        add(
            "node_disk_read_bytes_total",
            "node",
            &[("device", dev)],
            bytes,
            4096.0 * 1e7,
        );
        add(
            "node_disk_written_bytes_total",
            "node",
            &[("device", dev)],
            bytes,
            4096.0 * 2e7,
        );
        let io = Rule::Counter {
            mean: 0.4,
            unit: 0.001,
        };
        add(
            "node_disk_io_time_seconds_total",
            "node",
            &[("device", dev)],
            io,
            86_400.0,
        );
    }
    let total = 16.0 * (1u64 << 30) as f64 * (1 + i % 4) as f64;
    add(
        "node_memory_MemTotal_bytes",
        "node",
        &[],
        Rule::Const,
        total,
    );
    let mem = Rule::IntGauge {
        unit: 4096.0,
        spread: 4096.0 * 2000.0,
    };
    add(
        "node_memory_MemAvailable_bytes",
        "node",
        &[],
        mem,
        total * 0.6,
    );
    add("node_memory_Cached_bytes", "node", &[], mem, total * 0.3);
    add("node_memory_Buffers_bytes", "node", &[], mem, total * 0.02);
    for (name, spread) in [
        ("node_load1", 0.6),
        ("node_load5", 0.3),
        ("node_load15", 0.1),
    ] {
        let rule = Rule::FloatGauge {
            mean: 0.8,
            spread,
            decimals: 2,
        };
        add(name, "node", &[], rule, 0.8);
    }
    for (mp, dev) in [("/", "/dev/sda1"), ("/data", "/dev/sdb1")] {
        let rule = Rule::IntGauge {
            unit: 4096.0,
            spread: 4096.0 * 50.0,
        };
        add(
            "node_filesystem_avail_bytes",
            "node",
            &[("device", dev), ("fstype", "ext4"), ("mountpoint", mp)],
            rule,
            2e11,
        );
    }
    add(
        "node_context_switches_total",
        "node",
        &[],
        Rule::Counter {
            mean: 30_000.0,
            unit: 1.0,
        },
        1e10,
    );
    add(
        "node_intr_total",
        "node",
        &[],
        Rule::Counter {
            mean: 20_000.0,
            unit: 1.0,
        },
        8e9,
    );
    add(
        "node_filefd_allocated",
        "node",
        &[],
        Rule::IntGauge {
            unit: 1.0,
            spread: 20.0,
        },
        3000.0,
    );
    add(
        "node_netstat_Tcp_CurrEstab",
        "node",
        &[],
        Rule::IntGauge {
            unit: 1.0,
            spread: 6.0,
        },
        40.0,
    );

    for handler in HANDLERS {
        for (code, mean) in [("200", 300.0), ("500", 2.0)] {
            let rule = Rule::Counter { mean, unit: 1.0 };
            add(
                "http_requests_total",
                "api",
                &[("code", code), ("handler", handler)],
                rule,
                1e6,
            );
        }
    }
    for (h, handler) in HIST_HANDLERS.iter().enumerate() {
        for (b, le) in BUCKETS
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".to_string()])
            .enumerate()
        {
            let rule = Rule::Bucket { h, i: b };
            add(
                "http_request_duration_seconds_bucket",
                "api",
                &[("handler", handler), ("le", &le)],
                rule,
                0.0,
            );
        }
        add(
            "http_request_duration_seconds_sum",
            "api",
            &[("handler", handler)],
            Rule::HistSum { h },
            0.0,
        );
        add(
            "http_request_duration_seconds_count",
            "api",
            &[("handler", handler)],
            Rule::HistCount { h },
            0.0,
        );
    }
    add(
        "process_resident_memory_bytes",
        "api",
        &[],
        Rule::IntGauge {
            unit: 4096.0,
            spread: 4096.0 * 100.0,
        },
        5e8,
    );
    add(
        "process_cpu_seconds_total",
        "api",
        &[],
        Rule::Ticks { mean_secs: 1.5 },
        50_000.0,
    );
    add(
        "go_goroutines",
        "api",
        &[],
        Rule::IntGauge {
            unit: 1.0,
            spread: 10.0,
        },
        120.0,
    );
    for q in ["ingest", "query", "compact"] {
        add(
            "app_queue_depth",
            "api",
            &[("queue", q)],
            Rule::IntGauge {
                unit: 1.0,
                spread: 8.0,
            },
            10.0,
        );
    }
    for kind in ["other", "refused", "timeout"] {
        add(
            "app_errors_total",
            "api",
            &[("kind", kind)],
            Rule::Counter {
                mean: 0.3,
                unit: 1.0,
            },
            100.0,
        );
    }
    add("up", "api", &[], Rule::Const, 1.0);
    let scrape = Rule::FloatGauge {
        mean: 0.004,
        spread: 0.002,
        decimals: 0,
    };
    add("scrape_duration_seconds", "api", &[], scrape, 0.004);
}

/// splitmix64 finaliser: a well-mixed hash of `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mix(*state)
}

/// Uniform in [0, 1).
fn unit(state: &mut u64) -> f64 {
    (next(state) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_instance_has_100_sorted_unique_series() {
        let w = Workload::new(250, 4, 15_000, 10_000_000);
        assert_eq!(w.instances, 3);
        assert_eq!(w.series.len(), 300);
        let mut seen = std::collections::HashSet::new();
        for s in &w.series {
            assert_eq!(s.labels[0].0, "__name__");
            assert!(
                s.labels[1..].windows(2).all(|p| p[0].0 < p[1].0),
                "{:?}",
                s.labels
            );
            assert!(seen.insert(s.labels.clone()), "duplicate {:?}", s.labels);
        }
    }

    #[test]
    fn counters_and_buckets_never_decrease_and_timestamps_are_before_now() {
        let now = 100_000_000;
        let w = Workload::new(200, 50, 15_000, now);
        let mut g = Generator::new(&w);
        let mut prev = g.step(&w).to_vec();
        for step in 1..w.steps {
            let cur = g.step(&w).to_vec();
            for (s, def) in w.series.iter().enumerate() {
                if matches!(
                    def.rule,
                    Rule::Counter { .. }
                        | Rule::Ticks { .. }
                        | Rule::Bucket { .. }
                        | Rule::HistCount { .. }
                ) {
                    assert!(cur[s] >= prev[s], "{:?} step {step}", def.labels);
                }
                assert!(cur[s].is_finite() && cur[s] >= 0.0);
            }
            // Cumulative buckets: each le >= the previous, +Inf == _count.
            let b: Vec<f64> = (0..11).map(|i| cur[55 + 8 + i]).collect();
            assert!(b.windows(2).all(|p| p[0] <= p[1]), "{b:?}");
            assert_eq!(b[10], cur[55 + 8 + 12]);
            prev = cur;
        }
        for inst in 0..w.instances {
            assert!(w.timestamp(inst, w.steps - 1) < now);
            assert!(w.timestamp(inst, 0) >= w.start_ms);
            assert!(w.timestamp(inst, w.steps - 1) < w.end_ms());
        }
    }

    #[test]
    fn generator_is_deterministic() {
        let w = Workload::new(100, 3, 15_000, 1_000_000_000);
        let (mut a, mut b) = (Generator::new(&w), Generator::new(&w));
        for _ in 0..3 {
            assert_eq!(a.step(&w), b.step(&w));
        }
    }
}
