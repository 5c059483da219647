//! Side-by-side with the real Prometheus 2.42: the same data is imported
//! into Prometheus (`promtool tsdb create-blocks-from openmetrics`) and into
//! the engine's in-memory storage, and a list of queries covering every
//! function, aggregation and operator is run against both, as instant
//! queries at several times and as range queries; results must agree
//! (labels exactly, values within a relative 1e-6).
//!
//! Skips with a printed reason when `prometheus`/`promtool` are not
//! installed, unless `SONDE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
mod compare;
mod dataset;
mod peer;
mod queries;

use serde_json::Value as Json;
use sonde_promql::testing::MemStorage;
use sonde_promql::{Engine, EngineOptions};

use compare::same;
use dataset::{dataset, T0};
use peer::{encode, have, http_get, secs, start_prometheus};
use queries::{random_queries, QUERIES};

#[test]
fn same_results_as_prometheus() {
    let required = std::env::var("SONDE_REQUIRE_PEERS").is_ok_and(|v| v == "1");
    if !have("prometheus") || !have("promtool") {
        assert!(
            !required,
            "SONDE_REQUIRE_PEERS=1 but prometheus/promtool are not installed"
        );
        println!("skipped: prometheus and promtool (2.42) are not installed");
        return;
    }
    let data = dataset();
    let dir = tempfile::tempdir().unwrap();
    let peer = start_prometheus(dir.path(), &data);

    let mut storage = MemStorage::new();
    for (labels, samples) in &data {
        for (t, v) in samples {
            storage.add(labels.clone(), *t, *v);
        }
    }
    let engine = Engine::new(EngineOptions::default());
    let times = [T0, T0 + 1_800_000 + 7_000, T0 + 3_590_000, T0 + 3_900_000];
    let ranges = [
        (T0, T0 + 4_200_000, 60_000),
        (T0 + 123_000, T0 + 3_000_000, 37_000),
    ];
    let (mut passed, mut failed, mut non_empty, mut errors) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let generated = random_queries(400);
    // `SONDE_VS_QUERIES="q1;q2"` runs only those (for investigating).
    let only: Option<Vec<String>> = std::env::var("SONDE_VS_QUERIES")
        .ok()
        .map(|v| v.split(';').map(str::to_string).collect());
    let all: Vec<&str> = match &only {
        Some(qs) => qs.iter().map(String::as_str).collect(),
        None => QUERIES
            .iter()
            .copied()
            .chain(generated.iter().map(String::as_str))
            .collect(),
    };
    for q in all {
        let ordered = q.starts_with("sort") || q.starts_with("topk") || q.starts_with("bottomk");
        let mut check = |what: String,
                         ours: Result<sonde_promql::Value, sonde_promql::QueryError>,
                         path: String| {
            let body = http_get(peer.port, &path).unwrap();
            let theirs: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
            let outcome = match (ours, theirs["status"].as_str()) {
                (Ok(v), Some("success")) => {
                    let ours: Json = serde_json::from_str(&v.to_json()).unwrap();
                    if ours["result"].as_array().is_none_or(|r| !r.is_empty()) {
                        non_empty += 1;
                    }
                    same(&ours, &theirs["data"], ordered)
                }
                (Err(e), Some("error")) => {
                    errors += 1;
                    if e.error_type() == theirs["errorType"].as_str().unwrap_or("") {
                        Ok(())
                    } else {
                        Err(format!(
                            "error types differ: {} ({e}) vs {}",
                            e.error_type(),
                            theirs
                        ))
                    }
                }
                (Ok(v), _) => Err(format!(
                    "we answered {} but Prometheus said {body}",
                    v.to_json()
                )),
                (Err(e), _) => Err(format!("we failed with {e} but Prometheus said {body}")),
            };
            match outcome {
                Ok(()) => passed += 1,
                Err(e) => {
                    failed += 1;
                    failures.push(format!("{what}: {e}"));
                }
            }
        };
        for t in times {
            check(
                format!("{q} at {}", secs(t)),
                engine.instant_query(&storage, q, t),
                format!("/api/v1/query?query={}&time={}", encode(q), secs(t)),
            );
        }
        for (start, end, step) in ranges {
            check(
                format!(
                    "{q} over {}..{} step {}",
                    secs(start),
                    secs(end),
                    secs(step)
                ),
                engine.range_query(&storage, q, start, end, step),
                format!(
                    "/api/v1/query_range?query={}&start={}&end={}&step={}",
                    encode(q),
                    secs(start),
                    secs(end),
                    secs(step)
                ),
            );
        }
    }
    for f in &failures {
        println!("MISMATCH {f}");
    }
    println!(
        "vs prometheus: {passed} passed, {failed} failed ({non_empty} with data, {errors} errors on both sides)"
    );
    // Guard against vacuous agreement: most answers must carry data (the
    // random queries filter a lot away, so two thirds).
    let answers = passed - errors;
    assert!(
        non_empty * 3 >= answers * 2,
        "only {non_empty} of {answers} results had data"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches with Prometheus 2.42, first: {}",
        failures.len(),
        failures[0]
    );
}
