//! Markdown tables of a run: ingest per server, the targets as
//! ratios, and the query suite side by side.

use std::fmt::Write as _;
use std::time::Duration;

use crate::disk::DiskResult;
use crate::ingest::IngestResult;
use crate::query::{SuiteResult, Timing, Verify, SUITE};

/// Everything measured on one server.
#[derive(Debug, Clone, Default)]
pub struct ServerResult {
    pub name: String,
    pub ingest: IngestResult,
    pub verify: Verify,
    pub disk: DiskResult,
    pub restart: Duration,
    /// Server CPU seconds from spawn to ready at the restart.
    pub restart_cpu: f64,
    pub suite: Option<SuiteResult>,
}

const MIB: f64 = 1024.0 * 1024.0;

pub fn ingest_table(results: &[ServerResult], sent: u64) -> String {
    let mut s = String::new();
    s.push_str("| server | samples/s | CPU s / M samples | sender CPU s / M | peak RSS MiB | steady RSS MiB | data dir B/sample | compacted B/sample | restart to ready s (CPU s) | samples counted | probe points exact / checked (max rel. error) |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in results.iter().filter(|r| r.ingest.samples > 0) {
        let i = &r.ingest;
        let n = i.samples.max(1) as f64;
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} ({:.2}) | {}{} | {} / {} ({:.1e}) |",
            r.name,
            i.samples_per_sec(),
            i.cpu_per_million(),
            i.sender_cpu_per_million(),
            i.peak_rss as f64 / MIB,
            i.steady_rss as f64 / MIB,
            r.disk.data_dir as f64 / n,
            r.disk.compacted as f64 / n,
            r.restart.as_secs_f64(),
            r.restart_cpu,
            r.verify.counted,
            if r.verify.counted as u64 == sent { "" } else { " (MISMATCH)" },
            r.verify.exact_points,
            r.verify.points_checked,
            r.verify.max_rel_error,
        );
    }
    s
}

type Metric = fn(&ServerResult) -> f64;

/// One row of the issue-3 table: a figure, and its target as a ratio to
/// VictoriaMetrics' (met when at or under it if `lower_better`, at or
/// over it otherwise), if it has one.
struct Target {
    name: &'static str,
    metric: Metric,
    target: Option<f64>,
    lower_better: bool,
}

const TARGETS: [Target; 5] = [
    Target {
        name: "ingest samples/s",
        metric: |r| r.ingest.samples_per_sec(),
        target: Some(1.5),
        lower_better: false,
    },
    Target {
        name: "CPU s per M samples",
        metric: |r| r.ingest.cpu_per_million(),
        target: Some(0.6),
        lower_better: true,
    },
    Target {
        name: "peak RSS",
        metric: |r| r.ingest.peak_rss as f64,
        target: Some(0.5),
        lower_better: true,
    },
    Target {
        name: "steady RSS",
        metric: |r| r.ingest.steady_rss as f64,
        target: None,
        lower_better: true,
    },
    Target {
        name: "compacted bytes/sample",
        metric: |r| r.disk.compacted as f64,
        target: Some(1.0),
        lower_better: true,
    },
];

impl Target {
    fn ratio(&self, sonde: &ServerResult, peer: Option<&ServerResult>) -> Option<f64> {
        peer.map(|p| (self.metric)(sonde) / (self.metric)(p).max(1e-12))
    }

    /// Whether `ratio` (to VictoriaMetrics) meets the target; `None`
    /// without a target.
    fn met(&self, ratio: f64) -> Option<bool> {
        let t = self.target?;
        Some(if self.lower_better {
            ratio <= t
        } else {
            ratio >= t
        })
    }

    fn describe(&self) -> String {
        match self.target {
            Some(t) => format!("{} {t}x", if self.lower_better { "<=" } else { ">=" }),
            None => "-".into(),
        }
    }
}

fn find<'a>(results: &'a [ServerResult], name: &str) -> Option<&'a ServerResult> {
    results.iter().find(|r| r.name == name)
}

/// The issue-3 targets: one Sonde run against each peer.
pub fn ratio_table(sonde: &ServerResult, results: &[ServerResult]) -> String {
    let (prom, vm) = (
        find(results, "prometheus"),
        find(results, "victoria-metrics"),
    );
    let mut s = String::new();
    s.push_str(
        "| metric | Sonde / Prometheus | Sonde / VictoriaMetrics | target (vs VM) | met |\n",
    );
    s.push_str("| --- | --- | --- | --- | --- |\n");
    for t in &TARGETS {
        let rv = t.ratio(sonde, vm);
        let met = match (t.target, rv.and_then(|r| t.met(r))) {
            (None, _) => "-",
            (Some(_), None) => "n/a",
            (Some(_), Some(true)) => "yes",
            (Some(_), Some(false)) => "no",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {met} |",
            t.name,
            fmt_ratio(t.ratio(sonde, prom)),
            fmt_ratio(rv),
            t.describe()
        );
    }
    s
}

/// The targets over several runs, for the Sonde configuration `name`:
/// each run's ratio to VictoriaMetrics of the same run, and in how many
/// runs each target, and all of them together, were met.
pub fn runs_table(name: &str, runs: &[Vec<ServerResult>]) -> String {
    let pairs: Vec<(&ServerResult, Option<&ServerResult>)> = runs
        .iter()
        .filter_map(|rs| Some((find(rs, name)?, find(rs, "victoria-metrics"))))
        .collect();
    let mut s = String::new();
    s.push_str("| metric | Sonde / VictoriaMetrics, run by run | target | met in |\n");
    s.push_str("| --- | --- | --- | --- |\n");
    let mut all_met = vec![true; pairs.len()];
    for t in TARGETS.iter().filter(|t| t.target.is_some()) {
        let ratios: Vec<Option<f64>> = pairs.iter().map(|(r, vm)| t.ratio(r, *vm)).collect();
        let mut met = 0;
        for (i, r) in ratios.iter().enumerate() {
            let ok = r.and_then(|r| t.met(r)) == Some(true);
            met += usize::from(ok);
            all_met[i] &= ok;
        }
        let shown: Vec<String> = ratios.into_iter().map(fmt_ratio).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {met} of {} |",
            t.name,
            shown.join(" / "),
            t.describe(),
            pairs.len()
        );
    }
    let _ = writeln!(
        s,
        "| all four | | | {} of {} |",
        all_met.iter().filter(|m| **m).count(),
        pairs.len()
    );
    s
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}"))
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
}

/// Query suite: medians and p90 per server, ratios of Sonde's median to the
/// peers', and whether the series counts agree.
pub fn query_table(results: &[ServerResult], hours: f64) -> String {
    let with: Vec<&ServerResult> = results.iter().filter(|r| r.suite.is_some()).collect();
    let mut s = String::new();
    s.push_str("| query | type |");
    for r in &with {
        let _ = write!(s, " {} median / p90 ms |", r.name);
    }
    let sondes: Vec<&str> = with
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| n.starts_with("sonde"))
        .collect();
    for n in &sondes {
        let _ = write!(s, " {n} / Prometheus | {n} / VM |");
    }
    s.push_str(" series |\n|");
    s.push_str(&" --- |".repeat(with.len() + 3 + 2 * sondes.len()));
    s.push('\n');
    let timing = |r: &ServerResult, q: usize, range: bool| -> Timing {
        r.suite
            .as_ref()
            .and_then(|x| x.get(q))
            .map(|(i, g)| if range { g.clone() } else { i.clone() })
            .unwrap_or_default()
    };
    let ratio = |a: &Timing, b: Option<Timing>| -> String {
        match (a.median(), b.and_then(|b| b.median())) {
            (Some(a), Some(b)) => format!("{:.2}", a.as_secs_f64() / b.as_secs_f64().max(1e-9)),
            _ => "-".into(),
        }
    };
    for (q, (name, _)) in SUITE.iter().enumerate() {
        for range in [false, true] {
            let _ = write!(
                s,
                "| {name} | {} |",
                if range {
                    format!("range {hours}h")
                } else {
                    "instant".into()
                }
            );
            let mut counts = Vec::new();
            for r in &with {
                let t = timing(r, q, range);
                match &t.error {
                    Some(e) => {
                        let _ = write!(s, " error: {} |", e.chars().take(80).collect::<String>());
                    }
                    None => {
                        let _ = write!(s, " {} / {} |", ms(t.median()), ms(t.p90()));
                        counts.push(t.series);
                    }
                }
            }
            let find = |n: &str| {
                with.iter()
                    .find(|r| r.name == n)
                    .map(|r| timing(r, q, range))
            };
            for n in &sondes {
                let sonde = find(n).unwrap_or_default();
                let _ = write!(
                    s,
                    " {} | {} |",
                    ratio(&sonde, find("prometheus")),
                    ratio(&sonde, find("victoria-metrics"))
                );
            }
            let agree = counts.windows(2).all(|w| w[0] == w[1]);
            let counts: Vec<String> = counts.iter().map(usize::to_string).collect();
            let _ = writeln!(
                s,
                " {}{} |",
                counts.join("/"),
                if agree { "" } else { " DIFFER" }
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that ingested 1 M samples in `secs` with `cpu` CPU
    /// seconds, peaking at `rss` bytes and compacting to `bytes`.
    fn server(name: &str, secs: f64, cpu: f64, rss: u64, bytes: u64) -> ServerResult {
        ServerResult {
            name: name.into(),
            ingest: IngestResult {
                samples: 1_000_000,
                wall: Duration::from_secs_f64(secs),
                cpu_secs: cpu,
                peak_rss: rss,
                steady_rss: rss,
                ..IngestResult::default()
            },
            disk: DiskResult {
                data_dir: bytes,
                compacted: bytes,
            },
            ..ServerResult::default()
        }
    }

    #[test]
    fn runs_table_counts_each_target_and_all_four() {
        let vm = || server("victoria-metrics", 1.0, 1.0, 100, 100);
        let runs = vec![
            // Every target met, two of them exactly at the limit.
            vec![server("sonde", 0.5, 0.6, 50, 100), vm()],
            // Throughput 1.25x: only that one missed.
            vec![server("sonde", 0.8, 0.5, 40, 90), vm()],
            // No VictoriaMetrics in this run: nothing can be met.
            vec![server("sonde", 0.5, 0.5, 40, 90)],
        ];
        let t = runs_table("sonde", &runs);
        assert!(
            t.contains("| ingest samples/s | 2.00 / 1.25 / - | >= 1.5x | 1 of 3 |"),
            "{t}"
        );
        assert!(
            t.contains("| CPU s per M samples | 0.60 / 0.50 / - | <= 0.6x | 2 of 3 |"),
            "{t}"
        );
        assert!(
            t.contains("| compacted bytes/sample | 1.00 / 0.90 / - | <= 1x | 2 of 3 |"),
            "{t}"
        );
        assert!(t.contains("| all four | | | 1 of 3 |"), "{t}");
        assert!(!t.contains("steady RSS"), "a figure without a target: {t}");
    }

    #[test]
    fn ratio_table_marks_what_it_cannot_judge() {
        let results = vec![server("sonde", 0.5, 0.7, 50, 100)];
        let t = ratio_table(&results[0], &results);
        assert!(
            t.contains("| CPU s per M samples | - | - | <= 0.6x | n/a |"),
            "{t}"
        );
        let results = vec![
            server("sonde", 0.5, 0.7, 50, 100),
            server("victoria-metrics", 1.0, 1.0, 100, 100),
        ];
        let t = ratio_table(&results[0], &results);
        assert!(
            t.contains("| CPU s per M samples | - | 0.70 | <= 0.6x | no |"),
            "{t}"
        );
        assert!(
            t.contains("| ingest samples/s | - | 2.00 | >= 1.5x | yes |"),
            "{t}"
        );
    }
}
