//! The HTTP server's own settings (`--web.read-timeout`,
//! `--web.max-connections`, `--web.cors.origin`) and its connection
//! counters, shared by the accept loop ([`crate::serve_with`]), the CORS
//! middleware and the binary, which changes the live ones on reload.
//!
//! Thread safety: the read timeout and the counters are atomics; the CORS
//! origin is an immutable [`CorsOrigin`] behind an `RwLock`, replaced whole.
//! The connection limit is fixed when the server starts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sonde_model::MetricValue;

use crate::CorsOrigin;

/// Prometheus' default `--web.read-timeout`.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Prometheus' default `--web.max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 512;

#[derive(Debug)]
pub struct HttpState {
    /// Milliseconds; 0: no limit. Read when a connection or request starts.
    read_timeout_ms: AtomicU64,
    /// Simultaneous connections; 0: no limit.
    max_connections: u32,
    cors_origin: RwLock<Arc<CorsOrigin>>,
    open: AtomicU64,
    accepted: AtomicU64,
    read_timeouts: AtomicU64,
}

impl HttpState {
    /// `read_timeout` `None` and `max_connections` 0 mean no limit.
    pub fn new(
        read_timeout: Option<Duration>,
        max_connections: u32,
        cors_origin: CorsOrigin,
    ) -> HttpState {
        let state = HttpState {
            read_timeout_ms: AtomicU64::new(0),
            max_connections,
            cors_origin: RwLock::new(Arc::new(cors_origin)),
            open: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            read_timeouts: AtomicU64::new(0),
        };
        state.set_read_timeout(read_timeout);
        state
    }

    /// The longest time to read a request, headers and body; `None`: no
    /// limit. A change applies to connections and requests that start after it.
    pub fn read_timeout(&self) -> Option<Duration> {
        match self.read_timeout_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        // A timeout below a millisecond would read as "no limit": round it up.
        let ms = timeout.map_or(0, |t| {
            u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        self.read_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// Simultaneous connections served; 0: no limit.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    pub fn cors_origin(&self) -> Arc<CorsOrigin> {
        self.cors_origin
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_cors_origin(&self, origin: CorsOrigin) {
        *self.cors_origin.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(origin);
    }

    /// Counts a connection as open until the returned guard is dropped.
    pub(crate) fn connection_opened(self: &Arc<Self>) -> OpenConnection {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }

    /// Counts a request or connection closed for reading too slowly.
    pub(crate) fn read_timed_out(&self) {
        self.read_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// The server's own metrics about its connections.
    pub fn metrics(&self) -> Vec<MetricValue> {
        let value = |name, help, kind, v: u64| MetricValue {
            name,
            help,
            kind,
            labels: Vec::new(),
            value: v as f64,
        };
        vec![
            value(
                "sonde_web_connections_open",
                "HTTP connections being served now",
                "gauge",
                self.open.load(Ordering::Relaxed),
            ),
            value(
                "sonde_web_connections_max",
                "Simultaneous HTTP connections served at most (--web.max-connections; 0: no limit); more wait to be accepted",
                "gauge",
                u64::from(self.max_connections),
            ),
            value(
                "sonde_web_connections_accepted_total",
                "HTTP connections accepted",
                "counter",
                self.accepted.load(Ordering::Relaxed),
            ),
            value(
                "sonde_web_read_timeouts_total",
                "HTTP requests answered 408 because their body did not arrive within --web.read-timeout",
                "counter",
                self.read_timeouts.load(Ordering::Relaxed),
            ),
        ]
    }
}

impl Default for HttpState {
    /// Prometheus' defaults.
    fn default() -> Self {
        HttpState::new(
            Some(DEFAULT_READ_TIMEOUT),
            DEFAULT_MAX_CONNECTIONS,
            CorsOrigin::default(),
        )
    }
}

/// An open connection, counted in [`HttpState`] until dropped.
pub(crate) struct OpenConnection(Arc<HttpState>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}
