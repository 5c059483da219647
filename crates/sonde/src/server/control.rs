//! The server's shared state and its [`ServerControl`] implementation: what
//! the web layer and the signal handlers call to reload, quit and report.
//!
//! Thread safety: the configuration in force is an `Arc<Config>` behind an
//! `RwLock`, replaced whole on a successful reload; reloads are serialised by
//! `reload_status`'s mutex, so two reloads never interleave. Storage and
//! scraping are set once, by [`ServerState::open_storage`], after the web
//! server has started (it answers 503 meanwhile, as Prometheus does during
//! WAL replay); `ready` turns true only after that. A stop requested before
//! then (`/-/quit` here, signals in `mod.rs`) cancels the storage open
//! through `startup`, which leaves the data directory untouched.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use sonde_config::{Config, LoadOptions};
use sonde_promql::{Engine, EngineOptions};
use sonde_scrape::{ManagerOptions, ScrapeManager};
use sonde_tsdb::{CancelOpen, Db, DbOptions};
use sonde_web::{
    BuildInfo, CorsOrigin, HttpState, Ingest, IngestLimits, QueryService, RuntimeInfo,
    ServerControl, WebContext, WebOptions,
};
use tokio::runtime::Handle;
use tokio::sync::watch;

use super::config_file::{self, ConfigSource};
use super::web_settings::{Apply, WebSettings};
use super::{query_cache, storage};
use crate::cli::ServerArgs;
use crate::own_metrics::{self, OwnMetrics};

/// The version of the Prometheus API that Sonde implements.
const PROMETHEUS_API_VERSION: &str = "2.42.0";

pub struct ServerState {
    args: ServerArgs,
    listen: SocketAddr,
    /// The web settings the server started with; the live ones (see
    /// `web_settings::KEYS`) are in `http` and follow reloads.
    web: WebSettings,
    http: Arc<HttpState>,
    start_time: DateTime<Utc>,
    runtime: Handle,
    config: RwLock<Arc<Config>>,
    reload_status: Mutex<ReloadStatus>,
    metrics: OwnMetrics,
    db: OnceLock<Arc<Db>>,
    /// Where every writer appends (the storage, through the query cache's
    /// write tracker when the cache is on), and the cache.
    writer: OnceLock<query_cache::Wiring>,
    scrape: OnceLock<Arc<ScrapeManager>>,
    /// Limits and counters of the push endpoints; limits follow reloads.
    ingest: Arc<Ingest>,
    ready: AtomicBool,
    /// Set when start-up finished (ready was reached once); never cleared.
    started: AtomicBool,
    /// Cancels the storage open when a stop is requested during start-up.
    startup: CancelOpen,
    quit: watch::Sender<bool>,
}

#[derive(Debug, Clone, Copy)]
struct ReloadStatus {
    success: bool,
    last_success: DateTime<Utc>,
}

/// Checks the configuration in `source`; relative paths in it are resolved
/// against the directory of `--config.file`, as Prometheus does. Logs what
/// of its `web` section is not applied or overridden by a flag.
pub fn parse_config(args: &ServerArgs, source: &ConfigSource) -> anyhow::Result<Config> {
    let base_dir = std::path::Path::new(&args.config_file)
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                p
            }
        })
        .map(|p| p.to_path_buf());
    let opts = LoadOptions {
        base_dir,
        ..LoadOptions::default()
    };
    let config = sonde_config::load_str_with(&source.text, &source.name, &opts)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("invalid configuration in {}", source.name))?;
    for warning in config.web.not_applied_warnings() {
        tracing::warn!(file = %source.name, "{warning}");
    }
    for key in WebSettings::overridden(args, &config.web) {
        tracing::info!(
            file = %source.name,
            "web.{} in the file is overridden by {} given on the command line",
            key.key,
            key.flag
        );
    }
    Ok(config)
}

/// Reads and checks the configuration file again (for a reload).
fn load_config(
    args: &ServerArgs,
    listen: SocketAddr,
    route_prefix: &str,
) -> anyhow::Result<Config> {
    let source = match config_file::read(&args.config_file)? {
        Some(source) => source,
        None => config_file::builtin(listen, route_prefix),
    };
    parse_config(args, &source)
}

impl ServerState {
    /// Takes the loaded configuration and the web settings the server
    /// listens with, and sets up the server's own metrics. Storage and
    /// scraping start later, in [`ServerState::open_storage`], which
    /// `startup` cancels.
    pub fn new(
        args: ServerArgs,
        web: WebSettings,
        config: Config,
        listen: SocketAddr,
        startup: CancelOpen,
    ) -> anyhow::Result<Arc<ServerState>> {
        tracing::info!(file = %args.config_file, "loaded configuration");
        let now = Utc::now();
        let metrics = OwnMetrics::new(env!("CARGO_PKG_VERSION"));
        metrics.config_last_reload_successful.set(1);
        metrics
            .config_last_reload_success_timestamp_seconds
            .set(now.timestamp() as f64);
        let ingest = Arc::new(Ingest::new(ingest_limits(&config.ingest)));
        let ingest_for_metrics = ingest.clone();
        metrics.register_subsystem(move || own_metrics::from_values(ingest_for_metrics.metrics()));
        let http = Arc::new(HttpState::new(
            web.read_timeout,
            web.max_connections,
            web.cors()?,
        ));
        let http_for_metrics = http.clone();
        metrics.register_subsystem(move || own_metrics::from_values(http_for_metrics.metrics()));

        let (quit, _) = watch::channel(false);
        Ok(Arc::new(ServerState {
            args,
            listen,
            web,
            http,
            start_time: now,
            runtime: Handle::current(),
            config: RwLock::new(Arc::new(config)),
            reload_status: Mutex::new(ReloadStatus {
                success: true,
                last_success: now,
            }),
            metrics,
            db: OnceLock::new(),
            writer: OnceLock::new(),
            scrape: OnceLock::new(),
            ingest,
            ready: AtomicBool::new(false),
            started: AtomicBool::new(false),
            startup,
            quit,
        }))
    }

    /// Opens storage (replaying the WAL, which can take minutes on a big
    /// one; progress is logged per segment) and starts scraping with the
    /// configuration in force. Fails with [`sonde_tsdb::TsdbError::Cancelled`]
    /// in its chain when the start-up was stopped during the open.
    pub async fn open_storage(self: &Arc<Self>) -> anyhow::Result<()> {
        let config = self.current_config();
        let db_opts = DbOptions {
            cancel: self.startup.clone(),
            ..storage::options(&self.args, &config)?
        };
        let path = self.args.tsdb_path.clone();
        let db = tokio::task::spawn_blocking(move || storage::open(&path, db_opts))
            .await
            .context("storage start-up task failed")??;
        let db_for_metrics = db.clone();
        self.metrics
            .register_subsystem(move || storage::metrics(&db_for_metrics));
        if self.db.set(db.clone()).is_err() {
            anyhow::bail!("BUG: storage opened twice");
        }
        let writer = query_cache::start(&self.args, &db)?;
        if let Some(cache) = writer.cache.clone() {
            self.metrics
                .register_subsystem(move || query_cache::metrics(&cache));
        }
        let appendable = writer.appendable.clone();
        if self.writer.set(writer).is_err() {
            anyhow::bail!("BUG: storage writer set up twice");
        }

        let state = self.clone();
        tokio::task::spawn_blocking(move || state.start_scrape(appendable))
            .await
            .context("scrape start-up task failed")?
    }

    /// Starts the scrape manager with the configuration in force. Runs on a
    /// blocking thread, holding the reload lock, so that a reload during
    /// start-up is applied either before (its configuration is used here)
    /// or after (it sees the manager), never lost in between.
    fn start_scrape(&self, appendable: Arc<dyn sonde_model::Appendable>) -> anyhow::Result<()> {
        let _reload = self.reload_status.lock().unwrap_or_else(|p| p.into_inner());
        let config = self.current_config();
        let hostname = gethostname::gethostname().to_string_lossy().into_owned();
        let scrape = Arc::new(ScrapeManager::new(
            appendable,
            ManagerOptions {
                jitter_seed: sonde_scrape::jitter_seed(
                    &hostname,
                    &config.global.external_labels.to_labels(),
                ),
                ..ManagerOptions::default()
            },
        ));
        if let Err(errors) = self.runtime.block_on(scrape.apply_config(&config)) {
            for e in errors {
                tracing::error!(error = %e, "cannot start scrape pool");
            }
        }
        let scrape_for_metrics = scrape.clone();
        self.metrics
            .register_subsystem(move || own_metrics::from_values(scrape_for_metrics.metrics()));
        if self.scrape.set(scrape).is_err() {
            anyhow::bail!("BUG: scrape manager started twice");
        }
        Ok(())
    }

    fn current_config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The HTTP server's settings and counters.
    pub fn http(&self) -> Arc<HttpState> {
        self.http.clone()
    }

    pub fn web_context(self: &Arc<Self>) -> anyhow::Result<Arc<WebContext>> {
        let a = &self.args;
        let engine = Engine::new(EngineOptions {
            lookback_delta: sonde_model::parse_duration(&a.query_lookback_delta)
                .with_context(|| format!("--query.lookback-delta {:?}", a.query_lookback_delta))?,
            max_samples: a.query_max_samples as usize,
            timeout: sonde_model::parse_duration(&a.query_timeout)
                .with_context(|| format!("--query.timeout {:?}", a.query_timeout))?,
            // Prometheus evaluates `x[1h:]` at the global evaluation interval.
            default_subquery_step: self.current_config().global.evaluation_interval,
            ..EngineOptions::default()
        });
        let db = self.db.get();
        Ok(Arc::new(WebContext {
            options: WebOptions {
                external_url: self.web.external_url.clone(),
                route_prefix: self.web.route_prefix.clone(),
                enable_lifecycle: self.web.enable_lifecycle,
                enable_admin_api: self.web.enable_admin_api,
                listen_address: self.web.listen_address.clone(),
            },
            control: self.clone(),
            build: build_info(),
            flags: {
                // The `--web.*` flags as in force, the file's keys included.
                let mut flags = a.flag_values();
                flags.extend(
                    self.web
                        .flag_values()
                        .into_iter()
                        .map(|(flag, value)| (flag.to_string(), value)),
                );
                flags
            },
            query: db.map(|db| {
                let q = QueryService::new(engine, db.clone(), a.query_max_concurrency as usize)
                    .with_per_step_stats(a.feature("promql-per-step-stats"));
                match self.writer.get().and_then(|w| w.cache.clone()) {
                    Some(cache) => q.with_cache(cache),
                    None => q,
                }
            }),
            scrape: self.scrape.get().cloned(),
            appendable: self.writer.get().map(|w| w.appendable.clone()),
            exemplars: db.map(|db| db.clone() as _),
            ingest: self.ingest.clone(),
            http: self.http.clone(),
            storage_admin: db.map(|db| {
                Arc::new(storage::Admin {
                    db: db.clone(),
                    data_dir: a.tsdb_path.clone().into(),
                }) as Arc<dyn sonde_web::StorageAdmin>
            }),
        }))
    }

    pub fn set_ready(&self) {
        self.started.store(true, Ordering::Release);
        self.ready.store(true, Ordering::Release);
    }

    /// Whether a stop was requested during start-up.
    pub fn startup_stopped(&self) -> bool {
        self.startup.is_cancelled()
    }

    /// Changes to `true` when `/-/quit` has been called.
    pub fn quit_requested(&self) -> watch::Receiver<bool> {
        self.quit.subscribe()
    }

    /// Reloads and logs the outcome (for SIGHUP, which has nobody to answer).
    pub fn reload_logged(&self) {
        match self.reload() {
            Ok(()) => {
                tracing::info!(file = %self.args.config_file, "completed loading of configuration file")
            }
            Err(e) => tracing::error!(error = %e, "error reloading config"),
        }
    }

    /// Stops the subsystems in reverse order of starting: scraping first (it
    /// writes staleness markers), then storage.
    pub async fn shutdown(&self) {
        self.ready.store(false, Ordering::Release);
        if let Some(scrape) = self.scrape.get() {
            scrape.shutdown().await;
        }
        let Some(db) = self.db.get().cloned() else {
            return;
        };
        match tokio::task::spawn_blocking(move || db.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "error closing storage"),
            Err(e) => tracing::error!(error = %e, "storage close task failed"),
        }
    }

    /// Loads the file again and applies it. Called off the runtime's workers.
    fn try_reload(&self) -> anyhow::Result<()> {
        let new = load_config(&self.args, self.listen, &self.web.route_prefix)?;
        let web = WebSettings::resolve(&self.args, &new.web, &self.args.config_file)?;
        let cors = web.cors()?;
        let old = self.current_config();
        let diff = old.diff(&new);
        if diff.storage && old.storage.tsdb != new.storage.tsdb {
            tracing::warn!("changes to storage.tsdb take effect at the next restart");
        }
        // During start-up there is no scrape manager yet: it starts with the
        // configuration stored here.
        if let Some(scrape) = self.scrape.get() {
            self.runtime
                .block_on(scrape.apply_config(&new))
                .map_err(|errors| {
                    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    anyhow::anyhow!("{}", list.join("; "))
                })?;
        }
        if diff.ingest {
            self.ingest.set_limits(ingest_limits(&new.ingest));
        }
        self.apply_web(&web, cors);
        if old.storage.exemplars != new.storage.exemplars {
            if let Some(db) = self.db.get() {
                db.set_max_exemplars(new.storage.exemplars.max_exemplars);
            }
        }
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
        Ok(())
    }
}

impl ServerState {
    /// Applies the keys of `web` that change live, and warns of those that
    /// differ from the running server's and need a restart.
    fn apply_web(&self, web: &WebSettings, cors: CorsOrigin) {
        for key in self.web.changed(web) {
            if key.apply == Apply::Restart {
                tracing::warn!(
                    "web.{} (or {}) changed from {:?} to {:?}; restart Sonde to apply it",
                    key.key,
                    key.flag,
                    key.value(&self.web),
                    key.value(web)
                );
            }
        }
        if self.http.read_timeout() != web.read_timeout {
            tracing::info!(read_timeout = ?web.read_timeout, "web.read_timeout changed; it applies to new connections and requests");
            self.http.set_read_timeout(web.read_timeout);
        }
        if self.http.cors_origin().as_str() != cors.as_str() {
            tracing::info!(cors_origin = %cors.as_str(), "web.cors_origin changed");
            self.http.set_cors_origin(cors);
        }
    }
}

/// The web layer's limits from the configuration's `ingest` section.
fn ingest_limits(c: &sonde_config::ingest::IngestConfig) -> IngestLimits {
    let bytes = |b: sonde_config::units::ByteSize| usize::try_from(b.0).unwrap_or(usize::MAX);
    IngestLimits {
        max_body_bytes: bytes(c.max_body_size),
        max_decompressed_bytes: bytes(c.max_decompressed_size),
        max_series_per_request: c.max_series_per_request,
        max_labels_per_series: c.max_labels_per_series,
        max_concurrent_requests: c.max_concurrent_requests,
    }
}

impl ServerControl for ServerState {
    fn reload(&self) -> Result<(), String> {
        let mut status = self.reload_status.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.try_reload().map_err(|e| format!("{e:#}"));
        status.success = result.is_ok();
        self.metrics
            .config_last_reload_successful
            .set(i64::from(status.success));
        if status.success {
            status.last_success = Utc::now();
            self.metrics
                .config_last_reload_success_timestamp_seconds
                .set(status.last_success.timestamp() as f64);
        }
        result
    }

    fn quit(&self) {
        if !self.started.load(Ordering::Acquire) && !self.startup.is_cancelled() {
            tracing::info!("quit requested over HTTP during start-up; stopping the WAL replay");
        }
        self.startup.cancel();
        self.quit.send_replace(true);
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn config_yaml(&self) -> String {
        sonde_config::to_yaml(&self.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn runtime_info(&self) -> RuntimeInfo {
        let status = *self.reload_status.lock().unwrap_or_else(|p| p.into_inner());
        let runtime = self.runtime.metrics();
        RuntimeInfo {
            start_time: rfc3339(self.start_time),
            cwd: std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reload_config_success: status.success,
            last_config_time: rfc3339(status.last_success),
            corruption_count: 0,
            goroutine_count: runtime.num_alive_tasks() as u64,
            gomaxprocs: runtime.num_workers() as u64,
            gogc: String::new(),
            godebug: String::new(),
            storage_retention: self.args.retention_time.clone(),
        }
    }

    fn external_labels(&self) -> sonde_model::Labels {
        let config = self.config.read().unwrap_or_else(|p| p.into_inner());
        config.global.external_labels.to_labels()
    }

    fn own_metrics(&self) -> (String, &'static str) {
        (self.metrics.encode(), own_metrics::CONTENT_TYPE)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn build_info() -> BuildInfo {
    let version = env!("CARGO_PKG_VERSION");
    BuildInfo {
        version: format!("{PROMETHEUS_API_VERSION}-sonde.{version}"),
        revision: option_env!("SONDE_GIT_REVISION")
            .unwrap_or("unknown")
            .to_string(),
        branch: option_env!("SONDE_GIT_BRANCH")
            .unwrap_or("unknown")
            .to_string(),
        build_user: "sonde".to_string(),
        build_date: "unknown".to_string(),
        go_version: format!("rust (sonde {version})"),
    }
}
