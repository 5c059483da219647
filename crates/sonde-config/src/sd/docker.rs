//! `docker_sd_configs` and `dockerswarm_sd_configs`.

use std::time::Duration;

use serde::Serialize;

use crate::de::{Checks, Ctx, Decode, Fields};
use crate::http::HttpClientConfig;
use crate::units::ser_duration;
use crate::url::ConfigUrl;

/// A Docker API filter (`name` with accepted `values`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DockerFilter {
    pub name: String,
    pub values: Vec<String>,
}

impl Decode for DockerFilter {
    const TYPE: &'static str = "filter";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "name", &mut self.name);
        f.take(cx, "values", &mut self.values);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DockerSdConfig {
    #[serde(flatten)]
    pub http: HttpClientConfig,
    pub host: String,
    pub port: u32,
    pub filters: Vec<DockerFilter>,
    pub host_networking_host: String,
    #[serde(serialize_with = "ser_duration")]
    pub refresh_interval: Duration,
}

impl Default for DockerSdConfig {
    fn default() -> Self {
        DockerSdConfig {
            http: HttpClientConfig::default(),
            host: String::new(),
            port: 80,
            filters: Vec::new(),
            host_networking_host: "localhost".into(),
            refresh_interval: Duration::from_secs(60),
        }
    }
}

impl Decode for DockerSdConfig {
    const TYPE: &'static str = "docker_sd_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        self.http.take_fields(f, cx);
        f.take(cx, "host", &mut self.host);
        f.take(cx, "port", &mut self.port);
        f.take(cx, "filters", &mut self.filters);
        f.take(cx, "host_networking_host", &mut self.host_networking_host);
        f.take(cx, "refresh_interval", &mut self.refresh_interval);
    }
    fn check(&mut self, c: &mut Checks) {
        if check_host(&self.host, c) {
            self.http.validate(c);
        }
    }
}

fn check_host(host: &str, c: &mut Checks) -> bool {
    if host.is_empty() {
        c.fail("host missing (e.g. unix:///var/run/docker.sock or tcp://127.0.0.1:2375)");
        return false;
    }
    if let Err(e) = ConfigUrl::parse(host) {
        c.fail_at("host", e);
        return false;
    }
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DockerSwarmSdConfig {
    #[serde(flatten)]
    pub http: HttpClientConfig,
    pub host: String,
    pub role: String,
    pub port: u32,
    pub filters: Vec<DockerFilter>,
    #[serde(serialize_with = "ser_duration")]
    pub refresh_interval: Duration,
}

impl Default for DockerSwarmSdConfig {
    fn default() -> Self {
        DockerSwarmSdConfig {
            http: HttpClientConfig::default(),
            host: String::new(),
            role: String::new(),
            port: 80,
            filters: Vec::new(),
            refresh_interval: Duration::from_secs(60),
        }
    }
}

impl Decode for DockerSwarmSdConfig {
    const TYPE: &'static str = "dockerswarm_sd_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        self.http.take_fields(f, cx);
        f.take(cx, "host", &mut self.host);
        f.take(cx, "role", &mut self.role);
        f.take(cx, "port", &mut self.port);
        f.take(cx, "filters", &mut self.filters);
        f.take(cx, "refresh_interval", &mut self.refresh_interval);
    }
    fn check(&mut self, c: &mut Checks) {
        if !check_host(&self.host, c) {
            return;
        }
        match self.role.as_str() {
            "" => c.fail("role missing (one of: tasks, services, nodes)"),
            "tasks" | "services" | "nodes" => self.http.validate(c),
            r => c.fail_at(
                "role",
                format!("invalid role {r}, expected tasks, services, or nodes"),
            ),
        }
    }
}
