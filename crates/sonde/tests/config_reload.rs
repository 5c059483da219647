//! End to end: configuration reload over HTTP and SIGHUP. A good file is
//! applied without a restart and without losing data; a bad one is refused
//! with its file, line and reason, and the old configuration stays in force.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::time::{Duration, Instant};

use common::{get, get_json, post, post_body, Sonde};

fn config(jobs: &[&str]) -> String {
    let mut text =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n");
    for job in jobs {
        // Nothing listens on port 1: the target is down, and `up 0` is stored.
        text.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:1']\n"
        ));
    }
    text
}

fn pools(sonde: &Sonde) -> Vec<String> {
    let targets = get_json(&sonde.url("/api/v1/targets"));
    let mut pools: Vec<String> = targets["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["scrapePool"].as_str().unwrap().to_string())
        .collect();
    pools.sort();
    pools
}

/// Samples of `up{job}` stored so far.
fn up_samples(sonde: &Sonde, job: &str) -> u64 {
    let q = format!("count_over_time(up{{job=\"{job}\"}}[10m])");
    let body = get_json(&format!(
        "{}?query={}",
        sonde.url("/api/v1/query"),
        urlencode(&q)
    ));
    body["data"]["result"][0]["value"][1]
        .as_str()
        .map_or(0, |v| v.parse().unwrap())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn reload_applies_good_config_and_refuses_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, config(&["a"])).unwrap();
    let sonde = Sonde::start_in(
        dir,
        &[
            &format!("--config.file={}", file.display()),
            "--web.enable-lifecycle",
        ],
    );
    wait_until("pool a", || pools(&sonde) == ["a"]);
    wait_until("first samples of job a", || up_samples(&sonde, "a") >= 2);

    std::fs::write(&file, config(&["a", "b"])).unwrap();
    let (status, body) = post(&sonde.url("/-/reload"));
    assert_eq!(status, 200, "{body}");
    wait_until("pool b to be discovered", || pools(&sonde) == ["a", "b"]);
    let before = up_samples(&sonde, "a");
    wait_until("job a to go on after the reload", || {
        up_samples(&sonde, "a") > before
    });

    // Unknown key on line 2: refused, with the file, line and key.
    std::fs::write(&file, "global:\n  scrape_intervall: 1s\n").unwrap();
    let (status, body) = post(&sonde.url("/-/reload"));
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("prometheus.yml:2"),
        "error must name file and line: {body}"
    );
    assert!(
        body.contains("scrape_intervall"),
        "error must name the key: {body}"
    );
    assert_eq!(
        pools(&sonde),
        ["a", "b"],
        "old configuration stays in force"
    );
    let runtime = get_json(&sonde.url("/api/v1/status/runtimeinfo"));
    assert_eq!(runtime["data"]["reloadConfigSuccess"], false);
    let (_, metrics) = get(&sonde.url("/metrics"));
    assert!(
        metrics.contains("sonde_config_last_reload_successful 0"),
        "{metrics}"
    );

    // SIGHUP with a good file again.
    std::fs::write(&file, config(&["c"])).unwrap();
    sonde.signal("HUP");
    wait_until("SIGHUP reload", || pools(&sonde) == ["c"]);
    let runtime = get_json(&sonde.url("/api/v1/status/runtimeinfo"));
    assert_eq!(runtime["data"]["reloadConfigSuccess"], true);
    assert!(
        up_samples(&sonde, "a") >= before,
        "data of a removed job is kept"
    );
}

#[test]
fn ingest_limits_follow_the_config_and_its_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, "ingest:\n  max_body_size: 1KiB\n").unwrap();
    let sonde = Sonde::start_in(
        dir,
        &[
            &format!("--config.file={}", file.display()),
            "--web.enable-lifecycle",
        ],
    );
    let limit = |sonde: &Sonde| {
        let (_, metrics) = get(&sonde.url("/metrics"));
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("sonde_ingest_limit{limit=\"max_body_bytes\"} "))
            .map(str::to_string)
    };
    assert_eq!(limit(&sonde).as_deref(), Some("1024.0"));
    let line = "m v=1\n".repeat(200);
    let (status, body) = post_body(&sonde.url("/write?db=d"), line.clone());
    assert_eq!(status, 413, "{body}");

    std::fs::write(&file, "ingest:\n  max_body_size: 1MiB\n").unwrap();
    let (status, body) = post(&sonde.url("/-/reload"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(limit(&sonde).as_deref(), Some("1048576.0"));
    let (status, body) = post_body(&sonde.url("/write?db=d"), line);
    assert_eq!(status, 204, "{body}");
}

#[test]
fn bad_config_at_start_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prometheus.yml");
    std::fs::write(
        &file,
        "scrape_configs:\n  - job_name: x\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sonde"))
        .args(["server", "--web.listen-address=127.0.0.1:0"])
        .arg(format!("--config.file={}", file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("prometheus.yml:"), "{err}");
    assert!(
        err.contains("scrape timeout greater than scrape interval"),
        "{err}"
    );
}
