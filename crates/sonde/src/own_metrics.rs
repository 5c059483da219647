//! Sonde's own metrics, served at `/metrics`: one registry per server (no
//! global state, so two servers can run in one test), holding the binary's
//! gauges and the collectors that read each subsystem's counters at scrape
//! time.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
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
}
