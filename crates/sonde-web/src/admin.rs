//! `/api/v1/status/tsdb` and the admin endpoints (`/api/v1/admin/tsdb/*`:
//! delete_series, clean_tombstones, snapshot). The admin endpoints answer
//! `unavailable` unless `--web.enable-admin-api`, as in Prometheus.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::{success, ApiError, ErrorType};
use crate::params::{Params, MAX_TIME_MS, MIN_TIME_MS};
use crate::series::matcher_sets;
use crate::{StorageAdmin, WebContext};

/// Entries per top list when the request gives no `limit` (Prometheus: 10).
const DEFAULT_STATUS_LIMIT: usize = 10;

pub(crate) async fn tsdb_status(
    State(ctx): State<Arc<WebContext>>,
    params: Params,
) -> Result<Response, ApiError> {
    let limit = match params.get("limit") {
        None => DEFAULT_STATUS_LIMIT,
        Some(s) => s.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"limit\": {s:?} is not a positive number"
            ))
        })?,
    };
    let admin = storage_admin(&ctx)?;
    let status = tokio::task::spawn_blocking(move || admin.tsdb_status(limit))
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("status task failed: {e}")))?;
    Ok(success(status))
}

fn storage_admin(ctx: &WebContext) -> Result<Arc<dyn StorageAdmin>, ApiError> {
    ctx.storage_admin
        .clone()
        .ok_or_else(|| ApiError::new(ErrorType::Unavailable, "this server has no storage"))
}

/// The storage admin handle, if `--web.enable-admin-api` allows its use.
fn admin_enabled(ctx: &WebContext) -> Result<Arc<dyn StorageAdmin>, ApiError> {
    if !ctx.options.enable_admin_api {
        return Err(ApiError::new(
            ErrorType::Unavailable,
            "admin APIs disabled (start Sonde with --web.enable-admin-api)",
        ));
    }
    storage_admin(ctx)
}

/// Runs a blocking admin operation and maps its error.
async fn run_admin<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("admin task failed: {e}")))?
        .map_err(|e| ApiError::new(ErrorType::Internal, e))
}

pub(crate) async fn delete_series(
    State(ctx): State<Arc<WebContext>>,
    params: Params,
) -> Result<Response, ApiError> {
    let admin = admin_enabled(&ctx)?;
    let sets = matcher_sets(&params)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = params.time_or("start", MIN_TIME_MS)?;
    let end = params.time_or("end", MAX_TIME_MS)?;
    let cache = ctx.query.as_ref().and_then(|q| q.cache()).cloned();
    let res = run_admin(move || {
        sets.iter()
            .try_for_each(|m| admin.delete_series(m, start, end))
    })
    .await;
    // Cached steps from `start` on may have read deleted samples, even when
    // the deletion failed part way.
    if let Some(c) = cache {
        c.tracker().record(start);
    }
    res?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn clean_tombstones(
    State(ctx): State<Arc<WebContext>>,
) -> Result<Response, ApiError> {
    let admin = admin_enabled(&ctx)?;
    run_admin(move || admin.clean_tombstones()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn snapshot(
    State(ctx): State<Arc<WebContext>>,
    params: Params,
) -> Result<Response, ApiError> {
    let admin = admin_enabled(&ctx)?;
    let skip_head = match params.get("skip_head") {
        None => false,
        Some(s) => s.parse::<bool>().map_err(|_| {
            ApiError::bad_data(format!(
                "unable to parse boolean 'skip_head' argument: {s:?}"
            ))
        })?,
    };
    let name = run_admin(move || admin.snapshot(skip_head)).await?;
    Ok(success(json!({ "name": name })))
}
