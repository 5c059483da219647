//! `/-/healthy`, `/-/ready`, `/-/reload` and `/-/quit`, with Prometheus'
//! status codes: reload and quit answer 403 unless `--web.enable-lifecycle`.
//!
//! Until the server is ready (storage open, WAL replayed) every route but
//! [`SERVED_WHILE_STARTING`] answers 503 `Service Unavailable`, as
//! Prometheus' `testReady` wrapper does for `/-/ready`, `/federate` and the
//! whole `/api/v1` tree.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::WebContext;

pub(crate) async fn healthy() -> impl IntoResponse {
    (StatusCode::OK, "Sonde is Healthy.\n")
}

pub(crate) async fn ready(State(ctx): State<Arc<WebContext>>) -> Response {
    if ctx.control.ready() {
        (StatusCode::OK, "Sonde is Ready.\n").into_response()
    } else {
        not_ready()
    }
}

/// Routes Prometheus serves before it is ready (paths below the prefix).
pub const SERVED_WHILE_STARTING: [&str; 4] = ["/-/healthy", "/-/reload", "/-/quit", "/metrics"];

/// Prometheus' answer while not ready: 503 and this exact text.
fn not_ready() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
}

/// Middleware: passes requests on once the server is ready, and before
/// that only those for [`SERVED_WHILE_STARTING`].
pub(crate) async fn gate(State(ctx): State<Arc<WebContext>>, req: Request, next: Next) -> Response {
    if ctx.control.ready() || SERVED_WHILE_STARTING.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    not_ready()
}

const LIFECYCLE_DISABLED: &str =
    "Lifecycle API is not enabled. Start Sonde with --web.enable-lifecycle to use it.\n";

pub(crate) async fn reload(State(ctx): State<Arc<WebContext>>) -> impl IntoResponse {
    if !ctx.options.enable_lifecycle {
        return (StatusCode::FORBIDDEN, LIFECYCLE_DISABLED.to_string());
    }
    let control = ctx.control.clone();
    match tokio::task::spawn_blocking(move || control.reload()).await {
        Ok(Ok(())) => (StatusCode::OK, String::new()),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: reload task failed: {e}\n"),
        ),
    }
}

pub(crate) async fn quit(State(ctx): State<Arc<WebContext>>) -> impl IntoResponse {
    if !ctx.options.enable_lifecycle {
        return (StatusCode::FORBIDDEN, LIFECYCLE_DISABLED);
    }
    ctx.control.quit();
    (StatusCode::OK, "Requesting termination... Goodbye!\n")
}
