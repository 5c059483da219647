//! The limits of the push endpoints and what they count.
//!
//! One [`Ingest`] per server, shared by the handlers through
//! [`crate::WebContext`]. The server sets the limits from the `ingest`
//! section of the configuration at start and again on each reload; a
//! request reads them once, when it starts. The counters are read at
//! scrape time as `sonde_ingest_*` metrics.
//!
//! Thread safety: limits behind a read-write lock (written only on
//! reload), counters are relaxed atomics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use sonde_model::MetricValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::append::Refused;

/// What one write request may hold. Defaults as the `ingest` section's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Body on the wire (compressed); larger is a 413.
    pub max_body_bytes: usize,
    /// Body after snappy or gzip decompression.
    pub max_decompressed_bytes: usize,
    /// Series in one remote-write request, lines in one Influx request,
    /// samples in one text import.
    pub max_series_per_request: usize,
    /// Labels of one series or exemplar, the metric name included.
    pub max_labels_per_series: usize,
    /// Write requests decoded and stored at once; more wait their turn.
    /// Each may hold `max_body_bytes + max_decompressed_bytes`, so this
    /// bounds ingestion memory.
    pub max_concurrent_requests: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 128 << 20,
            max_series_per_request: 100_000,
            max_labels_per_series: 256,
            max_concurrent_requests: 16,
        }
    }
}

/// The push protocols, as the `protocol` label of the metrics names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    RemoteWrite,
    Influx,
    Import,
}

impl Protocol {
    const ALL: [Protocol; 3] = [Protocol::RemoteWrite, Protocol::Influx, Protocol::Import];

    fn name(self) -> &'static str {
        match self {
            Protocol::RemoteWrite => "remote_write",
            Protocol::Influx => "influx",
            Protocol::Import => "import",
        }
    }
}

/// Limits, the write concurrency gate and the counters of the push endpoints.
pub struct Ingest {
    limits: RwLock<IngestLimits>,
    /// Permits for concurrent write requests; resized by [`Ingest::set_limits`].
    gate: Arc<Semaphore>,
    counters: [ProtocolCounters; 3],
}

#[derive(Default)]
struct ProtocolCounters {
    /// Answered requests by HTTP status code.
    requests: Mutex<BTreeMap<u16, u64>>,
    body_bytes: AtomicU64,
    samples_stored: AtomicU64,
    refused_out_of_order: AtomicU64,
    refused_duplicate: AtomicU64,
    refused_out_of_bounds: AtomicU64,
    refused_too_old: AtomicU64,
    refused_invalid: AtomicU64,
    exemplars_dropped: AtomicU64,
}

impl Default for Ingest {
    fn default() -> Self {
        Ingest::new(IngestLimits::default())
    }
}

impl Ingest {
    pub fn new(limits: IngestLimits) -> Self {
        Ingest {
            gate: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            limits: RwLock::new(limits),
            counters: Default::default(),
        }
    }

    pub fn limits(&self) -> IngestLimits {
        *self.limits.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies new limits (a reload). Requests already running keep the
    /// limits they started with; the concurrency gate grows at once and
    /// shrinks as running requests finish.
    pub fn set_limits(&self, new: IngestLimits) {
        let mut limits = self.limits.write().unwrap_or_else(|p| p.into_inner());
        let old = limits.max_concurrent_requests;
        let want = new.max_concurrent_requests;
        if want > old {
            self.gate.add_permits(want - old);
        } else if want < old {
            self.shrink_gate(old - want);
        }
        *limits = new;
    }

    /// Takes `n` permits out of the gate: those free now at once, the rest
    /// as the requests holding them finish.
    fn shrink_gate(&self, n: usize) {
        let taken = self.gate.forget_permits(n);
        if taken < n {
            let gate = self.gate.clone();
            let rest = u32::try_from(n - taken).unwrap_or(u32::MAX);
            tokio::spawn(async move {
                if let Ok(permits) = gate.acquire_many(rest).await {
                    permits.forget();
                }
            });
        }
    }

    /// Waits for a write slot. The semaphore is never closed, so this only
    /// returns `None` if it were.
    pub(crate) async fn write_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.gate.clone().acquire_owned().await.ok()
    }

    fn counters(&self, p: Protocol) -> &ProtocolCounters {
        &self.counters[p as usize]
    }

    /// Counts one answered request.
    pub(crate) fn record_request(&self, p: Protocol, status: u16) {
        *self
            .counters(p)
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status)
            .or_default() += 1;
    }

    /// Counts the bytes of a request body as received.
    pub(crate) fn record_body(&self, p: Protocol, bytes: usize) {
        self.counters(p)
            .body_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts the outcome of a committed batch.
    pub(crate) fn record_batch(
        &self,
        p: Protocol,
        stored: usize,
        refused: &Refused,
        exemplars_dropped: usize,
    ) {
        let c = self.counters(p);
        let add = |a: &AtomicU64, n: usize| {
            if n > 0 {
                a.fetch_add(n as u64, Ordering::Relaxed);
            }
        };
        add(&c.samples_stored, stored);
        add(&c.refused_out_of_order, refused.out_of_order);
        add(&c.refused_duplicate, refused.duplicate);
        add(&c.refused_out_of_bounds, refused.out_of_bounds);
        add(&c.refused_too_old, refused.too_old);
        add(&c.refused_invalid, refused.invalid);
        add(&c.exemplars_dropped, exemplars_dropped);
    }

    /// The `sonde_ingest_*` metrics.
    pub fn metrics(&self) -> Vec<MetricValue> {
        let mut out = Vec::new();
        for p in Protocol::ALL {
            let c = self.counters(p);
            let protocol = || ("protocol", p.name().to_string());
            let counter = |name, help, value: &AtomicU64| MetricValue {
                name,
                help,
                kind: "counter",
                labels: vec![protocol()],
                value: value.load(Ordering::Relaxed) as f64,
            };
            let requests = c.requests.lock().unwrap_or_else(|e| e.into_inner());
            for (code, n) in requests.iter() {
                out.push(MetricValue {
                    name: "sonde_ingest_requests_total",
                    help: "Write requests answered, by protocol and HTTP status code",
                    kind: "counter",
                    labels: vec![protocol(), ("code", code.to_string())],
                    value: *n as f64,
                });
            }
            out.push(counter(
                "sonde_ingest_request_bytes_total",
                "Bytes of write request bodies received, as sent (compressed)",
                &c.body_bytes,
            ));
            out.push(counter(
                "sonde_ingest_samples_total",
                "Samples stored from write requests",
                &c.samples_stored,
            ));
            for (reason, value) in [
                ("out_of_order", &c.refused_out_of_order),
                ("duplicate", &c.refused_duplicate),
                ("out_of_bounds", &c.refused_out_of_bounds),
                ("too_old", &c.refused_too_old),
                ("invalid", &c.refused_invalid),
            ] {
                let mut m = counter(
                    "sonde_ingest_samples_refused_total",
                    "Samples of write requests refused, by protocol and reason",
                    value,
                );
                m.labels.push(("reason", reason.to_string()));
                out.push(m);
            }
            out.push(counter(
                "sonde_ingest_exemplars_dropped_total",
                "Exemplars of write requests that storage did not take",
                &c.exemplars_dropped,
            ));
        }
        let l = self.limits();
        for (limit, value) in [
            ("max_body_bytes", l.max_body_bytes),
            ("max_decompressed_bytes", l.max_decompressed_bytes),
            ("max_series_per_request", l.max_series_per_request),
            ("max_labels_per_series", l.max_labels_per_series),
            ("max_concurrent_requests", l.max_concurrent_requests),
        ] {
            out.push(MetricValue {
                name: "sonde_ingest_limit",
                help: "The limits of write requests (the ingest section of the configuration)",
                kind: "gauge",
                labels: vec![("limit", limit.to_string())],
                value: value as f64,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_gate_follows_reloaded_limits() {
        let ingest = Ingest::new(IngestLimits {
            max_concurrent_requests: 2,
            ..IngestLimits::default()
        });
        let a = ingest.write_slot().await.unwrap();
        let _b = ingest.write_slot().await.unwrap();
        assert_eq!(ingest.gate.available_permits(), 0);
        ingest.set_limits(IngestLimits {
            max_concurrent_requests: 3,
            ..IngestLimits::default()
        });
        assert_eq!(ingest.gate.available_permits(), 1);
        ingest.set_limits(IngestLimits {
            max_concurrent_requests: 1,
            ..IngestLimits::default()
        });
        // One free permit is taken at once, the other when `a` finishes.
        assert_eq!(ingest.gate.available_permits(), 0);
        drop(a);
        tokio::task::yield_now().await;
        for _ in 0..100 {
            if ingest.gate.available_permits() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(ingest.gate.available_permits(), 0);
        assert_eq!(ingest.limits().max_concurrent_requests, 1);
    }

    #[test]
    fn metrics_name_protocol_and_reason() {
        let ingest = Ingest::default();
        ingest.record_request(Protocol::Influx, 204);
        ingest.record_body(Protocol::Influx, 10);
        let refused = Refused {
            duplicate: 2,
            ..Refused::default()
        };
        ingest.record_batch(Protocol::Influx, 5, &refused, 0);
        let m = ingest.metrics();
        let find = |name: &str, labels: &[(&str, &str)]| {
            m.iter()
                .find(|v| {
                    v.name == name
                        && labels
                            .iter()
                            .all(|(k, val)| v.labels.iter().any(|(lk, lv)| lk == k && lv == val))
                })
                .map(|v| v.value)
        };
        assert_eq!(
            find(
                "sonde_ingest_requests_total",
                &[("protocol", "influx"), ("code", "204")]
            ),
            Some(1.0)
        );
        assert_eq!(
            find("sonde_ingest_samples_total", &[("protocol", "influx")]),
            Some(5.0)
        );
        assert_eq!(
            find(
                "sonde_ingest_samples_refused_total",
                &[("protocol", "influx"), ("reason", "duplicate")]
            ),
            Some(2.0)
        );
        assert_eq!(
            find("sonde_ingest_limit", &[("limit", "max_body_bytes")]),
            Some((32 << 20) as f64)
        );
    }
}
