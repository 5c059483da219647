//! `sonde check metrics`: validation plus the lints of `promtool check
//! metrics` (client_golang's `promlint`, as shipped with Prometheus 2.42).
//!
//! Errors come from the strict parser (see [`crate::Mode::Strict`]); a body
//! with an error gets no lints, as promtool reports only the error then.
//! Lints are per metric family and sorted by family name, then text.
//! OpenMetrics families are named without `_total`, so the lint that a
//! counter's name should end in `_total` applies to the Prometheus format
//! only.

use sonde_model::MetricType;

use crate::entry::Scratch;
use crate::negotiate::Format;
use crate::parser::{Mode, Parser};
use crate::strict::FamilyInfo;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The body is invalid (promtool: "error while linting").
    Error,
    /// The body is valid but breaks a naming convention (promtool lint).
    Lint,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// The metric family concerned (empty for errors not tied to one).
    pub metric: String,
    /// 1-based line in the body.
    pub line: usize,
    /// What is wrong, in promlint's words for lints.
    pub text: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "line {}: error: {}", self.line, self.text),
            Severity::Lint => write!(f, "line {}: {} {}", self.line, self.metric, self.text),
        }
    }
}

/// Validates `body` in strict mode and lints its metric families.
pub fn check_metrics(body: &[u8], format: Format) -> Vec<Problem> {
    let mut scratch = Scratch::new();
    let mut p = Parser::new(body, format, Mode::Strict, &mut scratch);
    loop {
        match p.next() {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(e) => {
                return vec![Problem {
                    severity: Severity::Error,
                    metric: String::new(),
                    line: e.line,
                    text: format!("{}; expected {}", e.what, e.expected),
                }]
            }
        }
    }
    let mut out: Vec<Problem> = p
        .families()
        .iter()
        .flat_map(|f| lint_family(f, format))
        .collect();
    out.sort_by(|a, b| (&a.metric, &a.text).cmp(&(&b.metric, &b.text)));
    out
}

fn lint_family(f: &FamilyInfo, format: Format) -> Vec<Problem> {
    let mut texts: Vec<String> = Vec::new();
    let name = f.name.as_str();
    let t = if f.typed {
        f.metric_type
    } else {
        MetricType::Unknown
    };
    let untyped = t == MetricType::Unknown;
    if f.help.is_none() {
        texts.push("no help text".into());
    }
    if let Some((unit, base)) = metric_unit(name) {
        if unit != base {
            texts.push(format!("use base unit {base:?} instead of {unit:?}"));
        }
    }
    let is_counter = t == MetricType::Counter;
    let total = name.ends_with("_total");
    if is_counter && !total && format == Format::PrometheusText {
        texts.push(r#"counter metrics should have "_total" suffix"#.into());
    }
    if !untyped && !is_counter && total {
        texts.push(r#"non-counter metrics should not have "_total" suffix"#.into());
    }
    texts.extend(reserved(f, t));
    let lower = name.to_lowercase();
    for tn in [
        "counter",
        "gauge",
        "summary",
        "histogram",
        "gauge_histogram",
    ] {
        if lower.contains(&format!("_{tn}_")) || lower.ends_with(&format!("_{tn}")) {
            texts.push(format!("metric name should not include type '{tn}'"));
        }
    }
    if name.contains(':') {
        texts.push("metric names should not contain ':'".into());
    }
    if camel(name) {
        texts.push("metric names should be written in 'snake_case' not 'camelCase'".into());
    }
    if f.label_names.iter().any(|l| camel(l)) {
        texts.push("label names should be written in 'snake_case' not 'camelCase'".into());
    }
    for abbr in UNIT_ABBREVIATIONS {
        if lower.contains(&format!("_{abbr}_")) || lower.ends_with(&format!("_{abbr}")) {
            texts.push("metric names should not contain abbreviated units".into());
        }
    }
    texts
        .into_iter()
        .map(|text| Problem {
            severity: Severity::Lint,
            metric: f.name.clone(),
            line: f.line,
            text,
        })
        .collect()
}

/// promlint's reserved-suffix and reserved-label lints.
fn reserved(f: &FamilyInfo, t: MetricType) -> Vec<String> {
    let mut v = Vec::new();
    if t == MetricType::Unknown {
        return v;
    }
    let hist = matches!(t, MetricType::Histogram | MetricType::GaugeHistogram);
    let summary = t == MetricType::Summary;
    let n = f.name.as_str();
    if !hist && n.ends_with("_bucket") {
        v.push(r#"non-histogram metrics should not have "_bucket" suffix"#.into());
    }
    if !hist && !summary && n.ends_with("_count") {
        v.push(r#"non-histogram and non-summary metrics should not have "_count" suffix"#.into());
    }
    if !hist && !summary && n.ends_with("_sum") {
        v.push(r#"non-histogram and non-summary metrics should not have "_sum" suffix"#.into());
    }
    if !hist && f.label_names.iter().any(|l| l == "le") {
        v.push(r#"non-histogram metrics should not have "le" label"#.into());
    }
    if !summary && f.label_names.iter().any(|l| l == "quantile") {
        v.push(r#"non-summary metrics should not have "quantile" label"#.into());
    }
    v
}

/// `[a-z][A-Z]` anywhere.
fn camel(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

/// promlint's units and their base units.
const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi", "",
];

const UNIT_ABBREVIATIONS: &[&str] = &[
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

/// The first `_`-separated word of `name` that is a (prefixed) unit, with
/// its base unit. (promlint walks a Go map here, so for names with two unit
/// words its choice is random; this takes the table order.)
fn metric_unit(name: &str) -> Option<(String, &'static str)> {
    for (unit, base) in UNITS {
        for p in UNIT_PREFIXES {
            let word = format!("{p}{unit}");
            if name.split('_').any(|s| s == word) {
                return Some((word, base));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(body: &str, f: Format) -> Vec<String> {
        check_metrics(body.as_bytes(), f)
            .into_iter()
            .map(|p| format!("{} {}", p.metric, p.text))
            .collect()
    }

    #[test]
    fn promlint_like_findings() {
        let body = "# TYPE http_requests counter\nhttp_requests 1\n# HELP req_ms x\n# TYPE req_ms gauge\nreq_ms{someLabel=\"x\"} 1\n# HELP x_milliseconds y\n# TYPE x_milliseconds gauge\nx_milliseconds 1\n";
        let got = texts(body, Format::PrometheusText);
        assert_eq!(
            got,
            [
                r#"http_requests counter metrics should have "_total" suffix"#,
                "http_requests no help text",
                "req_ms label names should be written in 'snake_case' not 'camelCase'",
                "req_ms metric names should not contain abbreviated units",
                r#"x_milliseconds use base unit "seconds" instead of "milliseconds""#,
            ]
        );
    }

    #[test]
    fn errors_are_distinguished_and_stop_linting() {
        let p = check_metrics(
            b"# TYPE a counter\n# TYPE a counter\na 1\n",
            Format::PrometheusText,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].severity, Severity::Error);
        let ok = check_metrics(
            b"# HELP a_total x\n# TYPE a_total counter\na_total 1\n",
            Format::PrometheusText,
        );
        assert!(ok.is_empty(), "{ok:?}");
        let om = check_metrics(
            b"# HELP a x\n# TYPE a counter\na_total 1\n# EOF\n",
            Format::OpenMetrics,
        );
        assert!(om.is_empty(), "{om:?}");
    }
}
