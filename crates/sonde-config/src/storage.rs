//! `storage` (where and how long Sonde keeps data; Prometheus' file only
//! has `tsdb.out_of_order_time_window` and `exemplars`, the rest are Sonde
//! keys standing in for Prometheus' `--storage.tsdb.*` flags) and `tracing`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::de::{Checks, Ctx, Decode, Fields};
use crate::global::is_zero_size;
use crate::http::TlsConfig;
use crate::remote::check_headers;
use crate::units::{is_false, is_zero_duration, ser_duration, ByteSize};

/// Prometheus' default retention when neither time nor size is set.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(15 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TsdbConfig {
    /// Data directory. A relative path is relative to the working directory,
    /// as Prometheus' `--storage.tsdb.path` flag is (not to the config file).
    pub path: String,
    /// Blocks older than this are deleted. Zero: no time-based retention.
    #[serde(serialize_with = "ser_duration")]
    pub retention_time: Duration,
    /// Oldest blocks are deleted while the total exceeds this. Zero: none.
    #[serde(skip_serializing_if = "is_zero_size")]
    pub retention_size: ByteSize,
    /// How far behind the newest sample a sample may arrive and still be kept.
    #[serde(
        serialize_with = "ser_duration",
        skip_serializing_if = "is_zero_duration"
    )]
    pub out_of_order_time_window: Duration,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        TsdbConfig {
            path: "data".into(),
            retention_time: DEFAULT_RETENTION,
            retention_size: ByteSize(0),
            out_of_order_time_window: Duration::ZERO,
        }
    }
}

impl Decode for TsdbConfig {
    const TYPE: &'static str = "tsdb";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "path", &mut self.path);
        f.take(cx, "retention_time", &mut self.retention_time);
        f.take(cx, "retention_size", &mut self.retention_size);
        f.take(
            cx,
            "out_of_order_time_window",
            &mut self.out_of_order_time_window,
        );
    }
    fn check(&mut self, c: &mut Checks) {
        if self.path.is_empty() {
            c.fail_at("path", "storage path is empty (e.g. path: data)");
        }
        if self.retention_time.is_zero() && self.retention_size.0 == 0 {
            // As Prometheus: with neither limit, keep the default time.
            self.retention_time = DEFAULT_RETENTION;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExemplarsConfig {
    /// Size of the in-memory exemplar ring; 0 or less disables exemplars.
    pub max_exemplars: i64,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        ExemplarsConfig {
            max_exemplars: 100_000,
        }
    }
}

impl Decode for ExemplarsConfig {
    const TYPE: &'static str = "exemplars";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "max_exemplars", &mut self.max_exemplars);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct StorageConfig {
    pub tsdb: TsdbConfig,
    pub exemplars: ExemplarsConfig,
}

impl Decode for StorageConfig {
    const TYPE: &'static str = "storage";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "tsdb", &mut self.tsdb);
        f.take(cx, "exemplars", &mut self.exemplars);
    }
}

/// `tracing`: OpenTelemetry export of Sonde's own traces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracingConfig {
    pub client_type: String,
    pub endpoint: String,
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub sampling_fraction: f64,
    #[serde(skip_serializing_if = "is_false")]
    pub insecure: bool,
    pub tls_config: TlsConfig,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub compression: String,
    #[serde(
        serialize_with = "ser_duration",
        skip_serializing_if = "is_zero_duration"
    )]
    pub timeout: Duration,
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            client_type: "grpc".into(),
            endpoint: String::new(),
            sampling_fraction: 0.0,
            insecure: false,
            tls_config: TlsConfig::default(),
            headers: BTreeMap::new(),
            compression: String::new(),
            timeout: Duration::ZERO,
        }
    }
}

impl Decode for TracingConfig {
    const TYPE: &'static str = "tracing";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "client_type", &mut self.client_type);
        f.take(cx, "endpoint", &mut self.endpoint);
        f.take(cx, "sampling_fraction", &mut self.sampling_fraction);
        f.take(cx, "insecure", &mut self.insecure);
        f.take(cx, "tls_config", &mut self.tls_config);
        f.take(cx, "headers", &mut self.headers);
        f.take(cx, "compression", &mut self.compression);
        f.take(cx, "timeout", &mut self.timeout);
    }
    fn check(&mut self, c: &mut Checks) {
        if self.client_type != "http" && self.client_type != "grpc" {
            c.fail_at(
                "client_type",
                format!(
                    "expected tracing client type to be to be http or grpc, but got {}",
                    self.client_type
                ),
            );
            return;
        }
        let before = c.items.len();
        check_headers(
            &self.headers,
            "custom authorization header configuration is not yet supported",
            c,
        );
        if c.items.len() > before {
            return;
        }
        if self.endpoint.is_empty() {
            c.fail("tracing endpoint must be set");
            return;
        }
        if !self.compression.is_empty() && self.compression != "gzip" {
            c.fail_at(
                "compression",
                format!(
                    "invalid compression type {} provided, valid options: gzip",
                    self.compression
                ),
            );
        }
    }
}
