use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;

use super::*;
use crate::testutil::TestServer;

fn cfg(url: String) -> HttpSdConfig {
    HttpSdConfig {
        url,
        refresh_interval: Duration::from_secs(60),
        http: Default::default(),
    }
}

#[tokio::test]
async fn fetches_groups_with_meta_url() {
    let srv = TestServer::start(axum::Router::new().route(
        "/sd",
        get(|h: HeaderMap| async move {
            assert_eq!(h["accept"], "application/json");
            assert_eq!(h["x-prometheus-refresh-interval-seconds"], "60");
            (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                r#"[{"targets": ["a:1"], "labels": {"dc": "x"}}, {"targets": ["b:2"]}]"#,
            )
        }),
    ))
    .await;
    let url = srv.url("/sd");
    let groups = fetch(&cfg(url.clone()), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].labels.get(URL_LABEL), Some(url.as_str()));
    assert_eq!(groups[0].labels.get("dc"), Some("x"));
    assert_eq!(groups[1].source, format!("{url}:1"));
}

#[tokio::test]
async fn errors_name_what_was_wrong() {
    let srv = TestServer::start(
        axum::Router::new()
            .route("/404", get(|| async { StatusCode::NOT_FOUND }))
            .route("/text", get(|| async { "[]" }))
            .route(
                "/bad",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        "[{\"targets\": 1}]",
                    )
                }),
            ),
    )
    .await;
    let t = Duration::from_secs(10);
    let e = fetch(&cfg(srv.url("/404")), t).await.unwrap_err();
    assert_eq!(e, "server returned HTTP status 404 Not Found");
    let e = fetch(&cfg(srv.url("/text")), t).await.unwrap_err();
    assert_eq!(e, "unsupported content type \"text/plain; charset=utf-8\"");
    let e = fetch(&cfg(srv.url("/bad")), t).await.unwrap_err();
    assert!(e.starts_with("cannot parse response from"), "{e}");
}

#[tokio::test]
async fn failed_refresh_keeps_groups_and_shrink_deletes() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let srv = TestServer::start(axum::Router::new().route(
        "/sd",
        get(|| async {
            let body = match CALLS.fetch_add(1, Ordering::SeqCst) {
                0 => r#"[{"targets": ["a:1"]}, {"targets": ["b:2"]}]"#,
                1 => "oops",
                _ => r#"[{"targets": ["a:1"]}]"#,
            };
            ([(header::CONTENT_TYPE, "application/json")], body)
        }),
    ))
    .await;
    let mut d = HttpDiscoverer {
        cfg: cfg(srv.url("/sd")),
        last_count: 0,
    };
    let t = Duration::from_secs(10);
    let c = d.cfg.http.build(t).unwrap();
    assert_eq!(d.refresh(&c, t).await.unwrap().len(), 2);
    assert!(d.refresh(&c, t).await.is_err());
    let g = d.refresh(&c, t).await.unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].targets.len(), 1);
    assert!(g[1].targets.is_empty() && g[1].source.ends_with(":1"));
}
