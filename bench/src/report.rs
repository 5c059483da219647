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

/// The issue-3 targets: one Sonde run against each peer. `lower_better`
/// ratios are met when <= target, the throughput one when >= target.
pub fn ratio_table(sonde: &ServerResult, results: &[ServerResult]) -> String {
    let find = |name: &str| results.iter().find(|r| r.name == name);
    let (prom, vm) = (find("prometheus"), find("victoria-metrics"));
    type Metric = fn(&ServerResult) -> f64;
    let rows: [(&str, Metric, Option<f64>, bool); 5] = [
        (
            "ingest samples/s",
            |r| r.ingest.samples_per_sec(),
            Some(1.5),
            false,
        ),
        (
            "CPU s per M samples",
            |r| r.ingest.cpu_per_million(),
            Some(0.6),
            true,
        ),
        ("peak RSS", |r| r.ingest.peak_rss as f64, Some(0.5), true),
        ("steady RSS", |r| r.ingest.steady_rss as f64, None, true),
        (
            "compacted bytes/sample",
            |r| r.disk.compacted as f64,
            Some(1.0),
            true,
        ),
    ];
    let mut s = String::new();
    s.push_str(
        "| metric | Sonde / Prometheus | Sonde / VictoriaMetrics | target (vs VM) | met |\n",
    );
    s.push_str("| --- | --- | --- | --- | --- |\n");
    for (name, f, target, lower) in rows {
        let ratio = |p: Option<&ServerResult>| p.map(|p| f(sonde) / f(p).max(1e-12));
        let rp = ratio(prom);
        let rv = ratio(vm);
        let (t, met) = match (target, rv) {
            (Some(t), Some(r)) => {
                let ok = if lower { r <= t } else { r >= t };
                (
                    format!("{} {t}x", if lower { "<=" } else { ">=" }),
                    if ok { "yes" } else { "no" },
                )
            }
            (Some(t), None) => (format!("{t}x"), "n/a"),
            _ => ("-".into(), "-"),
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {t} | {met} |",
            fmt_ratio(rp),
            fmt_ratio(rv)
        );
    }
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
