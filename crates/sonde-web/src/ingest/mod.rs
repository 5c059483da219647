//! Ingestion endpoints: samples pushed to Sonde over HTTP.
//!
//! | route | protocol | module |
//! |---|---|---|
//! | `POST /api/v1/write` | Prometheus remote write 1.0 | [`remote_write`] |
//! | `POST /api/v1/read` | Prometheus remote read (SAMPLES, STREAMED_XOR_CHUNKS) | [`remote_read`] |
//! | `POST /write`, `POST /api/v2/write` | Influx line protocol v1 / v2 | [`influx_http`] |
//! | `GET /ping`, `GET /health`, `POST /query` | what Telegraf checks | [`influx_http`] |
//! | `POST /api/v1/import/prometheus` | text exposition import | [`import`] |
//!
//! Every write path goes through [`append::Batch`]: one appender per
//! request, samples the storage refuses (out of order, duplicate, out of
//! bounds) are counted and reported while the rest of the request is
//! committed (partial write, so a 400 that the sender will not retry loses
//! nothing valid), and a storage failure rolls back the whole request and
//! answers 5xx so the sender retries it. Decoding and appending run on a
//! blocking thread: both are CPU work and a commit may wait for an fsync.

mod append;
mod body;
mod import;
mod influx;
mod influx_http;
mod remote_read;
mod remote_write;
mod sanitize;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::WebContext;

/// Largest request body accepted on the wire (compressed). Prometheus sends
/// remote-write batches of a few hundred KiB; 32 MiB leaves room for large
/// imports while bounding memory per request.
pub const MAX_BODY_BYTES: usize = 32 << 20;
/// Largest body after snappy or gzip decompression (a gzip bomb or a snappy
/// header claiming gigabytes is refused at this size).
pub const MAX_DECOMPRESSED_BYTES: usize = 128 << 20;

/// The ingestion routes, merged into the API router under the route prefix.
pub(crate) fn routes() -> Router<Arc<WebContext>> {
    Router::new()
        .route("/api/v1/write", post(remote_write::handle))
        .route("/api/v1/read", post(remote_read::handle))
        .route("/api/v1/import/prometheus", post(import::handle))
        .route("/write", post(influx_http::write_v1))
        .route("/api/v2/write", post(influx_http::write_v2))
        .route("/query", get(influx_http::query).post(influx_http::query))
        .route("/ping", get(influx_http::ping).head(influx_http::ping))
        .route("/health", get(influx_http::health))
        // These handlers read the raw body with their own limits
        // (MAX_BODY_BYTES); the router's form-size limit does not apply.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}
