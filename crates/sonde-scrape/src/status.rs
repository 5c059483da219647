//! What the API shows about targets (`/api/v1/targets`, Prometheus 2.42):
//! the live status a loop updates after each scrape, and the snapshots the
//! manager hands out.
//!
//! Thread safety: a [`TargetStatus`] sits behind a mutex shared by its loop
//! (writer, once per scrape) and readers; snapshots are plain values.

use std::time::{Duration, SystemTime};

use sonde_model::{Labels, MetricMetadata};

/// `health` of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetHealth {
    #[default]
    Unknown,
    Up,
    Down,
}

impl TargetHealth {
    /// `up`, `down` or `unknown`, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealth::Unknown => "unknown",
            TargetHealth::Up => "up",
            TargetHealth::Down => "down",
        }
    }
}

/// The outcome of the last scrape of a target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetStatus {
    pub health: TargetHealth,
    /// Empty after a successful scrape.
    pub last_error: String,
    /// When the last scrape started; `None` before the first.
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
    /// Scrapes done by this loop.
    pub scrapes: u64,
}

/// Sent after every scrape (a hook for tests and for logging).
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeEvent {
    pub job: String,
    pub url: String,
    pub health: TargetHealth,
    pub error: Option<String>,
    /// Scrapes of this loop so far.
    pub scrapes: u64,
    /// Samples in the body (`scrape_samples_scraped`).
    pub samples: u64,
}

/// An active target as `/api/v1/targets` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveTarget {
    /// Labels before relabeling (with `__meta_*`, `__address__`...).
    pub discovered_labels: Labels,
    /// Labels after relabeling, without `__` labels.
    pub labels: Labels,
    pub scrape_pool: String,
    pub scrape_url: String,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
    pub health: TargetHealth,
    /// `scrapeInterval` as the API shows it: the `__scrape_interval__`
    /// label as written (`60s` stays `60s`).
    pub scrape_interval: String,
    /// `scrapeTimeout`, the `__scrape_timeout__` label as written.
    pub scrape_timeout: String,
    /// The interval and timeout the loop runs with.
    pub interval: Duration,
    pub timeout: Duration,
}

impl ActiveTarget {
    /// `globalUrl`: the scrape URL as seen from outside (Prometheus'
    /// `getGlobalURL`). A target on localhost becomes the external host:
    /// with scheme and port of the external URL when it is this server's
    /// own listen port, else with its own port.
    pub fn global_url(&self, opts: &GlobalUrlOptions) -> String {
        global_url(&self.scrape_url, opts)
    }
}

/// What [`ActiveTarget::global_url`] needs to know about this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalUrlOptions {
    /// `--web.listen-address`, e.g. `0.0.0.0:9090`.
    pub listen_address: String,
    /// Host and port of the external URL, e.g. `prom.example.com:9090`.
    pub host: String,
    /// Scheme of the external URL.
    pub scheme: String,
}

const LOCALHOST: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

fn global_url(url: &str, opts: &GlobalUrlOptions) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return url.to_string();
    };
    let host = u
        .host_str()
        .unwrap_or("")
        .trim_matches(['[', ']'])
        .to_string();
    if !LOCALHOST.contains(&host.as_str()) {
        return url.to_string();
    }
    let port = u
        .port_or_known_default()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let own_port = opts
        .listen_address
        .rsplit_once(':')
        .map(|(_, p)| p)
        .unwrap_or("");
    let new_authority = if port == own_port {
        if u.set_scheme(&opts.scheme).is_err() {
            return url.to_string();
        }
        opts.host.clone()
    } else {
        let ext_host = opts
            .host
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(&opts.host);
        format!("{ext_host}:{port}")
    };
    let rest = &u[url::Position::BeforePath..];
    format!("{}://{new_authority}{rest}", u.scheme())
}

/// A target dropped by relabeling (`droppedTargets`).
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedTarget {
    pub discovered_labels: Labels,
    pub scrape_pool: String,
}

/// One entry of `/api/v1/targets/metadata`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetMetadata {
    /// The target's labels.
    pub target: Labels,
    pub metric: String,
    pub metadata: MetricMetadata,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_url_like_prometheus() {
        let o = GlobalUrlOptions {
            listen_address: "0.0.0.0:9090".into(),
            host: "prom.example.com:443".into(),
            scheme: "https".into(),
        };
        assert_eq!(
            global_url("http://localhost:9090/metrics", &o),
            "https://prom.example.com:443/metrics"
        );
        assert_eq!(
            global_url("http://127.0.0.1:9100/metrics?a=b", &o),
            "http://prom.example.com:9100/metrics?a=b"
        );
        assert_eq!(global_url("http://h:1/metrics", &o), "http://h:1/metrics");
    }
}
