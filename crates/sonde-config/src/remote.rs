//! `remote_write` and `remote_read`, with Prometheus 2.42's defaults
//! (queue shards, batch sizes, backoffs) and header rules.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::de::{take_list, Checks, Ctx, Decode, Fields};
use crate::http::HttpClientConfig;
use crate::labelset::LabelSet;
use crate::relabel::RelabelConfig;
use crate::units::{is_false, ser_duration};
use crate::url::ConfigUrl;

/// Headers that a user may not set, because the client sets them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Prometheus' `validateHeaders` (remote) and `validateHeadersForTracing`.
pub(crate) fn check_headers(headers: &BTreeMap<String, String>, auth_msg: &str, c: &mut Checks) {
    for h in headers.keys() {
        let lower = h.to_ascii_lowercase();
        if lower == "authorization" {
            c.fail_at("headers", auth_msg.to_string());
            return;
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            c.fail_at(
                "headers",
                format!("{h} is a reserved header. It must not be changed"),
            );
            return;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueConfig {
    pub capacity: u64,
    pub max_shards: u64,
    pub min_shards: u64,
    pub max_samples_per_send: u64,
    #[serde(serialize_with = "ser_duration")]
    pub batch_send_deadline: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub min_backoff: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub max_backoff: Duration,
    #[serde(rename = "retry_on_http_429", skip_serializing_if = "is_false")]
    pub retry_on_rate_limit: bool,
}

impl Default for QueueConfig {
    /// Prometheus' defaults: 200 shards of 500-sample batches push about
    /// 1M samples/s at 100ms per request; 2500 pending per shard.
    fn default() -> Self {
        QueueConfig {
            capacity: 2500,
            max_shards: 200,
            min_shards: 1,
            max_samples_per_send: 500,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_rate_limit: false,
        }
    }
}

impl Decode for QueueConfig {
    const TYPE: &'static str = "queue_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "capacity", &mut self.capacity);
        f.take(cx, "max_shards", &mut self.max_shards);
        f.take(cx, "min_shards", &mut self.min_shards);
        f.take(cx, "max_samples_per_send", &mut self.max_samples_per_send);
        f.take(cx, "batch_send_deadline", &mut self.batch_send_deadline);
        f.take(cx, "min_backoff", &mut self.min_backoff);
        f.take(cx, "max_backoff", &mut self.max_backoff);
        f.take(cx, "retry_on_http_429", &mut self.retry_on_rate_limit);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetadataConfig {
    pub send: bool,
    #[serde(serialize_with = "ser_duration")]
    pub send_interval: Duration,
    pub max_samples_per_send: u64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 500,
        }
    }
}

impl Decode for MetadataConfig {
    const TYPE: &'static str = "metadata_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "send", &mut self.send);
        f.take(cx, "send_interval", &mut self.send_interval);
        f.take(cx, "max_samples_per_send", &mut self.max_samples_per_send);
    }
}

/// AWS SigV4 request signing for remote write.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SigV4Config {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub access_key: String,
    #[serde(skip_serializing_if = "crate::units::Secret::is_empty")]
    pub secret_key: crate::units::Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub profile: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role_arn: String,
}

impl Decode for SigV4Config {
    const TYPE: &'static str = "sigv4";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "region", &mut self.region);
        f.take(cx, "access_key", &mut self.access_key);
        f.take(cx, "secret_key", &mut self.secret_key);
        f.take(cx, "profile", &mut self.profile);
        f.take(cx, "role_arn", &mut self.role_arn);
    }
    fn check(&mut self, c: &mut Checks) {
        if self.access_key.is_empty() != self.secret_key.is_empty() {
            c.fail("must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config");
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoteWriteConfig {
    pub url: ConfigUrl,
    #[serde(serialize_with = "ser_duration")]
    pub remote_timeout: Duration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub write_relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "is_false")]
    pub send_exemplars: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub send_native_histograms: bool,
    #[serde(flatten)]
    pub http: HttpClientConfig,
    pub queue_config: QueueConfig,
    pub metadata_config: MetadataConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigv4: Option<SigV4Config>,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            url: ConfigUrl::default(),
            remote_timeout: Duration::from_secs(30),
            headers: BTreeMap::new(),
            write_relabel_configs: Vec::new(),
            name: String::new(),
            send_exemplars: false,
            send_native_histograms: false,
            http: HttpClientConfig::default(),
            queue_config: QueueConfig::default(),
            metadata_config: MetadataConfig::default(),
            sigv4: None,
        }
    }
}

impl Decode for RemoteWriteConfig {
    const TYPE: &'static str = "remote_write_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "url", &mut self.url);
        f.take(cx, "remote_timeout", &mut self.remote_timeout);
        f.take(cx, "headers", &mut self.headers);
        take_list(
            f,
            cx,
            "write_relabel_configs",
            "relabeling rule in remote write config",
            &mut self.write_relabel_configs,
        );
        f.take(cx, "name", &mut self.name);
        f.take(cx, "send_exemplars", &mut self.send_exemplars);
        f.take(
            cx,
            "send_native_histograms",
            &mut self.send_native_histograms,
        );
        self.http.take_fields(f, cx);
        f.take(cx, "queue_config", &mut self.queue_config);
        f.take(cx, "metadata_config", &mut self.metadata_config);
        f.take_opt(cx, "sigv4", &mut self.sigv4);
    }

    fn check(&mut self, c: &mut Checks) {
        if self.url.is_empty() {
            c.fail("url for remote_write is empty");
            return;
        }
        let before = c.items.len();
        check_headers(
            &self.headers,
            "authorization header must be changed via the basic_auth, authorization, oauth2, or sigv4 parameter",
            c,
        );
        self.http.validate(c);
        if c.items.len() > before {
            return;
        }
        let auth = self.http.basic_auth.is_some()
            || self.http.authorization.is_some()
            || self.http.oauth2.is_some();
        if auth && self.sigv4.is_some() {
            c.fail("at most one of basic_auth, authorization, oauth2, & sigv4 must be configured");
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteReadConfig {
    pub url: ConfigUrl,
    #[serde(serialize_with = "ser_duration")]
    pub remote_timeout: Duration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_false")]
    pub read_recent: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(flatten)]
    pub http: HttpClientConfig,
    #[serde(skip_serializing_if = "LabelSet::is_empty")]
    pub required_matchers: LabelSet,
    pub filter_external_labels: bool,
}

impl Default for RemoteReadConfig {
    fn default() -> Self {
        RemoteReadConfig {
            url: ConfigUrl::default(),
            remote_timeout: Duration::from_secs(60),
            headers: BTreeMap::new(),
            read_recent: false,
            name: String::new(),
            http: HttpClientConfig::default(),
            required_matchers: LabelSet::default(),
            filter_external_labels: true,
        }
    }
}

impl Decode for RemoteReadConfig {
    const TYPE: &'static str = "remote_read_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "url", &mut self.url);
        f.take(cx, "remote_timeout", &mut self.remote_timeout);
        f.take(cx, "headers", &mut self.headers);
        f.take(cx, "read_recent", &mut self.read_recent);
        f.take(cx, "name", &mut self.name);
        self.http.take_fields(f, cx);
        f.take(cx, "required_matchers", &mut self.required_matchers);
        f.take(
            cx,
            "filter_external_labels",
            &mut self.filter_external_labels,
        );
    }

    fn check(&mut self, c: &mut Checks) {
        if self.url.is_empty() {
            c.fail("url for remote_read is empty");
            return;
        }
        let before = c.items.len();
        check_headers(
            &self.headers,
            "authorization header must be changed via the basic_auth, authorization, oauth2, or sigv4 parameter",
            c,
        );
        if c.items.len() == before {
            self.http.validate(c);
        }
    }
}

impl RemoteWriteConfig {
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.http.set_directory(dir);
    }
}

impl RemoteReadConfig {
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.http.set_directory(dir);
    }
}
