//! Service discovery: providers that turn configuration into target groups,
//! and the [`DiscoveryManager`] that merges their updates per scrape job and
//! hands them to the scrape manager.
//!
//! Every provider has the same shape: `config.rs` (its runtime settings and
//! defaults), `mod.rs` (a [`Discoverer`]) and `tests.rs`, and one row in
//! [`PROVIDERS`]. A discoverer sends lists of groups; a group replaces the
//! earlier group with the same `source`, and an empty group deletes it.

pub mod file;
pub mod http;
mod manager;
pub mod static_sd;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;

pub use manager::{DiscoveryManager, TargetSets, DEFAULT_UPDATE_INTERVAL};

use crate::metrics::DiscoveryMetrics;
use crate::targetgroup::Group;

/// One service discovery configuration of a scrape job.
#[derive(Debug, Clone, PartialEq)]
pub enum SdConfig {
    Static(static_sd::StaticConfig),
    File(file::FileSdConfig),
    Http(Box<http::HttpSdConfig>),
}

/// A running provider. `run` sends updates until the receiver is gone; the
/// manager stops a provider by dropping (aborting) its task.
pub trait Discoverer: Send + 'static {
    fn run(
        self: Box<Self>,
        updates: mpsc::Sender<Vec<Group>>,
        metrics: Arc<DiscoveryMetrics>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// A row of the provider table.
pub struct Provider {
    /// The key under `scrape_configs` (`static_configs`, `file_sd_configs`...),
    /// also the `mechanism` label of discovery metrics.
    pub name: &'static str,
    /// Builds the discoverer when `SdConfig` is of this provider's kind.
    pub build: fn(&SdConfig) -> Option<Box<dyn Discoverer>>,
}

/// Every provider, in one place.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "static_configs",
        build: static_sd::build,
    },
    Provider {
        name: "file_sd_configs",
        build: file::build,
    },
    Provider {
        name: "http_sd_configs",
        build: http::build,
    },
];

/// The provider table row for `cfg`.
pub(crate) fn provider_for(cfg: &SdConfig) -> Option<(&'static str, Box<dyn Discoverer>)> {
    PROVIDERS
        .iter()
        .find_map(|p| (p.build)(cfg).map(|d| (p.name, d)))
}
