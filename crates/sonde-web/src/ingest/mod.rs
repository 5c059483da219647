//! Ingestion endpoints: samples pushed to Sonde over HTTP.

use std::sync::Arc;

use axum::Router;

use crate::WebContext;

/// The ingestion routes, merged into the API router under the route prefix.
pub(crate) fn routes() -> Router<Arc<WebContext>> {
    Router::new()
}
