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

use std::future::Future;
use std::pin::Pin;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{FromFnLayer, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

use crate::WebContext;

/// Largest request body accepted on the wire (compressed). Prometheus sends
/// remote-write batches of a few hundred KiB; 32 MiB leaves room for large
/// imports while bounding memory per request.
pub const MAX_BODY_BYTES: usize = 32 << 20;
/// Largest body after snappy or gzip decompression (a gzip bomb or a snappy
/// header claiming gigabytes is refused at this size).
pub const MAX_DECOMPRESSED_BYTES: usize = 128 << 20;

/// Write requests decoded and appended at once; more wait their turn.
/// Each may hold up to [`MAX_BODY_BYTES`] + [`MAX_DECOMPRESSED_BYTES`], so
/// this bounds ingestion memory near 2.5 GiB in the worst case; typical
/// remote-write batches are a few hundred KiB and pass straight through.
pub const MAX_CONCURRENT_WRITES: usize = 16;
/// Remote reads served at once (Prometheus' `--storage.remote.read-concurrent-limit`).
pub const MAX_CONCURRENT_READS: usize = 10;

/// The ingestion routes, merged into the API router under the route prefix.
/// The concurrency gates belong to this router (two servers in one process
/// do not share them).
pub(crate) fn routes() -> Router<Arc<WebContext>> {
    let writes = Router::new()
        .route("/api/v1/write", post(remote_write::handle))
        .route("/api/v1/import/prometheus", post(import::handle))
        .route("/write", post(influx_http::write_v1))
        .route("/api/v2/write", post(influx_http::write_v2))
        .layer(gate(MAX_CONCURRENT_WRITES));
    let reads = Router::new()
        .route("/api/v1/read", post(remote_read::handle))
        .layer(gate(MAX_CONCURRENT_READS));
    Router::new()
        .merge(writes)
        .merge(reads)
        .route("/query", get(influx_http::query).post(influx_http::query))
        .route("/ping", get(influx_http::ping).head(influx_http::ping))
        .route("/health", get(influx_http::health))
        // These handlers read the raw body with their own limits
        // (MAX_BODY_BYTES); the router's form-size limit does not apply.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// A response being produced by the rest of the stack.
type Pending = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A middleware letting `n` requests through at once; the others wait. A
/// streamed response is still being sent when its permit is returned: the
/// gate bounds decoding and storage work, not slow clients.
fn gate(n: usize) -> FromFnLayer<impl Fn(Request, Next) -> Pending + Clone, (), (Request,)> {
    let sem = Arc::new(Semaphore::new(n));
    axum::middleware::from_fn(move |req: Request, next: Next| {
        let sem = sem.clone();
        Box::pin(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = sem.acquire_owned().await.ok();
            next.run(req).await
        }) as Pending
    })
}
