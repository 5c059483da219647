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
mod state;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

pub(crate) use state::Protocol;
pub use state::{Ingest, IngestLimits};

use crate::WebContext;

/// Remote reads served at once (Prometheus' `--storage.remote.read-concurrent-limit`).
pub const MAX_CONCURRENT_READS: usize = 10;

/// The ingestion routes, merged into the API router under the route prefix.
/// Write routes pass [`admit_write`]: the concurrency gate and the request
/// counters of `ingest`, whose limits the server sets from the
/// configuration.
pub(crate) fn routes(ingest: &Arc<Ingest>) -> Router<Arc<WebContext>> {
    let write = |protocol: Protocol, handler: MethodRouter<Arc<WebContext>>| {
        handler.layer(from_fn_with_state((ingest.clone(), protocol), admit_write))
    };
    let reads = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_READS));
    Router::new()
        .route(
            "/api/v1/write",
            write(Protocol::RemoteWrite, post(remote_write::handle)),
        )
        .route(
            "/api/v1/import/prometheus",
            write(Protocol::Import, post(import::handle)),
        )
        .route(
            "/write",
            write(Protocol::Influx, post(influx_http::write_v1)),
        )
        .route(
            "/api/v2/write",
            write(Protocol::Influx, post(influx_http::write_v2)),
        )
        .route(
            "/api/v1/read",
            post(remote_read::handle).layer(from_fn_with_state(reads, admit_read)),
        )
        .route("/query", get(influx_http::query).post(influx_http::query))
        .route("/ping", get(influx_http::ping).head(influx_http::ping))
        .route("/health", get(influx_http::health))
        // The handlers read the raw body under `ingest.max_body_size`, which
        // a reload can change; the router's form-size limit does not apply.
        .layer(DefaultBodyLimit::disable())
}

/// Lets a write request through once the gate has a slot, and counts its
/// answer by status code. A request waiting for a slot holds no body yet
/// (the handler reads it), so waiting costs no memory.
async fn admit_write(
    State((ingest, protocol)): State<(Arc<Ingest>, Protocol)>,
    req: Request,
    next: Next,
) -> Response {
    let _slot = ingest.write_slot().await;
    let response = next.run(req).await;
    ingest.record_request(protocol, response.status().as_u16());
    response
}

/// Lets a remote read through once one of the read slots is free. A
/// streamed response is still being sent when its slot is returned: the
/// gate bounds decoding and storage work, not slow clients.
async fn admit_read(
    State(reads): State<Arc<tokio::sync::Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    // The semaphore is never closed, so acquiring cannot fail.
    let _slot = reads.acquire_owned().await.ok();
    next.run(req).await
}
