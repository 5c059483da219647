//! The server's shared state and its [`ServerControl`] implementation: what
//! the web layer and the signal handlers call to reload, quit and report.
//!
//! Thread safety: the configuration in force sits behind an `RwLock` and is
//! replaced whole on reload; reloads are serialised by `reload_lock`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, SecondsFormat, Utc};
use sonde_web::{BuildInfo, RuntimeInfo, ServerControl, WebContext, WebOptions};
use tokio::sync::watch;

use super::config_file::{self, ConfigSource};
use crate::cli::ServerArgs;
use crate::own_metrics::{self, OwnMetrics};

/// The version of the Prometheus API that Sonde implements.
const PROMETHEUS_API_VERSION: &str = "2.42.0";

pub struct ServerState {
    args: ServerArgs,
    listen: SocketAddr,
    route_prefix: String,
    start_time: DateTime<Utc>,
    config: RwLock<ConfigSource>,
    reload_lock: Mutex<ReloadStatus>,
    metrics: OwnMetrics,
    ready: AtomicBool,
    quit: watch::Sender<bool>,
}

#[derive(Debug, Clone, Copy)]
struct ReloadStatus {
    success: bool,
    last_success: DateTime<Utc>,
}

impl ServerState {
    /// Loads the configuration and starts the subsystems it configures.
    pub fn start(
        args: ServerArgs,
        _external_url: String,
        route_prefix: String,
        listen: SocketAddr,
    ) -> anyhow::Result<Arc<ServerState>> {
        let config = config_file::read(&args.config_file, listen, &route_prefix)?;
        tracing::info!(file = %config.name, "loaded configuration");
        let now = Utc::now();
        let metrics = OwnMetrics::new(env!("CARGO_PKG_VERSION"));
        metrics.config_last_reload_successful.set(1);
        metrics
            .config_last_reload_success_timestamp_seconds
            .set(now.timestamp() as f64);
        let (quit, _) = watch::channel(false);
        Ok(Arc::new(ServerState {
            args,
            listen,
            route_prefix,
            start_time: now,
            config: RwLock::new(config),
            reload_lock: Mutex::new(ReloadStatus {
                success: true,
                last_success: now,
            }),
            metrics,
            ready: AtomicBool::new(false),
            quit,
        }))
    }

    pub fn web_context(
        self: &Arc<Self>,
        external_url: String,
        route_prefix: String,
    ) -> Arc<WebContext> {
        Arc::new(WebContext {
            options: WebOptions {
                external_url,
                route_prefix,
                enable_lifecycle: self.args.enable_lifecycle,
            },
            control: self.clone(),
            build: build_info(),
            flags: self.args.flag_values(),
            query: None,
        })
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Resolves when `/-/quit` has been called.
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

    /// Stops the subsystems in reverse order of starting.
    pub fn shutdown(&self) {
        self.ready.store(false, Ordering::Release);
    }

    fn try_reload(&self) -> anyhow::Result<()> {
        let source = config_file::read(&self.args.config_file, self.listen, &self.route_prefix)?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = source;
        Ok(())
    }
}

impl ServerControl for ServerState {
    fn reload(&self) -> Result<(), String> {
        let mut status = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
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
        self.quit.send_replace(true);
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn config_yaml(&self) -> String {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .text
            .clone()
    }

    fn runtime_info(&self) -> RuntimeInfo {
        let status = *self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let runtime = tokio::runtime::Handle::try_current()
            .ok()
            .map(|h| h.metrics());
        RuntimeInfo {
            start_time: rfc3339(self.start_time),
            cwd: std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reload_config_success: status.success,
            last_config_time: rfc3339(status.last_success),
            corruption_count: 0,
            goroutine_count: runtime.as_ref().map_or(0, |m| m.num_alive_tasks() as u64),
            gomaxprocs: runtime.as_ref().map_or(0, |m| m.num_workers() as u64),
            gogc: String::new(),
            godebug: String::new(),
            storage_retention: self.args.retention_time.clone(),
        }
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
