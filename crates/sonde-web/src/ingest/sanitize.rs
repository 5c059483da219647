//! Label validation for pushed series, and the name sanitising of the Influx
//! line protocol.

use std::fmt::Write as _;

use sonde_model::{is_valid_label_name, is_valid_metric_name, Labels, METRIC_NAME};

/// Builds the label set of a remote-write series, refusing what Prometheus'
/// label model cannot hold: no or an invalid metric name, invalid label
/// names, the same name twice. Unsorted labels are sorted (senders should
/// sort, but order carries no meaning); labels with an empty value are
/// dropped, as Prometheus does.
pub(crate) fn series_labels(pairs: &[(&str, &str)]) -> Result<Labels, String> {
    let mut sorted = true;
    let mut name = None;
    for (i, (n, v)) in pairs.iter().enumerate() {
        if *n == METRIC_NAME {
            name = Some(*v);
        } else if !is_valid_label_name(n) {
            return Err(format!(
                "invalid label name {n:?} (must match [a-zA-Z_][a-zA-Z0-9_]*)"
            ));
        }
        if i > 0 && pairs[i - 1].0 >= *n {
            sorted = false;
        }
    }
    match name {
        None | Some("") => return Err("no metric name (label __name__)".into()),
        Some(m) if !is_valid_metric_name(m) => {
            return Err(format!(
                "invalid metric name {m:?} (must match [a-zA-Z_:][a-zA-Z0-9_:]*)"
            ))
        }
        Some(_) => {}
    }
    if sorted {
        return Ok(Labels::from_sorted(
            pairs.iter().filter(|(_, v)| !v.is_empty()).copied(),
        ));
    }
    let mut s: Vec<(&str, &str)> = pairs.to_vec();
    s.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if let Some(w) = s.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("duplicate label name {:?}", w[0].0));
    }
    Ok(Labels::from_sorted(
        s.into_iter().filter(|(_, v)| !v.is_empty()),
    ))
}

/// `{a="1", b="2"}` of pairs as sent, for error messages.
pub(crate) fn pairs_to_string(pairs: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (n, v)) in pairs.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(s, "{sep}{n}={v:?}");
    }
    s.push('}');
    s
}

/// Makes `s` a valid label name: characters outside `[a-zA-Z0-9_]` become
/// `_`, and a leading digit gets a `_` in front.
pub(crate) fn label_name(s: &str) -> String {
    sanitize(s, false)
}

/// Makes `s` a valid metric name (as [`label_name`], `:` also allowed).
pub(crate) fn metric_name(s: &str) -> String {
    sanitize(s, true)
}

fn sanitize(s: &str, colon: bool) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in s.chars() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':');
        out.push(if ok { c } else { '_' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_labels_accepts_sorts_and_refuses() {
        let l = series_labels(&[("job", "x"), ("__name__", "up"), ("empty", "")]).unwrap();
        assert_eq!(l.to_string(), r#"{__name__="up", job="x"}"#);
        assert_eq!(
            series_labels(&[("__name__", "up"), ("a", "1"), ("a", "2")]).unwrap_err(),
            r#"duplicate label name "a""#
        );
        assert_eq!(
            series_labels(&[("__name__", "up"), ("a-b", "1")]).unwrap_err(),
            r#"invalid label name "a-b" (must match [a-zA-Z_][a-zA-Z0-9_]*)"#
        );
        assert!(series_labels(&[("job", "x")])
            .unwrap_err()
            .contains("no metric name"));
        assert!(series_labels(&[("__name__", "1up")])
            .unwrap_err()
            .contains("invalid metric name"));
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(label_name("host-name"), "host_name");
        assert_eq!(label_name("9lives"), "_9lives");
        assert_eq!(metric_name("disk.io:read"), "disk_io:read");
        assert_eq!(label_name("é"), "_");
    }
}
