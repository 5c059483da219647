//! Shared helpers of the integration tests: where the reference data is,
//! and reading the OpenMetrics suite and the recorded Prometheus verdicts.
#![allow(dead_code)]

use std::path::PathBuf;

/// `shared/reference` (beside the repository, or `$SONDE_REFERENCE`).
pub fn reference_dir() -> PathBuf {
    if let Ok(p) = std::env::var("SONDE_REFERENCE") {
        return PathBuf::from(p);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for anc in here.ancestors() {
        let cand = anc.join("shared/reference");
        if cand.join("openmetrics-tests").is_dir() {
            return cand;
        }
        let cand = anc.join("../shared/reference");
        if cand.join("openmetrics-tests").is_dir() {
            return cand;
        }
    }
    panic!("BUG: cannot find shared/reference above {here:?}; set SONDE_REFERENCE");
}

pub struct Case {
    pub name: String,
    pub should_parse: bool,
    pub body: Vec<u8>,
}

/// The 211 cases of the OpenMetrics parser suite, from its INDEX.tsv.
pub fn om_cases() -> Vec<Case> {
    let dir = reference_dir().join("openmetrics-tests");
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).expect("read INDEX.tsv");
    let mut out = Vec::new();
    for line in index.lines().skip(1) {
        let mut f = line.split('\t');
        let name = f.next().expect("case name").to_string();
        let should_parse = f.next() == Some("true");
        let body =
            std::fs::read(dir.join("parsers").join(&name).join("metrics")).expect("read case body");
        out.push(Case {
            name,
            should_parse,
            body,
        });
    }
    assert_eq!(out.len(), 211, "the suite has 211 cases");
    out
}

/// The recorded verdicts of Prometheus 2.42: case -> up.
pub fn recorded_verdicts() -> Vec<(String, bool)> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/prometheus-2.42-scrape-verdicts.tsv");
    let text = std::fs::read_to_string(p).expect("read recorded verdicts");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("case\t"))
        .map(|l| {
            let mut f = l.split('\t');
            let case = f.next().expect("case").to_string();
            let v = f.next().expect("verdict");
            assert!(v == "up" || v == "down", "bad verdict {v:?}");
            (case, v == "up")
        })
        .collect()
}

pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Bodies that exercise the corners of Prometheus 2.42's scrape path, with
/// the verdicts Sonde gives them (scrape: the scrape succeeds; strict: the
/// body is valid). `tests/peer_prometheus.rs` serves them to a real
/// Prometheus, which must agree with `scrape_up`.
pub struct Quirk {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    pub scrape_up: bool,
    pub strict_ok: bool,
}

const fn q(
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    scrape_up: bool,
    strict_ok: bool,
) -> Quirk {
    Quirk {
        name,
        content_type,
        body,
        scrape_up,
        strict_ok,
    }
}

pub fn quirk_cases() -> Vec<Quirk> {
    vec![
        q(
            "text_nul_in_spaced_comment",
            TEXT,
            b"# c\0d\nb x\n",
            false,
            false,
        ),
        q(
            "text_escape_nul_newline",
            TEXT,
            b"a{b=\"\\\0\n\"} 1\n",
            false,
            false,
        ),
        q(
            "text_nul_then_escape",
            TEXT,
            b"a{b=\"x\0\\\\\"} 1\n",
            true,
            true,
        ),
        q(
            "text_help_nul_and_escape",
            TEXT,
            b"# HELP a x\0\\n y\n# TYPE a gauge\na 1\n",
            true,
            true,
        ),
        q(
            "text_help_at_end_without_text",
            TEXT,
            b"# HELP a",
            true,
            true,
        ),
        q(
            "om_nul_in_label_value",
            OM,
            b"a{b=\"x\0y\"} 1\n# EOF\n",
            true,
            true,
        ),
        q(
            "om_nul_in_exemplar_label_value",
            OM,
            b"# TYPE a counter\na_total 1 # {b=\"x\0y\"} 1\n# EOF\n",
            false,
            false,
        ),
        q(
            "om_help_without_newline_at_end",
            OM,
            b"# HELP a x",
            false,
            false,
        ),
        q("text_trailing_comma", TEXT, b"a{b=\"1\",} 1\n", true, true),
        q(
            "text_missing_comma",
            TEXT,
            b"a{b=\"1\" c=\"2\"} 1\n",
            true,
            false,
        ),
        q(
            "text_blanks_between_fields",
            TEXT,
            b"a {b=\"1\"}\t1  \t 2\n",
            true,
            true,
        ),
        q("text_blanks_before_name", TEXT, b"  a 1\n", false, false),
        q("text_blank_lines", TEXT, b"\n\na 1\n\n", true, true),
        q("text_comments", TEXT, b"#x\n# y\n#\na 1\n", true, true),
        q("text_nul_line_start", TEXT, b"a 1\n\0b x\n", true, false),
        q(
            "text_nul_in_hash_comment",
            TEXT,
            b"#c\0\nb x\n",
            true,
            false,
        ),
        q(
            "text_nul_in_label_value",
            TEXT,
            b"a{b=\"x\0y\"} 1\n",
            true,
            true,
        ),
        q(
            "text_duplicate_label",
            TEXT,
            b"a{b=\"1\",b=\"2\"} 1\n",
            false,
            false,
        ),
        q(
            "text_duplicate_job_label",
            TEXT,
            b"a{job=\"1\",job=\"2\"} 1\n",
            true,
            false,
        ),
        q(
            "text_duplicate_label_one_empty",
            TEXT,
            b"a{b=\"\",b=\"2\"} 1\n",
            true,
            false,
        ),
        q(
            "text_explicit_name_label",
            TEXT,
            b"a{__name__=\"a\"} 1\n",
            false,
            false,
        ),
        q(
            "text_empty_name_label",
            TEXT,
            b"a{__name__=\"\"} 1\n",
            false,
            false,
        ),
        q("text_value_overflow", TEXT, b"a 1e400\n", false, false),
        q("text_value_hex_float", TEXT, b"a 0x1p3\n", false, false),
        q("text_negative_timestamp", TEXT, b"a 1 -5\n", false, false),
        q(
            "text_timestamp_overflow",
            TEXT,
            b"a 1 99999999999999999999\n",
            false,
            false,
        ),
        q("text_untyped", TEXT, b"# TYPE a untyped\na 1\n", true, true),
        q("text_type_info", TEXT, b"# TYPE a info\n", false, false),
        q("text_help_not_utf8", TEXT, b"# HELP a \xff\n", false, false),
        q(
            "text_unknown_escape",
            TEXT,
            b"a{b=\"\\q\"} 1\n",
            true,
            false,
        ),
        q("text_eof_is_a_comment", TEXT, b"a 1\n# EOF\n", true, true),
        q(
            "text_raw_newline_in_label_value",
            TEXT,
            b"a{b=\"line\nbreak\"} 1\n",
            true,
            true,
        ),
        q("text_duplicate_series", TEXT, b"a 1\na 2\n", true, true),
        q("text_plus_nan_value", TEXT, b"a +NaN\n", false, false),
        q("text_infinity_value", TEXT, b"a -Infinity\n", true, true),
        q(
            "text_metadata_without_newline",
            TEXT,
            b"# TYPE a gauge",
            true,
            true,
        ),
        q(
            "om_no_final_newline_after_eof",
            OM,
            b"a 1\n# EOF",
            true,
            true,
        ),
        q("om_nul_in_help", OM, b"# HELP a x\0y\n# EOF\n", true, true),
        q(
            "om_exemplar_on_gauge_named_total",
            OM,
            b"# TYPE a_total gauge\na_total 1 # {} 1\n# EOF\n",
            true,
            false,
        ),
        q(
            "om_duplicate_job_label",
            OM,
            b"a{job=\"1\",job=\"2\"} 1\n# EOF\n",
            true,
            false,
        ),
        q(
            "om_escaped_exemplar_label",
            OM,
            b"# TYPE a counter\na_total 1 # {t=\"x\\\"y\"} 1\n# EOF\n",
            true,
            true,
        ),
        q(
            "om_body_served_as_text",
            TEXT,
            b"# TYPE a counter\na_total 1 # {t=\"x\"} 1\n# EOF\n",
            false,
            false,
        ),
        // A malformed parameter makes Go's mime.ParseMediaType fail: the
        // Prometheus text parser is used, which knows no exemplars.
        q(
            "om_malformed_content_type",
            "application/openmetrics-text; version",
            b"a_total 1 # {t=\"x\"} 1\n# EOF\n",
            false,
            false,
        ),
        q(
            "om_content_type_case",
            "Application/OpenMetrics-Text",
            b"a 1\n",
            false,
            false,
        ),
        q(
            "no_content_type_parameters",
            "text/html",
            b"a 1\n",
            true,
            true,
        ),
    ]
}
