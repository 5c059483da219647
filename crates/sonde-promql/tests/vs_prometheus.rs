//! Side-by-side with the real Prometheus 2.42: the same data is imported
//! into Prometheus (`promtool tsdb create-blocks-from openmetrics`) and into
//! the engine's in-memory storage, and a list of queries covering every
//! function, aggregation and operator is run against both, as instant
//! queries at several times and as range queries; results must agree
//! (labels exactly, values within a relative 1e-6).
//!
//! Skips with a printed reason when `prometheus`/`promtool` are not
//! installed, unless `SONDE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sonde_model::Labels;
use sonde_promql::testing::script::almost_equal;
use sonde_promql::testing::MemStorage;
use sonde_promql::{Engine, EngineOptions};

/// 2023-11-14T22:13:20Z: a real date, so calendar functions say something.
const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 15_000;
const SAMPLES: i64 = 240; // one hour

/// A small deterministic generator (LCG), so both sides get the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

type Dataset = Vec<(Labels, Vec<(i64, f64)>)>;

fn dataset() -> Dataset {
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

/// Random expressions over the dataset, nested a few levels deep, from a
/// fixed seed: they reach combinations no hand-written list does.
/// `SONDE_VS_RANDOM=<count>[,<seed>]` runs more of them (default 400, seed 7).
fn random_queries(n: usize) -> Vec<String> {
    let (n, seed) = match std::env::var("SONDE_VS_RANDOM") {
        Ok(v) => {
            let mut it = v.split(',').map(|x| x.trim().parse::<u64>().unwrap_or(0));
            (
                it.next().unwrap_or(n as u64) as usize,
                it.next().unwrap_or(7),
            )
        }
        Err(_) => (n, 7),
    };
    let mut rng = Rng(seed);
    (0..n).map(|_| gen_vector(&mut rng, 3)).collect()
}

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[(rng.next() * items.len() as f64) as usize % items.len()]
}

fn gen_selector(rng: &mut Rng) -> String {
    let sel = pick(
        rng,
        &[
            "node_temp",
            "http_requests_total",
            "odd",
            "node_temp{zone=\"a\"}",
            "http_requests_total{code=\"500\"}",
            "req_duration_seconds_bucket",
        ],
    );
    let modifier = pick(
        rng,
        &[
            "",
            "",
            "",
            " offset 1m",
            " offset 7m",
            " @ start()",
            " @ end()",
        ],
    );
    format!("{sel}{modifier}")
}

fn gen_scalar(rng: &mut Rng, depth: u32) -> String {
    match (rng.next() * 4.0) as u32 {
        0 if depth > 0 => format!("scalar({})", gen_vector(rng, depth - 1)),
        1 => "time()".to_string(),
        _ => pick(rng, &["0", "1", "2", "0.5", "-1", "10", "NaN", "Inf"]).to_string(),
    }
}

fn gen_vector(rng: &mut Rng, depth: u32) -> String {
    if depth == 0 {
        return gen_selector(rng);
    }
    let d = depth - 1;
    let labels = ["job", "instance", "zone", "code", "le", "series"];
    match (rng.next() * 16.0) as u32 {
        0 => {
            let f = pick(
                rng,
                &[
                    "rate",
                    "irate",
                    "increase",
                    "delta",
                    "idelta",
                    "deriv",
                    "changes",
                    "resets",
                    "avg_over_time",
                    "min_over_time",
                    "max_over_time",
                    "sum_over_time",
                    "count_over_time",
                    "stddev_over_time",
                    "last_over_time",
                    "present_over_time",
                ],
            );
            let range = pick(rng, &["1m", "5m", "13m"]);
            format!("{f}({}[{range}])", gen_selector(rng))
        }
        1 => {
            let f = pick(
                rng,
                &["max_over_time", "avg_over_time", "rate", "count_over_time"],
            );
            let range = pick(rng, &["5m:1m", "10m:", "3m:30s"]);
            format!("{f}(({})[{range}])", gen_vector(rng, d))
        }
        2 => {
            let op = pick(
                rng,
                &["sum", "avg", "min", "max", "count", "group", "stddev"],
            );
            let by = pick(rng, &labels);
            let how = pick(rng, &["by", "without"]);
            format!("{op} {how} ({by}) ({})", gen_vector(rng, d))
        }
        // Not topk/bottomk: with ties, Prometheus' choice depends on Go map
        // order in range evaluation, so it is not reproducible.
        3 => format!("quantile(0.3, {})", gen_vector(rng, d)),
        4 => {
            let op = pick(
                rng,
                &[
                    "+", "-", "*", "/", "%", "^", ">", "<", "==", "!=", ">= bool", "atan2",
                ],
            );
            let s = gen_scalar(rng, d);
            if rng.next() < 0.5 {
                format!("({}) {op} {s}", gen_vector(rng, d))
            } else {
                format!("{s} {op} ({})", gen_vector(rng, d))
            }
        }
        5 => {
            let op = pick(rng, &["+", "/", ">", "and", "or", "unless", "== bool"]);
            let l = pick(rng, &labels);
            let matching = pick(
                rng,
                &["", "", " on (instance)", " ignoring (code)", " on ()"],
            );
            let _ = l;
            format!(
                "({}) {op}{matching} ({})",
                gen_vector(rng, d),
                gen_vector(rng, d)
            )
        }
        6 => {
            // Not sort or round: with ties or .5 values their result
            // depends on Go map order inside Prometheus' range evaluation.
            let f = pick(
                rng,
                &[
                    "abs",
                    "ceil",
                    "floor",
                    "sqrt",
                    "exp",
                    "ln",
                    "sgn",
                    "timestamp",
                    "absent",
                    "-",
                ],
            );
            format!("{f}({})", gen_vector(rng, d))
        }
        7 => format!(
            "label_replace({}, \"x\", \"$1\", \"{}\", \"(.)(.*)\")",
            gen_vector(rng, d),
            pick(rng, &labels)
        ),
        8 => format!("clamp({}, -1, {})", gen_vector(rng, d), gen_scalar(rng, 0)),
        9 => format!(
            "histogram_quantile({}, rate(req_duration_seconds_bucket[{}]))",
            pick(rng, &["0", "0.5", "0.99", "1", "2"]),
            pick(rng, &["1m", "5m"])
        ),
        10 => {
            let f = pick(
                rng,
                &["holt_winters", "predict_linear", "quantile_over_time"],
            );
            let sel = gen_selector(rng);
            match f {
                "holt_winters" => format!("holt_winters({sel}[10m], 0.3, 0.7)"),
                "predict_linear" => format!("predict_linear({sel}[10m], 120)"),
                _ => format!("quantile_over_time(0.7, {sel}[10m])"),
            }
        }
        11 => {
            let how = pick(rng, &["group_left", "group_right"]);
            let (many, one) = if how == "group_left" {
                (
                    gen_vector(rng, d),
                    "max by (instance) (build_info)".to_string(),
                )
            } else {
                (
                    "max by (instance) (build_info)".to_string(),
                    gen_vector(rng, d),
                )
            };
            format!("({many}) * on (instance) {how} ({one})")
        }
        12 => {
            let f = pick(
                rng,
                &[
                    "hour",
                    "minute",
                    "month",
                    "day_of_week",
                    "days_in_month",
                    "year",
                ],
            );
            format!("{f}(timestamp({}))", gen_vector(rng, d))
        }
        13 => {
            let sub = pick(
                rng,
                &[
                    "[10m:1m] offset 3m",
                    "[10m:2m] @ end()",
                    "[7m:30s] @ 1700001234.5",
                ],
            );
            let f = pick(
                rng,
                &[
                    "min_over_time",
                    "changes",
                    "absent_over_time",
                    "last_over_time",
                ],
            );
            // Only a selector inside: 2.42 mis-evaluates `@` selectors in
            // `@` subqueries nested in `@` subqueries that start at the
            // same step (it skips re-deriving their offsets), which Sonde
            // does not reproduce.
            format!("{f}(({}){sub})", gen_selector(rng))
        }
        14 => format!("count_values(\"v\", round({}))", gen_vector(rng, d)),
        _ => format!(
            "label_join({}, \"j\", \"-\", \"instance\", \"zone\")",
            gen_vector(rng, d)
        ),
    }
}

/// Queries run instant (at several times) and as range queries.
const QUERIES: &[&str] = &[
    "http_requests_total",
    "http_requests_total offset 10m",
    "http_requests_total offset -5m",
    "http_requests_total @ end()",
    "node_temp @ start()",
    "rate(http_requests_total[5m])",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "resets(http_requests_total[30m])",
    "changes(node_temp[10m])",
    "delta(node_temp[10m])",
    "idelta(node_temp[5m])",
    "deriv(node_temp[10m])",
    "predict_linear(node_temp[10m], 600)",
    "holt_winters(node_temp[10m], 0.3, 0.6)",
    "avg_over_time(node_temp[7m])",
    "min_over_time(node_temp[7m])",
    "max_over_time(node_temp[7m])",
    "sum_over_time(node_temp[7m])",
    "count_over_time(node_temp[7m])",
    "stddev_over_time(node_temp[7m])",
    "stdvar_over_time(node_temp[7m])",
    "last_over_time(node_temp[7m])",
    "present_over_time(node_temp[7m])",
    "quantile_over_time(0.9, node_temp[7m])",
    "absent_over_time(node_temp{zone=\"c\",instance=\"1\"}[1m])",
    "absent(nonexistent{job=\"x\"})",
    "absent(node_temp)",
    "histogram_quantile(0.9, rate(req_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(req_duration_seconds_bucket[5m])))",
    "label_replace(node_temp, \"z\", \"zone-$1\", \"zone\", \"(.*)\")",
    "label_join(node_temp, \"id\", \"/\", \"zone\", \"instance\")",
    "sum(rate(http_requests_total[5m]))",
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum without (instance) (rate(http_requests_total[5m]))",
    "avg by (zone) (node_temp)",
    "min by (job) (http_requests_total)",
    "max without (code) (http_requests_total)",
    "count by (zone) (node_temp > 0)",
    "group by (job) (http_requests_total)",
    "stddev by (job) (rate(http_requests_total[5m]))",
    "stdvar(node_temp)",
    "topk(3, rate(http_requests_total[5m]))",
    "bottomk(2, node_temp)",
    "topk by (job) (1, http_requests_total)",
    "quantile(0.75, node_temp)",
    "quantile by (job) (0.1, rate(http_requests_total[5m]))",
    "count_values(\"value\", build_info)",
    "count_values without (instance) (\"v\", round(node_temp))",
    "rate(http_requests_total{code=\"500\"}[5m]) / ignoring(code) rate(http_requests_total{code=\"200\"}[5m])",
    "sum by (job, instance) (rate(http_requests_total[5m])) * on (instance) group_left (version) build_info",
    "build_info * on (instance) group_right (version) sum by (instance, job) (http_requests_total)",
    "http_requests_total and on (instance) node_temp",
    "http_requests_total{code=\"500\"} or http_requests_total{job=\"api\"}",
    "node_temp unless node_temp{zone=\"b\"}",
    "node_temp > 20",
    "20 < node_temp",
    "node_temp >= bool 0",
    "node_temp == bool node_temp",
    "node_temp != 0",
    "-node_temp",
    "node_temp % 3",
    "node_temp ^ 2",
    "2 ^ -node_temp",
    "atan2(node_temp, 10)",
    "node_temp atan2 node_temp",
    "1 + 2 * 3 - 4 / 5",
    "scalar(sum(node_temp)) * 2",
    "vector(time())",
    "time() - timestamp(node_temp)",
    "timestamp(rate(http_requests_total[5m]))",
    "hour()",
    "minute(timestamp(node_temp))",
    "day_of_week()",
    "day_of_month(vector(time()))",
    "day_of_year()",
    "days_in_month()",
    "month()",
    "year(vector(1e9))",
    "clamp(node_temp, 0, 20)",
    "clamp_min(node_temp, 1)",
    "clamp_max(node_temp, 1)",
    "round(node_temp, 0.5)",
    "round(node_temp)",
    "abs(node_temp)",
    "sgn(node_temp)",
    "ceil(node_temp)",
    "floor(node_temp)",
    "exp(node_temp / 10)",
    "ln(abs(node_temp))",
    "log2(abs(node_temp))",
    "log10(abs(node_temp))",
    "sqrt(abs(node_temp))",
    "sin(node_temp) + cos(node_temp) + tan(node_temp)",
    "asin(clamp(node_temp / 30, -1, 1))",
    "acos(clamp(node_temp / 30, -1, 1))",
    "atan(node_temp)",
    "sinh(node_temp / 10) + cosh(node_temp / 10) + tanh(node_temp)",
    "asinh(node_temp) + acosh(abs(node_temp) + 1)",
    "atanh(clamp(node_temp / 30, -0.9, 0.9))",
    "deg(node_temp) + rad(node_temp)",
    "pi() * 2",
    "max_over_time(rate(http_requests_total[5m])[30m:1m])",
    "avg_over_time(node_temp[10m:])",
    "rate(http_requests_total[10m:30s] offset 5m)",
    "sum_over_time(node_temp[30m:7m] @ end())",
    "min_over_time((node_temp > 0)[20m:2m])",
    "sort(node_temp)",
    "sort_desc(rate(http_requests_total[5m]))",
    "timestamp(node_temp offset 5m)",
    "timestamp(node_temp @ start())",
    "max_over_time(node_temp[10m:1m] offset 5m @ end())",
    "label_replace(node_temp, \"z\", \"$2\", \"zone\", \"(x)(.*)\")",
    "label_replace(node_temp, \"zone\", \"\", \"zone\", \"a\")",
    "sum without () (node_temp)",
    "count by (zone) (node_temp) > bool 1",
    "node_temp and on () vector(1)",
    "scalar(node_temp)",
    "vector(scalar(sum(odd)))",
    "-odd",
    "predict_linear(node_temp[10m:1m], 3600)",
    "holt_winters(odd[20m], 0.5, 0.5)",
    "idelta(odd[20m])",
    "irate(odd[20m])",
    "increase(node_temp[5m] offset 10m)",
    "rate(http_requests_total[5m] @ start())",
    "sum by (job) (http_requests_total) / ignoring (job) group_left sum(http_requests_total)",
    "last_over_time(node_temp[1m]) unless on (zone) node_temp{instance=\"0\"} > 20",
    "absent_over_time(nonexistent[5m])",
    "group without (instance) (node_temp)",
    "odd",
    "rate(node_temp[300])",
    "node_temp offset 60",
    "{\"node_temp\"}",
    "node_temp{zone=\"a\", \"instance\"=\"0\"}",
    "quantile_over_time(scalar(count(node_temp)) / 10, node_temp[10m] @ end())",
    "quantile_over_time(0.5, node_temp[10m] @ 1700001000)",
    "holt_winters(node_temp[10m] @ start(), 0.5, scalar(vector(0.5)))",
    "holt_winters(node_temp[10m] @ 1700001000, 0.5, clamp_max(scalar(count(node_temp)) / 100, 0.9))",
    "holt_winters(node_temp[10m:1m] @ 1700001000, 0.5, clamp_max(scalar(count(node_temp)) / 100, 0.9))",
    "quantile_over_time(time() / 1e10, node_temp[10m] @ 1700001000)",
    "predict_linear(node_temp[10m] @ end(), 600)",
    "predict_linear(node_temp[10m] @ 1700001000 offset 2m, 600)",
    "predict_linear(node_temp[15m:1m] @ start(), 60)",
    "predict_linear((rate(http_requests_total[5m] offset 1m))[15m:1m] @ 1700002000, 60)",
    "timestamp(node_temp @ end() offset 5m)",
    "timestamp(node_temp offset 5m @ 1700001000)",
    "predict_linear(node_temp[10m] @ start(), 600) + predict_linear(node_temp[5m], 60)",
    "sum(predict_linear(node_temp[10m:1m] @ end(), 600))",
    "node_temp offset 5m @ end()",
    "node_temp @ end() offset 5m",
    "node_temp offset 1h30m",
    "rate(http_requests_total[5m1s])",
    "0x1F + .5 + 5. + 1e3 + 1E-2",
    "Inf - inf",
    "-1 ^ 2",
    "1 + -2",
    "- - 1",
    "-node_temp ^ 2",
    "2 * 3 % 4 ^ 2 ^ 0.5",
    "1 > bool 2 == bool 0",
    "node_temp{zone=\"\\u0061\"}",
    "node_temp{zone=`a`}",
    "node_temp{zone='a'}",
    "{__name__=\"node_temp\", zone=\"a\"}[5m] offset 1m",
    "node_temp # a comment",
    "sum(node_temp) by (zone)",
    "count_values without (instance) (\"v\", node_temp > 20)",
    "sum by (on, by, group_left) (node_temp)",
    "node_temp * on (zone) group_left () max by (zone) (node_temp)",
    "node_temp / ignoring (__name__) node_temp",
    "topk(scalar(count(build_info)), node_temp)",
    "label_replace(node_temp, \"foo\", \"$1$2\", \"zone\", \"(a)?(.*)\")",
    "label_replace(node_temp, \"foo\", \"${1}x$1x\", \"zone\", \"(.*)\")",
    "node_temp{zone=~\"A\"}",
    "node_temp{zone=~\"(?i)A\"}",
    "node_temp{zone=~\"a|\"}",
    "node_temp{zone!~\".+\"}",
    "node_temp{zone=~\"\\w\"}",
    "http_requests_total{job=~\"a.*|w.*\", code!=\"500\"}",
    "sum(x",
    "node_temp[5m] offset 1m[5m]",
    "node_temp offset 5m[5m]",
    "foo{a=~\"(\"}",
    "rate(node_temp[5m])[10m]",
    "node_temp and 1",
    "sum without(zone) (node_temp) by (zone)",
    "http_requests_total + on (job) http_requests_total",
    "http_requests_total * on (job, instance) group_left http_requests_total",
    "sum by (job, code) (http_requests_total) + on (job) sum by (job) (http_requests_total)",
    "label_join(node_temp, \"1x\", \",\", \"zone\")",
    "label_replace(node_temp, \"x\", \"\", \"zone\", \"(\")",
    "holt_winters(node_temp[5m], 2, 0.5)",
    "ceil({__name__=~\"node_temp|http_requests_total\", instance=\"0\", zone=\"\"})",
    "sum(",
    "rate(node_temp)",
    "count_values(\"1x\", node_temp)",
    "sort(odd)",
    "sort_desc(odd)",
    "topk(2, odd)",
    "bottomk(2, odd)",
    "sum(odd)",
    "avg(odd)",
    "min(odd)",
    "max(odd)",
    "stddev(odd)",
    "quantile(0.5, odd)",
    "count_values(\"v\", odd)",
    "avg_over_time(odd[20m])",
    "sum_over_time(odd[20m])",
    "max_over_time(odd[20m])",
    "min_over_time(odd[20m])",
    "stddev_over_time(odd[20m])",
    "quantile_over_time(0.3, odd[20m])",
    "changes(odd[20m])",
    "resets(odd[20m])",
    "rate(odd[20m])",
    "deriv(odd[20m])",
    "odd > 1",
    "odd == bool 2",
    "odd != odd",
    "odd / 0",
    "0 / odd",
    "odd % 0",
    "odd ^ 0",
    "clamp(odd, 0, 2)",
    "histogram_quantile(0.5, label_replace(odd, \"le\", \"$1\", \"series\", \"(.*)\"))",
    "{__name__=~\"node_.*\", zone!=\"a\"}",
    "node_temp{zone=~\"a|b\", instance!~\"1\"}",
    "http_requests_total{job=~\"ap.\"}",
];

fn openmetrics(data: &Dataset) -> String {
    let mut s = String::new();
    for (labels, samples) in data {
        let name = labels.metric_name();
        let rest: Vec<String> = labels
            .iter()
            .filter(|(n, _)| *n != "__name__")
            .map(|(n, v)| format!("{n}=\"{v}\""))
            .collect();
        for (t, v) in samples {
            s.push_str(&format!(
                "{name}{{{}}} {v} {}.{:03}\n",
                rest.join(","),
                t / 1000,
                t % 1000
            ));
        }
    }
    s.push_str("# EOF\n");
    s
}

struct Peer {
    child: Child,
    port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn start_prometheus(dir: &Path, data: &Dataset) -> Peer {
    let om = dir.join("data.om");
    std::fs::write(&om, openmetrics(data)).unwrap();
    let tsdb = dir.join("tsdb");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&om)
        .arg(&tsdb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1m\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let peer = Peer { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(body) = http_get(port, "/-/ready") {
            if body.contains("Ready") {
                return peer;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("prometheus did not become ready on 127.0.0.1:{port}");
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    Ok(buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default())
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn secs(t: i64) -> String {
    format!("{}.{:03}", t / 1000, t % 1000)
}

/// Equal within a relative 1e-6, or within 1e-12 absolutely: sums whose
/// true value is about zero come out as ±1e-17 depending on input order,
/// which Prometheus itself does not fix (Go map order).
fn close(a: f64, b: f64) -> bool {
    almost_equal(a, b) || (a - b).abs() < 1e-12
}

/// Compares two `data` objects; `ordered` for sort/topk-style results.
fn same(a: &Json, b: &Json, ordered: bool) -> Result<(), String> {
    let ta = &a["resultType"];
    if ta != &b["resultType"] {
        return Err(format!("result types differ: {ta} vs {}", b["resultType"]));
    }
    let value = |v: &Json| -> f64 {
        match v.as_str().unwrap_or("") {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            s => s.parse().unwrap_or(f64::NAN),
        }
    };
    let points = |p: &Json| -> (f64, f64) { (p[0].as_f64().unwrap_or(f64::NAN), value(&p[1])) };
    match ta.as_str() {
        Some("scalar") => {
            let (pa, pb) = (points(&a["result"]), points(&b["result"]));
            if pa.0 != pb.0 || !close(pa.1, pb.1) {
                return Err(format!("{pa:?} vs {pb:?}"));
            }
            Ok(())
        }
        Some("vector") | Some("matrix") => {
            let ra = a["result"].as_array().cloned().unwrap_or_default();
            let rb = b["result"].as_array().cloned().unwrap_or_default();
            if ra.len() != rb.len() {
                return Err(format!(
                    "{} series vs {}:\n  ours {}\n  prom {}",
                    ra.len(),
                    rb.len(),
                    a,
                    b
                ));
            }
            for (i, sa) in ra.iter().enumerate() {
                let sb = if ordered {
                    &rb[i]
                } else {
                    rb.iter()
                        .find(|s| s["metric"] == sa["metric"])
                        .ok_or_else(|| {
                            format!(
                                "series {} missing from Prometheus' result {b}",
                                sa["metric"]
                            )
                        })?
                };
                if sa["metric"] != sb["metric"] {
                    return Err(format!(
                        "position {i}: {} vs {}",
                        sa["metric"], sb["metric"]
                    ));
                }
                let (va, vb) = if ta == "vector" {
                    (vec![sa["value"].clone()], vec![sb["value"].clone()])
                } else {
                    (
                        sa["values"].as_array().cloned().unwrap_or_default(),
                        sb["values"].as_array().cloned().unwrap_or_default(),
                    )
                };
                if va.len() != vb.len() {
                    return Err(format!(
                        "{}: {} points vs {}",
                        sa["metric"],
                        va.len(),
                        vb.len()
                    ));
                }
                for (pa, pb) in va.iter().zip(&vb) {
                    let (pa, pb) = (points(pa), points(pb));
                    if pa.0 != pb.0 || !close(pa.1, pb.1) {
                        return Err(format!("{}: {pa:?} vs {pb:?}", sa["metric"]));
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[test]
fn same_results_as_prometheus() {
    let required = std::env::var("SONDE_REQUIRE_PEERS").is_ok_and(|v| v == "1");
    if !have("prometheus") || !have("promtool") {
        assert!(
            !required,
            "SONDE_REQUIRE_PEERS=1 but prometheus/promtool are not installed"
        );
        println!("skipped: prometheus and promtool (2.42) are not installed");
        return;
    }
    let data = dataset();
    let dir = tempfile::tempdir().unwrap();
    let peer = start_prometheus(dir.path(), &data);

    let mut storage = MemStorage::new();
    for (labels, samples) in &data {
        for (t, v) in samples {
            storage.add(labels.clone(), *t, *v);
        }
    }
    let engine = Engine::new(EngineOptions::default());
    let times = [T0, T0 + 1_800_000 + 7_000, T0 + 3_590_000, T0 + 3_900_000];
    let ranges = [
        (T0, T0 + 4_200_000, 60_000),
        (T0 + 123_000, T0 + 3_000_000, 37_000),
    ];
    let (mut passed, mut failed, mut non_empty, mut errors) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let generated = random_queries(400);
    // `SONDE_VS_QUERIES="q1;q2"` runs only those (for investigating).
    let only: Option<Vec<String>> = std::env::var("SONDE_VS_QUERIES")
        .ok()
        .map(|v| v.split(';').map(str::to_string).collect());
    let all: Vec<&str> = match &only {
        Some(qs) => qs.iter().map(String::as_str).collect(),
        None => QUERIES
            .iter()
            .copied()
            .chain(generated.iter().map(String::as_str))
            .collect(),
    };
    for q in all {
        let ordered = q.starts_with("sort") || q.starts_with("topk") || q.starts_with("bottomk");
        let mut check = |what: String,
                         ours: Result<sonde_promql::Value, sonde_promql::QueryError>,
                         path: String| {
            let body = http_get(peer.port, &path).unwrap();
            let theirs: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
            let outcome = match (ours, theirs["status"].as_str()) {
                (Ok(v), Some("success")) => {
                    let ours: Json = serde_json::from_str(&v.to_json()).unwrap();
                    if ours["result"].as_array().is_none_or(|r| !r.is_empty()) {
                        non_empty += 1;
                    }
                    same(&ours, &theirs["data"], ordered)
                }
                (Err(e), Some("error")) => {
                    errors += 1;
                    if e.error_type() == theirs["errorType"].as_str().unwrap_or("") {
                        Ok(())
                    } else {
                        Err(format!(
                            "error types differ: {} ({e}) vs {}",
                            e.error_type(),
                            theirs
                        ))
                    }
                }
                (Ok(v), _) => Err(format!(
                    "we answered {} but Prometheus said {body}",
                    v.to_json()
                )),
                (Err(e), _) => Err(format!("we failed with {e} but Prometheus said {body}")),
            };
            match outcome {
                Ok(()) => passed += 1,
                Err(e) => {
                    failed += 1;
                    failures.push(format!("{what}: {e}"));
                }
            }
        };
        for t in times {
            check(
                format!("{q} at {}", secs(t)),
                engine.instant_query(&storage, q, t),
                format!("/api/v1/query?query={}&time={}", encode(q), secs(t)),
            );
        }
        for (start, end, step) in ranges {
            check(
                format!(
                    "{q} over {}..{} step {}",
                    secs(start),
                    secs(end),
                    secs(step)
                ),
                engine.range_query(&storage, q, start, end, step),
                format!(
                    "/api/v1/query_range?query={}&start={}&end={}&step={}",
                    encode(q),
                    secs(start),
                    secs(end),
                    secs(step)
                ),
            );
        }
    }
    for f in &failures {
        println!("MISMATCH {f}");
    }
    println!(
        "vs prometheus: {passed} passed, {failed} failed ({non_empty} with data, {errors} errors on both sides)"
    );
    // Guard against vacuous agreement: most answers must carry data (the
    // random queries filter a lot away, so two thirds).
    let answers = passed - errors;
    assert!(
        non_empty * 3 >= answers * 2,
        "only {non_empty} of {answers} results had data"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches with Prometheus 2.42, first: {}",
        failures.len(),
        failures[0]
    );
}
