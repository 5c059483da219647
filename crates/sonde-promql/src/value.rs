//! Query results and their Prometheus JSON shape.
//!
//! The JSON is what `/api/v1/query` and `/api/v1/query_range` put under
//! `data`: `{"resultType":"vector","result":[...]}`. Sample values are
//! strings formatted like Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with
//! `NaN`, `+Inf` and `-Inf`; timestamps are seconds as JSON numbers.

use std::fmt::Write;

use sonde_model::{Labels, Sample, Timestamp};

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    pub labels: Labels,
    pub t: Timestamp,
    pub v: f64,
}

/// One series of a range vector (matrix), points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: Timestamp, v: f64 },
    String { t: Timestamp, v: String },
    Vector(Vec<VectorSample>),
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// `scalar`, `string`, `vector` or `matrix`, as in the API's `resultType`.
    pub fn result_type(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }

    /// Appends `{"resultType":...,"result":...}` to `dst`.
    pub fn write_json(&self, dst: &mut String) {
        // One allocation for the whole answer instead of doubling a
        // multi-megabyte buffer (reallocation was 5% of a 700-series range
        // query).
        dst.reserve(self.json_size_hint());
        dst.push_str("{\"resultType\":\"");
        dst.push_str(self.result_type());
        dst.push_str("\",\"result\":");
        match self {
            Value::Scalar { t, v } => write_point(dst, *t, *v),
            Value::String { t, v } => {
                dst.push('[');
                write_time(dst, *t);
                dst.push(',');
                write_json_string(dst, v);
                dst.push(']');
            }
            Value::Vector(samples) => {
                dst.push('[');
                for (i, s) in samples.iter().enumerate() {
                    if i > 0 {
                        dst.push(',');
                    }
                    dst.push_str("{\"metric\":");
                    write_labels(dst, &s.labels);
                    dst.push_str(",\"value\":");
                    write_point(dst, s.t, s.v);
                    dst.push('}');
                }
                dst.push(']');
            }
            Value::Matrix(series) => {
                dst.push('[');
                for (i, s) in series.iter().enumerate() {
                    if i > 0 {
                        dst.push(',');
                    }
                    dst.push_str("{\"metric\":");
                    write_labels(dst, &s.labels);
                    dst.push_str(",\"values\":[");
                    for (j, p) in s.samples.iter().enumerate() {
                        if j > 0 {
                            dst.push(',');
                        }
                        write_point(dst, p.t, p.v);
                    }
                    dst.push_str("]}");
                }
                dst.push(']');
            }
        }
        dst.push('}');
    }

    /// About how many bytes [`Value::write_json`] writes: a point is
    /// `[1700000000.123,"0.0333"],` (about 30), a label set a little more
    /// than its encoded size.
    fn json_size_hint(&self) -> usize {
        let labels = |l: &Labels| l.byte_size() + l.byte_size() / 2 + 32;
        match self {
            Value::Scalar { .. } => 64,
            Value::String { v, .. } => v.len() + 64,
            Value::Vector(samples) => samples.iter().map(|s| labels(&s.labels) + 40).sum(),
            Value::Matrix(series) => series
                .iter()
                .map(|s| labels(&s.labels) + 30 * s.samples.len())
                .sum(),
        }
    }

    /// The JSON of [`Value::write_json`] as a new string.
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }
}

/// Formats a float like Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the
/// shortest decimal that reads back to the same float, never an exponent,
/// and `NaN`, `+Inf`, `-Inf` for the special values.
pub fn format_float(v: f64) -> String {
    let mut s = String::new();
    write_float(&mut s, v);
    s
}

/// [`format_float`] into a caller-owned buffer.
pub fn write_float(dst: &mut String, v: f64) {
    if v.is_nan() {
        dst.push_str("NaN");
    } else if v == f64::INFINITY {
        dst.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        dst.push_str("-Inf");
    } else if v.fract() == 0.0 && v.abs() < 1e15 && (v != 0.0 || v.is_sign_positive()) {
        // Integers (counters, gauges of counts) print their digits.
        write_int(dst, v as i64);
    } else {
        // The shortest round-trip digits (as Rust's `Display` and Go's 'f'
        // with precision -1 choose them; Żmij finds them with a sixth fewer
        // instructions per answer than Ryū), laid out without an exponent;
        // `Display` through `fmt` cost 3x more per value in range query
        // answers (docs/benchmarks.md).
        let mut buf = zmij::Buffer::new();
        write_fixed(dst, buf.format_finite(v));
    }
}

/// Rewrites the shortest digits (`12.5`, `3.0`, `1e21`, `-1.5e-7`) without
/// an exponent and without a `.0` for integers, like Go's 'f' with -1.
fn write_fixed(dst: &mut String, shortest: &str) {
    // An exponent (`e-324` at the longest) is in the last five bytes: only
    // those are searched, as every value of an answer comes through here.
    let tail = shortest.len().saturating_sub(5);
    let Some(e) = shortest.as_bytes()[tail..]
        .iter()
        .position(|&b| b == b'e')
        .map(|i| tail + i)
    else {
        dst.push_str(shortest.strip_suffix(".0").unwrap_or(shortest));
        return;
    };
    let (mantissa, exp) = (&shortest[..e], &shortest[e + 1..]);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    dst.push_str(sign);
    let exp: i32 = exp.parse().unwrap_or(0);
    // `d.ddd` times 10^exp: the digits, and where the point goes in them.
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = int.len() + frac.len();
    let point = int.len() as i32 + exp;
    let digit_at = |i: usize| {
        if i < int.len() {
            int.as_bytes()[i]
        } else {
            frac.as_bytes()[i - int.len()]
        }
    };
    if point <= 0 {
        dst.push_str("0.");
        for _ in 0..-point {
            dst.push('0');
        }
        for i in 0..digits {
            dst.push(digit_at(i) as char);
        }
    } else {
        let point = point as usize;
        for i in 0..digits.max(point) {
            if i == point {
                dst.push('.');
            }
            dst.push(if i < digits { digit_at(i) as char } else { '0' });
        }
    }
}

/// Writes a decimal integer without going through `fmt` (every point of a
/// range answer has one, its timestamp).
fn write_int(dst: &mut String, v: i64) {
    dst.push_str(itoa::Buffer::new().format(v));
}

/// Formats a float like Go's `%v` (`strconv.FormatFloat(v, 'g', -1, 64)`
/// with `%v`'s exponent thresholds): `1e+300`, `1.5e-05`, `0.001`, `NaN`.
pub(crate) fn format_go_v(v: f64) -> String {
    if !v.is_finite() {
        return format_float(v);
    }
    let exp = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    if (-4..21).contains(&exp) {
        return format_float(v);
    }
    let s = format!("{v:e}"); // e.g. 1e300, -1.5e-5
    let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match e.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', e),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// Writes a millisecond timestamp as seconds, like Prometheus' API
/// (`1435781451.781`): a JSON number with up to three decimals.
pub(crate) fn write_time(dst: &mut String, t: Timestamp) {
    let secs = t.div_euclid(1000);
    let ms = t.rem_euclid(1000);
    if ms == 0 {
        write_int(dst, secs);
    } else if secs < 0 {
        // -0.5 s is secs = -1, ms = 500: print as a float.
        let _ = write!(dst, "{}", t as f64 / 1000.0);
    } else {
        write_int(dst, secs);
        dst.push('.');
        let digits = [ms / 100, ms / 10 % 10, ms % 10];
        let len = if digits[2] != 0 {
            3
        } else if digits[1] != 0 {
            2
        } else {
            1
        };
        for d in &digits[..len] {
            dst.push((b'0' + *d as u8) as char);
        }
    }
}

fn write_point(dst: &mut String, t: Timestamp, v: f64) {
    dst.push('[');
    write_time(dst, t);
    dst.push_str(",\"");
    write_float(dst, v);
    dst.push_str("\"]");
}

/// A label set as the JSON object Prometheus returns, with Go's escapes.
pub fn write_labels(dst: &mut String, labels: &Labels) {
    dst.push('{');
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            dst.push(',');
        }
        write_json_string(dst, n);
        dst.push(':');
        write_json_string(dst, v);
    }
    dst.push('}');
}

/// A JSON string literal with the escapes Go's encoding/json uses.
pub fn write_json_string(dst: &mut String, s: &str) {
    dst.push('"');
    // Label names and values rarely need an escape: copy them whole.
    if !s
        .bytes()
        .any(|b| b < 0x20 || matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&' | 0xe2))
    {
        dst.push_str(s);
        dst.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => dst.push_str("\\\""),
            '\\' => dst.push_str("\\\\"),
            '\n' => dst.push_str("\\n"),
            '\r' => dst.push_str("\\r"),
            '\t' => dst.push_str("\\t"),
            '<' => dst.push_str("\\u003c"),
            '>' => dst.push_str("\\u003e"),
            '&' => dst.push_str("\\u0026"),
            '\u{2028}' => dst.push_str("\\u2028"),
            '\u{2029}' => dst.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(dst, "\\u{:04x}", c as u32);
            }
            c => dst.push(c),
        }
    }
    dst.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_like_go() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(-2.5), "-2.5");
        assert_eq!(format_float(-3.0), "-3");
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(999_999_999_999_999.0), "999999999999999");
        assert_eq!(format_float(-1.5e-7), "-0.00000015");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(1e-7), "0.0000001");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(format_go_v(1e300), "1e+300");
        assert_eq!(format_go_v(-1.5e-5), "-1.5e-05");
        assert_eq!(format_go_v(0.001), "0.001");
        assert_eq!(format_go_v(1e21), "1e+21");
        assert_eq!(format_go_v(123.5), "123.5");
    }

    #[test]
    fn floats_format_like_display_without_exponent() {
        // Rust's `Display` for f64 is Go's 'f' with precision -1; the fast
        // path must print exactly the same.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e15,
            -1e15,
            1e16,
            1e21,
            1e22,
            123456789012345680.0,
            1e-5,
            1e-6,
            1e-7,
            1.5e-7,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.1 + 0.2,
            1.0 / 3.0,
            2.0f64.powi(53),
            2.0f64.powi(53) + 2.0,
            999999999999999.9,
            0.001,
        ];
        for i in 0..200_000i32 {
            let bits = next();
            values.push(f64::from_bits(bits));
            values.push((bits % 1_000_000) as f64 / 10f64.powi(i % 12));
            values.push((bits >> 11) as f64 * 1e-3);
        }
        let mut got = String::new();
        for v in values.into_iter().filter(|v| v.is_finite()) {
            got.clear();
            write_float(&mut got, v);
            let display = format!("{v}");
            if got != display {
                // Two shortest forms read back to `v` (the exact value is
                // halfway between them): Go rounds to even, `Display` up.
                let even = |s: &str| s.bytes().last().is_some_and(|d| (d - b'0') % 2 == 0);
                assert!(
                    got.len() == display.len()
                        && got.parse::<f64>() == Ok(v)
                        && display.parse::<f64>() == Ok(v)
                        && even(&got),
                    "bits {:#x}: {got} vs {display}",
                    v.to_bits()
                );
            }
        }
        // Prometheus 2.42 answers the scalar `8878312490102.3125` (exactly
        // halfway between two 16-digit forms) with the even one.
        let tie = f64::from_bits(0x42a0_2649_5308_eca0); // 8878312490102.3125
        assert_eq!(format_float(tie), "8878312490102.312");
    }

    #[test]
    fn times_format_as_seconds_with_up_to_three_decimals() {
        let cases = [
            (0, "0"),
            (1, "0.001"),
            (10, "0.01"),
            (100, "0.1"),
            (1_500, "1.5"),
            (1_435_781_451_781, "1435781451.781"),
            (1_435_781_451_780, "1435781451.78"),
            (-1_000, "-1"),
            (-500, "-0.5"),
            (-1_250, "-1.25"),
        ];
        for (t, want) in cases {
            let mut s = String::new();
            write_time(&mut s, t);
            assert_eq!(s, want, "{t}");
        }
    }

    #[test]
    fn json_strings_escape_like_go() {
        let mut s = String::new();
        for v in [
            "plain",
            "a\"b\\c",
            "<&>",
            "tab\there",
            "\u{2028}x\u{2029}",
            "é\u{1}",
        ] {
            write_json_string(&mut s, v);
            s.push(' ');
        }
        assert_eq!(
            s,
            r#""plain" "a\"b\\c" "\u003c\u0026\u003e" "tab\there" "\u2028x\u2029" "é\u0001" "#
        );
    }

    #[test]
    fn json_shapes() {
        let v = Value::Vector(vec![VectorSample {
            labels: Labels::from_pairs(&[("__name__", "up"), ("job", "a\"b")]),
            t: 1_435_781_451_781,
            v: 1.0,
        }]);
        assert_eq!(
            v.to_json(),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1435781451.781,"1"]}]}"#
        );
        let m = Value::Matrix(vec![RangeSeries {
            labels: Labels::empty(),
            samples: vec![Sample::new(1000, f64::NAN), Sample::new(61_500, 2.0)],
        }]);
        assert_eq!(
            m.to_json(),
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"],[61.5,"2"]]}]}"#
        );
        let s = Value::Scalar {
            t: 0,
            v: f64::INFINITY,
        };
        assert_eq!(
            s.to_json(),
            r#"{"resultType":"scalar","result":[0,"+Inf"]}"#
        );
        let st = Value::String {
            t: 1,
            v: "x".into(),
        };
        assert_eq!(
            st.to_json(),
            r#"{"resultType":"string","result":[0.001,"x"]}"#
        );
    }
}
