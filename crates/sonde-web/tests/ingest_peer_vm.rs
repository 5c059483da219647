//! Peer test: the same Influx line protocol (v1 and v2, every precision and
//! field type) and text-import requests are sent to VictoriaMetrics 1.79 and
//! to a Sonde router in this process; both must store the same series with
//! the same samples. This pins the naming convention Sonde follows
//! (`{measurement}_{field}`, tags as labels, the v1 `db` parameter as label
//! `db` unless tagged, nothing for the v2 bucket). Names here are valid
//! Prometheus names and fields numeric, where Sonde deliberately differs
//! (sanitising, skipping strings; see `src/ingest/influx_http.rs`).
//!
//! Skips with a printed reason when `victoria-metrics` is absent, unless
//! `SONDE_REQUIRE_PEERS=1`, in which case it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

type Stored = BTreeMap<String, Vec<(i64, f64)>>;

fn key(metric: &Json) -> String {
    let m: BTreeMap<String, String> = serde_json::from_value(metric.clone()).unwrap();
    format!("{m:?}")
}

/// Everything VictoriaMetrics stored, from `/api/v1/export` (JSON lines).
async fn vm_export(http: &reqwest::Client, base: &str) -> Stored {
    let text = http
        .get(format!("{base}/api/v1/export"))
        .query(&[("match[]", r#"{__name__=~".+"}"#), ("start", "0")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let j: Json = serde_json::from_str(l).unwrap();
            let ts = j["timestamps"].as_array().unwrap();
            let vs = j["values"].as_array().unwrap();
            let samples = ts
                .iter()
                .zip(vs)
                .map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap()))
                .collect();
            (key(&j["metric"]), samples)
        })
        .collect()
}

/// Everything Sonde stored up to `t` ms, through a range selector.
async fn sonde_samples(http: &reqwest::Client, base: &str, t: i64) -> Stored {
    common::query_at(http, base, r#"{__name__=~".+"}[1h]"#, t as f64 / 1000.0)
        .await
        .iter()
        .map(|r| {
            let samples = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    let t = (v[0].as_f64().unwrap() * 1000.0).round() as i64;
                    (t, v[1].as_str().unwrap().parse::<f64>().unwrap())
                })
                .collect();
            (key(&r["metric"]), samples)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influx_and_import_are_stored_as_victoriametrics_stores_them() {
    if !common::peer_present("victoria-metrics", "-version", "victoria-metrics, 1.79") {
        return;
    }
    let vm_dir = tempfile::tempdir().unwrap();
    let sonde_dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let child = Command::new("victoria-metrics")
        .arg(format!("-storageDataPath={}", vm_dir.path().display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-loggerLevel=ERROR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start victoria-metrics");
    let _guard = common::KillOnDrop(child);
    let vm = format!("http://127.0.0.1:{port}");
    let sonde = format!("http://{}", common::serve_db(sonde_dir.path()).await);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{vm}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "victoria-metrics did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 120;
    let (s, ms, ns, min) = (
        now_s,
        now_s * 1000 + 123,
        (now_s * 1000 + 456) as i128 * 1_000_000 + 789,
        now_s / 60,
    );
    let requests: Vec<(String, String)> = vec![
        (
            "/write?db=telegraf&precision=s".into(),
            format!(
                "cpu,host=h1,cpu_id=0 usage_idle=90.5,usage_user=3i,count=7u,ok=true,off=F,value=5 {s}\n\
                 disk,host=h1,db=own value=2 {s}\nmem,host=h2 used=1.5e3 {s}\n"
            ),
        ),
        (
            "/write?db=telegraf&precision=ms".into(),
            format!("lat,host=h1 p99=0.25 {ms}\n"),
        ),
        (
            "/write?db=telegraf".into(),
            format!("nsm,host=h1 v=-1 {ns}\n"),
        ),
        (
            "/write?db=telegraf&precision=m".into(),
            format!("minute,host=h1 v=3 {min}\n"),
        ),
        (
            "/api/v2/write?bucket=b&org=o&precision=s".into(),
            format!("net,host=h3 rx=1i,tx=2u {s}\n"),
        ),
        (
            "/api/v2/write?bucket=b&org=o".into(),
            format!("net2 tx=2 {ns}\n"),
        ),
        (
            "/api/v1/import/prometheus?extra_label=env=prod".into(),
            format!("jobs_total{{queue=\"a\"}} 3 {ms}\njobs_total{{queue=\"b\"}} 4.5 {ms}\n"),
        ),
    ];
    for (path, body) in &requests {
        for base in [&vm, &sonde] {
            let r = http
                .post(format!("{base}{path}"))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204, "{base}{path}: {}", r.text().await.unwrap());
        }
    }
    let want_series = 16;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut vm_stored;
    loop {
        let _ = http.get(format!("{vm}/internal/force_flush")).send().await;
        vm_stored = vm_export(&http, &vm).await;
        if vm_stored.len() >= want_series || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let sonde_stored = sonde_samples(&http, &sonde, now_s * 1000 + 1000).await;
    assert_eq!(vm_stored.len(), want_series, "{vm_stored:#?}");
    assert_eq!(
        sonde_stored, vm_stored,
        "Sonde (left) and VictoriaMetrics (right) stored different series"
    );
}
