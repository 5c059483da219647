//! The Prometheus query API as a dashboard uses it, the dashboard query
//! suite (issue 4), and the checks that what a server stored is what was
//! sent.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::encode::Probe;
use crate::workload::Workload;

pub use crate::suite::SUITE;

/// Step of the 6 h range queries: what Grafana picks for a 6 h panel
/// about 700 px wide (6 h / 720 points), a multiple of the 15 s interval.
pub const RANGE_STEP_SECS: i64 = 30;

pub struct Api {
    client: reqwest::blocking::Client,
    base: String,
}

/// One answer: how long it took, and how many series (or 1 for a scalar).
#[derive(Debug, Clone)]
pub struct Answer {
    pub took: Duration,
    pub series: usize,
    pub data: Value,
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Api> {
        Ok(Api {
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()?,
            base: base.to_string(),
        })
    }

    pub fn instant(&self, q: &str, t_ms: i64) -> anyhow::Result<Answer> {
        self.get(
            "/api/v1/query",
            &[("query", q.to_string()), ("time", secs(t_ms))],
        )
    }

    pub fn range(
        &self,
        q: &str,
        start_ms: i64,
        end_ms: i64,
        step_s: i64,
    ) -> anyhow::Result<Answer> {
        let params = [
            ("query", q.to_string()),
            ("start", secs(start_ms)),
            ("end", secs(end_ms)),
            ("step", step_s.to_string()),
        ];
        self.get("/api/v1/query_range", &params)
    }

    fn get(&self, path: &str, params: &[(&str, String)]) -> anyhow::Result<Answer> {
        let url = format!("{}{}", self.base, path);
        let started = Instant::now();
        let resp = self
            .client
            .get(&url)
            .query(params)
            .send()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .with_context(|| format!("reading answer of {url}"))?;
        let took = started.elapsed();
        let v: Value = serde_json::from_slice(&body)
            .with_context(|| format!("{url} {params:?}: answer is not JSON ({status})"))?;
        if !status.is_success() || v["status"] != "success" {
            bail!("{url} {params:?}: {status}: {}", v["error"]);
        }
        let data = v["data"].clone();
        let series = match (&data["resultType"], &data["result"]) {
            (Value::String(t), Value::Array(a)) if t == "vector" || t == "matrix" => a.len(),
            _ => 1,
        };
        Ok(Answer { took, series, data })
    }
}

/// Milliseconds as the API's decimal seconds.
fn secs(ms: i64) -> String {
    // Exact: epoch milliseconds need 13 significant digits, f64 has 15.
    format!("{:.3}", ms as f64 / 1000.0)
}

/// Timings of one query on one server.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    pub times: Vec<Duration>,
    pub series: usize,
    pub error: Option<String>,
}

impl Timing {
    pub fn median(&self) -> Option<Duration> {
        percentile(&self.times, 0.5)
    }
    pub fn p90(&self) -> Option<Duration> {
        percentile(&self.times, 0.9)
    }
}

/// Nearest-rank percentile.
pub fn percentile(times: &[Duration], p: f64) -> Option<Duration> {
    if times.is_empty() {
        return None;
    }
    let mut t = times.to_vec();
    t.sort();
    let rank = ((p * t.len() as f64).ceil() as usize).clamp(1, t.len());
    Some(t[rank - 1])
}

/// Results of the suite on one server: per query, instant and range.
pub type SuiteResult = Vec<(Timing, Timing)>;

/// Runs every query of [`SUITE`] once to warm up and then `reps` times,
/// instant at the end of the data and over the 6 h before it. Like a
/// Grafana panel refreshing, repetition `i` of a range query moves the
/// window `i` steps later (the same windows on every server), so a result
/// cache is measured as a dashboard meets it, not by identical repeats.
pub fn run_suite(api: &Api, w: &Workload, reps: usize) -> SuiteResult {
    let end = w.end_ms();
    let start = end - w.steps as i64 * w.interval_ms;
    let step_ms = RANGE_STEP_SECS * 1000;
    SUITE
        .iter()
        .map(|(_, q)| {
            let inst = timed(reps, |_| api.instant(q, end));
            let range = timed(reps, |i| {
                let shift = i as i64 * step_ms;
                api.range(q, start + shift, end + shift, RANGE_STEP_SECS)
            });
            (inst, range)
        })
        .collect()
}

/// Runs `f(0)` as a warm-up, then `f(1..=reps)` timed.
fn timed(reps: usize, f: impl Fn(usize) -> anyhow::Result<Answer>) -> Timing {
    let mut t = Timing::default();
    for i in 0..=reps {
        match f(i) {
            Ok(a) => {
                t.series = a.series;
                if i > 0 {
                    t.times.push(a.took);
                }
            }
            Err(e) => {
                t.error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    t
}

/// What the checks after ingest found.
#[derive(Debug, Clone, Default)]
pub struct Verify {
    pub counted: f64,
    pub probes_checked: usize,
    pub points_checked: usize,
    pub exact_points: usize,
    /// Largest |got - sent| / |sent| over the probe points.
    pub max_rel_error: f64,
    pub missing_points: usize,
}

/// Counts the stored samples of the workload and compares the probe series
/// point by point (timestamps exactly, values by bits and by relative error).
pub fn verify(api: &Api, w: &Workload, probes: &[Probe]) -> anyhow::Result<Verify> {
    let end = w.end_ms();
    let window = format!("{}s", w.steps as i64 * w.interval_ms / 1000 + 300);
    // One query per metric name: `count_over_time` drops the name, so over
    // all names at once the results of different metrics would collide.
    let mut names: Vec<&str> = w.series.iter().map(|s| s.labels[0].1.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut counted = 0.0;
    for name in names {
        let q = format!("sum(count_over_time({name}[{window}]))");
        let a = api.instant(&q, end)?;
        counted += first_value(&a.data).with_context(|| format!("no value in answer of {q}"))?;
    }
    let mut v = Verify {
        counted,
        ..Verify::default()
    };
    for p in probes {
        let sel = selector(&w.series[p.series].labels);
        let a = api.instant(&format!("{sel}[{window}]"), end)?;
        let got: Vec<(i64, f64)> = a.data["result"][0]["values"]
            .as_array()
            .map(|vals| vals.iter().filter_map(point).collect())
            .unwrap_or_default();
        v.probes_checked += 1;
        v.missing_points += p.points.len().saturating_sub(got.len());
        for (sent, got) in p.points.iter().zip(&got) {
            v.points_checked += 1;
            if sent.0 == got.0 && sent.1.to_bits() == got.1.to_bits() {
                v.exact_points += 1;
            }
            let rel = if sent.1 == 0.0 {
                got.1.abs()
            } else {
                ((got.1 - sent.1) / sent.1).abs()
            };
            let rel = if sent.0 != got.0 { f64::INFINITY } else { rel };
            v.max_rel_error = v.max_rel_error.max(rel);
        }
    }
    Ok(v)
}

fn first_value(data: &Value) -> Option<f64> {
    let r = &data["result"];
    let pair = if data["resultType"] == "scalar" {
        r
    } else {
        &r[0]["value"]
    };
    pair[1].as_str()?.parse().ok()
}

fn point(p: &Value) -> Option<(i64, f64)> {
    let t = p[0].as_f64()?;
    let v: f64 = p[1].as_str()?.parse().ok()?;
    Some(((t * 1000.0).round() as i64, v))
}

/// `name{k="v",...}` for a label set whose first pair is `__name__`.
pub fn selector(labels: &[(String, String)]) -> String {
    let rest: Vec<String> = labels[1..]
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
        .collect();
    format!("{}{{{}}}", labels[0].1, rest.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let t: Vec<Duration> = [5, 1, 4, 2, 3]
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect();
        assert_eq!(percentile(&t, 0.5), Some(Duration::from_millis(3)));
        assert_eq!(percentile(&t, 0.9), Some(Duration::from_millis(5)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn selector_and_time_format() {
        let l = vec![
            ("__name__".to_string(), "up".to_string()),
            ("job".to_string(), "a\"b".to_string()),
        ];
        assert_eq!(selector(&l), r#"up{job="a\"b"}"#);
        assert_eq!(secs(1_700_000_000_123), "1700000000.123");
        assert_eq!(secs(-1), "-0.001");
    }

    #[test]
    fn values_are_read_from_vectors_and_scalars() {
        let v: Value = serde_json::json!({"resultType": "vector", "result": [{"metric": {}, "value": [1.5, "42"]}]});
        assert_eq!(first_value(&v), Some(42.0));
        let s: Value = serde_json::json!({"resultType": "scalar", "result": [1.5, "7"]});
        assert_eq!(first_value(&s), Some(7.0));
        assert_eq!(point(&serde_json::json!([1.25, "3.5"])), Some((1250, 3.5)));
    }
}
