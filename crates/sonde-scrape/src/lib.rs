//! Scraping, behaving like Prometheus 2.42's scrape manager: targets and
//! their labels ([`target`]), service discovery ([`discovery`]), scrape loops
//! with staleness and limits, and the [`ScrapeManager`] that runs one pool of
//! loops per `scrape_config`.

pub mod client;
pub mod discovery;
pub mod error;
mod hostport;
pub mod http_util;
pub mod metrics;
pub mod target;
pub mod targetgroup;
mod url_encode;

#[cfg(test)]
mod testutil;

pub use client::HttpClientConfig;
pub use discovery::{DiscoveryManager, SdConfig};
pub use error::{ClientError, ScrapeError};
pub use target::Target;
pub use targetgroup::Group;
