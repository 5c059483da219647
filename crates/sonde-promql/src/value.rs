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
    } else {
        // Rust's `Display` for f64 is the shortest round-trip form without
        // an exponent, which is exactly Go's 'f' with precision -1.
        let _ = write!(dst, "{v}");
    }
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
        let _ = write!(dst, "{secs}");
    } else if secs < 0 && ms != 0 {
        // -0.5 s is secs = -1, ms = 500: print as a float.
        let _ = write!(dst, "{}", t as f64 / 1000.0);
    } else {
        let frac = format!("{ms:03}");
        let _ = write!(dst, "{secs}.{}", frac.trim_end_matches('0'));
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
