//! `ingest` (a Sonde key): the limits of the push endpoints (remote write,
//! Influx line protocol, text import). Each bounds the memory one request
//! can take; a request over a limit is refused whole with a 400 or 413 that
//! names the limit, so nothing is half-stored. Changes apply on reload.

use serde::Serialize;

use crate::de::{Checks, Ctx, Decode, Fields};
use crate::units::ByteSize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IngestConfig {
    /// Largest request body on the wire (compressed); larger is a 413.
    pub max_body_size: ByteSize,
    /// Largest body after snappy or gzip decompression: a decompression
    /// bomb stops here.
    pub max_decompressed_size: ByteSize,
    /// Series in one remote-write request, lines in one Influx request,
    /// samples in one text import.
    pub max_series_per_request: usize,
    /// Labels of one series (and of one exemplar), the metric name included.
    pub max_labels_per_series: usize,
    /// Write requests decoded and stored at once; more wait their turn.
    pub max_concurrent_requests: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_size: ByteSize(32 << 20),
            max_decompressed_size: ByteSize(128 << 20),
            max_series_per_request: 100_000,
            max_labels_per_series: 256,
            max_concurrent_requests: 16,
        }
    }
}

impl Decode for IngestConfig {
    const TYPE: &'static str = "ingest";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "max_body_size", &mut self.max_body_size);
        f.take(cx, "max_decompressed_size", &mut self.max_decompressed_size);
        f.take(
            cx,
            "max_series_per_request",
            &mut self.max_series_per_request,
        );
        f.take(cx, "max_labels_per_series", &mut self.max_labels_per_series);
        f.take(
            cx,
            "max_concurrent_requests",
            &mut self.max_concurrent_requests,
        );
    }

    fn check(&mut self, c: &mut Checks) {
        if self.max_body_size.0 == 0 {
            c.fail_at("max_body_size", "must be greater than 0 (e.g. 32MiB)");
        }
        if self.max_decompressed_size < self.max_body_size {
            c.fail_at(
                "max_decompressed_size",
                format!(
                    "max_decompressed_size {} is smaller than max_body_size {}: a body that passes one limit would fail the other",
                    self.max_decompressed_size, self.max_body_size
                ),
            );
        }
        if self.max_series_per_request == 0 {
            c.fail_at(
                "max_series_per_request",
                "must be greater than 0 (e.g. 100000)",
            );
        }
        if self.max_labels_per_series == 0 {
            c.fail_at("max_labels_per_series", "must be greater than 0 (e.g. 256)");
        }
        if self.max_concurrent_requests == 0 {
            c.fail_at(
                "max_concurrent_requests",
                "must be greater than 0 (e.g. 16)",
            );
        }
    }
}
