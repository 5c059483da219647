//! Builds the route tree and serves it.
//!
//! Every route lives under the route prefix (`--web.route-prefix`, by default
//! the path of `--web.external-url`), so a reverse proxy can forward
//! `http://host/prometheus/...` unchanged. [`crate::serve_with`] serves it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::query::QueryService;
use crate::status::BuildInfo;
use crate::{
    admin, cors, exemplars, federate, ingest, lifecycle, params, query, series, status, targets,
    HttpState, ServerControl,
};

/// Web settings, from the `--web.*` flags and the `web` config section.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// The URL under which Sonde is reached from outside, e.g.
    /// `http://proxy.example/prometheus/`; used in links and alerts.
    pub external_url: String,
    /// Path prefix for all routes: `/` or `/prometheus` (no trailing slash).
    pub route_prefix: String,
    /// Whether `/-/reload` and `/-/quit` are served (`--web.enable-lifecycle`).
    pub enable_lifecycle: bool,
    /// Whether `/api/v1/admin/*` is served (`--web.enable-admin-api`).
    pub enable_admin_api: bool,
    /// `--web.listen-address`, to tell this server's own targets apart.
    pub listen_address: String,
}

/// Everything request handlers can reach. Immutable; cloned per request as an Arc.
pub struct WebContext {
    pub options: WebOptions,
    pub control: Arc<dyn ServerControl>,
    pub build: BuildInfo,
    /// Command-line flags and their values, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    /// The PromQL engine over storage; `None` serves query routes as unavailable.
    pub query: Option<QueryService>,
    /// Status and admin operations of the storage engine.
    pub storage_admin: Option<Arc<dyn crate::StorageAdmin>>,
    /// Where pushed samples go (remote write, Influx line protocol, import).
    pub appendable: Option<Arc<dyn sonde_model::Appendable>>,
    /// Where `/api/v1/query_exemplars` reads; `None` answers it as unavailable.
    pub exemplars: Option<Arc<dyn sonde_model::ExemplarQueryable>>,
    /// Limits and counters of the push endpoints.
    pub ingest: Arc<crate::Ingest>,
    /// The scrape manager, for the targets and metadata APIs.
    pub scrape: Option<Arc<sonde_scrape::ScrapeManager>>,
    /// The HTTP server's settings that follow reloads (the CORS origin).
    pub http: Arc<HttpState>,
}

/// The whole route tree, nested under the route prefix.
pub fn router(ctx: Arc<WebContext>) -> Router {
    let routes = Router::new()
        .route(
            "/-/healthy",
            get(lifecycle::healthy).head(lifecycle::healthy),
        )
        .route("/-/ready", get(lifecycle::ready).head(lifecycle::ready))
        .route("/-/reload", post(lifecycle::reload).put(lifecycle::reload))
        .route("/-/quit", post(lifecycle::quit).put(lifecycle::quit))
        .route("/metrics", get(status::own_metrics))
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route(
            "/federate",
            get(federate::federate).post(federate::federate),
        )
        .route(
            "/api/v1/format_query",
            get(query::format_query).post(query::format_query),
        )
        .route("/api/v1/series", get(series::series).post(series::series))
        .route(
            "/api/v1/query_exemplars",
            get(exemplars::query_exemplars).post(exemplars::query_exemplars),
        )
        .route(
            "/api/v1/labels",
            get(series::label_names).post(series::label_names),
        )
        .route("/api/v1/label/{name}/values", get(series::label_values))
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/targets/metadata", get(targets::targets_metadata))
        .route("/api/v1/metadata", get(targets::metadata))
        .route("/api/v1/status/tsdb", get(admin::tsdb_status))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(admin::delete_series).put(admin::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(admin::clean_tombstones).put(admin::clean_tombstones),
        )
        .route(
            "/api/v1/admin/tsdb/snapshot",
            post(admin::snapshot).put(admin::snapshot),
        )
        .route("/api/v1/status/config", get(status::config))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .merge(ingest::routes(&ctx.ingest))
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            cors::cors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            lifecycle::gate,
        ))
        .layer(DefaultBodyLimit::max(params::MAX_FORM_BYTES))
        .with_state(ctx.clone());
    let prefix = ctx.options.route_prefix.trim_end_matches('/');
    if prefix.is_empty() {
        routes
    } else {
        Router::new().nest(prefix, routes)
    }
}
