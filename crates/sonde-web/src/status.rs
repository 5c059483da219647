//! `/api/v1/status/*` and `/metrics`, in Prometheus 2.42's JSON shapes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::api::success;
use crate::WebContext;

/// `/api/v1/status/buildinfo`. Grafana reads `version` to enable features,
/// so it carries the Prometheus version whose API Sonde implements, with
/// Sonde's own version as a semver pre-release tag (`2.42.0-sonde.0.1.0`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    pub go_version: String,
}

/// `/api/v1/status/runtimeinfo`. Field names are Prometheus'; the Go-runtime
/// ones carry the nearest Sonde facts (tasks for goroutines, worker threads
/// for GOMAXPROCS).
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeInfo {
    #[serde(rename = "startTime")]
    pub start_time: String,
    #[serde(rename = "CWD")]
    pub cwd: String,
    #[serde(rename = "reloadConfigSuccess")]
    pub reload_config_success: bool,
    #[serde(rename = "lastConfigTime")]
    pub last_config_time: String,
    #[serde(rename = "corruptionCount")]
    pub corruption_count: u64,
    #[serde(rename = "goroutineCount")]
    pub goroutine_count: u64,
    #[serde(rename = "GOMAXPROCS")]
    pub gomaxprocs: u64,
    #[serde(rename = "GOGC")]
    pub gogc: String,
    #[serde(rename = "GODEBUG")]
    pub godebug: String,
    #[serde(rename = "storageRetention")]
    pub storage_retention: String,
}

pub(crate) async fn config(State(ctx): State<Arc<WebContext>>) -> Response {
    success(json!({ "yaml": ctx.control.config_yaml() }))
}

pub(crate) async fn flags(State(ctx): State<Arc<WebContext>>) -> Response {
    success(&ctx.flags)
}

pub(crate) async fn buildinfo(State(ctx): State<Arc<WebContext>>) -> Response {
    success(&ctx.build)
}

pub(crate) async fn runtimeinfo(State(ctx): State<Arc<WebContext>>) -> Response {
    success(ctx.control.runtime_info())
}

pub(crate) async fn own_metrics(State(ctx): State<Arc<WebContext>>) -> Response {
    let (body, content_type) = ctx.control.own_metrics();
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
