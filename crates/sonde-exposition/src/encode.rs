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
/// `untyped` there (gauge histograms as `histogram`).
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
    // The shortest digits that read back to `v` (ties to even, as Go
    // chooses them), without allocating: a `/federate` or `tsdb dump`
    // writes one per sample.
    let mut buf = zmij::Buffer::new();
    let mut digits = [0u8; 24];
    let (len, exp) = significant_digits(buf.format_finite(v.abs()), &mut digits);
    let digits = &digits[..len];
    if v < 0.0 {
        dst.push(b'-');
    }
    // Go switches to exponent form when exp < -4 || exp >= 6 for the
    // shortest representation ('g' with precision -1).
    if !(-4..6).contains(&exp) {
        sci_form(dst, digits, exp);
    } else {
        fixed_form(dst, digits, exp);
    }
}

/// The significant digits of a positive decimal (`1234.5`, `0.001`,
/// `1.5e-7`, `1e21`, `3.0`) into `out`, without leading or trailing
/// zeros, and the power of ten of the first: (`12345`, 3) for `1234.5`.
fn significant_digits(shortest: &str, out: &mut [u8; 24]) -> (usize, i32) {
    let bytes = shortest.as_bytes();
    let (mantissa, exp) = match bytes.iter().position(|&b| b == b'e') {
        Some(e) => (&bytes[..e], shortest[e + 1..].parse().unwrap_or(0)),
        None => (bytes, 0),
    };
    // Digits before the point (in the mantissa as written, then shifted by
    // the exponent), less one per leading zero skipped.
    let mut point = mantissa
        .iter()
        .position(|&b| b == b'.')
        .unwrap_or(mantissa.len()) as i32
        + exp;
    let mut len = 0;
    for &b in mantissa.iter().filter(|&&b| b != b'.') {
        if len == 0 && b == b'0' {
            point -= 1;
        } else if len < out.len() {
            out[len] = b;
            len += 1;
        }
    }
    while len > 1 && out[len - 1] == b'0' {
        len -= 1;
    }
    (len, point - 1)
}

fn sci_form(dst: &mut Vec<u8>, digits: &[u8], exp: i32) {
    let (first, rest) = digits.split_at(1);
    dst.extend_from_slice(first);
    if !rest.is_empty() {
        dst.push(b'.');
        dst.extend_from_slice(rest);
    }
    let _ = write!(dst, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
}

fn fixed_form(dst: &mut Vec<u8>, digits: &[u8], exp: i32) {
    let dp = exp + 1; // digits before the point
    if dp <= 0 {
        dst.extend_from_slice(b"0.");
        dst.extend(std::iter::repeat_n(b'0', (-dp) as usize));
        dst.extend_from_slice(digits);
        return;
    }
    let dp = dp as usize;
    if digits.len() <= dp {
        dst.extend_from_slice(digits);
        dst.extend(std::iter::repeat_n(b'0', dp - digits.len()));
    } else {
        dst.extend_from_slice(&digits[..dp]);
        dst.push(b'.');
        dst.extend_from_slice(&digits[dp..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{validate, Entry, Mode, Parser, Scratch};

    fn f(v: f64) -> String {
        let mut d = Vec::new();
        float(&mut d, v);
        String::from_utf8(d).expect("ascii")
    }

    #[test]
    fn floats_as_go_formats_them() {
        for (v, want) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5, "-2.5"),
            (2.478268416e9, "2.478268416e+09"),
            (9007199254740992.0, "9.007199254740992e+15"),
            (100000.0, "100000"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (123.456, "123.456"),
            (1e-300, "1e-300"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.001, "0.001"),
            (999999.0, "999999"),
            (1e15, "1e+15"),
            // 8878312490102.3125, halfway between two 16-digit forms: Go
            // takes the even one.
            (
                f64::from_bits(0x42a0_2649_5308_eca0),
                "8.878312490102312e+12",
            ),
        ] {
            assert_eq!(f(v), want, "{v:e}");
        }
    }

    /// Against the digits and exponent of Rust's `{:e}` (the shortest
    /// round-trip form too), over random bit patterns and decimal-looking
    /// values: the same text, except on an exact tie between two shortest
    /// forms, where Go (and this) takes the even one and Rust the upper.
    #[test]
    fn floats_agree_with_rusts_shortest_form() {
        let reference = |v: f64| {
            let sci = format!("{:e}", v.abs());
            let (mant, exp) = sci.split_once('e').unwrap();
            let exp: i32 = exp.parse().unwrap();
            let digits: Vec<u8> = mant.bytes().filter(|&b| b != b'.').collect();
            let mut d = Vec::new();
            if v < 0.0 {
                d.push(b'-');
            }
            if !(-4..6).contains(&exp) {
                sci_form(&mut d, &digits, exp);
            } else {
                fixed_form(&mut d, &digits, exp);
            }
            String::from_utf8(d).unwrap()
        };
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..200_000i32 {
            let bits = next();
            for v in [
                f64::from_bits(bits),
                (bits % 1_000_000) as f64 / 10f64.powi(i % 12),
                -((bits >> 11) as f64) * 1e-3,
            ] {
                if !v.is_finite() || v == 0.0 {
                    continue;
                }
                let (got, want) = (f(v), reference(v));
                if got != want {
                    let last = |s: &str| {
                        let m = s.split('e').next().unwrap();
                        m.bytes().last().unwrap()
                    };
                    assert!(
                        got.len() == want.len()
                            && got.parse::<f64>() == Ok(v)
                            && (last(&got) - b'0') % 2 == 0,
                        "{:#x}: {got} vs {want}",
                        v.to_bits()
                    );
                }
            }
        }
    }

    #[test]
    fn escaping_and_timestamps_per_format() {
        let mut d = Vec::new();
        help(&mut d, Format::PrometheusText, "a", "x\\y\n\"z\"");
        help(&mut d, Format::OpenMetrics, "a", "x\\y\n\"z\"");
        sample(
            &mut d,
            Format::PrometheusText,
            "a",
            [("l", "q\"\\\n")],
            1.0,
            Some(-1500),
            None,
        );
        sample(
            &mut d,
            Format::OpenMetrics,
            "a",
            [("l", "v")],
            1.0,
            Some(-1500),
            None,
        );
        sample(
            &mut d,
            Format::OpenMetrics,
            "a",
            [],
            1.0,
            Some(1520879607789),
            None,
        );
        sample(&mut d, Format::OpenMetrics, "a", [], 1.0, Some(5), None);
        let text = String::from_utf8(d).expect("utf8");
        assert_eq!(
            text,
            "# HELP a x\\\\y\\n\"z\"\n# HELP a x\\\\y\\n\\\"z\\\"\na{l=\"q\\\"\\\\\\n\"} 1 -1500\na{l=\"v\"} 1 -1.5\na 1 1520879607.789\na 1 0.005\n"
        );
    }

    /// Encodes one of each kind of family.
    fn exposition(dst: &mut Vec<u8>, fmt: Format) {
        let ex = ExemplarOut {
            labels: &[("trace_id", "abc\"1")],
            value: 0.25,
            timestamp_ms: Some(1_600_000_000_500),
        };
        help(
            dst,
            fmt,
            "http_requests",
            "Requests \"served\".\nSecond line \\.",
        );
        type_line(dst, fmt, "http_requests", MetricType::Counter);
        let counter = if fmt == Format::OpenMetrics {
            "http_requests_total"
        } else {
            "http_requests"
        };
        sample(
            dst,
            fmt,
            counter,
            [("code", "200"), ("path", "/a\"b\\c\nd")],
            1027.0,
            None,
            Some(&ex),
        );
        help(dst, fmt, "latency_seconds", "Latency.");
        type_line(dst, fmt, "latency_seconds", MetricType::Histogram);
        unit(dst, fmt, "latency_seconds", "seconds");
        for (le, v) in [("0.1", 3.0), ("1", 7.0), ("+Inf", 9.0)] {
            sample(
                dst,
                fmt,
                "latency_seconds_bucket",
                [("le", le)],
                v,
                Some(1_600_000_000_000),
                Some(&ex),
            );
        }
        sample(
            dst,
            fmt,
            "latency_seconds_count",
            [],
            9.0,
            Some(1_600_000_000_000),
            None,
        );
        sample(
            dst,
            fmt,
            "latency_seconds_sum",
            [],
            4.5,
            Some(1_600_000_000_000),
            None,
        );
        type_line(dst, fmt, "temperature_celsius", MetricType::Gauge);
        sample(
            dst,
            fmt,
            "temperature_celsius",
            [("zone", "")],
            -3.25e-7,
            None,
            None,
        );
        eof(dst, fmt);
    }

    #[test]
    fn encoded_output_parses_back_strictly_in_both_formats() {
        let mut scratch = Scratch::new();
        for fmt in [Format::PrometheusText, Format::OpenMetrics] {
            let mut d = Vec::new();
            exposition(&mut d, fmt);
            let once = d.len();
            exposition(&mut d, fmt); // appends, never clears
            assert_eq!(d.len(), 2 * once);
            d.truncate(once);
            assert_eq!(
                validate(&d, fmt, Mode::Strict, &mut scratch).map_err(|e| e.to_string()),
                Ok(7)
            );
            let mut p = Parser::new(&d, fmt, Mode::Strict, &mut scratch);
            let mut seen = Vec::new();
            while let Some(e) = p.next().expect("valid") {
                match e {
                    Entry::Help { text, .. } => seen.push(text.to_string()),
                    Entry::Sample(s) => {
                        seen.push(format!(
                            "{} {:?} {} {:?}",
                            s.name, s.labels, s.value, s.timestamp_ms
                        ));
                        if let Some(x) = s.exemplar {
                            assert_eq!(fmt, Format::OpenMetrics);
                            assert_eq!(
                                (x.labels.get("trace_id"), x.value, x.timestamp_ms),
                                (Some("abc\"1"), 0.25, Some(1_600_000_000_500))
                            );
                        }
                    }
                    _ => {}
                }
            }
            assert_eq!(seen[0], "Requests \"served\".\nSecond line \\.");
            assert!(
                seen[1].ends_with(r#"[("code", "200"), ("path", "/a\"b\\c\nd")] 1027 None"#),
                "{}",
                seen[1]
            );
            assert!(seen.iter().any(|s| s.contains("temperature_celsius [(\"zone\", \"\")] -0.000000325 None")), "{seen:?}");
        }
    }
}
