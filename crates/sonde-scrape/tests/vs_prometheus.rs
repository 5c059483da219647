//! Peer test: the same prometheus.yml and the same targets (HTTP servers on
//! 127.0.0.1) scraped by a real Prometheus 2.42 (`prometheus` on PATH) and
//! by Sonde's ScrapeManager. Compared: active targets (labels, discovered
//! labels, scrape URL, pool, interval, timeout, health, and `lastError` for
//! the errors whose text does not come from a parser or the network stack),
//! dropped targets, and the label sets of every series stored.
//!
//! Skips with a printed reason when `prometheus` is not installed, unless
//! `SONDE_REQUIRE_PEERS=1`.

// Helpers of a test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use sonde_model::{
    is_stale_nan, AppendError, Appendable, Appender, Exemplar, Labels, SeriesRef, StorageError,
    Timestamp,
};
use sonde_scrape::{ManagerOptions, ScrapeManager, TargetHealth};

const GOOD: &str = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\",job=\"exposed\",instance=\"i\"} 10\nhttp_requests_total{code=\"500\"} 2\ndropme 1\ntemp{a=\"1\",b=\"2\",c=\"3\"} 21.5\n";

async fn serve(status: StatusCode, body: String) -> String {
    let router = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move {
            (
                status,
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                body,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

fn config(good: &str, failing: &str, big: &str) -> String {
    format!(
        r#"
global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: plain
    static_configs:
      - targets: ['{good}', '{failing}']
        labels: {{env: test}}
  - job_name: relabeled
    metrics_path: /custom path
    params: {{module: [a, b]}}
    static_configs:
      - targets: ['{good}', 'drop.invalid:1', 'localhost']
    relabel_configs:
      - source_labels: [__address__]
        regex: 'drop\.invalid:1'
        action: drop
      - target_label: __param_target
        replacement: 'x y'
      - source_labels: [__address__]
        target_label: addr
      - source_labels: [__address__]
        regex: 'localhost'
        target_label: __scrape_timeout__
        replacement: 500ms
      - source_labels: [__address__]
        regex: 'localhost'
        target_label: __scrape_interval__
        replacement: 1000ms
  - job_name: honor
    honor_labels: true
    static_configs:
      - targets: ['{good}']
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: dropme
        action: drop
  - job_name: bodylimit
    body_size_limit: 1KB
    static_configs:
      - targets: ['{big}']
  - job_name: samplelimit
    sample_limit: 2
    static_configs:
      - targets: ['{good}']
  - job_name: labellimit
    label_limit: 3
    static_configs:
      - targets: ['{good}']
"#
    )
}

/// Errors whose text is Prometheus' own (not a Go network or parser text).
fn comparable_error(e: &str) -> bool {
    e.is_empty()
        || e.starts_with("server returned HTTP status")
        || e == "body size limit exceeded"
        || e == "sample limit exceeded"
        || e.starts_with("label_limit exceeded")
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct TargetView {
    pool: String,
    url: String,
    labels: BTreeMap<String, String>,
    discovered: BTreeMap<String, String>,
    health: String,
    error: Option<String>,
    interval: String,
    timeout: String,
}

/// Dropped targets as (pool or job, discovered labels).
type Dropped = BTreeSet<(String, BTreeMap<String, String>)>;

fn map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn json_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect()
}

/// The process and the temporary directory it runs in (removed on drop).
struct Prom(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prometheus_available() -> bool {
    Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

async fn get_json(port: u16, path: &str) -> Option<serde_json::Value> {
    let r = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .ok()?;
    serde_json::from_slice(&r.bytes().await.ok()?).ok()
}

/// Prometheus' targets once every active target has been scraped.
async fn prometheus_targets(cfg: &str) -> (Prom, u16, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let prom = Prom(child, dir);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape every target in time"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(v) = get_json(port, "/api/v1/targets").await else {
            continue;
        };
        let active = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // One more scrape interval after all are known, so the series
        // API below has every series.
        if !active.is_empty() && active.iter().all(|t| t["health"] != "unknown") {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let v = get_json(port, "/api/v1/targets").await.unwrap();
            return (prom, port, v["data"].clone());
        }
    }
}

fn prom_views(data: &serde_json::Value) -> (Vec<TargetView>, Dropped) {
    let mut active: Vec<TargetView> = data["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let err = t["lastError"].as_str().unwrap().to_string();
            TargetView {
                pool: t["scrapePool"].as_str().unwrap().into(),
                url: t["scrapeUrl"].as_str().unwrap().into(),
                labels: json_map(&t["labels"]),
                discovered: json_map(&t["discoveredLabels"]),
                health: t["health"].as_str().unwrap().into(),
                error: comparable_error(&err).then_some(err),
                interval: t["scrapeInterval"].as_str().unwrap().into(),
                timeout: t["scrapeTimeout"].as_str().unwrap().into(),
            }
        })
        .collect();
    active.sort();
    let dropped = data["droppedTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let d = json_map(&t["discoveredLabels"]);
            (d.get("job").cloned().unwrap_or_default(), d)
        })
        .collect();
    (active, dropped)
}

#[derive(Default)]
struct Rec(Mutex<BTreeSet<Labels>>);
struct RecHandle(Arc<Rec>);
struct RecApp(Arc<Rec>, Vec<Labels>);

impl Appendable for RecHandle {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(RecApp(self.0.clone(), Vec::new()))
    }
}

impl Appender for RecApp {
    fn append(
        &mut self,
        r: SeriesRef,
        l: &Labels,
        _: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        if !is_stale_nan(v) {
            self.1.push(l.clone());
        }
        Ok(r.max(1))
    }
    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        Ok(r)
    }
    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.0 .0.lock().unwrap().extend(self.1);
        Ok(())
    }
    fn rollback(self: Box<Self>) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_and_series_match_prometheus() {
    if !prometheus_available() {
        assert!(
            std::env::var("SONDE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "prometheus is not installed and SONDE_REQUIRE_PEERS=1"
        );
        eprintln!("skipping: prometheus (2.42) is not installed");
        return;
    }
    let good = serve(StatusCode::OK, GOOD.to_string()).await;
    let failing = serve(StatusCode::INTERNAL_SERVER_ERROR, "x 1\n".to_string()).await;
    let big = serve(StatusCode::OK, "big_metric 1\n".repeat(200)).await;
    let cfg_text = config(&good, &failing, &big);

    // Sonde.
    let rec = Arc::new(Rec::default());
    let mgr = ScrapeManager::new(
        Arc::new(RecHandle(rec.clone())),
        ManagerOptions {
            discovery_update_interval: Duration::from_millis(1),
            ..ManagerOptions::default()
        },
    );
    let cfg = sonde_config::load_str(&cfg_text, "prometheus.yml").unwrap();
    mgr.apply_config(&cfg).await.unwrap();
    let mut syncs = mgr.subscribe_syncs();
    let n_active = 8;
    while mgr.active_targets().len() < n_active {
        tokio::time::timeout(Duration::from_secs(20), syncs.changed())
            .await
            .unwrap()
            .unwrap();
    }
    let mut events = mgr.subscribe_scrapes();
    mgr.scrape_now(None).await;
    let mut seen = BTreeSet::new();
    while seen.len() < n_active {
        let e = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .unwrap()
            .unwrap();
        seen.insert((e.job, e.url));
    }
    let mut sonde_active: Vec<TargetView> = mgr
        .active_targets()
        .iter()
        .map(|t| TargetView {
            pool: t.scrape_pool.clone(),
            url: t.scrape_url.clone(),
            labels: map(&t.labels),
            discovered: map(&t.discovered_labels),
            health: match t.health {
                TargetHealth::Up => "up",
                TargetHealth::Down => "down",
                TargetHealth::Unknown => "unknown",
            }
            .into(),
            error: comparable_error(&t.last_error).then(|| t.last_error.clone()),
            interval: t.scrape_interval.clone(),
            timeout: t.scrape_timeout.clone(),
        })
        .collect();
    sonde_active.sort();
    let sonde_dropped: Dropped = mgr
        .dropped_targets()
        .iter()
        .map(|d| (d.scrape_pool.clone(), map(&d.discovered_labels)))
        .collect();
    let sonde_series: BTreeSet<BTreeMap<String, String>> =
        rec.0.lock().unwrap().iter().map(map).collect();
    mgr.shutdown().await;

    // Prometheus.
    let (_prom, port, data) = prometheus_targets(&cfg_text).await;
    let (prom_active, prom_dropped) = prom_views(&data);
    let series = get_json(
        port,
        "/api/v1/series?match%5B%5D=%7B__name__%3D~%22.%2B%22%7D",
    )
    .await
    .unwrap();
    let prom_series: BTreeSet<BTreeMap<String, String>> = series["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(json_map)
        // Prometheus' own series would need a self-scrape; none is configured.
        .collect();

    assert_eq!(prom_active.len(), n_active, "{prom_active:#?}");
    // Not a vacuous comparison: the interesting cases are there.
    assert!(prom_series.len() >= 40, "{}", prom_series.len());
    assert!(prom_series
        .iter()
        .any(|s| s.get("exported_job").is_some_and(|v| v == "exposed")));
    assert_eq!(prom_dropped.len(), 1);
    let errors: BTreeSet<_> = prom_active.iter().filter_map(|t| t.error.clone()).collect();
    assert_eq!(errors.len(), 5, "{errors:#?}");
    eprintln!(
        "compared {} targets, {} dropped, {} series, errors {errors:?}",
        prom_active.len(),
        prom_dropped.len(),
        prom_series.len()
    );
    for (s, p) in sonde_active.iter().zip(&prom_active) {
        assert_eq!(s, p);
    }
    assert_eq!(sonde_active, prom_active);
    assert_eq!(sonde_dropped, prom_dropped);
    let only_sonde: Vec<_> = sonde_series.difference(&prom_series).collect();
    let only_prom: Vec<_> = prom_series.difference(&sonde_series).collect();
    assert!(
        only_sonde.is_empty() && only_prom.is_empty(),
        "series only in Sonde: {only_sonde:#?}\nseries only in Prometheus: {only_prom:#?}"
    );
}
