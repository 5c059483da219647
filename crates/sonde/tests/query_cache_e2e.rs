//! End to end: the `sonde` binary serves repeated range queries from its
//! result cache (`--query.result-cache-size`, on by default), a late sample
//! pushed afterwards shows up in the next answer, and the cache reports on
//! itself as `sonde_query_cache_*`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use common::{get, get_json, post_body, Sonde};

fn metric(sonde: &Sonde, name: &str) -> Option<f64> {
    let (_, text) = get(&sonde.url("/metrics"));
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn repeated_range_queries_hit_the_cache_and_see_late_samples() {
    let sonde = Sonde::start(&[]);
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = (now - 50 * 60_000) / 60_000 * 60_000;
    let body: String = (0..40)
        .map(|i| format!("m{{k=\"a\"}} 1 {}\n", t0 + i * 15_000))
        .collect();
    let (status, text) = post_body(&sonde.url("/api/v1/import/prometheus"), body);
    assert!(status < 300, "{status} {text}");
    let url = sonde.url(&format!(
        "/api/v1/query_range?query=sum(m)&start={}&end={}&step=60",
        t0 / 1000,
        t0 / 1000 + 1200
    ));
    let first = get_json(&url);
    let second = get_json(&url);
    assert_eq!(first, second);
    assert_eq!(metric(&sonde, "sonde_query_cache_hits_total"), Some(1.0));

    // A late sample of a new series, 5 minutes after t0.
    let late = format!("m{{k=\"b\"}} 10 {}\n", t0 + 300_000);
    let (status, text) = post_body(&sonde.url("/api/v1/import/prometheus"), late);
    assert!(status < 300, "{status} {text}");
    let third = get_json(&url);
    let uncached = get_json(&format!("{url}&stats=1"));
    assert_eq!(third["data"]["result"], uncached["data"]["result"]);
    let values = third["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values[4][1], "1");
    assert_eq!(values[5][1], "11");
    assert!(metric(&sonde, "sonde_query_cache_invalidations_total").unwrap() >= 1.0);
    assert!(metric(&sonde, "sonde_query_cache_bytes").unwrap() > 0.0);
}

#[test]
fn size_zero_disables_the_cache() {
    let sonde = Sonde::start(&["--query.result-cache-size=0"]);
    let url = sonde.url("/api/v1/query_range?query=vector(1)&start=0&end=60&step=15");
    assert_eq!(get_json(&url), get_json(&url));
    assert_eq!(metric(&sonde, "sonde_query_cache_hits_total"), None);
    let flags = get_json(&sonde.url("/api/v1/status/flags"));
    assert_eq!(flags["data"]["query.result-cache-size"], "0");
}
