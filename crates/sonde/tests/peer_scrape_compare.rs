//! Side by side with Prometheus 2.42: both scrape the same real
//! node_exporter, Pushgateway (with pushed groups, `honor_labels`) and
//! Prometheus' own `/metrics` from the same `prometheus.yml`, and the label
//! sets they store must be identical, series for series, as must the
//! metadata they keep per target.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::peers::{self, free_port, Peer};
use common::{get_json, Sonde};
use serde_json::Value;

const JOBS: [&str; 3] = ["node", "pushgateway", "prometheus"];

fn config(node: u16, push: u16, prom: u16) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n\
         scrape_configs:\n\
         \x20 - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{node}']}}]\n\
         \x20 - job_name: pushgateway\n    honor_labels: true\n    static_configs: [{{targets: ['127.0.0.1:{push}']}}]\n\
         \x20 - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{prom}']}}]\n"
    )
}

/// Pushes two groups to the Pushgateway, one with an instance in its key.
fn push_groups(push: &Peer) {
    let client = reqwest::blocking::Client::new();
    let batch = "# TYPE batch_last_success_seconds gauge\nbatch_last_success_seconds 1.7e9\n\
                 # TYPE batch_records_total counter\nbatch_records_total{stage=\"load\"} 42\n";
    for path in [
        "/metrics/job/nightly_batch",
        "/metrics/job/etl/instance/worker-1",
    ] {
        let r = client.post(push.url(path)).body(batch).send().unwrap();
        assert!(r.status().is_success(), "push to {path}: {}", r.status());
    }
}

/// Every series the server stored since `start`, as label-set strings.
fn stored_series(base: &str, start: f64) -> BTreeSet<String> {
    let url = format!("{base}/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D&start={start}");
    let body = get_json(&url);
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect()
}

/// Number of successful scrapes of `job` stored so far.
fn good_scrapes(base: &str, job: &str) -> f64 {
    let q = format!("sum_over_time(up{{job=\"{job}\"}}[10m])");
    let body = get_json(&format!("{base}/api/v1/query?query={}", urlencode(&q)));
    body["data"]["result"][0]["value"][1]
        .as_str()
        .map_or(0.0, |v| v.parse().unwrap())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn wait_for_scrapes(bases: &[&str], at_least: f64) {
    // Generous: on a loaded 2-core machine Prometheus took over a minute
    // to start and scrape; a passing run never waits this long.
    let deadline = Instant::now() + Duration::from_secs(180);
    for base in bases {
        for job in JOBS {
            while good_scrapes(base, job) < at_least {
                assert!(
                    Instant::now() < deadline,
                    "{base} did not scrape {job} {at_least} times"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn target_metadata(base: &str, job: &str) -> BTreeSet<String> {
    let url = format!("{base}/api/v1/targets/metadata?match_target=%7Bjob%3D%22{job}%22%7D");
    get_json(&url)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let keep: Value = serde_json::json!({
                "metric": m["metric"], "type": m["type"], "help": m["help"], "unit": m["unit"],
            });
            keep.to_string()
        })
        .collect()
}

#[test]
fn sonde_stores_the_same_series_as_prometheus() {
    let (Some(prometheus), Some(node_exporter), Some(pushgateway)) = (
        peers::find("prometheus"),
        peers::find("prometheus-node-exporter"),
        peers::find("prometheus-pushgateway"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (node_port, push_port, prom_port) = (free_port(), free_port(), free_port());
    let node = Peer::start(
        &node_exporter,
        "node_exporter",
        &[format!("--web.listen-address=127.0.0.1:{node_port}")],
        node_port,
        dir.path(),
        "/metrics",
    );
    let push = Peer::start(
        &pushgateway,
        "pushgateway",
        &[format!("--web.listen-address=127.0.0.1:{push_port}")],
        push_port,
        dir.path(),
        "/-/ready",
    );
    push_groups(&push);
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(&config_file, config(node_port, push_port, prom_port)).unwrap();
    let start = (chrono::Utc::now().timestamp() - 5) as f64;
    let prom = Peer::start(
        &prometheus,
        "prometheus",
        &[
            format!("--config.file={}", config_file.display()),
            format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom-data").display()
            ),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        prom_port,
        dir.path(),
        "/-/ready",
    );
    let sonde = Sonde::start(&[&format!("--config.file={}", config_file.display())]);
    let (p, s) = (prom.url(""), sonde.url(""));

    wait_for_scrapes(&[&p, &s], 3.0);
    // Our API calls add handler series to Prometheus' own /metrics: make
    // them once, then let both servers scrape the result a few more times.
    let _ = stored_series(&p, start);
    let _ = target_metadata(&p, "node");
    let before = good_scrapes(&p, "prometheus");
    wait_for_scrapes(&[&p, &s], before + 3.0);

    let want = stored_series(&p, start);
    let got = stored_series(&s, start);
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    println!(
        "peer scrape comparison: Prometheus stored {} series, Sonde {}, {} missing, {} extra",
        want.len(),
        got.len(),
        missing.len(),
        extra.len()
    );
    assert!(
        want.len() > 500,
        "too few series to compare: {}",
        want.len()
    );
    assert!(
        missing.is_empty() && extra.is_empty(),
        "label sets differ.\nmissing in Sonde: {missing:#?}\nextra in Sonde: {extra:#?}"
    );
    for job in JOBS {
        let (want, got) = (target_metadata(&p, job), target_metadata(&s, job));
        let differ: Vec<_> = want.symmetric_difference(&got).collect();
        println!(
            "peer metadata comparison, job {job}: {} entries, {} differ",
            want.len(),
            differ.len()
        );
        assert!(
            differ.is_empty(),
            "metadata of job {job} differs: {differ:#?}"
        );
    }
    drop(node);
}
