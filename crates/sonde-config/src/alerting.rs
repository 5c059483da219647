//! `alerting`: where alerts go (Alertmanagers found by service discovery)
//! and how they are relabeled before sending.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::de::{take_list, Checks, Ctx, Decode, Fields};
use crate::http::HttpClientConfig;
use crate::relabel::RelabelConfig;
use crate::sd::SdConfigs;
use crate::units::ser_duration;

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct AlertingConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

impl AlertingConfig {
    pub fn is_empty(&self) -> bool {
        self.alert_relabel_configs.is_empty() && self.alertmanagers.is_empty()
    }
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        for am in &mut self.alertmanagers {
            am.service_discovery.set_directory(dir);
            am.http.set_directory(dir);
        }
    }
}

impl Decode for AlertingConfig {
    const TYPE: &'static str = "alerting";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        take_list(
            f,
            cx,
            "alert_relabel_configs",
            "alert relabeling rule",
            &mut self.alert_relabel_configs,
        );
        take_list(
            f,
            cx,
            "alertmanagers",
            "alertmanager config",
            &mut self.alertmanagers,
        );
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertmanagerConfig {
    #[serde(flatten)]
    pub service_discovery: SdConfigs,
    #[serde(flatten)]
    pub http: HttpClientConfig,
    pub scheme: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path_prefix: String,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    pub api_version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            service_discovery: SdConfigs::default(),
            http: HttpClientConfig::default(),
            scheme: "http".into(),
            path_prefix: String::new(),
            timeout: Duration::from_secs(10),
            api_version: "v2".into(),
            relabel_configs: Vec::new(),
        }
    }
}

impl Decode for AlertmanagerConfig {
    const TYPE: &'static str = "alertmanager_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        self.service_discovery.take_fields(f, cx);
        self.http.take_fields(f, cx);
        f.take(cx, "scheme", &mut self.scheme);
        f.take(cx, "path_prefix", &mut self.path_prefix);
        f.take(cx, "timeout", &mut self.timeout);
        f.take(cx, "api_version", &mut self.api_version);
        take_list(
            f,
            cx,
            "relabel_configs",
            "Alertmanager target relabeling rule",
            &mut self.relabel_configs,
        );
    }
    fn check(&mut self, c: &mut Checks) {
        if self.api_version != "v1" && self.api_version != "v2" {
            c.fail_at(
                "api_version",
                format!(
                    "expected Alertmanager api version to be one of [v1 v2] but got {}",
                    self.api_version
                ),
            );
        }
        self.http.validate(c);
        if self.relabel_configs.is_empty() {
            self.service_discovery.check_static_targets(c);
        }
    }
}
