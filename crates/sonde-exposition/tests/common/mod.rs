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
