//! `sonde server`: opens storage, starts scraping and serves the API, then
//! waits for SIGTERM/SIGINT or `/-/quit`, reloading on SIGHUP or `/-/reload`.
//! A stop requested while storage opens cancels the open (a WAL replay can
//! take minutes) and exits without changing the data directory; a SIGHUP
//! then waits for the start-up to finish.
//!
//! Each subsystem has `start`, `apply_config` and `shutdown`; this module
//! wires them and stops them in reverse order. No global mutable state, so two
//! servers can run inside one test process.

mod config_file;
mod control;
mod query_cache;
mod storage;
mod web_address;
mod web_settings;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::Request;
use axum::Router;
use sonde_tsdb::{CancelOpen, TsdbError};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::cli::ServerArgs;
use crate::logging;
use control::ServerState;
use web_settings::WebSettings;

/// Runs the server until it is told to stop.
pub fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
    logging::init(args.log_level, args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sonde")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve_until_stopped(args))
}

async fn serve_until_stopped(args: ServerArgs) -> anyhow::Result<ExitCode> {
    // Handlers first: a signal that arrives while starting must not take the
    // default action (exit without closing storage).
    let mut hangup = signal(SignalKind::hangup()).context("cannot install SIGHUP handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    let startup = CancelOpen::default();
    let start = Server::start(args, startup.clone());
    tokio::pin!(start);
    // `/-/quit` cancels the start-up itself (see `ServerState::quit`).
    let started = loop {
        tokio::select! {
            started = &mut start => break started?,
            _ = terminate.recv() => stop_starting(&startup, "SIGTERM"),
            _ = interrupt.recv() => stop_starting(&startup, "SIGINT"),
        }
    };
    let Some(server) = started else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut quit = server.state.quit_requested();
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                let state = server.state.clone();
                // Reload does blocking file I/O; keep it off the runtime's workers.
                let _ = tokio::task::spawn_blocking(move || state.reload_logged()).await;
            }
            _ = terminate.recv() => { tracing::info!("received SIGTERM, exiting gracefully"); break; }
            _ = interrupt.recv() => { tracing::info!("received SIGINT, exiting gracefully"); break; }
            // `wait_for`: a quit that came before this loop counts too.
            _ = async { let _ = quit.wait_for(|q| *q).await; } => {
                tracing::info!("quit requested over HTTP, exiting gracefully");
                break;
            }
        }
    }
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Cancels the start-up in progress (the storage open checks the flag
/// between WAL records; see [`sonde_tsdb::CancelOpen`]).
fn stop_starting(startup: &CancelOpen, signal: &str) {
    if !startup.is_cancelled() {
        tracing::info!("received {signal} during start-up; stopping the WAL replay");
    }
    startup.cancel();
}

/// Whether `e` is a storage open stopped by [`CancelOpen`].
fn is_cancelled(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<TsdbError>(),
            Some(TsdbError::Cancelled { .. })
        )
    })
}

/// A router that forwards every request to the router in `current`, so the
/// full router can replace the start-up one while the listener stays open.
fn switchable(current: Arc<std::sync::RwLock<Router>>) -> Router {
    Router::new().fallback_service(tower::service_fn(move |req: Request| {
        let router = current.read().unwrap_or_else(|p| p.into_inner()).clone();
        router.oneshot(req)
    }))
}

/// A running server and the handles needed to stop it.
pub struct Server {
    state: Arc<ServerState>,
    stop_web: watch::Sender<bool>,
    web: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Loads the configuration, binds the listen address (the flag's when
    /// given on the command line, else the file's `web.listen_address`) and
    /// starts every subsystem. Fails with the reason when any of them cannot
    /// start; `None` when `startup` was cancelled (everything started is
    /// stopped again, and the server never reported ready).
    pub async fn start(args: ServerArgs, startup: CancelOpen) -> anyhow::Result<Option<Server>> {
        // The file first: its `web` section says where to listen. The
        // built-in configuration (no file) has none, and needs the port.
        let source = config_file::read(&args.config_file)?;
        let file_config = source
            .as_ref()
            .map(|s| control::parse_config(&args, s))
            .transpose()?;
        let default_web = sonde_config::web::WebConfig::default();
        let file_web = file_config.as_ref().map_or(&default_web, |c| &c.web);
        let file_name = source
            .as_ref()
            .map_or(config_file::BUILTIN_NAME, |s| s.name.as_str());
        let web = WebSettings::resolve(&args, file_web, file_name)?;
        let listener = TcpListener::bind(web_address::bind_address(&web.listen_address))
            .await
            .with_context(|| {
                if web.listen_address == args.listen_address {
                    format!(
                        "cannot listen on --web.listen-address {}",
                        web.listen_address
                    )
                } else {
                    format!(
                        "cannot listen on web.listen_address {} (from {file_name})",
                        web.listen_address
                    )
                }
            })?;
        let local = listener
            .local_addr()
            .context("cannot read the bound address")?;
        let config = match file_config {
            Some(config) => config,
            None => control::parse_config(&args, &config_file::builtin(local, &web.route_prefix))?,
        };
        let state = ServerState::new(args, web, config, local, startup)?;
        // Serve before storage opens, as Prometheus does: /-/healthy answers
        // at once, /-/ready and the API answer 503 until the WAL is replayed.
        let current = Arc::new(std::sync::RwLock::new(sonde_web::router(
            state.web_context()?,
        )));
        let (stop_web, mut stop_rx) = watch::channel(false);
        let web = tokio::spawn(sonde_web::serve_with(
            listener,
            switchable(current.clone()),
            state.http(),
            async move {
                let _ = stop_rx.changed().await;
            },
        ));
        tracing::info!(address = %local, "listening; starting storage");
        let server = Server {
            state,
            stop_web,
            web,
        };
        let started = async {
            server.state.open_storage().await?;
            let full = sonde_web::router(server.state.web_context()?);
            *current.write().unwrap_or_else(|p| p.into_inner()) = full;
            anyhow::Ok(())
        };
        if let Err(e) = started.await {
            server.shutdown().await;
            return if is_cancelled(&e) { Ok(None) } else { Err(e) };
        }
        if server.state.startup_stopped() {
            // Stopped after storage had opened: a normal shutdown.
            tracing::info!("start-up stopped after storage opened; shutting down");
            server.shutdown().await;
            return Ok(None);
        }
        server.state.set_ready();
        tracing::info!(address = %local, "server is ready to receive web requests");
        Ok(Some(server))
    }

    /// Stops every subsystem in reverse order of starting.
    pub async fn shutdown(self) {
        let _ = self.stop_web.send(true);
        match self.web.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "web server stopped with an error"),
            Err(e) => tracing::error!(error = %e, "web server task failed"),
        }
        self.state.shutdown().await;
        tracing::info!("see you next time!");
    }
}
