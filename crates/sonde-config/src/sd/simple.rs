//! The discovery mechanisms Sonde implements besides static targets: file,
//! HTTP, DNS and Consul (config side; the providers live in sonde-scrape).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use std::sync::LazyLock;

use crate::de::{Checks, Ctx, Decode, Fields};
use crate::http::HttpClientConfig;
use crate::units::{join_dir, ser_duration, Secret};
use crate::url::ConfigUrl;

/// Prometheus' `patFileSDName`: a wildcard only in the last component.
static FILE_SD_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$")
        .expect("BUG: file SD pattern compiles")
});

/// `file_sd_configs`: target groups read from JSON/YAML files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    #[serde(serialize_with = "ser_duration")]
    pub refresh_interval: Duration,
}

impl Default for FileSdConfig {
    fn default() -> Self {
        FileSdConfig {
            files: Vec::new(),
            refresh_interval: Duration::from_secs(300),
        }
    }
}

impl Decode for FileSdConfig {
    const TYPE: &'static str = "file_sd_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "files", &mut self.files);
        f.take(cx, "refresh_interval", &mut self.refresh_interval);
    }
    fn check(&mut self, c: &mut Checks) {
        if self.files.is_empty() {
            c.fail("file service discovery config must contain at least one path name");
        }
        for name in &self.files {
            if !FILE_SD_NAME.is_match(name) {
                c.fail_at("files", format!("path name {name:?} is not valid for file discovery (must end in .json, .yml or .yaml)"));
            }
        }
    }
}

impl FileSdConfig {
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        for f in &mut self.files {
            join_dir(dir, f);
        }
    }
}

/// `http_sd_configs`: target groups fetched from a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpSdConfig {
    #[serde(flatten)]
    pub http: HttpClientConfig,
    #[serde(serialize_with = "ser_duration")]
    pub refresh_interval: Duration,
    pub url: String,
}

impl Default for HttpSdConfig {
    fn default() -> Self {
        HttpSdConfig {
            http: HttpClientConfig::default(),
            refresh_interval: Duration::from_secs(60),
            url: String::new(),
        }
    }
}

impl Decode for HttpSdConfig {
    const TYPE: &'static str = "http_sd_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        self.http.take_fields(f, cx);
        f.take(cx, "refresh_interval", &mut self.refresh_interval);
        f.take(cx, "url", &mut self.url);
    }
    fn check(&mut self, c: &mut Checks) {
        check_http_url(&self.url, c);
        self.http.validate(c);
    }
}

/// The URL rules of HTTP SD and PuppetDB SD.
pub(crate) fn check_http_url(url: &str, c: &mut Checks) {
    if url.is_empty() {
        c.fail("URL is missing");
        return;
    }
    match ConfigUrl::parse(url) {
        Err(e) => c.fail_at("url", e),
        Ok(u) if u.scheme() != "http" && u.scheme() != "https" => {
            c.fail_at("url", "URL scheme must be 'http' or 'https'")
        }
        Ok(u) if u.host().is_empty() => c.fail_at("url", "host is missing in URL"),
        Ok(_) => {}
    }
}

/// `dns_sd_configs`: SRV, A, AAAA or MX lookups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsSdConfig {
    pub names: Vec<String>,
    #[serde(serialize_with = "ser_duration")]
    pub refresh_interval: Duration,
    #[serde(rename = "type")]
    pub kind: String,
    pub port: u32,
}

impl Default for DnsSdConfig {
    fn default() -> Self {
        DnsSdConfig {
            names: Vec::new(),
            refresh_interval: Duration::from_secs(30),
            kind: "SRV".into(),
            port: 0,
        }
    }
}

impl Decode for DnsSdConfig {
    const TYPE: &'static str = "dns_sd_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "names", &mut self.names);
        f.take(cx, "refresh_interval", &mut self.refresh_interval);
        f.take(cx, "type", &mut self.kind);
        f.take(cx, "port", &mut self.port);
    }
    fn check(&mut self, c: &mut Checks) {
        if self.names.is_empty() {
            c.fail("DNS-SD config must contain at least one SRV record name");
            return;
        }
        match self.kind.to_ascii_uppercase().as_str() {
            "SRV" => {}
            "A" | "AAAA" | "MX" if self.port == 0 => {
                c.fail("a port is required in DNS-SD configs for all record types except SRV")
            }
            "A" | "AAAA" | "MX" => {}
            _ => c.fail_at(
                "type",
                format!(
                    "invalid DNS-SD records type {} (expected SRV, A, AAAA or MX)",
                    self.kind
                ),
            ),
        }
    }
}

/// `consul_sd_configs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsulSdConfig {
    pub server: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub token: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub datacenter: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub partition: String,
    pub tag_separator: String,
    pub scheme: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    pub allow_stale: bool,
    #[serde(serialize_with = "ser_duration")]
    pub refresh_interval: Duration,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    #[serde(rename = "tags", skip_serializing_if = "Vec::is_empty")]
    pub service_tags: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub node_meta: BTreeMap<String, String>,
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

impl Default for ConsulSdConfig {
    fn default() -> Self {
        ConsulSdConfig {
            server: "localhost:8500".into(),
            token: Secret::default(),
            datacenter: String::new(),
            namespace: String::new(),
            partition: String::new(),
            tag_separator: ",".into(),
            scheme: "http".into(),
            username: String::new(),
            password: Secret::default(),
            allow_stale: true,
            refresh_interval: Duration::from_secs(30),
            services: Vec::new(),
            service_tags: Vec::new(),
            node_meta: BTreeMap::new(),
            http: HttpClientConfig::default(),
        }
    }
}

impl Decode for ConsulSdConfig {
    const TYPE: &'static str = "consul_sd_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "server", &mut self.server);
        f.take(cx, "token", &mut self.token);
        f.take(cx, "datacenter", &mut self.datacenter);
        f.take(cx, "namespace", &mut self.namespace);
        f.take(cx, "partition", &mut self.partition);
        f.take(cx, "tag_separator", &mut self.tag_separator);
        f.take(cx, "scheme", &mut self.scheme);
        f.take(cx, "username", &mut self.username);
        f.take(cx, "password", &mut self.password);
        f.take(cx, "allow_stale", &mut self.allow_stale);
        f.take(cx, "refresh_interval", &mut self.refresh_interval);
        f.take(cx, "services", &mut self.services);
        f.take(cx, "tags", &mut self.service_tags);
        f.take(cx, "node_meta", &mut self.node_meta);
        self.http.take_fields(f, cx);
    }
    fn check(&mut self, c: &mut Checks) {
        if self.server.trim().is_empty() {
            c.fail("consul SD configuration requires a server address");
            return;
        }
        if !self.username.is_empty() || !self.password.is_empty() {
            if self.http.basic_auth.is_some() {
                c.fail("at most one of consul SD configuration username and password and basic auth can be configured");
                return;
            }
            self.http.basic_auth = Some(crate::http::BasicAuth {
                username: self.username.clone(),
                password: self.password.clone(),
                password_file: String::new(),
            });
        }
        if !self.token.is_empty()
            && (self.http.authorization.is_some() || self.http.oauth2.is_some())
        {
            c.fail("at most one of consul SD token, authorization, or oauth2 can be configured");
            return;
        }
        self.http.validate(c);
    }
}
