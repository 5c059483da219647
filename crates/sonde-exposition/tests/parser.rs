//! The pull parser's API: borrowed entries, scratch reuse, exemplars,
//! escapes, errors, and the Prometheus-format quirks scrape mode keeps.

mod common;

use sonde_exposition::{validate, Entry, Format, Mode, Parser, Scratch};
use sonde_model::MetricType;

/// Everything the parser yields, owned, for comparisons.
fn collect(
    body: &[u8],
    format: Format,
    mode: Mode,
    scratch: &mut Scratch,
) -> Result<Vec<String>, String> {
    let mut p = Parser::new(body, format, mode, scratch);
    let mut out = Vec::new();
    loop {
        match p.next() {
            Ok(None) => return Ok(out),
            Err(e) => return Err(e.to_string()),
            Ok(Some(e)) => out.push(match e {
                Entry::Type { name, metric_type } => {
                    format!("TYPE {name} {}", metric_type.as_str())
                }
                Entry::Help { name, text } => format!("HELP {name} {text:?}"),
                Entry::Unit { name, unit } => format!("UNIT {name} {unit}"),
                Entry::Comment(c) => format!("COMMENT {:?}", String::from_utf8_lossy(c)),
                Entry::Sample(s) => {
                    let mut line =
                        format!("{} {:?} {} {:?}", s.name, s.labels, s.value, s.timestamp_ms);
                    if let Some(ex) = s.exemplar {
                        line += &format!(" # {:?} {} {:?}", ex.labels, ex.value, ex.timestamp_ms);
                    }
                    line
                }
            }),
        }
    }
}

const OM_BODY: &[u8] = b"# TYPE rpc_seconds counter\n# HELP rpc_seconds Calls \\\"made\\\".\n# UNIT rpc_seconds seconds\nrpc_seconds_total{path=\"/a\\\\b\",q=\"x\\ny\"} 3 1520879607.789 # {trace_id=\"ab\\\"c\"} 0.5 1520879607.1\nrpc_seconds_created 1.5e9\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2 # {} 7\n# EOF\n";

#[test]
fn openmetrics_entries_exemplars_and_escapes() {
    let mut scratch = Scratch::new();
    let got = collect(OM_BODY, Format::OpenMetrics, Mode::Scrape, &mut scratch).expect("valid");
    assert_eq!(
        got,
        [
            "TYPE rpc_seconds counter",
            r#"HELP rpc_seconds "Calls \"made\".""#,
            "UNIT rpc_seconds seconds",
            r#"rpc_seconds_total [("path", "/a\\b"), ("q", "x\ny")] 3 Some(1520879607789) # [("trace_id", "ab\"c")] 0.5 Some(1520879607100)"#,
            "rpc_seconds_created [] 1500000000 None",
            "TYPE h histogram",
            "h_bucket [(\"le\", \"+Inf\")] 2 None # [] 7 None",
        ]
    );
}

#[test]
fn same_buffers_twice_give_the_same_entries() {
    let prom = b"# HELP a A \\\\ help\\n.\n# TYPE a counter\na{x=\"1\\\"\",y=\"2\"} 1 1000\n# a comment\n\na 2\n";
    let mut scratch = Scratch::new();
    for (body, format) in [
        (&prom[..], Format::PrometheusText),
        (OM_BODY, Format::OpenMetrics),
    ] {
        for mode in [Mode::Scrape, Mode::Strict] {
            let first = collect(body, format, mode, &mut scratch);
            let second = collect(body, format, mode, &mut scratch);
            assert!(first.is_ok(), "{format:?} {mode:?}: {first:?}");
            assert_eq!(first, second, "{format:?} {mode:?}");
        }
    }
    let got = collect(prom, Format::PrometheusText, Mode::Scrape, &mut scratch).expect("valid");
    assert_eq!(got[0], r#"HELP a "A \\ help\n.""#);
    assert_eq!(got[2], r#"a [("x", "1\""), ("y", "2")] 1 Some(1000)"#);
    assert_eq!(got[3], r##"COMMENT "# a comment""##);
}

#[test]
fn series_bytes_and_label_lookup() {
    let mut scratch = Scratch::new();
    let mut p = Parser::new(
        b"up{job=\"node\",instance=\"h:9100\"} 1\n",
        Format::PrometheusText,
        Mode::Scrape,
        &mut scratch,
    );
    let Some(Entry::Sample(s)) = p.next().expect("valid") else {
        panic!("expected a sample");
    };
    assert_eq!(s.series, b"up{job=\"node\",instance=\"h:9100\"}");
    assert_eq!(s.labels.len(), 2);
    assert_eq!(s.labels.get("instance"), Some("h:9100"));
    assert_eq!(s.labels.get("nope"), None);
    assert!(p.next().expect("end").is_none());
    assert!(p.next().expect("still the end").is_none());
}

#[test]
fn nan_values_are_prometheus_normal_nan() {
    let mut scratch = Scratch::new();
    let mut p = Parser::new(
        b"a NaN\n",
        Format::PrometheusText,
        Mode::Scrape,
        &mut scratch,
    );
    let Some(Entry::Sample(s)) = p.next().expect("valid") else {
        panic!("expected a sample");
    };
    assert_eq!(s.value.to_bits(), sonde_exposition::NORMAL_NAN_BITS);
}

fn verdict(body: &[u8], format: Format, mode: Mode) -> Result<usize, String> {
    validate(body, format, mode, &mut Scratch::new()).map_err(|e| e.to_string())
}

#[test]
fn prometheus_format_quirks_kept_in_scrape_mode() {
    // These follow Prometheus 2.42's PromParser and scrape loop;
    // tests/peer_prometheus.rs serves them to a real Prometheus too.
    for q in common::quirk_cases() {
        let format = sonde_exposition::format_for_content_type(Some(q.content_type));
        let s = verdict(q.body, format, Mode::Scrape);
        assert_eq!(s.is_ok(), q.scrape_up, "{} scrape: {s:?}", q.name);
        let s = verdict(q.body, format, Mode::Strict);
        assert_eq!(s.is_ok(), q.strict_ok, "{} strict: {s:?}", q.name);
    }
}

#[test]
fn errors_say_where_what_and_what_instead() {
    let e = verdict(b"a 1\nb{c=\"d\" 2\n", Format::PrometheusText, Mode::Scrape).expect_err("bad");
    assert!(e.starts_with("line 2: unexpected"), "{e}");
    assert!(e.contains("expected"), "{e}");
    let e = verdict(b"a 1\n", Format::OpenMetrics, Mode::Scrape).expect_err("no EOF");
    assert_eq!(
        e,
        "line 2: data does not end with # EOF; expected a final line \"# EOF\""
    );
    let e = verdict(b"a 1_000\n", Format::PrometheusText, Mode::Scrape).expect_err("bad value");
    assert!(e.contains("invalid value \"1_000\""), "{e}");
    let e = verdict(
        b"# TYPE a counter\n# TYPE a counter\n# EOF\n",
        Format::OpenMetrics,
        Mode::Strict,
    )
    .expect_err("repeated");
    assert!(e.starts_with("line 2: second TYPE line"), "{e}");
}

#[test]
fn protobuf_is_refused_clearly() {
    let e =
        verdict(b"\x00\x01", Format::PrometheusProtobuf, Mode::Scrape).expect_err("unsupported");
    assert!(e.contains("protobuf exposition is not supported"), "{e}");
}

#[test]
fn honor_labels_makes_duplicate_job_labels_fatal() {
    let mut scratch = Scratch::new();
    let mut p = Parser::new(
        b"a{job=\"1\",job=\"2\"} 1\n",
        Format::PrometheusText,
        Mode::Scrape,
        &mut scratch,
    )
    .with_target_labels(&[]);
    assert!(p.next().is_err());
}

#[test]
fn node_exporter_output_parses_in_every_mode() {
    let body = include_bytes!("../testdata/node_exporter.prom");
    let mut scratch = Scratch::new();
    let n = validate(body, Format::PrometheusText, Mode::Scrape, &mut scratch).expect("scrape");
    assert!(n > 400, "{n} samples");
    assert_eq!(
        validate(body, Format::PrometheusText, Mode::Strict, &mut scratch).expect("strict"),
        n
    );
    let mut p = Parser::new(body, Format::PrometheusText, Mode::Scrape, &mut scratch);
    let mut types = 0;
    while let Some(e) = p.next().expect("valid") {
        if let Entry::Type { metric_type, .. } = e {
            types += usize::from(metric_type != MetricType::Unknown);
        }
    }
    assert!(types > 50);
}
