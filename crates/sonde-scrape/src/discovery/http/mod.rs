//! HTTP SD: fetches a JSON list of target groups every `refresh_interval`
//! (Prometheus' HTTP SD format: status 200, `Content-Type: application/json`,
//! body `[{"targets": [...], "labels": {...}}]`).
//!
//! Each group gets `__meta_url` and the source `<url>:<index>`. A failed
//! refresh (network error, other status, wrong content type, bad JSON) keeps
//! the previous groups and is counted in `sonde_sd_http_failures_total`; a
//! refresh with fewer groups sends empty groups for the missing indices.

mod config;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sonde_model::LabelsBuilder;
use tokio::sync::mpsc;

pub use config::{HttpSdConfig, DEFAULT_REFRESH_INTERVAL};

use super::{Discoverer, SdConfig};
use crate::metrics::DiscoveryMetrics;
use crate::targetgroup::{parse_groups, Group};

/// The label holding the URL a group came from.
pub const URL_LABEL: &str = "__meta_url";

/// The largest HTTP SD body read. Prometheus has no limit; a bound keeps a
/// broken endpoint from exhausting memory, and 64 MiB is about a million
/// targets.
const MAX_BODY_BYTES: usize = 64 << 20;

struct HttpDiscoverer {
    cfg: HttpSdConfig,
    /// Groups sent at the last successful refresh.
    last_count: usize,
}

pub(crate) fn build(cfg: &SdConfig) -> Option<Box<dyn Discoverer>> {
    match cfg {
        SdConfig::Http(c) => Some(Box::new(HttpDiscoverer {
            cfg: (**c).clone(),
            last_count: 0,
        })),
        _ => None,
    }
}

impl Discoverer for HttpDiscoverer {
    fn run(
        self: Box<Self>,
        updates: mpsc::Sender<Vec<Group>>,
        metrics: Arc<DiscoveryMetrics>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.run_loop(updates, metrics))
    }
}

impl HttpDiscoverer {
    async fn run_loop(
        mut self: Box<Self>,
        updates: mpsc::Sender<Vec<Group>>,
        metrics: Arc<DiscoveryMetrics>,
    ) {
        let interval = self.cfg.refresh_interval.max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut client = None;
        loop {
            ticker.tick().await;
            if client.is_none() {
                client = self.cfg.http.build(interval).ok();
            }
            let Some(c) = &client else {
                crate::metrics::inc(&metrics.http_failures);
                continue;
            };
            match self.refresh(c, interval).await {
                Ok(groups) => {
                    if updates.send(groups).await.is_err() {
                        return;
                    }
                }
                Err(_) => crate::metrics::inc(&metrics.http_failures),
            }
        }
    }

    /// One refresh: the new groups plus empty groups for vanished indices.
    async fn refresh(
        &mut self,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Vec<Group>, String> {
        let mut groups = fetch_with(client, &self.cfg, timeout).await?;
        let n = groups.len();
        for i in n..self.last_count {
            groups.push(Group {
                source: source(&self.cfg.url, i),
                ..Group::default()
            });
        }
        self.last_count = n;
        Ok(groups)
    }
}

fn source(url: &str, i: usize) -> String {
    format!("{url}:{i}")
}

/// Fetches and parses the groups at `cfg.url` once, with a fresh client
/// (tools, tests). Errors name the URL.
pub async fn fetch(cfg: &HttpSdConfig, timeout: Duration) -> Result<Vec<Group>, String> {
    let client = cfg.http.build(timeout).map_err(|e| e.to_string())?;
    fetch_with(&client, cfg, timeout).await
}

async fn fetch_with(
    client: &reqwest::Client,
    cfg: &HttpSdConfig,
    timeout: Duration,
) -> Result<Vec<Group>, String> {
    let url = &cfg.url;
    let req = client
        .get(url)
        .timeout(timeout)
        .header("Accept", "application/json")
        .header("User-Agent", crate::http_util::USER_AGENT)
        .header(
            "X-Prometheus-Refresh-Interval-Seconds",
            crate::http_util::format_seconds(cfg.refresh_interval),
        );
    let req = cfg.http.authorize(req).map_err(|e| e.to_string())?;
    let mut resp = req.send().await.map_err(|e| format!("Get {url:?}: {e}"))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!(
            "server returned HTTP status {}",
            crate::http_util::status_text(resp.status())
        ));
    }
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !(ct == "application/json" || ct.starts_with("application/json;")) {
        return Err(format!("unsupported content type {ct:?}"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("Get {url:?}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!(
                "response from {url:?} is larger than {MAX_BODY_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let groups =
        parse_groups(&body, url).map_err(|e| format!("cannot parse response from {url:?}: {e}"))?;
    Ok(groups
        .into_iter()
        .enumerate()
        .map(|(i, mut g)| {
            let mut lb = LabelsBuilder::from_labels(&g.labels);
            lb.set(URL_LABEL, url);
            g.labels = lb.build();
            g.source = source(url, i);
            g
        })
        .collect())
}
