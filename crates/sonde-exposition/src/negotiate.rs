//! Content negotiation, both directions, matching Prometheus 2.42:
//!
//! * scrape side: [`format_for_content_type`] picks the parser for a
//!   response's `Content-Type` as `textparse.New` does (Go's
//!   `mime.ParseMediaType`, falling back to the Prometheus text parser when
//!   the header is absent, unknown or malformed), and [`SCRAPE_ACCEPT_HEADER`]
//!   is what 2.42 sends;
//! * response side (Sonde's `/metrics` and `/federate`):
//!   [`negotiate_response_format`] follows `expfmt.NegotiateIncludingOpenMetrics`
//!   (goautoneg ordering: by `q`, then specific before `*`), except that
//!   OpenMetrics `version=1.0.0` is accepted as well as `0.0.1`, and protobuf
//!   entries are passed over because Sonde does not encode protobuf.
//!
//! These functions are pure and allocate only for headers with more than a
//! handful of entries.

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    PrometheusText,
    /// OpenMetrics 1.0 text format.
    OpenMetrics,
    /// Prometheus protobuf (`application/vnd.google.protobuf`). Prometheus
    /// 2.42 picks its protobuf parser for this content type; Sonde has no
    /// protobuf parser, so the scrape engine must report such a target as
    /// failed with a clear message.
    PrometheusProtobuf,
}

impl Format {
    /// The `Content-Type` Sonde sends for a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusProtobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }

    /// The name used on the command line (`prometheus`, `openmetrics`).
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "prometheus" | "text" => Some(Format::PrometheusText),
            "openmetrics" => Some(Format::OpenMetrics),
            _ => None,
        }
    }
}

/// The `Accept` header Prometheus 2.42 sends when scraping (without the
/// native-histograms feature flag).
pub const SCRAPE_ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The parser Prometheus 2.42's scrape uses for a response with this
/// `Content-Type` (`textparse.New`).
pub fn format_for_content_type(content_type: Option<&str>) -> Format {
    let Some(ct) = content_type else {
        return Format::PrometheusText;
    };
    if ct.is_empty() {
        return Format::PrometheusText;
    }
    match parse_media_type(ct) {
        Some(mt) if mt == "application/openmetrics-text" => Format::OpenMetrics,
        Some(mt) if mt == "application/vnd.google.protobuf" => Format::PrometheusProtobuf,
        _ => Format::PrometheusText,
    }
}

/// Go's `mime.ParseMediaType`: the lowercased media type, or `None` where Go
/// returns an error (bad type, or bad/duplicate parameters).
fn parse_media_type(v: &str) -> Option<String> {
    let base = v.split(';').next().unwrap_or("");
    let mt = base.to_lowercase().trim().to_string();
    check_media_type(&mt)?;
    let mut rest = &v[base.len()..];
    let mut seen: Vec<String> = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        match consume_media_param(rest) {
            Some((key, tail)) => {
                if seen.contains(&key) {
                    return None;
                }
                seen.push(key);
                rest = tail;
            }
            None if rest.trim() == ";" => break,
            None => return None,
        }
    }
    Some(mt)
}

fn check_media_type(s: &str) -> Option<()> {
    let (typ, rest) = consume_token(s);
    if typ.is_empty() {
        return None;
    }
    if rest.is_empty() {
        return Some(());
    }
    let rest = rest.strip_prefix('/')?;
    let (sub, rest) = consume_token(rest);
    (!sub.is_empty() && rest.is_empty()).then_some(())
}

fn is_token_char(c: char) -> bool {
    c.is_ascii() && c > ' ' && c != '\x7f' && !"()<>@,;:\\\"/[]?=".contains(c)
}

fn consume_token(s: &str) -> (&str, &str) {
    let end = s.find(|c| !is_token_char(c)).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// `; key=value`, returning the lowercased key and the rest.
fn consume_media_param(v: &str) -> Option<(String, &str)> {
    let rest = v.trim_start().strip_prefix(';')?.trim_start();
    let (key, rest) = consume_token(rest);
    if key.is_empty() {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let rest = consume_value(rest)?;
    Some((key.to_lowercase(), rest))
}

/// A token or a quoted string; returns the rest.
fn consume_value(v: &str) -> Option<&str> {
    if let Some(q) = v.strip_prefix('"') {
        let mut chars = q.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some(&q[i + 1..]),
                '\\' => {
                    chars.next()?;
                }
                '\r' | '\n' => return None,
                _ => {}
            }
        }
        return None;
    }
    let (tok, rest) = consume_token(v);
    (!tok.is_empty()).then_some(rest)
}

/// One `Accept` entry, as goautoneg parses it.
struct Accept<'h> {
    typ: &'h str,
    sub: &'h str,
    q: f64,
    version: Option<&'h str>,
}

fn parse_accept(header: &str) -> Vec<Accept<'_>> {
    let mut out = Vec::new();
    for part in header.split(',') {
        let part = part.trim_matches(' ');
        let mut mrp = part.split(';');
        let range = mrp.next().unwrap_or("");
        let mut sp = range.split('/');
        let typ = sp.next().unwrap_or("").trim_matches(' ');
        let sub = match (sp.next(), sp.next()) {
            (None, _) if typ == "*" => "*",
            (Some(s), None) => s.trim_matches(' '),
            _ => continue,
        };
        let mut a = Accept {
            typ,
            sub,
            q: 1.0,
            version: None,
        };
        for param in mrp {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            match k.trim_matches(' ') {
                // Go: strconv.ParseFloat(v, 32) with the error ignored.
                "q" => a.q = v.parse::<f32>().map(f64::from).unwrap_or(0.0),
                "version" => a.version = Some(v.trim_matches(' ')),
                _ => {}
            }
        }
        out.push(a);
    }
    // Go's sort.Sort on this (not strict-weak) order is an insertion sort for
    // the short lists real clients send; do the same so ties break alike.
    for i in 1..out.len() {
        let mut j = i;
        while j > 0 && accept_less(&out[j], &out[j - 1]) {
            out.swap(j, j - 1);
            j -= 1;
        }
    }
    out
}

fn accept_less(a: &Accept<'_>, b: &Accept<'_>) -> bool {
    a.q > b.q || (a.typ != "*" && b.typ == "*") || (a.sub != "*" && b.sub == "*")
}

/// The format of Sonde's reply to a request with this `Accept` header
/// (absent or unmatched: the Prometheus text format).
pub fn negotiate_response_format(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::PrometheusText;
    };
    for a in parse_accept(accept) {
        let ver = a.version.unwrap_or("");
        if a.typ == "text" && a.sub == "plain" && (ver == "0.0.4" || ver.is_empty()) {
            return Format::PrometheusText;
        }
        if a.typ == "application"
            && a.sub == "openmetrics-text"
            && (ver == "0.0.1" || ver == "1.0.0" || ver.is_empty())
        {
            return Format::OpenMetrics;
        }
    }
    Format::PrometheusText
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_like_textparse_new() {
        use Format::*;
        for (ct, f) in [
            (None, PrometheusText),
            (Some(""), PrometheusText),
            (Some("text/plain; version=0.0.4"), PrometheusText),
            (Some("application/openmetrics-text; version=1.0.0; charset=utf-8"), OpenMetrics),
            (Some("Application/OpenMetrics-Text"), OpenMetrics),
            (Some("application/openmetrics-text;version=0.0.1;"), OpenMetrics),
            // Malformed parameters: Go returns an error, textparse falls back.
            (Some("application/openmetrics-text; version"), PrometheusText),
            (Some("application/openmetrics-text; a=1; a=2"), PrometheusText),
            (Some("application/openmetrics-text/x"), PrometheusText),
            (Some("application/openmetrics-text; v=\"quoted ok\""), OpenMetrics),
            (Some("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"), PrometheusProtobuf),
            (Some("garbage"), PrometheusText),
        ] {
            assert_eq!(format_for_content_type(ct), f, "{ct:?}");
        }
    }

    #[test]
    fn response_negotiation() {
        use Format::*;
        assert_eq!(negotiate_response_format(None), PrometheusText);
        assert_eq!(
            negotiate_response_format(Some(SCRAPE_ACCEPT_HEADER)),
            OpenMetrics
        );
        assert_eq!(
            negotiate_response_format(Some("text/plain")),
            PrometheusText
        );
        assert_eq!(negotiate_response_format(Some("*/*")), PrometheusText);
        assert_eq!(
            negotiate_response_format(Some("text/plain;q=0.5,application/openmetrics-text;q=0.9")),
            OpenMetrics
        );
        assert_eq!(
            negotiate_response_format(Some("application/openmetrics-text;version=2.0.0")),
            PrometheusText
        );
    }
}
