//! The query endpoints over HTTP: Prometheus' JSON shapes, parameter forms
//! (GET and form POST, Unix and RFC 3339 times), errors and status codes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::sync::Arc;

use serde_json::Value as Json;
use sonde_model::Labels;
use sonde_promql::testing::MemStorage;
use sonde_promql::{Engine, EngineOptions};
use sonde_web::QueryService;

/// The server side the web layer needs; queries never reach it.
async fn start(storage: MemStorage) -> String {
    let query = QueryService::new(Engine::new(EngineOptions::default()), Arc::new(storage), 4);
    let ctx = common::context(
        Some(query),
        None,
        Labels::from_pairs(&[("cluster", "test")]),
    );
    let addr = common::serve(ctx).await;
    format!("http://{addr}")
}

fn storage() -> MemStorage {
    let mut s = MemStorage::new();
    for (job, base) in [("a", 1.0), ("b", 10.0)] {
        let labels = Labels::from_pairs(&[("__name__", "requests_total"), ("job", job)]);
        for i in 0..=20 {
            s.add(labels.clone(), i * 15_000, base + i as f64);
        }
    }
    s
}

async fn get(url: &str) -> (u16, Json) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn instant_query_get_and_post_agree() {
    let base = start(storage()).await;
    let (status, body) = get(&format!(
        "{base}/api/v1/query?query=sum(requests_total)&time=300"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "vector");
    assert_eq!(
        body["data"]["result"][0]["value"],
        serde_json::json!([300, "51"])
    );

    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/query"))
        .form(&[
            ("query", "sum(requests_total)"),
            ("time", "1970-01-01T00:05:00Z"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let posted: Json = r.json().await.unwrap();
    assert_eq!(posted, body);
}

#[tokio::test]
async fn range_query_returns_a_matrix() {
    let base = start(storage()).await;
    let url = format!(
        "{base}/api/v1/query_range?query=requests_total{{job=\"a\"}}&start=0&end=60&step=15s"
    );
    let (status, body) = get(&url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    let values = body["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 5);
    assert_eq!(values[4], serde_json::json!([60, "5"]));
}

#[tokio::test]
async fn errors_have_prometheus_types_and_statuses() {
    let base = start(storage()).await;
    let cases = [
        ("/api/v1/query?query=sum(", 400, "bad_data"),
        ("/api/v1/query?query=up&time=yesterday", 400, "bad_data"),
        (
            "/api/v1/query_range?query=up&start=10&end=0&step=1",
            400,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=10&step=0",
            400,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1",
            400,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=up&end=10&step=1",
            400,
            "bad_data",
        ),
        (
            "/api/v1/query?query=requests_total%2Bon()requests_total&time=300",
            422,
            "execution",
        ),
    ];
    for (path, want_status, want_type) in cases {
        let (status, body) = get(&format!("{base}{path}")).await;
        assert_eq!(status, want_status, "{path}: {body}");
        assert_eq!(body["status"], "error", "{path}");
        assert_eq!(body["errorType"], want_type, "{path}: {body}");
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
}

/// An instant query quick the first time runs on the request's thread the
/// next times (no blocking-pool hop): the answers, errors included, are
/// those of the first run.
#[tokio::test]
async fn repeated_instant_queries_answer_the_same() {
    let base = start(storage()).await;
    for q in [
        "sum(requests_total)",
        "requests_total",
        "rate(requests_total[1m])",
        "requests_total%2Bon()requests_total",
        "requests_total[1m]",
    ] {
        let url = format!("{base}/api/v1/query?query={q}&time=300");
        let first = get(&url).await;
        for _ in 0..3 {
            assert_eq!(get(&url).await, first, "{q}");
        }
    }
}

#[tokio::test]
async fn series_and_label_endpoints() {
    let base = start(storage()).await;
    let (status, body) = get(&format!(
        "{base}/api/v1/series?match[]=requests_total{{job=\"b\"}}"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        serde_json::json!([{"__name__": "requests_total", "job": "b"}])
    );

    let (_, body) = get(&format!("{base}/api/v1/labels")).await;
    assert_eq!(body["data"], serde_json::json!(["__name__", "job"]));
    let (_, body) = get(&format!("{base}/api/v1/label/job/values")).await;
    assert_eq!(body["data"], serde_json::json!(["a", "b"]));
    let (_, body) = get(&format!(
        "{base}/api/v1/label/job/values?match[]={{job=\"a\"}}"
    ))
    .await;
    assert_eq!(body["data"], serde_json::json!(["a"]));
    let (_, body) = get(&format!("{base}/api/v1/label/__name__/values")).await;
    assert_eq!(body["data"], serde_json::json!(["requests_total"]));

    for (path, message) in [
        ("/api/v1/series", "no match[] parameter provided"),
        (
            "/api/v1/series?match[]={job=~\".*\"}",
            "at least one non-empty matcher",
        ),
        (
            "/api/v1/series?match[]=sum(x)",
            "invalid parameter \"match[]\"",
        ),
        ("/api/v1/label/not-a-name/values", "invalid label name"),
    ] {
        let (status, body) = get(&format!("{base}{path}")).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["errorType"], "bad_data");
        assert!(
            body["error"].as_str().unwrap().contains(message),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn federate_and_format_query() {
    let mut s = MemStorage::new();
    let now = chrono::Utc::now().timestamp_millis();
    s.add(
        Labels::from_pairs(&[("__name__", "up"), ("job", "a")]),
        now - 10_000,
        1.0,
    );
    s.add(
        Labels::from_pairs(&[("__name__", "up"), ("job", "old")]),
        now - 3_600_000,
        1.0,
    );
    let base = start(s).await;
    let r = reqwest::get(format!("{base}/federate?match[]=up"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    assert_eq!(
        text,
        format!(
            "# TYPE up untyped\nup{{cluster=\"test\",job=\"a\"}} 1 {}\n",
            now - 10_000
        )
    );
    let r = reqwest::get(format!("{base}/federate")).await.unwrap();
    assert_eq!(r.status(), 400);

    let (status, body) = get(&format!(
        "{base}/api/v1/format_query?query=sum(rate(x[5m]))by(job)"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], "sum by (job) (rate(x[5m]))");
    let (status, body) = get(&format!("{base}/api/v1/format_query?query=sum(")).await;
    assert_eq!(status, 400, "{body}");
}
