//! The accept loop: serves a router over HTTP/1 and HTTP/2 with Prometheus'
//! connection limits (`--web.max-connections`, `--web.read-timeout`).
//!
//! - At most `max_connections` connections are served at once; the loop
//!   does not accept more until one closes, so the next ones wait in the
//!   kernel's accept queue, as Prometheus' `netutil.LimitListener` makes them.
//! - A request's headers must arrive within the read timeout (hyper's header
//!   timeout, which also closes a keep-alive connection idle that long, as Go
//!   does when `IdleTimeout` is unset): the connection is closed unanswered,
//!   as Go closes it. Its body must then arrive within the read timeout of
//!   its headers: the request is answered `408 Request Timeout` and the
//!   connection closed. (Go times headers and body from one start; this
//!   bound is at most twice as long, never shorter.)
//! - On shutdown the loop stops accepting, idle connections close, and
//!   requests in flight are answered first.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::HttpState;

/// Serves `router` on `listener` with Prometheus' default limits until
/// `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, Arc::new(HttpState::default()), shutdown).await
}

/// Serves `router` on `listener` with the limits in `http` until
/// `shutdown` resolves, then drains in-flight requests.
pub async fn serve_with(
    mut listener: TcpListener,
    router: Router,
    http: Arc<HttpState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limit = match http.max_connections() {
        0 => None,
        n => Some(Arc::new(Semaphore::new(n as usize))),
    };
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&mut listener, limit.as_ref()) => accepted,
            () = &mut shutdown => break,
        };
        let (stream, remote, permit) = accepted;
        serve_connection(&graceful, stream, remote, permit, &router, &http);
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Waits for a free connection slot, then for a connection.
async fn accept(
    listener: &mut TcpListener,
    limit: Option<&Arc<Semaphore>>,
) -> (
    tokio::net::TcpStream,
    SocketAddr,
    Option<OwnedSemaphorePermit>,
) {
    let permit = match limit {
        // The semaphore is never closed, so acquiring cannot fail.
        Some(s) => s.clone().acquire_owned().await.ok(),
        None => None,
    };
    // axum's accept retries on errors (a reset connection, too many open
    // files), sleeping after those that are not the client's.
    let (stream, remote) = axum::serve::Listener::accept(listener).await;
    (stream, remote, permit)
}

fn serve_connection(
    graceful: &GracefulShutdown,
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    permit: Option<OwnedSemaphorePermit>,
    router: &Router,
    http: &Arc<HttpState>,
) {
    let open = http.connection_opened();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(http.read_timeout());
    let (router, state) = (router.clone(), http.clone());
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        handle(router.clone(), state.clone(), remote, req)
    });
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .into_owned();
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(client = %remote, error = %e, "HTTP connection ended with an error");
        }
        drop(open);
        drop(permit);
    });
}

/// Serves one request, its body bounded by the read timeout.
async fn handle(
    router: Router,
    http: Arc<HttpState>,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, Infallible> {
    let mut req = req.map(Body::new);
    req.extensions_mut().insert(ConnectInfo(remote));
    let timeout = match http.read_timeout() {
        Some(t) if !req.body().is_end_stream() => t,
        _ => return router.oneshot(req).await,
    };
    let expired = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| Body::new(DeadlineBody::new(body, timeout, expired.clone())));
    let response = router.oneshot(req).await?;
    if expired.load(Ordering::Acquire) {
        http.read_timed_out();
        tracing::debug!(client = %remote, "request body not read within the read timeout");
        return Ok(request_timeout());
    }
    Ok(response)
}

/// `408 Request Timeout`, closing the connection (the rest of the body may
/// still be on its way).
fn request_timeout() -> Response {
    let mut response = (
        StatusCode::REQUEST_TIMEOUT,
        "request body not received within --web.read-timeout\n",
    )
        .into_response();
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails, and says so in `expired`, when it has not
/// been read to its end by the deadline.
struct DeadlineBody {
    inner: Body,
    deadline: tokio::time::Instant,
    /// Armed the first time the body is not ready: a push body has usually
    /// arrived whole by the time it is read, and then needs no timer.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl DeadlineBody {
    fn new(inner: Body, timeout: Duration, expired: Arc<AtomicBool>) -> DeadlineBody {
        DeadlineBody {
            inner,
            deadline: tokio::time::Instant::now() + timeout,
            sleep: None,
            expired,
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.expired.load(Ordering::Acquire) {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.expired.store(true, Ordering::Release);
        Poll::Ready(Some(Err(axum::Error::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "request body not received within --web.read-timeout",
        )))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that never ends fails at the deadline and marks itself
    /// expired; a complete body is unaffected.
    #[tokio::test]
    async fn deadline_body_fails_once_the_time_is_up() {
        let expired = Arc::new(AtomicBool::new(false));
        let stalled =
            Body::from_stream(futures_util::stream::pending::<Result<Bytes, Infallible>>());
        let body = DeadlineBody::new(stalled, Duration::from_millis(10), expired.clone());
        let read = axum::body::to_bytes(Body::new(body), usize::MAX).await;
        assert!(read.is_err(), "{read:?}");
        assert!(expired.load(Ordering::Acquire));

        let expired = Arc::new(AtomicBool::new(false));
        let body = DeadlineBody::new(Body::from("abc"), Duration::from_secs(60), expired.clone());
        let bytes = axum::body::to_bytes(Body::new(body), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"abc");
        assert!(!expired.load(Ordering::Acquire));
    }
}
