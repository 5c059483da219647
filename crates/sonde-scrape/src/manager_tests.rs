//! End-to-end tests of scraping: real HTTP targets on 127.0.0.1, the
//! manager, its loops and a recording `Appendable`. Scrapes are triggered
//! with `scrape_now` (intervals are an hour) and awaited through
//! `subscribe_scrapes`, so nothing depends on timing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sonde_model::{is_stale_nan, MetricType};
use tokio::sync::broadcast;

use crate::discovery::static_sd::StaticConfig;
use crate::discovery::SdConfig;
use crate::testutil::{appendable, Recorder, TestServer};
use crate::*;

/// What a test target answers; changeable between scrapes.
#[derive(Clone)]
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
    gzip: bool,
    delay: Duration,
}

impl Reply {
    fn ok(body: &str) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: body.as_bytes().to_vec(),
            content_type: "text/plain; version=0.0.4",
            gzip: false,
            delay: Duration::ZERO,
        }
    }
}

struct Target {
    srv: TestServer,
    reply: Arc<Mutex<Reply>>,
    headers: Arc<Mutex<Option<HeaderMap>>>,
}

impl Target {
    async fn start(reply: Reply) -> Target {
        let reply = Arc::new(Mutex::new(reply));
        let headers = Arc::new(Mutex::new(None));
        let (r, h) = (reply.clone(), headers.clone());
        let router = axum::Router::new().route(
            "/metrics",
            get(move |hm: HeaderMap| {
                let (r, h) = (r.clone(), h.clone());
                async move {
                    *h.lock().unwrap() = Some(hm);
                    let rep = r.lock().unwrap().clone();
                    tokio::time::sleep(rep.delay).await;
                    let mut body = rep.body.clone();
                    let mut resp: Response;
                    if rep.gzip {
                        let mut z = Vec::new();
                        sonde_exposition::gzip::encode(&body, &mut z);
                        body = z;
                        resp = (rep.status, body).into_response();
                        resp.headers_mut()
                            .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
                    } else {
                        resp = (rep.status, body).into_response();
                    }
                    resp.headers_mut()
                        .insert(header::CONTENT_TYPE, rep.content_type.parse().unwrap());
                    resp
                }
            }),
        );
        Target {
            srv: TestServer::start(router).await,
            reply,
            headers,
        }
    }

    fn addr(&self) -> String {
        self.srv.addr.to_string()
    }

    fn set(&self, f: impl FnOnce(&mut Reply)) {
        f(&mut self.reply.lock().unwrap());
    }
}

fn pool(job: &str, targets: &[&Target]) -> PoolConfig {
    let mut c = PoolConfig::new(job);
    c.target_defaults.scrape_interval = Duration::from_secs(3600);
    c.target_defaults.scrape_timeout = Duration::from_secs(10);
    let addrs: Vec<String> = targets.iter().map(|t| t.addr()).collect();
    let g = Group::from_parts(String::new(), &addrs, &BTreeMap::new()).unwrap();
    c.service_discovery = vec![SdConfig::Static(StaticConfig::new(vec![g]))];
    c
}

struct Harness {
    rec: Arc<Recorder>,
    mgr: ScrapeManager,
    events: broadcast::Receiver<ScrapeEvent>,
}

impl Harness {
    fn new() -> Harness {
        let rec = Arc::new(Recorder::default());
        let mgr = ScrapeManager::new(
            appendable(&rec),
            ManagerOptions {
                jitter_seed: 1,
                discovery_update_interval: Duration::from_millis(1),
                end_of_run_staleness_delay: Some(Duration::ZERO),
            },
        );
        let events = mgr.subscribe_scrapes();
        Harness { rec, mgr, events }
    }

    /// Applies pools and waits until `n` targets are active.
    async fn apply(&self, pools: Vec<PoolConfig>, n: usize) {
        self.mgr.apply_pools(pools).await.unwrap();
        let mut syncs = self.mgr.subscribe_syncs();
        let wait = async {
            while self.mgr.active_targets().len() != n {
                syncs.changed().await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("targets did not appear");
    }

    /// Triggers a scrape of `job` and waits for the event of `url`.
    async fn scrape(&mut self, job: &str, url_part: &str) -> ScrapeEvent {
        self.mgr.scrape_now(Some(job)).await;
        self.next_event(url_part).await
    }

    async fn next_event(&mut self, url_part: &str) -> ScrapeEvent {
        let wait = async {
            loop {
                let e = self.events.recv().await.unwrap();
                if e.url.contains(url_part) {
                    return e;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("no scrape event within 20s")
    }

    fn target(&self, url_part: &str) -> ActiveTarget {
        self.mgr
            .active_targets()
            .into_iter()
            .find(|t| t.scrape_url.contains(url_part))
            .expect("target not active")
    }
}

const BODY: &str = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 10\nhttp_requests_total{code=\"500\"} 2\n# TYPE temp gauge\ntemp 21.5\n";

#[tokio::test]
async fn scrapes_samples_and_report_series() {
    let t = Target::start(Reply::ok(BODY)).await;
    let mut h = Harness::new();
    h.apply(vec![pool("app", &[&t])], 1).await;
    let at = h.target(&t.addr());
    assert_eq!(at.health, TargetHealth::Unknown);
    assert_eq!(at.scrape_url, format!("http://{}/metrics", t.addr()));
    let e = h.scrape("app", &t.addr()).await;
    assert_eq!(e.health, TargetHealth::Up, "{e:?}");

    let s = h.rec.of("http_requests_total");
    assert_eq!(s.len(), 2);
    let labels = &s[0].labels;
    assert_eq!(labels.get("job"), Some("app"));
    assert_eq!(labels.get("instance"), Some(t.addr().as_str()));
    assert_eq!(h.rec.last("up"), Some(1.0));
    assert_eq!(h.rec.last("scrape_samples_scraped"), Some(3.0));
    assert_eq!(
        h.rec.last("scrape_samples_post_metric_relabeling"),
        Some(3.0)
    );
    assert_eq!(h.rec.last("scrape_series_added"), Some(3.0));
    assert!(h.rec.last("scrape_duration_seconds").unwrap() >= 0.0);
    let up = &h.rec.of("up")[0];
    assert_eq!(up.labels.len(), 3, "{:?}", up.labels);
    // All samples of one scrape share its timestamp.
    assert!(h.rec.samples().iter().all(|r| r.t == up.t));

    // Headers Prometheus sends.
    let hm = t.headers.lock().unwrap().clone().unwrap();
    assert_eq!(hm["accept"], sonde_exposition::SCRAPE_ACCEPT_HEADER);
    assert_eq!(hm["x-prometheus-scrape-timeout-seconds"], "10");
    assert_eq!(hm["accept-encoding"], "gzip");
    assert_eq!(hm["user-agent"], "Prometheus/2.42.0");

    // A second scrape: no new series.
    h.scrape("app", &t.addr()).await;
    assert_eq!(h.rec.last("scrape_series_added"), Some(0.0));

    let at = h.target(&t.addr());
    assert_eq!(at.health, TargetHealth::Up);
    assert_eq!(at.last_error, "");
    assert!(at.last_scrape.is_some());
    assert_eq!(at.scrape_interval, "1h");
    assert_eq!(at.interval, Duration::from_secs(3600));
    assert_eq!(
        at.discovered_labels.get("__address__"),
        Some(t.addr().as_str())
    );

    let md = h.mgr.targets_metadata(Some("http_requests_total"));
    assert_eq!(md.len(), 1);
    assert_eq!(md[0].metadata.metric_type, MetricType::Counter);
    assert_eq!(md[0].metadata.help, "Requests.");
    assert_eq!(
        h.mgr.metric_metadata()["temp"][0].metric_type,
        MetricType::Gauge
    );
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn vanished_series_get_staleness_markers() {
    let t = Target::start(Reply::ok("a 1\nb 2\n")).await;
    let mut h = Harness::new();
    h.apply(vec![pool("app", &[&t])], 1).await;
    h.scrape("app", &t.addr()).await;
    t.set(|r| r.body = b"a 1\n".to_vec());
    h.scrape("app", &t.addr()).await;
    let b = h.rec.of("b");
    assert_eq!(b.len(), 2);
    assert!(is_stale_nan(b[1].v));
    assert!(h.rec.of("a").iter().all(|r| !is_stale_nan(r.v)));
    // The marker has the timestamp of the scrape that missed the series.
    assert_eq!(b[1].t, h.rec.of("a")[1].t);
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn gzip_bodies_and_openmetrics_are_read() {
    let t = Target::start(Reply {
        gzip: true,
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ..Reply::ok(
            "# TYPE c_seconds counter\n# UNIT c_seconds seconds\nc_seconds_total 3\n# EOF\n",
        )
    })
    .await;
    let mut h = Harness::new();
    h.apply(vec![pool("app", &[&t])], 1).await;
    let e = h.scrape("app", &t.addr()).await;
    assert_eq!(e.health, TargetHealth::Up, "{e:?}");
    assert_eq!(h.rec.last("c_seconds_total"), Some(3.0));
    let md = h.mgr.targets_metadata(Some("c_seconds"));
    assert_eq!(md[0].metadata.unit, "seconds");
    h.mgr.shutdown().await;
}

/// Each bad target is down with an exact error while a good one in the
/// same pool stays up.
#[tokio::test]
async fn bad_targets_are_down_and_isolated() {
    let good = Target::start(Reply::ok("ok 1\n")).await;
    let garbage = Target::start(Reply::ok("this is not { metrics\n")).await;
    let status = Target::start(Reply {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        ..Reply::ok("x 1\n")
    })
    .await;
    let big = Target::start(Reply::ok(&"big_metric 1\n".repeat(1000))).await;
    let big_gz = Target::start(Reply {
        gzip: true,
        ..Reply::ok(&"big_metric 1\n".repeat(1000))
    })
    .await;
    let slow = Target::start(Reply {
        delay: Duration::from_secs(30),
        ..Reply::ok("x 1\n")
    })
    .await;
    let bad_utf8 = Target::start(Reply {
        body: b"m{l=\"\xff\xfe\"} 1\n".to_vec(),
        ..Reply::ok("")
    })
    .await;
    let all = [&good, &garbage, &status, &big, &big_gz, &slow, &bad_utf8];
    let mut cfg = pool("mixed", &all);
    cfg.body_size_limit = 1000;
    // Long enough for the good targets on a loaded machine; the slow one
    // answers after 30s.
    cfg.target_defaults.scrape_timeout = Duration::from_secs(3);
    let mut h = Harness::new();
    h.apply(vec![cfg], all.len()).await;
    h.mgr.scrape_now(Some("mixed")).await;
    let mut events = BTreeMap::new();
    while events.len() < all.len() {
        let e = h.next_event("").await;
        events.insert(e.url.clone(), e);
    }
    let err = |t: &Target| {
        let e = &events[&format!("http://{}/metrics", t.addr())];
        assert_eq!(e.health == TargetHealth::Up, e.error.is_none());
        e.error.clone().unwrap_or_default()
    };
    assert_eq!(err(&good), "");
    assert!(err(&garbage).starts_with("line 1:"), "{}", err(&garbage));
    assert_eq!(
        err(&status),
        "server returned HTTP status 500 Internal Server Error"
    );
    assert_eq!(err(&big), "body size limit exceeded");
    assert_eq!(err(&big_gz), "body size limit exceeded");
    assert_eq!(
        err(&slow),
        format!(
            "Get \"http://{}/metrics\": context deadline exceeded",
            slow.addr()
        )
    );
    assert!(err(&bad_utf8).contains("UTF-8"), "{}", err(&bad_utf8));
    let ups: Vec<_> = h.rec.of("up");
    assert_eq!(ups.iter().filter(|r| r.v == 1.0).count(), 1);
    assert_eq!(ups.iter().filter(|r| r.v == 0.0).count(), all.len() - 1);
    assert_eq!(h.rec.last("ok"), Some(1.0));
    assert!(h.rec.of("big_metric").is_empty());
    let down = h.target(&status.addr());
    assert_eq!(down.health, TargetHealth::Down);
    assert_eq!(
        down.last_error,
        "server returned HTTP status 500 Internal Server Error"
    );
    assert_eq!(h.mgr.counters().errors("timeout"), 1);
    assert_eq!(h.mgr.counters().errors("body_size_limit"), 2);
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn sample_limit_fails_the_scrape_and_marks_series_stale() {
    let t = Target::start(Reply::ok("a 1\nb 2\n")).await;
    let mut cfg = pool("lim", &[&t]);
    cfg.limits.sample_limit = 2;
    let mut h = Harness::new();
    h.apply(vec![cfg], 1).await;
    assert_eq!(h.scrape("lim", &t.addr()).await.health, TargetHealth::Up);
    t.set(|r| r.body = b"a 1\nb 2\nc 3\n".to_vec());
    let e = h.scrape("lim", &t.addr()).await;
    assert_eq!(e.error.as_deref(), Some("sample limit exceeded"));
    assert!(h.rec.of("c").is_empty());
    assert!(is_stale_nan(h.rec.of("a").last().unwrap().v));
    assert!(is_stale_nan(h.rec.of("b").last().unwrap().v));
    assert_eq!(h.rec.last("up"), Some(0.0));
    assert_eq!(h.rec.last("scrape_samples_scraped"), Some(3.0));
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn label_limits_name_the_metric_and_limit() {
    let t = Target::start(Reply::ok("m{a=\"1\",b=\"2\"} 1\n")).await;
    let mut cfg = pool("lim", &[&t]);
    cfg.limits.label_limit = 4;
    let mut h = Harness::new();
    h.apply(vec![cfg.clone()], 1).await;
    let e = h.scrape("lim", &t.addr()).await;
    assert_eq!(
        e.error.as_deref(),
        Some("label_limit exceeded (metric: m, number of labels: 5, limit: 4)")
    );
    cfg.limits.label_limit = 0;
    cfg.limits.label_value_length_limit = 0;
    cfg.limits.label_name_length_limit = 3;
    h.apply(vec![cfg], 1).await;
    let e = h.scrape("lim", &t.addr()).await;
    assert_eq!(
        e.error.as_deref(),
        Some("label_name_length_limit exceeded (metric: m, label name: __name__, length: 8, limit: 3)")
    );
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn duplicate_series_keep_the_first_sample() {
    let t = Target::start(Reply::ok("d 1\nd 2\ne 5\n")).await;
    let mut h = Harness::new();
    h.apply(vec![pool("dup", &[&t])], 1).await;
    let e = h.scrape("dup", &t.addr()).await;
    assert_eq!(e.health, TargetHealth::Up, "{e:?}");
    assert_eq!(h.rec.of("d").len(), 1);
    assert_eq!(h.rec.last("d"), Some(1.0));
    assert_eq!(h.rec.last("scrape_samples_scraped"), Some(3.0));
    assert_eq!(
        h.mgr
            .counters()
            .samples_duplicate
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn honor_labels_and_timestamps() {
    let body = "m{job=\"exposed\",instance=\"x\"} 1 1000\n";
    let t = Target::start(Reply::ok(body)).await;
    let mut h = Harness::new();
    let mut honor = pool("honor", &[&t]);
    honor.honor_labels = true;
    let mut plain = pool("plain", &[&t]);
    plain.honor_timestamps = false;
    h.apply(vec![honor, plain], 2).await;
    h.scrape("honor", &t.addr()).await;
    h.scrape("plain", &t.addr()).await;
    let m = h.rec.of("m");
    let honored = m
        .iter()
        .find(|r| r.labels.get("job") == Some("exposed"))
        .unwrap();
    assert_eq!(honored.t, 1000);
    assert_eq!(honored.labels.get("instance"), Some("x"));
    let plain = m
        .iter()
        .find(|r| r.labels.get("job") == Some("plain"))
        .unwrap();
    assert_eq!(plain.labels.get("exported_job"), Some("exposed"));
    assert_eq!(plain.labels.get("exported_instance"), Some("x"));
    assert_ne!(plain.t, 1000);
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn target_limit_fails_every_target_of_the_pool() {
    let a = Target::start(Reply::ok("a 1\n")).await;
    let b = Target::start(Reply::ok("b 1\n")).await;
    let mut cfg = pool("tl", &[&a, &b]);
    cfg.target_limit = 1;
    let mut h = Harness::new();
    h.apply(vec![cfg], 2).await;
    let e = h.scrape("tl", &a.addr()).await;
    assert_eq!(
        e.error.as_deref(),
        Some("target_limit exceeded (number of targets: 2, limit: 1)")
    );
    assert!(h.rec.of("a").is_empty());
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn reload_keeps_unchanged_pools_and_stales_removed_ones() {
    let a = Target::start(Reply::ok("a 1\n")).await;
    let b = Target::start(Reply::ok("b 1\n")).await;
    let mut h = Harness::new();
    let pa = pool("keep", &[&a]);
    let pb = pool("gone", &[&b]);
    h.apply(vec![pa.clone(), pb], 2).await;
    h.scrape("keep", &a.addr()).await;
    h.scrape("gone", &b.addr()).await;
    let before = h.target(&a.addr());

    h.apply(vec![pa.clone()], 1).await;
    // The unchanged pool kept its loop and status.
    let after = h.target(&a.addr());
    assert_eq!(after.last_scrape, before.last_scrape);
    assert_eq!(after.health, TargetHealth::Up);
    // The removed pool's series get staleness markers.
    let wait = async {
        loop {
            if h.rec.of("b").last().is_some_and(|r| is_stale_nan(r.v))
                && h.rec.of("up").iter().any(|r| is_stale_nan(r.v))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("no staleness markers");
    assert!(h.rec.of("a").iter().all(|r| !is_stale_nan(r.v)));

    // A changed pool reloads without staleness markers and scrapes on.
    let mut pa2 = pa.clone();
    pa2.limits.sample_limit = 100;
    h.apply(vec![pa2], 1).await;
    let e = h.scrape("keep", &a.addr()).await;
    assert_eq!(e.health, TargetHealth::Up);
    assert!(h.rec.of("a").iter().all(|r| !is_stale_nan(r.v)));
    h.mgr.shutdown().await;
    assert!(h.rec.of("a").iter().all(|r| !is_stale_nan(r.v)));
    assert!(h.mgr.active_targets().is_empty());
}

#[tokio::test]
async fn relabeling_drops_targets_and_metrics() {
    use sonde_config::relabel::{Action, RelabelConfig};
    let a = Target::start(Reply::ok("keep_me 1\ndrop_me 2\n")).await;
    let b = Target::start(Reply::ok("x 1\n")).await;
    let mut cfg = pool("rl", &[&a, &b]);
    cfg.relabel_configs =
        vec![RelabelConfig::new(Action::Drop, &["__address__"], &b.addr(), "", "$1").unwrap()];
    cfg.metric_relabel_configs =
        vec![RelabelConfig::new(Action::Drop, &["__name__"], "drop_me", "", "$1").unwrap()];
    let mut h = Harness::new();
    h.apply(vec![cfg], 1).await;
    let dropped = h.mgr.dropped_targets();
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        dropped[0].discovered_labels.get("__address__"),
        Some(b.addr().as_str())
    );
    h.scrape("rl", &a.addr()).await;
    assert!(h.rec.of("drop_me").is_empty());
    assert_eq!(h.rec.last("keep_me"), Some(1.0));
    assert_eq!(h.rec.last("scrape_samples_scraped"), Some(2.0));
    assert_eq!(
        h.rec.last("scrape_samples_post_metric_relabeling"),
        Some(1.0)
    );
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn apply_config_with_file_and_http_sd() {
    let t = Target::start(Reply::ok("from_sd 1\n")).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    std::fs::write(
        &file,
        format!(
            r#"[{{"targets": ["{}"], "labels": {{"team": "a"}}}}]"#,
            t.addr()
        ),
    )
    .unwrap();
    let sd_body = format!(
        r#"[{{"targets": ["{}"], "labels": {{"team": "b"}}}}]"#,
        t.addr()
    );
    let sd = TestServer::start(axum::Router::new().route(
        "/sd",
        get(move || {
            let b = sd_body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], b) }
        }),
    ))
    .await;
    let text = format!(
        r#"
scrape_configs:
  - job_name: files
    scrape_interval: 1h
    file_sd_configs:
      - files: ['{}/*.json']
  - job_name: http
    scrape_interval: 1h
    http_sd_configs:
      - url: {}
"#,
        dir.path().display(),
        sd.url("/sd")
    );
    let cfg = sonde_config::load_str(&text, "prometheus.yml").unwrap();
    let mut h = Harness::new();
    h.mgr.apply_config(&cfg).await.unwrap();
    let mut syncs = h.mgr.subscribe_syncs();
    let wait = async {
        while h.mgr.active_targets().len() != 2 {
            syncs.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("no SD targets");
    let targets = h.mgr.active_targets();
    let files = targets.iter().find(|t| t.scrape_pool == "files").unwrap();
    assert_eq!(
        files.discovered_labels.get("__meta_filepath"),
        Some(file.display().to_string().as_str())
    );
    assert_eq!(files.labels.get("team"), Some("a"));
    let http = targets.iter().find(|t| t.scrape_pool == "http").unwrap();
    assert_eq!(
        http.discovered_labels.get("__meta_url"),
        Some(sd.url("/sd").as_str())
    );
    assert_eq!(http.scrape_interval, "1h");
    h.scrape("files", &t.addr()).await;
    let s = h.rec.of("from_sd");
    assert_eq!(s[0].labels.get("team"), Some("a"));
    assert_eq!(s[0].labels.get("job"), Some("files"));
    let m = h.mgr.metrics();
    let pools = m.iter().find(|v| v.name == "sonde_scrape_pools").unwrap();
    assert_eq!(pools.value, 2.0);
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn auth_headers_proxy_and_redirects() {
    use crate::client::{Authorization, BasicAuth};
    let t = Target::start(Reply::ok("authed 1\n")).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "from-file\n").unwrap();
    let mut basic = pool("basic", &[&t]);
    basic.http.basic_auth = Some(BasicAuth {
        username: "u".into(),
        password: Some("p".into()),
        password_file: None,
    });
    let mut bearer = pool("bearer", &[&t]);
    bearer.http.authorization = Some(Authorization {
        kind: "Bearer".into(),
        credentials: None,
        credentials_file: Some(token.clone()),
    });
    let mut h = Harness::new();
    h.apply(vec![basic, bearer], 2).await;
    h.scrape("basic", &t.addr()).await;
    let hm = t.headers.lock().unwrap().clone().unwrap();
    assert_eq!(hm["authorization"], "Basic dTpw");
    h.scrape("bearer", &t.addr()).await;
    let hm = t.headers.lock().unwrap().clone().unwrap();
    assert_eq!(hm["authorization"], "Bearer from-file");
    h.mgr.shutdown().await;

    // A proxy on loopback answers for a target name that does not resolve.
    let proxy = Target::start(Reply::ok("via_proxy 1\n")).await;
    let mut cfg = PoolConfig::new("proxied");
    cfg.target_defaults.scrape_interval = Duration::from_secs(3600);
    cfg.http.proxy_url = Some(format!("http://{}", proxy.addr()));
    let g = Group::from_parts(
        String::new(),
        &["target.invalid:9100".to_string()],
        &BTreeMap::new(),
    )
    .unwrap();
    cfg.service_discovery = vec![SdConfig::Static(StaticConfig::new(vec![g]))];
    let mut h = Harness::new();
    h.apply(vec![cfg], 1).await;
    let e = h.scrape("proxied", "target.invalid").await;
    assert_eq!(e.health, TargetHealth::Up, "{e:?}");
    assert_eq!(h.rec.last("via_proxy"), Some(1.0));
    h.mgr.shutdown().await;

    // follow_redirects: false makes a redirect a failed scrape.
    let redirect = Target::start(Reply {
        status: StatusCode::FOUND,
        ..Reply::ok("")
    })
    .await;
    let mut cfg = pool("redir", &[&redirect]);
    cfg.http.follow_redirects = false;
    let mut h = Harness::new();
    h.apply(vec![cfg], 1).await;
    let e = h.scrape("redir", &redirect.addr()).await;
    assert_eq!(
        e.error.as_deref(),
        Some("server returned HTTP status 302 Found")
    );
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn out_of_order_samples_are_dropped_and_counted() {
    let t = Target::start(Reply::ok("m 1 2000\n")).await;
    let mut h = Harness::new();
    h.apply(vec![pool("ooo", &[&t])], 1).await;
    h.scrape("ooo", &t.addr()).await;
    t.set(|r| r.body = b"m 2 1000\n".to_vec());
    let e = h.scrape("ooo", &t.addr()).await;
    assert_eq!(e.health, TargetHealth::Up);
    assert_eq!(h.rec.of("m").len(), 1);
    let ooo = h
        .mgr
        .counters()
        .samples_out_of_order
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(ooo, 1);
    h.mgr.shutdown().await;
}

/// A raw HTTP server that sends headers, then `chunk` every `every`,
/// forever (until the client goes away).
async fn endless(chunk: &'static [u8], every: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
                loop {
                    if s.write_all(&frame).await.is_err() {
                        return;
                    }
                    if !every.is_zero() {
                        tokio::time::sleep(every).await;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn endless_bodies_stop_at_the_limit_and_slow_ones_at_the_timeout() {
    // Without reading stopping at the limit this scrape would run into
    // the (long) timeout instead.
    let flood = endless(b"flood_metric 1\n", Duration::ZERO).await;
    let loris = endless(b"s", Duration::from_millis(50)).await;
    let mk = |job: &str, addr: &str| {
        let mut c = PoolConfig::new(job);
        c.target_defaults.scrape_interval = Duration::from_secs(3600);
        let g = Group::from_parts(String::new(), &[addr.to_string()], &BTreeMap::new()).unwrap();
        c.service_discovery = vec![SdConfig::Static(StaticConfig::new(vec![g]))];
        c
    };
    let mut big = mk("flood", &flood);
    big.body_size_limit = 1 << 20;
    big.target_defaults.scrape_timeout = Duration::from_secs(3600);
    let mut slow = mk("loris", &loris);
    slow.target_defaults.scrape_timeout = Duration::from_millis(300);
    let mut h = Harness::new();
    h.apply(vec![big, slow], 2).await;
    let e = h.scrape("flood", &flood).await;
    assert_eq!(e.error.as_deref(), Some("body size limit exceeded"));
    let e = h.scrape("loris", &loris).await;
    assert_eq!(
        e.error.unwrap(),
        format!("Get \"http://{loris}/metrics\": context deadline exceeded")
    );
    assert_eq!(h.rec.of("up").iter().filter(|r| r.v == 0.0).count(), 2);
    h.mgr.shutdown().await;
}

#[tokio::test]
async fn a_target_leaving_discovery_gets_staleness_markers() {
    use crate::discovery::file::FileSdConfig;
    let a = Target::start(Reply::ok("stays 1\n")).await;
    let b = Target::start(Reply::ok("leaves 1\n")).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    let write = |addrs: &[String]| {
        let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
        std::fs::write(&file, format!("[{{\"targets\": [{}]}}]", list.join(","))).unwrap();
    };
    write(&[a.addr(), b.addr()]);
    let mut cfg = PoolConfig::new("fsd");
    cfg.target_defaults.scrape_interval = Duration::from_secs(3600);
    cfg.service_discovery = vec![SdConfig::File(FileSdConfig {
        files: vec![format!("{}/*.json", dir.path().display())],
        refresh_interval: Duration::from_millis(50),
    })];
    let mut h = Harness::new();
    h.apply(vec![cfg], 2).await;
    h.scrape("fsd", &a.addr()).await;
    h.mgr.scrape_now(Some("fsd")).await;
    h.next_event(&b.addr()).await;
    assert_eq!(h.rec.last("leaves"), Some(1.0));

    write(&[a.addr()]);
    let wait = async {
        while !h.rec.of("leaves").last().is_some_and(|r| is_stale_nan(r.v)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("no staleness marker for the target that left");
    assert_eq!(h.mgr.active_targets().len(), 1);
    let up_b = h
        .rec
        .of("up")
        .into_iter()
        .rev()
        .find(|r| r.labels.get("instance") == Some(b.addr().as_str()))
        .unwrap();
    assert!(is_stale_nan(up_b.v));
    assert!(h.rec.of("stays").iter().all(|r| !is_stale_nan(r.v)));
    h.mgr.shutdown().await;
}
