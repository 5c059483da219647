//! Side-by-side with the real Prometheus 2.42: the same data goes into
//! Prometheus (`promtool tsdb create-blocks-from openmetrics`) and into the
//! `sonde` binary (remote write, in time order, as a Prometheus would send
//! it, with 10-minute blocks so that it answers from blocks and the head),
//! and a list of queries covering every function, aggregation and
//! operator is sent to both HTTP APIs, as instant queries at several times
//! and as range queries; the answers must agree (labels exactly, values
//! within a relative 1e-9, NaN equal to NaN, the same `errorType` where Prometheus errs).
//!
//! Skips with a printed reason when `prometheus`/`promtool` are not
//! installed, unless `SONDE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
#[path = "../common/mod.rs"]
mod common;
mod compare;
mod dataset;
mod peer;
mod queries;

use std::time::Duration;

use serde_json::Value as Json;
use sonde_remote::proto::{Label, Sample, TimeSeries, WriteRequest};

use compare::same;
use dataset::{dataset, Dataset, T0};
use peer::{encode, have, http_get, secs, start_prometheus};
use queries::{random_queries, QUERIES};

/// Samples per remote-write request (Prometheus 2.42's
/// `max_samples_per_send`).
const SAMPLES_PER_SEND: usize = 500;

/// Sends `data` to Sonde's `/api/v1/write` in time order, 500 samples a
/// request, each request answered 204.
fn remote_write(url: &str, data: &Dataset) {
    let mut samples: Vec<(i64, usize, f64)> = data
        .iter()
        .enumerate()
        .flat_map(|(i, (_, s))| s.iter().map(move |(t, v)| (*t, i, *v)))
        .collect();
    samples.sort_by_key(|(t, i, _)| (*t, *i));
    let http = reqwest::blocking::Client::new();
    for batch in samples.chunks(SAMPLES_PER_SEND) {
        let timeseries = batch
            .iter()
            .map(|(t, i, v)| TimeSeries {
                labels: data[*i]
                    .0
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.to_string(),
                        value: value.to_string(),
                    })
                    .collect(),
                samples: vec![Sample {
                    value: *v,
                    timestamp: *t,
                }],
                ..Default::default()
            })
            .collect();
        let body = sonde_remote::encode_write_request(&WriteRequest {
            timeseries,
            metadata: vec![],
        });
        let resp = http
            .post(url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        assert_eq!(status, 204, "remote write: {}", resp.text().unwrap());
    }
}

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

    // No scrape jobs: the remote-written data is all Sonde has.
    let config = dir.path().join("sonde.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
    // 10-minute blocks: the 70 minutes of data are cut into blocks as they
    // arrive, so queries read blocks and the head, not the head alone.
    let sonde = common::Sonde::start(&[
        &format!("--config.file={}", config.display()),
        "--storage.tsdb.min-block-duration=10m",
    ]);
    remote_write(&sonde.url("/api/v1/write"), &data);
    sonde.wait_for_log("head cut into block", Duration::from_secs(120));
    let sonde_port: u16 = sonde.addr.rsplit(':').next().unwrap().parse().unwrap();
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
        let mut check = |what: String, path: String| {
            let our_body = http_get(sonde_port, &path).unwrap();
            let ours: Json = serde_json::from_str(&our_body).unwrap_or(Json::Null);
            let body = http_get(peer.port, &path).unwrap();
            let theirs: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
            let outcome = match (ours["status"].as_str(), theirs["status"].as_str()) {
                (Some("success"), Some("success")) => {
                    if ours["data"]["result"]
                        .as_array()
                        .is_none_or(|r| !r.is_empty())
                    {
                        non_empty += 1;
                    }
                    same(&ours["data"], &theirs["data"], ordered)
                }
                (Some("error"), Some("error")) => {
                    errors += 1;
                    if ours["errorType"] == theirs["errorType"] {
                        Ok(())
                    } else {
                        Err(format!("error types differ: {our_body} vs {body}"))
                    }
                }
                _ => Err(format!("we answered {our_body} but Prometheus said {body}")),
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
    // The answers came from blocks as well as the head.
    let (_, metrics) = common::get(&sonde.url("/metrics"));
    let blocks: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sonde_tsdb_blocks_loaded "))
        .and_then(|v| v.trim().parse().ok())
        .expect("sonde_tsdb_blocks_loaded in /metrics");
    println!("answered from {blocks} blocks and the head");
    assert!(blocks >= 3.0, "only {blocks} blocks were cut");
}
