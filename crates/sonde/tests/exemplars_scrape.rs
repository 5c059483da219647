//! End to end, the binary: Sonde and a real Prometheus 2.42 (with
//! `--enable-feature=exemplar-storage`) scrape the same OpenMetrics target,
//! served here, whose samples carry exemplars; `/api/v1/query_exemplars`
//! answers the same JSON on both. Then Sonde restarts and still has them
//! (WAL replay), and a configuration reload resizes the exemplar store.
//!
//! Skips with a printed reason when `prometheus` is absent, unless
//! `SONDE_REQUIRE_PEERS=1`, in which case it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::peers::{find, free_port, Peer};
use common::{get, post, Sonde};
use serde_json::Value as Json;

/// Exemplars with their own timestamps (the same on both servers) and one
/// without (each server gives it the time of its own first scrape).
/// (Shared with the sonde-web exemplar tests.)
const BODY: &str = include_str!("../../sonde-web/tests/testdata/exemplars.om");

/// Serves [`BODY`] as OpenMetrics to every request, on a loopback port,
/// for the life of the test process.
fn start_target() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            // The request head ends with an empty line.
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                BODY.len()
            );
        }
    });
    port
}

fn config(target: u16, max_exemplars: u32) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\n\
         storage:\n  exemplars:\n    max_exemplars: {max_exemplars}\n\
         scrape_configs:\n  - job_name: om\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
    )
}

fn exemplars(base: &str, query: &str) -> Json {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/query_exemplars"))
        .query(&[("query", query)])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "{base}");
    resp.json().unwrap()
}

fn count(j: &Json) -> usize {
    j["data"].as_array().map_or(0, |a| {
        a.iter()
            .map(|s| s["exemplars"].as_array().map_or(0, Vec::len))
            .sum()
    })
}

/// Time (seconds) of the newest `up{job="om"}` sample, or 0.
fn last_scrape(base: &str) -> f64 {
    let j: Json = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", r#"timestamp(up{job="om"})"#)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    j["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    // Generous: on a loaded 2-core machine Prometheus took over a minute
    // to start and scrape; a passing run never waits this long.
    let deadline = Instant::now() + Duration::from_secs(180);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The value of an own metric without labels, from `/metrics`.
fn own_metric(sonde: &Sonde, name: &str) -> f64 {
    let (status, text) = get(&sonde.url("/metrics"));
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
        .parse()
        .unwrap()
}

#[test]
fn scraped_exemplars_equal_prometheus_and_survive_a_restart() {
    let Some(prometheus) = find("prometheus") else {
        return;
    };
    let target = start_target();
    let dir = tempfile::tempdir().unwrap();
    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(&prom_config, config(target, 100_000)).unwrap();
    let prom = Peer::start(
        &prometheus,
        "prometheus",
        &[
            "--enable-feature=exemplar-storage".to_string(),
            format!("--config.file={}", prom_config.display()),
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
    let sonde_dir = tempfile::tempdir().unwrap();
    let sonde_config = sonde_dir.path().join("sonde.yml");
    std::fs::write(&sonde_config, config(target, 100_000)).unwrap();
    let config_arg = format!("--config.file={}", sonde_config.display());
    let args = [config_arg.as_str(), "--web.enable-lifecycle"];
    let sonde = Sonde::start_in(sonde_dir, &args);
    let prom_url = prom.url("");
    let sonde_url = sonde.url("");

    let all = r#"{job="om"}"#;
    wait_for("4 exemplars in Prometheus", || {
        count(&exemplars(&prom_url, all)) == 4
    });
    wait_for("4 exemplars in Sonde", || {
        count(&exemplars(&sonde_url, all)) == 4
    });
    // The exemplars that carry their own timestamps: identical answers.
    let timed = r#"req_total{path="/a"} or lat_bucket"#;
    let want = exemplars(&prom_url, timed);
    assert_eq!(count(&want), 3, "{want}");
    assert_eq!(
        exemplars(&sonde_url, timed),
        want,
        "Sonde (left), Prometheus (right)"
    );
    // The one without: same labels and value, its own scrape time.
    let untimed = r#"req_total{path="/b"}"#;
    let (p, s) = (
        exemplars(&prom_url, untimed),
        exemplars(&sonde_url, untimed),
    );
    for j in [&p, &s] {
        assert_eq!(
            j["data"][0]["exemplars"][0]["labels"]["trace_id"], "def",
            "{j}"
        );
        assert_eq!(j["data"][0]["exemplars"][0]["value"], "2.5", "{j}");
        assert_eq!(count(j), 1, "scraped again, it is the same exemplar: {j}");
    }
    assert_eq!(p["data"][0]["seriesLabels"], s["data"][0]["seriesLabels"]);
    let before = exemplars(&sonde_url, all);
    assert_eq!(
        own_metric(&sonde, "sonde_tsdb_exemplar_exemplars_in_storage"),
        4.0
    );
    assert_eq!(
        own_metric(&sonde, "sonde_tsdb_exemplar_max_exemplars"),
        100_000.0
    );

    // Restart: the WAL brings them back, and scraping on adds none (the
    // same exemplars again are duplicates, the untimed one included).
    let restarted_at = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let sonde = sonde.restart(&args);
    let sonde_url = sonde.url("");
    wait_for("two scrapes after the restart", || {
        last_scrape(&sonde_url) > restarted_at + 1.5
    });
    assert_eq!(exemplars(&sonde_url, all), before, "after a restart");

    // Reload with a smaller store: the newest 2 are kept.
    std::fs::write(&sonde_config, config(target, 2)).unwrap();
    let (status, body) = post(&sonde.url("/-/reload"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(own_metric(&sonde, "sonde_tsdb_exemplar_max_exemplars"), 2.0);
    assert_eq!(
        own_metric(&sonde, "sonde_tsdb_exemplar_exemplars_in_storage"),
        2.0
    );
    assert_eq!(count(&exemplars(&sonde_url, all)), 2);
}
