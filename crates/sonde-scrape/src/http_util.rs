//! Small HTTP helpers shared by scraping and HTTP SD, matching what Go's
//! `net/http` prints and what Prometheus sends.

use std::time::Duration;

/// The User-Agent of scrapes and HTTP SD requests. Exporters key off the
/// `Prometheus/` prefix (e.g. to pick a format), so Sonde sends the version
/// of Prometheus it behaves like.
pub const USER_AGENT: &str = "Prometheus/2.42.0";

/// Seconds as Go's `strconv.FormatFloat(s, 'f', -1, 64)` prints them.
pub fn format_seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    let mut out = format!("{s}");
    if out.ends_with(".0") {
        out.truncate(out.len() - 2);
    }
    out
}

/// Go's `resp.Status`: `404 Not Found`.
pub(crate) fn status_text(s: reqwest::StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("{} {r}", s.as_u16()),
        None => s.as_u16().to_string(),
    }
}
