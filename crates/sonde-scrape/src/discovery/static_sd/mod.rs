//! The static provider sends its groups once and is done.

mod config;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;

pub use config::StaticConfig;

use super::{Discoverer, SdConfig};
use crate::metrics::DiscoveryMetrics;
use crate::targetgroup::Group;

struct StaticDiscoverer {
    groups: Vec<Group>,
}

pub(crate) fn build(cfg: &SdConfig) -> Option<Box<dyn Discoverer>> {
    match cfg {
        SdConfig::Static(c) => Some(Box::new(StaticDiscoverer {
            groups: c.groups.clone(),
        })),
        _ => None,
    }
}

impl Discoverer for StaticDiscoverer {
    fn run(
        self: Box<Self>,
        updates: mpsc::Sender<Vec<Group>>,
        metrics: Arc<DiscoveryMetrics>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let _ = metrics;
        Box::pin(async move {
            let _ = updates.send(self.groups).await;
        })
    }
}
