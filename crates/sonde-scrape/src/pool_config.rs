//! The runtime settings of one scrape pool (one `scrape_config`), checked
//! and immutable, shared by the pool and its loops behind an `Arc`. A reload
//! compares old and new values to decide what to restart.

use std::time::Duration;

use sonde_config::relabel::RelabelConfig;

use crate::append::Limits;
use crate::client::HttpClientConfig;
use crate::discovery::SdConfig;
use crate::target::TargetDefaults;

/// One scrape pool's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// `job_name`, `scrape_interval`, `scrape_timeout`, `metrics_path`,
    /// `scheme`, `params`.
    pub target_defaults: TargetDefaults,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// Bytes, 0 for no limit.
    pub body_size_limit: u64,
    pub limits: Limits,
    /// 0 for no limit.
    pub target_limit: u64,
    pub http: HttpClientConfig,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    pub service_discovery: Vec<SdConfig>,
}

impl PoolConfig {
    /// A pool with Prometheus' defaults (15s interval, 10s timeout,
    /// `/metrics`, `http`, honor_timestamps) and no targets.
    pub fn new(job_name: &str) -> Self {
        PoolConfig {
            target_defaults: TargetDefaults {
                job_name: job_name.to_string(),
                scrape_interval: Duration::from_secs(15),
                scrape_timeout: Duration::from_secs(10),
                metrics_path: "/metrics".to_string(),
                scheme: "http".to_string(),
                params: Default::default(),
            },
            honor_labels: false,
            honor_timestamps: true,
            body_size_limit: 0,
            limits: Limits::default(),
            target_limit: 0,
            http: HttpClientConfig::default(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            service_discovery: Vec::new(),
        }
    }

    pub fn job_name(&self) -> &str {
        &self.target_defaults.job_name
    }

    /// Whether a loop may keep its scrape cache across a reload from `self`
    /// to `new` (Prometheus' `reusableCache`): only the interval, timeout,
    /// limits and HTTP client settings may differ.
    pub fn cache_reusable(&self, new: &PoolConfig) -> bool {
        self.zeroed() == new.zeroed()
    }

    fn zeroed(&self) -> PoolConfig {
        let mut z = self.clone();
        z.target_defaults.scrape_interval = Duration::ZERO;
        z.target_defaults.scrape_timeout = Duration::ZERO;
        z.limits = Limits::default();
        z.http = HttpClientConfig::default();
        z
    }
}
