//! The data both sides get: counters with resets, gauges with a gap,
//! classic histograms, info-style series, and NaN/Inf/ties.

use sonde_model::Labels;

/// 2023-11-14T22:13:20Z: a real date, so calendar functions say something.
pub const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 15_000;
const SAMPLES: i64 = 240; // one hour

/// A small deterministic generator (LCG), so both sides get the same data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub type Dataset = Vec<(Labels, Vec<(i64, f64)>)>;

pub fn dataset() -> Dataset {
    let mut rng = Rng(42);
    let mut out: Dataset = Vec::new();
    for job in ["api", "web"] {
        for instance in ["0", "1", "2"] {
            for code in ["200", "500"] {
                let mut v = 0.0;
                let mut samples = Vec::new();
                for i in 0..SAMPLES {
                    if rng.next() < 0.01 {
                        v = 0.0; // counter reset
                    }
                    v += (rng.next() * 10.0).floor();
                    samples.push((T0 + i * STEP, v));
                }
                out.push((
                    Labels::from_pairs(&[
                        ("__name__", "http_requests_total"),
                        ("job", job),
                        ("instance", instance),
                        ("code", code),
                    ]),
                    samples,
                ));
            }
        }
    }
    for (zone, base) in [("a", 20.0), ("b", -5.0), ("c", 0.0)] {
        for instance in ["0", "1"] {
            let mut samples = Vec::new();
            for i in 0..SAMPLES {
                // A gap of 10 minutes in zone c, instance 1.
                if zone == "c" && instance == "1" && (100..140).contains(&i) {
                    continue;
                }
                let v = base + (i as f64 / 20.0).sin() * 3.0 + rng.next();
                samples.push((T0 + i * STEP, (v * 100.0).round() / 100.0));
            }
            out.push((
                Labels::from_pairs(&[
                    ("__name__", "node_temp"),
                    ("zone", zone),
                    ("instance", instance),
                ]),
                samples,
            ));
        }
    }
    for job in ["api", "web"] {
        let bounds = ["0.1", "0.5", "1", "+Inf"];
        let mut counts = [0.0; 4];
        let mut series: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 4];
        for i in 0..SAMPLES {
            let n = (rng.next() * 20.0).floor() as usize;
            for _ in 0..n {
                let x = rng.next() * 1.5;
                for (k, b) in [0.1, 0.5, 1.0, f64::INFINITY].iter().enumerate() {
                    if x <= *b {
                        counts[k] += 1.0;
                    }
                }
            }
            for k in 0..4 {
                series[k].push((T0 + i * STEP, counts[k]));
            }
        }
        for (k, s) in series.into_iter().enumerate() {
            out.push((
                Labels::from_pairs(&[
                    ("__name__", "req_duration_seconds_bucket"),
                    ("job", job),
                    ("le", bounds[k]),
                ]),
                s,
            ));
        }
    }
    // Special values and ties: NaN, infinities, equal values across series.
    for (k, pattern) in [
        [1.0, f64::NAN, 3.0, f64::INFINITY],
        [2.0, 2.0, f64::NEG_INFINITY, f64::NAN],
        [2.0, f64::NAN, 3.0, 0.0],
        [-0.5, 2.0, 3.0, 1e-300],
    ]
    .iter()
    .enumerate()
    {
        let series = k.to_string();
        out.push((
            Labels::from_pairs(&[("__name__", "odd"), ("series", series.as_str())]),
            (0..SAMPLES)
                .map(|i| (T0 + i * STEP, pattern[(i as usize / 30) % 4]))
                .collect(),
        ));
    }
    for (instance, version) in [("0", "1.0"), ("1", "1.1"), ("2", "2.0-rc.1")] {
        out.push((
            Labels::from_pairs(&[
                ("__name__", "build_info"),
                ("instance", instance),
                ("version", version),
            ]),
            (0..SAMPLES).map(|i| (T0 + i * STEP, 1.0)).collect(),
        ));
    }
    out
}
