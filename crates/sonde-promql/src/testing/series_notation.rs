//! The expanding series notation of Prometheus test files and promtool
//! unit tests: `metric{a="b"} 0+10x3 _ stale 1x2` where each token fills
//! one or more slots of a fixed interval.
//!
//! | token | slots |
//! |---|---|
//! | `v` | one sample |
//! | `_` / `_xN` | one / N empty slots |
//! | `vxN` | N+1 samples of v |
//! | `a+bxN`, `a-bxN` | N+1 samples a, a±b, ... |
//! | `stale` / `stalexN` | one / N+1 staleness markers |

use sonde_model::{Labels, LabelsBuilder, METRIC_NAME, STALE_NAN};

/// One slot of an expanded series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeriesValue {
    Empty,
    Value(f64),
    Stale,
}

/// Parses `metric{labels} values...` into the label set and its slots.
pub fn parse_series_line(line: &str) -> Result<(Labels, Vec<SeriesValue>), String> {
    let line = line.trim();
    let split = metric_end(line)?;
    let (metric, values) = line.split_at(split);
    let labels = parse_metric(metric)?;
    let values = parse_values(values)?;
    Ok((labels, values))
}

/// Where the metric part of a series line ends: after the closing brace
/// (quotes respected) or at the first blank.
fn metric_end(line: &str) -> Result<usize, String> {
    let brace = line.find('{');
    let blank = line.find([' ', '\t']);
    match (brace, blank) {
        (Some(b), s) if s.is_none_or(|s| b < s) => {
            let mut in_quote: Option<char> = None;
            let mut escaped = false;
            for (i, c) in line[b..].char_indices() {
                match in_quote {
                    Some(q) => {
                        if escaped {
                            escaped = false;
                        } else if c == '\\' {
                            escaped = true;
                        } else if c == q {
                            in_quote = None;
                        }
                    }
                    None if c == '"' || c == '\'' || c == '`' => in_quote = Some(c),
                    None if c == '}' => return Ok(b + i + 1),
                    None => {}
                }
            }
            Err(format!("unclosed '{{' in series line {line:?}"))
        }
        (_, Some(s)) => Ok(s),
        (_, None) => Ok(line.len()),
    }
}

/// A metric written like a selector with equality matchers only:
/// `name`, `name{a="b", ...}` or `{__name__="name", ...}`.
fn parse_metric(metric: &str) -> Result<Labels, String> {
    let bad = |why: &str| format!("bad metric {metric:?}: {why}");
    let mut b = LabelsBuilder::new();
    let (name, rest) = match metric.find('{') {
        Some(i) => (metric[..i].trim(), Some(&metric[i + 1..])),
        None => (metric.trim(), None),
    };
    if !name.is_empty() {
        if !sonde_model::is_valid_metric_name(name) {
            return Err(bad("invalid metric name"));
        }
        b.set(METRIC_NAME, name);
    }
    let Some(mut rest) = rest else {
        return Ok(b.build());
    };
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            if !r.trim().is_empty() {
                return Err(bad("text after '}'"));
            }
            return Ok(b.build());
        }
        let n = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| bad("unclosed '{'"))?;
        let label = &rest[..n];
        if label.is_empty() {
            return Err(bad("expected a label name"));
        }
        rest = rest[n..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| bad("expected '=' (only equality matchers)"))?;
        let (value, r) = unquote(rest.trim_start()).map_err(|e| bad(&e))?;
        b.set(label, &value);
        rest = r.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Reads a PromQL string literal at the start of `s`; returns the value and
/// the rest.
fn unquote(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let Some((_, q)) = chars.next() else {
        return Err("expected a quoted label value".into());
    };
    if !matches!(q, '"' | '\'' | '`') {
        return Err("expected a quoted label value".into());
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Ok((out, &s[i + 1..]));
        }
        if c != '\\' || q == '`' {
            out.push(c);
            continue;
        }
        let (_, e) = chars.next().ok_or("unterminated escape")?;
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            'x' | 'u' | 'U' => {
                let len = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..len)
                    .filter_map(|_| chars.next().map(|(_, c)| c))
                    .collect();
                let code =
                    u32::from_str_radix(&hex, 16).map_err(|_| format!("bad escape \\{e}{hex}"))?;
                out.push(char::from_u32(code).ok_or("escape is not a character")?);
            }
            other => out.push(other),
        }
    }
    Err("unterminated string".into())
}

/// Parses the value tokens of a series line.
pub fn parse_values(s: &str) -> Result<Vec<SeriesValue>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        expand_token(tok, &mut out).map_err(|e| format!("bad value {tok:?}: {e}"))?;
    }
    Ok(out)
}

fn expand_token(tok: &str, out: &mut Vec<SeriesValue>) -> Result<(), String> {
    let (base, times) = match tok.rfind('x') {
        Some(i)
            if i > 0 && i + 1 < tok.len() && tok[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            let n: usize = tok[i + 1..].parse().map_err(|_| "repeat count too large")?;
            (&tok[..i], Some(n))
        }
        _ => (tok, None),
    };
    match (base, times) {
        ("_", None) => out.push(SeriesValue::Empty),
        ("_", Some(n)) => out.extend(std::iter::repeat_n(SeriesValue::Empty, n)),
        ("stale", n) => out.extend(std::iter::repeat_n(
            SeriesValue::Stale,
            n.map_or(1, |n| n + 1),
        )),
        (b, None) => out.push(SeriesValue::Value(parse_number(b)?)),
        (b, Some(n)) => {
            let (start, step) = match split_step(b) {
                Some((a, sign, d)) => (parse_number(a)?, sign * parse_number(d)?),
                None => (parse_number(b)?, 0.0),
            };
            let mut v = start;
            for _ in 0..=n {
                out.push(SeriesValue::Value(v));
                v += step;
            }
        }
    }
    Ok(())
}

/// Splits `a+b` / `a-b` at the step operator (not a sign or an exponent's).
fn split_step(s: &str) -> Option<(&str, f64, &str)> {
    let bytes = s.as_bytes();
    for i in 1..bytes.len() {
        let c = bytes[i];
        if (c == b'+' || c == b'-') && !matches!(bytes[i - 1], b'e' | b'E') {
            let sign = if c == b'+' { 1.0 } else { -1.0 };
            return Some((&s[..i], sign, &s[i + 1..]));
        }
    }
    None
}

/// A decimal float, `Inf`, or `NaN`, optionally signed; no hexadecimal.
fn parse_number(s: &str) -> Result<f64, String> {
    let unsigned = s.trim_start_matches(['+', '-']);
    let neg = s.starts_with('-');
    let lower = unsigned.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ if unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            && !unsigned.is_empty() =>
        {
            unsigned.parse::<f64>().map_err(|e| e.to_string())?
        }
        _ => return Err("not a number".into()),
    };
    if s.len() - unsigned.len() > 1 {
        return Err("more than one sign".into());
    }
    Ok(if neg { -v } else { v })
}

impl SeriesValue {
    /// The stored float: the value, or the staleness marker.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            SeriesValue::Empty => None,
            SeriesValue::Value(v) => Some(v),
            SeriesValue::Stale => Some(STALE_NAN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SeriesValue::*;

    #[test]
    fn expands_notation() {
        assert_eq!(
            parse_values("0+10x2 _x2 -1 1-2x1 stale 0x2").unwrap(),
            vec![
                Value(0.0),
                Value(10.0),
                Value(20.0),
                Empty,
                Empty,
                Value(-1.0),
                Value(1.0),
                Value(-1.0),
                Stale,
                Value(0.0),
                Value(0.0),
                Value(0.0)
            ]
        );
        assert_eq!(
            parse_values("1e3 -Inf").unwrap(),
            vec![Value(1000.0), Value(f64::NEG_INFINITY)]
        );
        assert!(matches!(parse_values("NaN").unwrap()[0], Value(v) if v.is_nan()));
        assert_eq!(
            parse_values("-1+2x1").unwrap(),
            vec![Value(-1.0), Value(1.0)]
        );
        assert!(parse_values("abc").is_err());
    }

    #[test]
    fn parses_metric_forms() {
        let (l, v) = parse_series_line(r#"http_requests{job="api", le="+Inf"} 1 2"#).unwrap();
        assert_eq!(
            l.to_string(),
            r#"{__name__="http_requests", job="api", le="+Inf"}"#
        );
        assert_eq!(v.len(), 2);
        let (l, _) = parse_series_line(r#"{__name__="a b", x="}"} 1"#).unwrap();
        assert_eq!(l.get("x"), Some("}"));
        let (l, _) = parse_series_line("plain\t5").unwrap();
        assert_eq!(l.metric_name(), "plain");
    }
}
