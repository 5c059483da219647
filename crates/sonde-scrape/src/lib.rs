//! Scraping, behaving like Prometheus 2.42's scrape manager: targets and
//! their labels ([`target`]), service discovery ([`discovery`]), scrape loops
//! with staleness and limits, and the [`ScrapeManager`] that runs one pool of
//! loops per `scrape_config`.

mod append;
mod cache;
pub mod client;
pub mod convert;
pub mod discovery;
pub mod error;
mod hostport;
pub mod http_util;
mod labels_mutate;
mod manager;
pub mod metrics;
mod pool;
mod pool_config;
mod scrape_loop;
pub mod scraper;
pub mod status;
pub mod target;
pub mod targetgroup;
mod url_encode;

#[cfg(test)]
mod alloc_tests;
#[cfg(test)]
mod manager_tests;
#[cfg(test)]
mod testutil;
#[cfg(test)]
mod tls_tests;

pub use append::Limits;
pub use cache::MetadataStore;
pub use client::HttpClientConfig;
pub use discovery::{DiscoveryManager, SdConfig};
pub use error::{ClientError, ScrapeError};
pub use manager::{jitter_seed, ManagerOptions, PoolError, ScrapeManager};
pub use pool_config::PoolConfig;
pub use status::{
    ActiveTarget, DroppedTarget, GlobalUrlOptions, ScrapeEvent, TargetHealth, TargetMetadata,
    TargetStatus,
};
pub use target::Target;
pub use targetgroup::Group;
