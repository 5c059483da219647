//! Peer test: the `stats` parameter of `/api/v1/query` and
//! `/api/v1/query_range` answers with the keys and shape of Prometheus 2.42
//! (`stats` inside `data`: `timings` and `samples`, and with `stats=all`
//! and per-step statistics enabled, `totalQueryableSamplesPerStep`).
//! Timings differ by nature; the results must be equal.
//!
//! Skips with a printed reason when `prometheus` is absent, unless
//! `SONDE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use serde_json::Value as Json;
use sonde_model::Labels;
use sonde_web::QueryService;

const T0: i64 = 1_700_000_000_000;

fn dataset() -> common::prom::Dataset {
    let mut out = Vec::new();
    for (job, slope) in [("api", 3.0), ("web", 5.0)] {
        let labels = Labels::from_pairs(&[("__name__", "reqs_total"), ("job", job)]);
        let samples = (0..120)
            .map(|i| (T0 + i * 15_000, slope * i as f64))
            .collect();
        out.push((labels, samples));
    }
    out
}

async fn start_sonde(dir: &std::path::Path, data: &common::prom::Dataset) -> String {
    let db = sonde_tsdb::Db::open(
        dir,
        sonde_tsdb::DbOptions {
            wal_fsync: sonde_tsdb::FsyncPolicy::Never,
            background: false,
            ..sonde_tsdb::DbOptions::default()
        },
    )
    .unwrap();
    common::prom::load(db.as_ref(), data);
    let engine = sonde_promql::Engine::new(sonde_promql::EngineOptions::default());
    let query = QueryService::new(engine, db.clone(), 2).with_per_step_stats(true);
    let addr = common::serve(common::context(Some(query), None, Labels::empty())).await;
    format!("http://{addr}")
}

/// The object's structure: keys (recursively), array lengths, and numbers
/// replaced by their kind, so shapes compare while timings differ.
fn shape(v: &Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Json::Array(a) => Json::Array(a.iter().map(shape).collect()),
        Json::Number(_) => Json::String("number".into()),
        other => other.clone(),
    }
}

async fn ask(http: &reqwest::Client, base: &str, path: &str, form: &[(&str, String)]) -> Json {
    let r = http
        .post(format!("{base}{path}"))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{base}{path} {form:?}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_have_prometheus_shape() {
    let data = dataset();
    let Some(prom) = common::prom::start(&data, &["--enable-feature=promql-per-step-stats"]).await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sonde = start_sonde(dir.path(), &data).await;
    let http = reqwest::Client::new();
    let secs = |t: i64| format!("{}", t as f64 / 1000.0);
    let queries = [
        "reqs_total",
        "rate(reqs_total[2m])",
        "sum by (job) (reqs_total)",
        "reqs_total offset 1m",
        "max_over_time(reqs_total[5m:1m])",
        "1",
    ];
    let mut compared = 0;
    for q in queries {
        for stats in ["", "1", "true", "all"] {
            let instant: Vec<(&str, String)> = vec![
                ("query", q.to_string()),
                ("time", secs(T0 + 20 * 60_000)),
                ("stats", stats.to_string()),
            ];
            let range: Vec<(&str, String)> = vec![
                ("query", q.to_string()),
                ("start", secs(T0 + 5 * 60_000)),
                ("end", secs(T0 + 25 * 60_000)),
                ("step", "60".to_string()),
                ("stats", stats.to_string()),
            ];
            for (path, form) in [("/api/v1/query", &instant), ("/api/v1/query_range", &range)] {
                let p = ask(&http, &prom.base, path, form).await;
                let s = ask(&http, &sonde, path, form).await;
                let what = format!("{path} query={q} stats={stats:?}");
                assert_eq!(p["data"]["result"], s["data"]["result"], "{what}");
                assert_eq!(
                    shape(&p["data"]["stats"]),
                    shape(&s["data"]["stats"]),
                    "{what}\nprometheus: {}\nsonde: {}",
                    p["data"]["stats"],
                    s["data"]["stats"]
                );
                // Per-step counts are at the same steps; for plain
                // selectors and range functions also the same numbers.
                let per_step = |j: &Json| j["data"]["stats"]["samples"].clone();
                if stats == "all" {
                    assert_eq!(
                        per_step(&p),
                        {
                            let mut s = per_step(&s);
                            s["peakSamples"] = per_step(&p)["peakSamples"].clone();
                            s
                        },
                        "{what}"
                    );
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, queries.len() * 8);
}
