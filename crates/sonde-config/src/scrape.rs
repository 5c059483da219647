//! `scrape_configs`: one job each. Unset interval and timeout come from the
//! global section (the timeout capped at the job's interval), and so do the
//! limits Sonde accepts globally.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::de::{take_list, Checks, Ctx, Decode, Fields};
use crate::global::{is_zero_size, GlobalConfig};
use crate::http::HttpClientConfig;
use crate::relabel::RelabelConfig;
use crate::sd::SdConfigs;
use crate::units::{is_zero_u64, ser_duration, ByteSize};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(serialize_with = "ser_duration")]
    pub scrape_interval: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub scrape_timeout: Duration,
    pub metrics_path: String,
    pub scheme: String,
    /// Uncompressed body size above which a scrape fails; 0 = no limit.
    #[serde(skip_serializing_if = "is_zero_size")]
    pub body_size_limit: ByteSize,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub sample_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub target_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_name_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_value_length_limit: u64,
    #[serde(flatten)]
    pub service_discovery: SdConfigs,
    #[serde(flatten)]
    pub http: HttpClientConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            job_name: String::new(),
            honor_labels: false,
            honor_timestamps: true,
            params: BTreeMap::new(),
            scrape_interval: Duration::ZERO,
            scrape_timeout: Duration::ZERO,
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            service_discovery: SdConfigs::default(),
            http: HttpClientConfig::default(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
        }
    }
}

impl Decode for ScrapeConfig {
    const TYPE: &'static str = "scrape_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "job_name", &mut self.job_name);
        f.take(cx, "honor_labels", &mut self.honor_labels);
        f.take(cx, "honor_timestamps", &mut self.honor_timestamps);
        f.take(cx, "params", &mut self.params);
        f.take(cx, "scrape_interval", &mut self.scrape_interval);
        f.take(cx, "scrape_timeout", &mut self.scrape_timeout);
        f.take(cx, "metrics_path", &mut self.metrics_path);
        f.take(cx, "scheme", &mut self.scheme);
        f.take(cx, "body_size_limit", &mut self.body_size_limit);
        f.take(cx, "sample_limit", &mut self.sample_limit);
        f.take(cx, "target_limit", &mut self.target_limit);
        f.take(cx, "label_limit", &mut self.label_limit);
        f.take(
            cx,
            "label_name_length_limit",
            &mut self.label_name_length_limit,
        );
        f.take(
            cx,
            "label_value_length_limit",
            &mut self.label_value_length_limit,
        );
        self.service_discovery.take_fields(f, cx);
        self.http.take_fields(f, cx);
        take_list(
            f,
            cx,
            "relabel_configs",
            "target relabeling rule",
            &mut self.relabel_configs,
        );
        take_list(
            f,
            cx,
            "metric_relabel_configs",
            "metric relabeling rule",
            &mut self.metric_relabel_configs,
        );
    }

    fn check(&mut self, c: &mut Checks) {
        if self.job_name.is_empty() {
            c.fail("job_name is empty");
            return;
        }
        self.http.validate(c);
        if self.relabel_configs.is_empty() {
            self.service_discovery.check_static_targets(c);
        }
    }
}

impl ScrapeConfig {
    /// Fills what the job left unset from `global`; an error if the
    /// (explicit or inherited) timeout exceeds the interval.
    pub(crate) fn inherit(&mut self, global: &GlobalConfig, c: &mut Checks) {
        if self.scrape_interval.is_zero() {
            self.scrape_interval = global.scrape_interval;
        }
        if self.scrape_timeout > self.scrape_interval {
            c.fail_at(
                "scrape_timeout",
                format!(
                    "scrape timeout greater than scrape interval for scrape config with job name {:?} ({} > {})",
                    self.job_name,
                    sonde_model::format_duration(self.scrape_timeout),
                    sonde_model::format_duration(self.scrape_interval)
                ),
            );
        }
        if self.scrape_timeout.is_zero() {
            self.scrape_timeout = global.scrape_timeout.min(self.scrape_interval);
        }
        inherit_limit(&mut self.sample_limit, global.sample_limit);
        inherit_limit(&mut self.target_limit, global.target_limit);
        inherit_limit(&mut self.label_limit, global.label_limit);
        inherit_limit(
            &mut self.label_name_length_limit,
            global.label_name_length_limit,
        );
        inherit_limit(
            &mut self.label_value_length_limit,
            global.label_value_length_limit,
        );
        if self.body_size_limit.0 == 0 {
            self.body_size_limit = global.body_size_limit;
        }
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.service_discovery.set_directory(dir);
        self.http.set_directory(dir);
    }
}

fn inherit_limit(own: &mut u64, global: u64) {
    if *own == 0 {
        *own = global;
    }
}
