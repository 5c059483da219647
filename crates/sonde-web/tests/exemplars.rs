//! Exemplars end to end: pushed by remote write, read by
//! `/api/v1/query_exemplars` (GET and POST, errors as Prometheus answers
//! them), kept across a restart by the WAL; and, against a real Prometheus
//! 2.42 with `--enable-feature=exemplar-storage` that scrapes an OpenMetrics
//! target served here and remote-writes to Sonde with `send_exemplars`, both
//! servers answer `query_exemplars` with the same JSON.
//!
//! The peer test skips with a printed reason when the `prometheus` binary
//! is absent, unless `SONDE_REQUIRE_PEERS=1`, in which case it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::routing::get;
use serde_json::{json, Value as Json};
use sonde_remote::proto::{Exemplar, Label, Sample, TimeSeries, WriteRequest};
use sonde_tsdb::{Db, DbOptions, FsyncPolicy};

/// Opens `dir`, retrying while its lock is still held. A closed database
/// has released its lock file, but a process that another test of this
/// binary is spawning at that moment (Prometheus) holds a copy of every
/// descriptor between its fork and its exec, and with it the `flock`.
async fn open_retrying(dir: &Path, opts: DbOptions) -> Arc<Db> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Db::open(dir, opts.clone()) {
            Ok(db) => return db,
            Err(e) if e.to_string().contains("in use") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("opening {}: {e}", dir.display()),
        }
    }
}

/// A Db-backed server that can be stopped, so that the test can open the
/// same directory again.
struct Server {
    url: String,
    db: Arc<Db>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        let opts = DbOptions {
            wal_fsync: FsyncPolicy::Never,
            background: false,
            ..DbOptions::default()
        };
        let db = open_retrying(dir, opts).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(sonde_web::serve(
            listener,
            sonde_web::router(common::db_context(&db)),
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            url: format!("http://{addr}"),
            db,
            stop,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
        self.db.close().unwrap();
    }
}

fn label(n: &str, v: &str) -> Label {
    Label {
        name: n.into(),
        value: v.into(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn remote_write(http: &reqwest::Client, url: &str, req: &WriteRequest) {
    let resp = http
        .post(format!("{url}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(sonde_remote::encode_write_request(req))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(status, 204, "{}", resp.text().await.unwrap());
}

/// `query_exemplars` by GET (or a form POST) with `params`: status and JSON.
async fn query_exemplars(
    http: &reqwest::Client,
    url: &str,
    params: &[(&str, &str)],
    post: bool,
) -> (u16, Json) {
    let endpoint = format!("{url}/api/v1/query_exemplars");
    let req = if post {
        http.post(endpoint).form(params)
    } else {
        http.get(endpoint).query(params)
    };
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Seconds as Prometheus writes a millisecond timestamp in JSON (an
/// integer when whole, which JSON values tell apart from a float).
fn secs(ms: i64) -> Json {
    if ms % 1000 == 0 {
        return json!(ms / 1000);
    }
    serde_json::from_str(&format!("{}.{:03}", ms / 1000, ms % 1000)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_written_exemplars_are_queried_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let http = reqwest::Client::new();
    let t0 = now_ms() - 60_000;
    let req = WriteRequest {
        timeseries: vec![
            TimeSeries {
                labels: vec![label("__name__", "req_total"), label("path", "/a")],
                samples: vec![
                    Sample {
                        value: 1.0,
                        timestamp: t0,
                    },
                    Sample {
                        value: 2.0,
                        timestamp: t0 + 15_000,
                    },
                ],
                exemplars: vec![
                    Exemplar {
                        labels: vec![label("trace_id", "a1")],
                        value: 0.5,
                        timestamp: t0,
                    },
                    Exemplar {
                        labels: vec![label("trace_id", "a2"), label("span_id", "s")],
                        value: 1e-7,
                        timestamp: t0 + 15_000,
                    },
                ],
                ..Default::default()
            },
            TimeSeries {
                labels: vec![label("__name__", "lat_bucket"), label("le", "0.1")],
                samples: vec![Sample {
                    value: 3.0,
                    timestamp: t0 + 1000,
                }],
                exemplars: vec![Exemplar {
                    labels: vec![label("trace_id", "b1")],
                    value: 0.07,
                    timestamp: t0 + 1000,
                }],
                ..Default::default()
            },
        ],
        metadata: vec![],
    };
    remote_write(&http, &server.url, &req).await;
    // Sent again (a retry): duplicates change nothing.
    remote_write(&http, &server.url, &req).await;

    let want = json!({"status": "success", "data": [
        {"seriesLabels": {"__name__": "lat_bucket", "le": "0.1"},
         "exemplars": [{"labels": {"trace_id": "b1"}, "value": "0.07", "timestamp": secs(t0 + 1000)}]},
        {"seriesLabels": {"__name__": "req_total", "path": "/a"},
         "exemplars": [
            {"labels": {"trace_id": "a1"}, "value": "0.5", "timestamp": secs(t0)},
            {"labels": {"span_id": "s", "trace_id": "a2"}, "value": "1e-07", "timestamp": secs(t0 + 15_000)}
         ]}
    ]});
    // The selectors of the query's vector selectors are used, whatever
    // the functions around them.
    let query = "sum(rate(req_total[5m])) + on() group_left max(lat_bucket)";
    for post in [false, true] {
        let got = query_exemplars(&http, &server.url, &[("query", query)], post).await;
        assert_eq!(got, (200, want.clone()), "post={post}");
    }
    // A time range keeps the exemplars inside it (bounds included).
    let start = format!("{}", t0 as f64 / 1000.0 + 1.0);
    let end = format!("{}", (t0 + 15_000) as f64 / 1000.0);
    let (status, got) = query_exemplars(
        &http,
        &server.url,
        &[("query", "req_total"), ("start", &start), ("end", &end)],
        false,
    )
    .await;
    assert_eq!(status, 200);
    let mut only_a2 = want["data"][1].clone();
    only_a2["exemplars"] = json!([want["data"][1]["exemplars"][1].clone()]);
    assert_eq!(got["data"], json!([only_a2]));
    // No match: an empty list; no selector at all: null, as Prometheus.
    let none = query_exemplars(&http, &server.url, &[("query", "nothing_here")], false).await;
    assert_eq!(none, (200, json!({"status": "success", "data": []})));
    let null = query_exemplars(&http, &server.url, &[("query", "1 + 1")], false).await;
    assert_eq!(null, (200, json!({"status": "success", "data": null})));

    // Errors: Prometheus' statuses and error types.
    for (params, needle) in [
        (vec![("query", "up{")], "parse error"),
        (
            vec![("query", "up"), ("start", "yesterday")],
            "invalid parameter \"start\"",
        ),
        (
            vec![("query", "up"), ("end", "x")],
            "invalid parameter \"end\"",
        ),
        (
            vec![("query", "up"), ("start", "20"), ("end", "10")],
            "end timestamp must not be before start timestamp",
        ),
    ] {
        let (status, body) = query_exemplars(&http, &server.url, &params, false).await;
        assert_eq!(
            (status, &body["status"], &body["errorType"]),
            (400, &json!("error"), &json!("bad_data")),
            "{params:?}: {body}"
        );
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{params:?}: {body}"
        );
    }

    // Restart: the WAL brings the exemplars back.
    server.stop().await;
    let server = Server::start(dir.path()).await;
    let got = query_exemplars(&http, &server.url, &[("query", query)], false).await;
    assert_eq!(got, (200, want), "after a restart");
    server.stop().await;
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An OpenMetrics target whose exemplars never change
/// (`testdata/exemplars.om`): some with their own timestamps, one without
/// (it takes the scrape time of its first scrape).
async fn start_target() -> String {
    let body = include_str!("testdata/exemplars.om");
    let app = axum::Router::new().route(
        "/metrics",
        get(move || async move { ([(header::CONTENT_TYPE, OPENMETRICS)], body) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exemplars_equal_prometheus_after_remote_write() {
    let bin = "prometheus";
    if !common::peer_present(bin, "--version", "prometheus, 2.42") {
        return;
    }
    let sonde_dir = tempfile::tempdir().unwrap();
    let prom_dir = tempfile::tempdir().unwrap();
    let sonde = Server::start(sonde_dir.path()).await;
    let target = start_target().await;
    let config = format!(
        "global:\n  scrape_interval: 1s\n\
         scrape_configs:\n  - job_name: om\n    static_configs:\n      - targets: ['{target}']\n\
         remote_write:\n  - url: {}/api/v1/write\n    send_exemplars: true\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
        sonde.url
    );
    let peer = common::start_prometheus(
        prom_dir.path(),
        &config,
        &["--enable-feature=exemplar-storage"],
    );
    let prom = peer.url.clone();
    let http = reqwest::Client::new();
    let params = [("query", r#"{job="om"}"#)];

    // Prometheus has all four exemplars after its first scrape.
    let deadline = Instant::now() + Duration::from_secs(60);
    let want = loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus has no exemplars within 60s; its log: {}",
            peer.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(resp) = http
            .get(format!("{prom}/api/v1/query_exemplars"))
            .query(&params)
            .send()
            .await
        else {
            continue;
        };
        let Ok(j) = resp.json::<Json>().await else {
            continue;
        };
        let n: usize = j["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s["exemplars"].as_array().map_or(0, Vec::len))
                    .sum()
            })
            .unwrap_or(0);
        if n == 4 {
            break j;
        }
    };
    // Remote write is asynchronous: wait until Sonde has caught up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got;
    loop {
        got = query_exemplars(&http, &sonde.url, &params, false).await.1;
        if got == want || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        got, want,
        "query_exemplars of Sonde (left) and Prometheus (right) differ"
    );
    // Sorted by series labels: le="+Inf" before le="0.1".
    let data = &want["data"];
    assert_eq!(data[0]["seriesLabels"]["le"], "+Inf", "{want}");
    assert_eq!(data[0]["exemplars"][0]["timestamp"], json!(1700000002));
    assert_eq!(data[1]["exemplars"][0]["timestamp"], json!(1700000001.5));
    assert_eq!(data[1]["exemplars"][0]["value"], "0.05");
    // Also through a time range and a second selector.
    let ranged = [
        ("query", r#"req_total{path="/a"} or lat_bucket{le="+Inf"}"#),
        ("start", "1700000000"),
        ("end", "1700000002"),
    ];
    let want = http
        .get(format!("{prom}/api/v1/query_exemplars"))
        .query(&ranged)
        .send()
        .await
        .unwrap()
        .json::<Json>()
        .await
        .unwrap();
    assert_eq!(want["data"].as_array().map(Vec::len), Some(2), "{want}");
    assert_eq!(
        query_exemplars(&http, &sonde.url, &ranged, false).await.1,
        want
    );
    sonde.stop().await;
}
