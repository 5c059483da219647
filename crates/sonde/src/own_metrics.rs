//! Sonde's own metrics, served at `/metrics`: one registry per server (no
//! global state, so two servers can run in one test), holding the binary's
//! gauges and the collectors that read each subsystem's counters at scrape
//! time.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// Content type of the text that [`OwnMetrics::encode`] produces.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry and the binary's own gauges.
///
/// Thread safety: gauges are atomics; the registry is behind a mutex that is
/// only taken to register and to encode.
pub struct OwnMetrics {
    registry: Mutex<Registry>,
    pub config_last_reload_successful: Gauge,
    pub config_last_reload_success_timestamp_seconds: Gauge<f64, AtomicU64>,
}

impl OwnMetrics {
    pub fn new(version: &str) -> Self {
        let mut registry = Registry::default();
        let config_last_reload_successful = Gauge::default();
        let config_last_reload_success_timestamp_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "sonde_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            config_last_reload_successful.clone(),
        );
        registry.register(
            "sonde_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            config_last_reload_success_timestamp_seconds.clone(),
        );
        let build_info = Family::<Vec<(String, String)>, Gauge>::default();
        build_info
            .get_or_create(&vec![("version".to_string(), version.to_string())])
            .set(1);
        registry.register("sonde_build_info", "Sonde's version, always 1", build_info);
        registry.register_collector(Box::new(ProcessCollector));
        OwnMetrics {
            registry: Mutex::new(registry),
            config_last_reload_successful,
            config_last_reload_success_timestamp_seconds,
        }
    }

    /// Adds a subsystem's metrics, read by `read` at each scrape.
    pub fn register_subsystem(&self, read: impl Fn() -> Vec<OwnMetric> + Send + Sync + 'static) {
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .register_collector(Box::new(SubsystemCollector(Box::new(read))));
    }

    /// All metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::error!(error = %e, "cannot encode own metrics");
        }
        out
    }
}

/// One value of a subsystem's metric, as the subsystem reports it.
#[derive(Debug, Clone)]
pub struct OwnMetric {
    /// Full name; a counter's ends in `_total`.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricType,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// A component's reported values as own metrics.
pub fn from_values(values: Vec<sonde_model::MetricValue>) -> Vec<OwnMetric> {
    values
        .into_iter()
        .map(|m| OwnMetric {
            name: m.name,
            help: m.help,
            kind: if m.kind == "counter" {
                MetricType::Counter
            } else {
                MetricType::Gauge
            },
            labels: m.labels,
            value: m.value,
        })
        .collect()
}

type ReadMetrics = Box<dyn Fn() -> Vec<OwnMetric> + Send + Sync>;

/// Reads a subsystem's metrics when scraped and encodes them by family.
struct SubsystemCollector(ReadMetrics);

impl std::fmt::Debug for SubsystemCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubsystemCollector")
    }
}

impl Collector for SubsystemCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metrics = (self.0)();
        metrics.sort_by(|a, b| a.name.cmp(b.name));
        for family in metrics.chunk_by(|a, b| a.name == b.name) {
            let first = &family[0];
            // The encoder appends `_total` to counters itself.
            let name = match first.kind {
                MetricType::Counter => first.name.trim_end_matches("_total"),
                _ => first.name,
            };
            let mut descriptor = encoder.encode_descriptor(name, first.help, None, first.kind)?;
            if let [only] = family {
                if only.labels.is_empty() {
                    // Encoded without a label set, which would print `name{}`.
                    encode_value(only, descriptor)?;
                    continue;
                }
            }
            for m in family {
                let labels: Vec<(&str, &str)> =
                    m.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                encode_value(m, descriptor.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

fn encode_value(m: &OwnMetric, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
    match m.kind {
        MetricType::Counter => ConstCounter::new(m.value).encode(encoder),
        _ => ConstGauge::new(m.value).encode(encoder),
    }
}

/// The standard `process_*` metrics, read from /proc at scrape time.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(()); // not on Linux /proc: nothing to report
        };
        let (Ok(stat), ticks, page) = (me.stat(), procfs::ticks_per_second(), procfs::page_size())
        else {
            return Ok(());
        };
        let cpu = (stat.utime + stat.stime) as f64 / ticks as f64;
        let counter = |e: &mut DescriptorEncoder, name: &str, help: &str, v: f64| {
            ConstCounter::new(v).encode(e.encode_descriptor(
                name,
                help,
                None,
                MetricType::Counter,
            )?)
        };
        let gauge = |e: &mut DescriptorEncoder, name: &str, help: &str, v: f64| {
            ConstGauge::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
        };
        counter(
            &mut encoder,
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            cpu,
        )?;
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            (stat.rss * page) as f64,
        )?;
        gauge(
            &mut encoder,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            stat.vsize as f64,
        )?;
        if let Ok(boot) = procfs::boot_time_secs() {
            let start = boot as f64 + stat.starttime as f64 / ticks as f64;
            gauge(
                &mut encoder,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                start,
            )?;
        }
        if let Ok(fds) = me.fd_count() {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors",
                fds as f64,
            )?;
        }
        if let Ok(limits) = me.limits() {
            if let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit {
                gauge(
                    &mut encoder,
                    "process_max_fds",
                    "Maximum number of open file descriptors",
                    max as f64,
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_own_and_process_metrics() {
        let m = OwnMetrics::new("0.1.0");
        m.config_last_reload_successful.set(1);
        let text = m.encode();
        assert!(
            text.contains("sonde_config_last_reload_successful 1"),
            "{text}"
        );
        assert!(
            text.contains("sonde_build_info{version=\"0.1.0\"} 1"),
            "{text}"
        );
        assert!(text.contains("process_cpu_seconds_total "), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn subsystem_metrics_are_grouped_into_families() {
        let m = OwnMetrics::new("0.1.0");
        m.register_subsystem(|| {
            let errors = |kind: &str, v| OwnMetric {
                name: "sonde_scrape_errors_total",
                help: "Scrape errors by kind",
                kind: MetricType::Counter,
                labels: vec![("kind", kind.to_string())],
                value: v,
            };
            vec![errors("timeout", 2.0), errors("parse", 1.0)]
        });
        let text = m.encode();
        assert_eq!(
            text.matches("# TYPE sonde_scrape_errors counter").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("sonde_scrape_errors_total{kind=\"timeout\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("sonde_scrape_errors_total{kind=\"parse\"} 1"),
            "{text}"
        );
        m.register_subsystem(|| {
            vec![OwnMetric {
                name: "sonde_tsdb_head_series",
                help: "Series in the head",
                kind: MetricType::Gauge,
                labels: vec![],
                value: 3.0,
            }]
        });
        assert!(
            m.encode().contains("\nsonde_tsdb_head_series 3"),
            "{}",
            m.encode()
        );
    }
}
