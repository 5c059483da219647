//! Peer test: the requests Grafana's Prometheus data source (9.x and 10.x)
//! sends, replayed byte for byte (method, path, query string, form body,
//! headers) against a real Prometheus 2.42 and against Sonde, both holding
//! the same data. Status codes must be equal, and the JSON too: `data`
//! equal where it is deterministic, the same shape otherwise (build info).
//!
//! Where the requests come from (grafana/grafana):
//! - `pkg/tsdb/prometheus` (backend, panels and alerting): instant and
//!   range queries as form POSTs (`query`, `time` / `start`, `end`,
//!   `step`), exemplars as a form POST to `/api/v1/query_exemplars`, the
//!   health check of "Save & test" (`1+1` as an instant query; 9.x sent it
//!   as a GET), and `/api/v1/status/buildinfo` to detect the flavour.
//! - `public/app/plugins/datasource/prometheus/language_provider.ts`
//!   (query editor, metrics browser, variables): `/api/v1/labels` and
//!   `/api/v1/label/<name>/values` with `start`/`end` and, for label values
//!   of a selection, `match[]`; `/api/v1/series` with `match[]`;
//!   `/api/v1/metadata`; `/api/v1/format_query` (10.x "Format query").
//!
//! Not replayed: `/api/v1/rules` and `/api/v1/alerts` (the alerting UI's
//! view of a data source's rules), which Sonde does not serve yet.
//!
//! Skips with a printed reason when `prometheus` is absent, unless
//! `SONDE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::sync::Arc;

use serde_json::Value as Json;
use sonde_model::{Appendable, Labels};
use sonde_web::{QueryCache, QueryService, TrackedAppendable, WriteTracker};

/// 2023-11-14T22:13:20Z; one hour of data follows.
const T0: i64 = 1_700_000_000;
const NOW: i64 = T0 + 3600;

fn dataset() -> common::prom::Dataset {
    let mut out = Vec::new();
    let at = |i: i64| (T0 + i * 15) * 1000;
    for (job, instances) in [("api", ["0", "1"]), ("web", ["0", "2"])] {
        for (n, instance) in instances.iter().enumerate() {
            for code in ["200", "500"] {
                let labels = Labels::from_pairs(&[
                    ("__name__", "http_requests_total"),
                    ("job", job),
                    ("instance", instance),
                    ("code", code),
                ]);
                let rate = if code == "200" { 7.0 } else { 1.0 } + n as f64;
                out.push((
                    labels,
                    (0..=240).map(|i| (at(i), rate * i as f64)).collect(),
                ));
            }
            let up =
                Labels::from_pairs(&[("__name__", "up"), ("job", job), ("instance", instance)]);
            out.push((up, (0..=240).map(|i| (at(i), 1.0)).collect()));
        }
    }
    for (le, share) in [("0.1", 0.5), ("0.5", 0.8), ("1", 0.95), ("+Inf", 1.0)] {
        let labels = Labels::from_pairs(&[("__name__", "latency_seconds_bucket"), ("le", le)]);
        out.push((
            labels,
            (0..=240)
                .map(|i| (at(i), (share * 40.0 * i as f64).floor()))
                .collect(),
        ));
    }
    out
}

/// Sonde as the binary runs it by default: storage behind the query
/// result cache, writes through the cache's tracker.
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
    let tracker = Arc::new(WriteTracker::new());
    let writer: Arc<dyn Appendable> = Arc::new(TrackedAppendable::new(db.clone(), tracker.clone()));
    common::prom::load(writer.as_ref(), data);
    let engine = sonde_promql::Engine::new(sonde_promql::EngineOptions::default());
    let query = QueryService::new(engine, db.clone(), 4)
        .with_cache(Arc::new(QueryCache::new(16 << 20, tracker)));
    // A scrape manager with no targets, as a server whose configuration
    // scrapes nothing: it serves (empty) metadata.
    let scrape = sonde_scrape::ScrapeManager::new(writer.clone(), Default::default());
    let mut ctx = common::context(Some(query), Some(writer), Labels::empty());
    let c = Arc::get_mut(&mut ctx).unwrap();
    c.exemplars = Some(db.clone());
    c.scrape = Some(Arc::new(scrape));
    let addr = common::serve(ctx).await;
    format!("http://{addr}")
}

/// How two answers must agree.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Compare {
    /// The whole JSON body is equal.
    Equal,
    /// Same keys and value kinds (versions, build dates differ).
    Shape,
}

/// One request as Grafana sends it.
struct Req {
    what: &'static str,
    method: &'static str,
    /// Path and query string, already encoded as Grafana encodes them.
    path: String,
    form: Vec<(&'static str, String)>,
    compare: Compare,
}

fn get(what: &'static str, path: String, compare: Compare) -> Req {
    Req {
        what,
        method: "GET",
        path,
        form: Vec::new(),
        compare,
    }
}

fn post(
    what: &'static str,
    path: &str,
    form: Vec<(&'static str, String)>,
    compare: Compare,
) -> Req {
    Req {
        what,
        method: "POST",
        path: path.to_string(),
        form,
        compare,
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn requests() -> Vec<Req> {
    use Compare::*;
    // The metrics browser asks for the dashboard's range, snapped outward.
    let (s, e) = (NOW - 3600, NOW);
    let range = format!("start={s}&end={e}");
    let sel = enc(r#"http_requests_total{job="api"}"#);
    let q = |x: &str| x.to_string();
    let rng = |query: &str, step: i64, start: i64, end: i64| {
        vec![
            ("query", q(query)),
            ("start", (start / step * step).to_string()),
            ("end", (end / step * step).to_string()),
            ("step", step.to_string()),
        ]
    };
    vec![
        post(
            "health check (10.x)",
            "/api/v1/query",
            vec![("query", q("1+1")), ("time", NOW.to_string())],
            Equal,
        ),
        get(
            "health check (9.x)",
            format!("/api/v1/query?query=1%2B1&time={NOW}"),
            Equal,
        ),
        get("build info", "/api/v1/status/buildinfo".into(), Shape),
        get("label names", format!("/api/v1/labels?{range}"), Equal),
        post(
            "label names (POST)",
            "/api/v1/labels",
            vec![("start", s.to_string()), ("end", e.to_string())],
            Equal,
        ),
        get(
            "metric names",
            format!("/api/v1/label/__name__/values?{range}"),
            Equal,
        ),
        get("metadata", "/api/v1/metadata".into(), Equal),
        get(
            "label values",
            format!("/api/v1/label/job/values?{range}"),
            Equal,
        ),
        get(
            "label values of a selection",
            format!("/api/v1/label/instance/values?match%5B%5D={sel}&{range}"),
            Equal,
        ),
        get(
            "label names of a selection",
            format!("/api/v1/labels?match%5B%5D={sel}&{range}"),
            Equal,
        ),
        get(
            "series of a selection",
            format!("/api/v1/series?match%5B%5D={sel}&{range}"),
            Equal,
        ),
        post(
            "series (POST)",
            "/api/v1/series",
            vec![
                ("match[]", q("up")),
                ("match[]", q(r#"http_requests_total{code="500"}"#)),
                ("start", s.to_string()),
                ("end", e.to_string()),
            ],
            Equal,
        ),
        post(
            "panel: rate by job",
            "/api/v1/query_range",
            rng(
                "sum by (job) (rate(http_requests_total[1m]))",
                15,
                NOW - 3600,
                NOW,
            ),
            Equal,
        ),
        post(
            "panel: refresh 30 s later",
            "/api/v1/query_range",
            rng(
                "sum by (job) (rate(http_requests_total[1m]))",
                15,
                NOW - 3570,
                NOW + 30,
            ),
            Equal,
        ),
        post(
            "panel: same again",
            "/api/v1/query_range",
            rng(
                "sum by (job) (rate(http_requests_total[1m]))",
                15,
                NOW - 3570,
                NOW + 30,
            ),
            Equal,
        ),
        post(
            "panel: histogram quantile",
            "/api/v1/query_range",
            rng(
                "histogram_quantile(0.9, sum by (le) (rate(latency_seconds_bucket[5m])))",
                60,
                NOW - 3600,
                NOW,
            ),
            Equal,
        ),
        post(
            "panel: error ratio with $__rate_interval",
            "/api/v1/query_range",
            rng(
                r#"sum(rate(http_requests_total{code="500"}[1m0s])) / sum(rate(http_requests_total[1m0s]))"#,
                30,
                NOW - 1800,
                NOW,
            ),
            Equal,
        ),
        post(
            "table panel: instant",
            "/api/v1/query",
            vec![
                ("query", q("topk(3, http_requests_total)")),
                ("time", NOW.to_string()),
            ],
            Equal,
        ),
        post(
            "variable: query_result",
            "/api/v1/query",
            vec![
                ("query", q("count by (job) (up)")),
                ("time", NOW.to_string()),
            ],
            Equal,
        ),
        post(
            "exemplars",
            "/api/v1/query_exemplars",
            vec![
                ("query", q("http_requests_total")),
                ("start", s.to_string()),
                ("end", e.to_string()),
            ],
            Equal,
        ),
        get(
            "format query",
            format!(
                "/api/v1/format_query?query={}",
                enc("sum(rate(http_requests_total[5m]))by(job)")
            ),
            Equal,
        ),
        post(
            "panel: broken query",
            "/api/v1/query_range",
            rng("sum(rate(http_requests_total[5m])", 15, NOW - 600, NOW),
            Equal,
        ),
        post(
            "panel: unknown function",
            "/api/v1/query",
            vec![
                ("query", q("rat(http_requests_total[5m])")),
                ("time", NOW.to_string()),
            ],
            Equal,
        ),
        post(
            "panel: with the data source's query timeout",
            "/api/v1/query_range",
            {
                let mut f = rng("avg by (instance) (up)", 60, NOW - 3600, NOW);
                f.push(("timeout", q("60s")));
                f
            },
            Equal,
        ),
        get(
            "panel: range query by GET (HTTP method GET)",
            format!(
                "/api/v1/query_range?query={}&start={}&end={}&step=30",
                enc(r#"rate(http_requests_total{code="200"}[2m])"#),
                NOW - 1800,
                NOW
            ),
            Equal,
        ),
        get(
            "explore: instant query by GET, fractional time",
            format!("/api/v1/query?query=up&time={NOW}.123"),
            Equal,
        ),
        get(
            "label values of two selections",
            format!(
                "/api/v1/label/job/values?match%5B%5D=up&match%5B%5D={}&{range}",
                enc(r#"http_requests_total{code="500"}"#)
            ),
            Equal,
        ),
        post(
            "panel: too many points",
            "/api/v1/query_range",
            rng("up", 1, NOW - 86400, NOW),
            Equal,
        ),
    ]
}

/// Grafana's backend sends these with every data source request.
fn with_headers(r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    r.header("User-Agent", "Grafana/10.2.3")
        .header("Accept", "application/json, text/plain, */*")
        .header("X-Grafana-Org-Id", "1")
        .header("X-Dashboard-Uid", "sonde-dash")
        .header("X-Panel-Id", "2")
        .header("X-Datasource-Uid", "prometheus")
}

async fn send(http: &reqwest::Client, base: &str, req: &Req) -> (u16, Json) {
    let url = format!("{base}{}", req.path);
    let r = match req.method {
        "GET" => with_headers(http.get(url)),
        _ => {
            let body: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(req.form.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            with_headers(http.post(url))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
        }
    };
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{base}: {}: not JSON ({e}): {text}", req.what));
    (status, json)
}

fn shape(v: &Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Json::Array(a) => Json::Array(a.iter().map(shape).collect()),
        Json::String(_) => Json::String("string".into()),
        Json::Number(_) => Json::String("number".into()),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_requests_answer_like_prometheus() {
    let data = dataset();
    let Some(prom) = common::prom::start(&data, &[]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sonde = start_sonde(dir.path(), &data).await;
    let http = reqwest::Client::new();
    let reqs = requests();
    for req in &reqs {
        let (ps, pj) = send(&http, &prom.base, req).await;
        let (ss, sj) = send(&http, &sonde, req).await;
        let what = format!("{} ({} {})", req.what, req.method, req.path);
        assert_eq!(ps, ss, "{what}: status\nprometheus: {pj}\nsonde: {sj}");
        match req.compare {
            Compare::Equal => assert_eq!(pj, sj, "{what}"),
            Compare::Shape => assert_eq!(
                shape(&pj),
                shape(&sj),
                "{what}\nprometheus: {pj}\nsonde: {sj}"
            ),
        }
    }
    // A data source that answers all of these works in Grafana unchanged.
    assert_eq!(reqs.len(), 28);
}
