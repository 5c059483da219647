//! Prometheus 2.42's PromQL test scripts, run against the engine over the
//! in-memory conformance storage.
//!
//! Every `eval` case of every file in `shared/reference/prometheus-v2.42.0/
//! promql-testdata` runs (with upstream's range-mode and `@`-invariance
//! checks). The test fails on any failing case that is not listed in
//! `testdata/known_failures.txt`, and on any listed case that now passes,
//! so the list only ever shrinks.
//!
//! The storage is `sonde_promql::testing::MemStorage`; it should become the
//! tsdb head once that exists, so the suite also covers real storage.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sonde_promql::testing::script::run_script;

fn testdata_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SONDE_PROMQL_TESTDATA") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/prometheus-v2.42.0/promql-testdata")
}

/// `file:line` -> reason, from the checked-in list.
fn known_failures() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/known_failures.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        assert!(
            !reason.trim().is_empty(),
            "{}:{}: every known failure needs a one-line reason after the case",
            path.display(),
            i + 1
        );
        out.insert(key.to_string(), reason.trim().to_string());
    }
    out
}

#[test]
fn promql_conformance() {
    let dir = testdata_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "cannot read the PromQL reference test files in {} ({e}); set SONDE_PROMQL_TESTDATA to their folder",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());

    let known = known_failures();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut new_failures = Vec::new();
    let mut failing_keys = std::collections::BTreeSet::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(file).unwrap();
        let outcomes = match run_script(&text) {
            Ok(o) => o,
            Err(e) => panic!("{name}: malformed script: {e}"),
        };
        for o in outcomes {
            let key = format!("{name}:{}", o.line);
            match o.failure {
                None => passed += 1,
                Some(why) => {
                    failed += 1;
                    println!("FAIL {key}: {}\n    {why}", o.expr);
                    if !known.contains_key(&key) {
                        new_failures.push(format!("{key}: {}: {why}", o.expr));
                    }
                    failing_keys.insert(key);
                }
            }
        }
    }
    println!("promql conformance: {passed} passed, {failed} failed");
    let now_passing: Vec<&String> = known
        .keys()
        .filter(|k| !failing_keys.contains(*k))
        .collect();
    let mut problems = String::new();
    if !new_failures.is_empty() {
        problems.push_str(&format!(
            "{} case(s) fail that are not in testdata/known_failures.txt:\n  {}\n",
            new_failures.len(),
            new_failures.join("\n  ")
        ));
    }
    if !now_passing.is_empty() {
        problems.push_str(&format!(
            "{} case(s) listed in testdata/known_failures.txt now pass; remove them from the list:\n  {}\n",
            now_passing.len(),
            now_passing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
        ));
    }
    assert!(problems.is_empty(), "{problems}");
}
