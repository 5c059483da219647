//! `/-/healthy`, `/-/ready`, `/-/reload` and `/-/quit`, with Prometheus'
//! status codes: reload and quit answer 403 unless `--web.enable-lifecycle`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::WebContext;

pub(crate) async fn healthy() -> impl IntoResponse {
    (StatusCode::OK, "Sonde is Healthy.\n")
}

pub(crate) async fn ready(State(ctx): State<Arc<WebContext>>) -> impl IntoResponse {
    if ctx.control.ready() {
        (StatusCode::OK, "Sonde is Ready.\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n")
    }
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
