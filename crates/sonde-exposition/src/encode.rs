//! Encoders for both text formats, appending to a caller-owned `Vec<u8>`
//! (Sonde's `/metrics` and `/federate`).
//!
//! Escaping: label values escape `\`, `"` and newline in both formats; HELP
//! escapes `\` and newline (Prometheus 0.0.4) or `\`, `"` and newline
//! (OpenMetrics). Values are written as Go's `strconv.FormatFloat(v, 'g',
//! -1, 64)` writes them (`+Inf`, `-Inf`, `NaN` spelled as Prometheus does),
//! so output matches Prometheus' byte for byte. Timestamps are milliseconds
//! in the Prometheus format and seconds in OpenMetrics.
//!
//! Invariant: every function only appends; nothing here allocates except
//! `dst` growing.

use std::io::Write;

use sonde_model::MetricType;

use crate::negotiate::Format;

/// `# HELP name text`.
pub fn help(dst: &mut Vec<u8>, format: Format, name: &str, text: &str) {
    dst.extend_from_slice(b"# HELP ");
    dst.extend_from_slice(name.as_bytes());
    dst.push(b' ');
    for &c in text.as_bytes() {
        match c {
            b'\\' => dst.extend_from_slice(b"\\\\"),
            b'\n' => dst.extend_from_slice(b"\\n"),
            b'"' if format == Format::OpenMetrics => dst.extend_from_slice(b"\\\""),
            _ => dst.push(c),
        }
    }
    dst.push(b'\n');
}

/// `# TYPE name type`. Types the Prometheus format lacks are written as
/// `untyped` there (gauge histograms as `histogram`, as client_golang does).
pub fn type_line(dst: &mut Vec<u8>, format: Format, name: &str, t: MetricType) {
    let word = match (format, t) {
        (Format::OpenMetrics, t) => t.as_str(),
        (_, MetricType::Counter) => "counter",
        (_, MetricType::Gauge) => "gauge",
        (_, MetricType::Histogram | MetricType::GaugeHistogram) => "histogram",
        (_, MetricType::Summary) => "summary",
        _ => "untyped",
    };
    dst.extend_from_slice(b"# TYPE ");
    dst.extend_from_slice(name.as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(word.as_bytes());
    dst.push(b'\n');
}

/// `# UNIT name unit` (OpenMetrics only; nothing in the Prometheus format).
pub fn unit(dst: &mut Vec<u8>, format: Format, name: &str, unit: &str) {
    if format != Format::OpenMetrics {
        return;
    }
    dst.extend_from_slice(b"# UNIT ");
    dst.extend_from_slice(name.as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(unit.as_bytes());
    dst.push(b'\n');
}

/// An exemplar to write after an OpenMetrics sample.
#[derive(Debug, Clone, Copy)]
pub struct ExemplarOut<'x> {
    pub labels: &'x [(&'x str, &'x str)],
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// One sample line. `labels` are written in the order given; the caller
/// sorts them if it wants sorted output. The exemplar is dropped in the
/// Prometheus format, which has none.
pub fn sample<'l>(
    dst: &mut Vec<u8>,
    format: Format,
    name: &str,
    labels: impl IntoIterator<Item = (&'l str, &'l str)>,
    value: f64,
    timestamp_ms: Option<i64>,
    exemplar: Option<&ExemplarOut<'_>>,
) {
    dst.extend_from_slice(name.as_bytes());
    label_set(dst, labels, true);
    dst.push(b' ');
    float(dst, value);
    if let Some(ts) = timestamp_ms {
        dst.push(b' ');
        timestamp(dst, format, ts);
    }
    if let (Format::OpenMetrics, Some(ex)) = (format, exemplar) {
        dst.extend_from_slice(b" # ");
        label_set(dst, ex.labels.iter().copied(), false);
        dst.push(b' ');
        float(dst, ex.value);
        if let Some(ts) = ex.timestamp_ms {
            dst.push(b' ');
            timestamp(dst, format, ts);
        }
    }
    dst.push(b'\n');
}

/// The final `# EOF` line OpenMetrics requires (nothing for the Prometheus
/// format).
pub fn eof(dst: &mut Vec<u8>, format: Format) {
    if format == Format::OpenMetrics {
        dst.extend_from_slice(b"# EOF\n");
    }
}

/// `{a="1",b="2"}`; nothing when empty and `omit_empty`.
fn label_set<'l>(
    dst: &mut Vec<u8>,
    labels: impl IntoIterator<Item = (&'l str, &'l str)>,
    omit_empty: bool,
) {
    let mut first = true;
    for (n, v) in labels {
        dst.push(if first { b'{' } else { b',' });
        first = false;
        dst.extend_from_slice(n.as_bytes());
        dst.extend_from_slice(b"=\"");
        label_value(dst, v);
        dst.push(b'"');
    }
    if first {
        if !omit_empty {
            dst.extend_from_slice(b"{}");
        }
    } else {
        dst.push(b'}');
    }
}

/// A label value with `\`, `"` and newline escaped.
pub fn label_value(dst: &mut Vec<u8>, v: &str) {
    for &c in v.as_bytes() {
        match c {
            b'\\' => dst.extend_from_slice(b"\\\\"),
            b'"' => dst.extend_from_slice(b"\\\""),
            b'\n' => dst.extend_from_slice(b"\\n"),
            _ => dst.push(c),
        }
    }
}

fn timestamp(dst: &mut Vec<u8>, format: Format, ms: i64) {
    if format != Format::OpenMetrics {
        let _ = write!(dst, "{ms}");
        return;
    }
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    let (secs, frac) = (abs / 1000, abs % 1000);
    if frac == 0 {
        let _ = write!(dst, "{sign}{secs}");
    } else {
        let frac = format!("{frac:03}");
        let _ = write!(dst, "{sign}{secs}.{}", frac.trim_end_matches('0'));
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'g', -1, 64)`, with Prometheus'
/// spellings of the special values.
pub fn float(dst: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        dst.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        dst.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    if v == 0.0 {
        dst.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // Shortest round-trip digits and decimal exponent, e.g. "1.2345e6".
    let sci = format!("{:e}", v.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    if v < 0.0 {
        dst.push(b'-');
    }
    // Go switches to exponent form when exp < -4 || exp >= 6 for the
    // shortest representation ('g' with precision -1).
    if !(-4..6).contains(&exp) {
        sci_form(dst, &digits, exp);
    } else {
        fixed_form(dst, &digits, exp);
    }
}

fn sci_form(dst: &mut Vec<u8>, digits: &str, exp: i32) {
    let (first, rest) = digits.split_at(1);
    dst.extend_from_slice(first.as_bytes());
    if !rest.is_empty() {
        dst.push(b'.');
        dst.extend_from_slice(rest.as_bytes());
    }
    let _ = write!(dst, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
}

fn fixed_form(dst: &mut Vec<u8>, digits: &str, exp: i32) {
    let dp = exp + 1; // digits before the point
    if dp <= 0 {
        dst.extend_from_slice(b"0.");
        dst.extend(std::iter::repeat_n(b'0', (-dp) as usize));
        dst.extend_from_slice(digits.as_bytes());
        return;
    }
    let dp = dp as usize;
    if digits.len() <= dp {
        dst.extend_from_slice(digits.as_bytes());
        dst.extend(std::iter::repeat_n(b'0', dp - digits.len()));
    } else {
        dst.extend_from_slice(&digits.as_bytes()[..dp]);
        dst.push(b'.');
        dst.extend_from_slice(&digits.as_bytes()[dp..]);
    }
}
