//! `sonde check config|metrics` as a user runs them: exit codes and messages.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::io::Write;
use std::process::{Command, Stdio};

fn sonde(args: &[&str], stdin: &[u8]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sonde"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap(), text)
}

#[test]
fn check_config_accepts_good_and_names_line_of_bad() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(
        &good,
        "scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['a:9100']\n",
    )
    .unwrap();
    let (code, out) = sonde(&["check", "config", good.to_str().unwrap()], b"");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");

    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "scrape_configs:\n  - job_name: node\n    relabel_configs:\n      - action: replace\n        source_labels: [a]\n").unwrap();
    let (code, out) = sonde(&["check", "config", bad.to_str().unwrap()], b"");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad.yml:4"), "{out}");
    assert!(out.contains("requires 'target_label' value"), "{out}");
}

/// The server applies the `web` keys, so the check is silent about them,
/// but for `page_title`, which waits for the web UI: a key set in the file
/// says so instead of doing nothing silently.
#[test]
fn check_config_warns_only_of_web_keys_the_server_does_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yml");
    std::fs::write(
        &file,
        "web:\n  enable_admin_api: true\n  cors_origin: 'https://grafana\\.example'\n  read_timeout: 1m\n  max_connections: 10\n  page_title: Fleet\n",
    )
    .unwrap();
    let (code, out) = sonde(&["check", "config", file.to_str().unwrap()], b"");
    assert_eq!(code, 0, "a warning, not a failure: {out}");
    assert!(
        out.contains(
            " WARNING: web.page_title is not applied yet: it sets the title of the web UI"
        ),
        "{out}"
    );
    assert_eq!(out.matches("WARNING").count(), 1, "{out}");
    let plain = dir.path().join("plain.yml");
    std::fs::write(&plain, "global:\n  scrape_interval: 30s\n").unwrap();
    let (code, out) = sonde(&["check", "config", plain.to_str().unwrap()], b"");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("WARNING"), "{out}");
}

#[test]
fn check_metrics_exit_codes_follow_promtool() {
    let good = b"# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total 1\n";
    assert_eq!(sonde(&["check", "metrics"], good).0, 0);

    let lint = b"# HELP http_requests Requests.\n# TYPE http_requests counter\nhttp_requests 1\n";
    let (code, out) = sonde(&["check", "metrics"], lint);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("_total"), "{out}");

    let (code, out) = sonde(&["check", "metrics"], b"metric{a=\"1\" 1\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("line 1"), "{out}");

    let om = b"# TYPE a counter\na_total 1\n";
    let (code, out) = sonde(&["check", "metrics", "--format", "openmetrics"], om);
    assert_eq!(code, 1, "missing # EOF must be an error: {out}");
}
