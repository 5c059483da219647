//! End to end: the real binary's operational endpoints, route prefix,
//! lifecycle flag and signals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::time::Duration;

use common::{get, get_json, post, Sonde};

const OPERATIONAL_ROUTES: [&str; 7] = [
    "/-/healthy",
    "/-/ready",
    "/metrics",
    "/api/v1/status/config",
    "/api/v1/status/flags",
    "/api/v1/status/buildinfo",
    "/api/v1/status/runtimeinfo",
];

#[test]
fn every_route_is_served_under_the_external_url_prefix() {
    let sonde = Sonde::start(&["--web.external-url=http://proxy.example/prometheus/"]);
    for route in OPERATIONAL_ROUTES {
        let (status, body) = get(&sonde.url(&format!("/prometheus{route}")));
        assert_eq!(status, 200, "{route}: {body}");
        let (status, _) = get(&sonde.url(route));
        assert_eq!(status, 404, "{route} must not be served outside the prefix");
    }
}

#[test]
fn status_endpoints_have_prometheus_shapes() {
    let sonde = Sonde::start(&["--query.max-samples=1234"]);
    let flags = get_json(&sonde.url("/api/v1/status/flags"));
    assert_eq!(flags["status"], "success");
    assert_eq!(flags["data"]["query.max-samples"], "1234");
    assert_eq!(flags["data"]["web.listen-address"], "127.0.0.1:0");
    let build = get_json(&sonde.url("/api/v1/status/buildinfo"));
    assert!(build["data"]["version"]
        .as_str()
        .unwrap()
        .starts_with("2.42.0-sonde."));
    for key in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(build["data"][key].is_string(), "buildinfo lacks {key}");
    }
    let runtime = get_json(&sonde.url("/api/v1/status/runtimeinfo"));
    for key in ["startTime", "CWD", "lastConfigTime", "storageRetention"] {
        assert!(runtime["data"][key].is_string(), "runtimeinfo lacks {key}");
    }
    assert_eq!(runtime["data"]["reloadConfigSuccess"], true);
    let config = get_json(&sonde.url("/api/v1/status/config"));
    assert!(config["data"]["yaml"]
        .as_str()
        .unwrap()
        .contains("scrape_configs"));
}

#[test]
fn own_metrics_are_exposed() {
    let sonde = Sonde::start(&[]);
    let (status, body) = get(&sonde.url("/metrics"));
    assert_eq!(status, 200);
    assert!(
        body.contains("sonde_config_last_reload_successful 1"),
        "{body}"
    );
    assert!(body.contains("process_resident_memory_bytes"), "{body}");
}

#[test]
fn lifecycle_endpoints_need_the_flag() {
    let sonde = Sonde::start(&[]);
    let (status, body) = post(&sonde.url("/-/reload"));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--web.enable-lifecycle"), "{body}");
    let (status, _) = post(&sonde.url("/-/quit"));
    assert_eq!(status, 403);
}

#[test]
fn quit_over_http_stops_the_server() {
    let mut sonde = Sonde::start(&["--web.enable-lifecycle"]);
    let (status, _) = post(&sonde.url("/-/quit"));
    assert_eq!(status, 200);
    assert!(
        sonde.wait_exit(Duration::from_secs(10)),
        "exit status must be success"
    );
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let mut sonde = Sonde::start(&[]);
    sonde.signal("TERM");
    assert!(sonde.wait_exit(Duration::from_secs(10)));
}

#[test]
fn bad_flags_and_addresses_are_clear_errors() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sonde"))
        .args(["server", "--web.listen-address=127.0.0.1:99999"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--web.listen-address 127.0.0.1:99999"),
        "{err}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sonde"))
        .args([
            "server",
            "--config.file=/nonexistent/prometheus.yml",
            "--web.listen-address=127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/prometheus.yml"), "{err}");
}

#[test]
fn query_command_prints_tables_json_and_errors() {
    let sonde = Sonde::start(&[]);
    let server = format!("--server=http://{}", sonde.addr);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sonde"))
            .arg("query")
            .arg(&server)
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = run(&[
        "label_replace(vector(42), \"job\", \"x\", \"\", \"\")",
        "--time=100",
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("{job=\"x\"}") && text.contains("42") && text.contains("100"),
        "{text}"
    );

    let (ok, text) = run(&[
        "vector(2)",
        "--start=0",
        "--end=30",
        "--step=15",
        "-o",
        "json",
    ]);
    assert!(ok, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["resultType"], "matrix");
    assert_eq!(json["result"][0]["values"].as_array().unwrap().len(), 3);

    let (ok, text) = run(&["sum("]);
    assert!(!ok);
    assert!(text.contains("bad_data"), "{text}");
}

#[test]
fn tsdb_status_and_admin_endpoints() {
    let sonde = Sonde::start(&["--web.enable-admin-api"]);
    let status = get_json(&sonde.url("/api/v1/status/tsdb"));
    for key in [
        "headStats",
        "seriesCountByMetricName",
        "labelValueCountByLabelName",
    ] {
        assert!(
            !status["data"][key].is_null(),
            "status/tsdb lacks {key}: {status}"
        );
    }
    let (code, body) = post(&sonde.url("/api/v1/admin/tsdb/snapshot"));
    assert_eq!(code, 200, "{body}");
    let name = serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        sonde.data_dir().join("snapshots").join(&name).is_dir(),
        "snapshot {name} not on disk"
    );
    let (code, body) = post(&sonde.url("/api/v1/admin/tsdb/delete_series?match[]=up"));
    assert_eq!(code, 204, "{body}");
    let (code, body) = post(&sonde.url("/api/v1/admin/tsdb/clean_tombstones"));
    assert_eq!(code, 204, "{body}");
    let (code, body) = post(&sonde.url("/api/v1/admin/tsdb/delete_series"));
    assert_eq!(code, 400, "{body}");

    let plain = Sonde::start(&[]);
    let (code, body) = post(&plain.url("/api/v1/admin/tsdb/snapshot"));
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("unavailable") && body.contains("--web.enable-admin-api"),
        "{body}"
    );
}
