//! A web server with no Sonde server behind it, for the HTTP tests: the
//! storage and query parts they need, a [`TestControl`] for the rest, served
//! on an ephemeral loopback port until the test process ends.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod prom;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use sonde_model::{Appendable, Labels};
use sonde_web::{BuildInfo, QueryService, RuntimeInfo, ServerControl, WebContext, WebOptions};

/// The server side of a test: fixed answers, no reload, no quit.
pub struct TestControl {
    pub external_labels: Labels,
}

impl ServerControl for TestControl {
    fn reload(&self) -> Result<(), String> {
        Err("reload is not part of this test".into())
    }
    fn quit(&self) {}
    fn ready(&self) -> bool {
        true
    }
    fn config_yaml(&self) -> String {
        String::new()
    }
    fn runtime_info(&self) -> RuntimeInfo {
        RuntimeInfo {
            start_time: String::new(),
            cwd: String::new(),
            reload_config_success: true,
            last_config_time: String::new(),
            corruption_count: 0,
            goroutine_count: 0,
            gomaxprocs: 0,
            gogc: String::new(),
            godebug: String::new(),
            storage_retention: String::new(),
        }
    }
    fn external_labels(&self) -> Labels {
        self.external_labels.clone()
    }
    fn own_metrics(&self) -> (String, &'static str) {
        (String::new(), "text/plain")
    }
}

/// A context serving `query` and `appendable` at the root path.
pub fn context(
    query: Option<QueryService>,
    appendable: Option<Arc<dyn Appendable>>,
    external_labels: Labels,
) -> Arc<WebContext> {
    Arc::new(WebContext {
        options: WebOptions {
            external_url: "http://x/".into(),
            route_prefix: String::new(),
            enable_lifecycle: false,
            enable_admin_api: false,
            listen_address: "127.0.0.1:0".into(),
        },
        control: Arc::new(TestControl { external_labels }),
        build: BuildInfo {
            version: String::new(),
            revision: String::new(),
            branch: String::new(),
            build_user: String::new(),
            build_date: String::new(),
            go_version: String::new(),
        },
        flags: BTreeMap::new(),
        query,
        scrape: None,
        storage_admin: None,
        appendable,
        exemplars: None,
        ingest: Default::default(),
        http: Default::default(),
    })
}

/// The context of [`serve_db`]: ingestion, queries and exemplars over `db`.
pub fn db_context(db: &Arc<sonde_tsdb::Db>) -> Arc<WebContext> {
    let engine = sonde_promql::Engine::new(sonde_promql::EngineOptions::default());
    let query = QueryService::new(engine, db.clone(), 2);
    let mut ctx = context(Some(query), Some(db.clone()), Labels::empty());
    if let Some(c) = Arc::get_mut(&mut ctx) {
        c.exemplars = Some(db.clone());
    }
    ctx
}

/// Serves `ctx` on an ephemeral loopback port and returns the address.
pub async fn serve(ctx: Arc<WebContext>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(sonde_web::serve(
        listener,
        sonde_web::router(ctx),
        std::future::pending(),
    ));
    addr
}

/// Kills a peer process when the test ends, however it ends.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the peer `binary` runs (`binary version_flag` succeeds). When it
/// does not, the test skips with the reason printed, or fails when
/// `SONDE_REQUIRE_PEERS=1`.
pub fn peer_present(binary: &str, version_flag: &str, package: &str) -> bool {
    let found = std::process::Command::new(binary)
        .arg(version_flag)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let why = format!("the {binary} binary (Debian package {package}) is not installed");
        assert!(
            std::env::var("SONDE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "SONDE_REQUIRE_PEERS=1 but {why}"
        );
        eprintln!("skipping this peer test: {why}");
    }
    found
}

/// A Prometheus peer started by [`start_prometheus`]; killed when dropped.
pub struct Prometheus {
    pub url: String,
    pub log: std::path::PathBuf,
    _process: KillOnDrop,
}

impl Prometheus {
    /// What it logged so far, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts `prometheus` with `config` (YAML) and `extra_args`, its data and
/// log in `dir`, listening on a free loopback port.
pub fn start_prometheus(dir: &std::path::Path, config: &str, extra_args: &[&str]) -> Prometheus {
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write prometheus.yml");
    let log = dir.join("prometheus.log");
    let port = free_port();
    let child = std::process::Command::new("prometheus")
        .args(extra_args)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create prometheus.log"))
        .spawn()
        .expect("start prometheus");
    Prometheus {
        url: format!("http://127.0.0.1:{port}"),
        log,
        _process: KillOnDrop(child),
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Serves ingestion and queries over a fresh Db in `dir` (no fsync, no
/// background maintenance) and returns the address.
pub async fn serve_db(dir: &std::path::Path) -> SocketAddr {
    let opts = sonde_tsdb::DbOptions {
        wal_fsync: sonde_tsdb::FsyncPolicy::Never,
        background: false,
        ..sonde_tsdb::DbOptions::default()
    };
    let db = sonde_tsdb::Db::open(dir, opts).expect("open Db");
    serve(db_context(&db)).await
}

/// `GET {base}/api/v1/query` of `query` at `time` (Unix seconds), checked
/// to have succeeded: the answer's `data.result` (a vector or a matrix).
pub async fn query_at(
    http: &reqwest::Client,
    base: &str,
    query: &str,
    time: f64,
) -> Vec<serde_json::Value> {
    let resp: serde_json::Value = http
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", query), ("time", &time.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["status"], "success", "{base}: {query}: {resp}");
    match resp["data"]["result"].as_array() {
        Some(result) => result.clone(),
        None => panic!("{base}: {query}: no result array in {resp}"),
    }
}
