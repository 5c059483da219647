//! Sonde's HTTP server: the Prometheus-compatible `/api/v1` endpoints, the
//! operational endpoints (`/-/healthy`, `/-/ready`, `/-/reload`, `/-/quit`,
//! `/metrics`), all served under the route prefix so Sonde works behind a
//! reverse proxy at a sub-path (`--web.external-url http://host/prometheus/`).
//!
//! The server knows the rest of Sonde only through [`ServerControl`], which
//! the binary implements; so two servers can run in one process (tests).

mod admin;
mod api;
mod cors;
mod exemplars;
mod federate;
mod http;
mod ingest;
mod lifecycle;
mod params;
mod query;
mod query_cache;
mod query_memory;
mod router;
mod series;
mod serve;
mod status;
mod targets;
mod write_tracker;

pub use api::{ApiError, ErrorType};
pub use cors::CorsOrigin;
pub use http::{HttpState, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT};
pub use ingest::{Ingest, IngestLimits};
pub use query::QueryService;
pub use query_cache::{QueryCache, QueryCacheStats, StorageEpoch};
pub use router::{router, WebContext, WebOptions};
pub use serve::{serve, serve_with};
pub use status::{BuildInfo, RuntimeInfo};
pub use write_tracker::{TrackedAppendable, WriteTracker};

/// What the web layer asks of the running server. Implemented by the binary.
///
/// Thread safety: called concurrently from request handlers; implementations
/// synchronise internally.
pub trait ServerControl: Send + Sync + 'static {
    /// Loads the configuration file again and applies it. On error the old
    /// configuration stays in force and the error says why.
    fn reload(&self) -> Result<(), String>;
    /// Asks the server to shut down gracefully.
    fn quit(&self);
    /// Whether the server has finished starting (storage open, WAL replayed).
    fn ready(&self) -> bool;
    /// The configuration in force, as YAML with secrets hidden.
    fn config_yaml(&self) -> String;
    /// `/api/v1/status/runtimeinfo`.
    fn runtime_info(&self) -> RuntimeInfo;
    /// The `external_labels` of the configuration in force.
    fn external_labels(&self) -> sonde_model::Labels;
    /// Sonde's own metrics in the text exposition format, with its content type.
    fn own_metrics(&self) -> (String, &'static str);
}

/// The storage engine's status and admin operations, for
/// `/api/v1/status/tsdb` and `/api/v1/admin/tsdb/*`. Implemented by the binary
/// over its storage engine; called on blocking threads.
pub trait StorageAdmin: Send + Sync + 'static {
    /// `/api/v1/status/tsdb` data (Prometheus' shape), top lists cut to `limit`.
    fn tsdb_status(&self, limit: usize) -> serde_json::Value;
    /// Deletes the samples of series matching `matchers` in `[start, end]` ms.
    fn delete_series(
        &self,
        matchers: &[sonde_model::Matcher],
        start: i64,
        end: i64,
    ) -> Result<(), String>;
    /// Removes deleted data from disk.
    fn clean_tombstones(&self) -> Result<(), String>;
    /// Writes a snapshot under `<data>/snapshots/` and returns its name.
    fn snapshot(&self, skip_head: bool) -> Result<String, String>;
}
