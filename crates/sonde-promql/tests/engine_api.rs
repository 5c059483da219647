//! The public API: range queries, result shapes, JSON, error kinds, the
//! sample limit, cancellation and timeouts.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sonde_model::{Labels, STALE_NAN};
use sonde_promql::testing::MemStorage;
use sonde_promql::{Engine, EngineOptions, QueryError, QueryOptions, Value};

fn storage() -> MemStorage {
    let mut s = MemStorage::new();
    // A counter scraped every 15s for 10 minutes, reset at 5m.
    let c = Labels::from_pairs(&[("__name__", "req_total"), ("job", "api")]);
    for i in 0..=40 {
        let v = if i < 20 {
            i as f64 * 15.0
        } else {
            (i - 19) as f64 * 15.0
        };
        s.add(c.clone(), i * 15_000, v);
    }
    // A gauge that goes stale at 60s.
    let g = Labels::from_pairs(&[("__name__", "temp"), ("room", "a")]);
    s.add(g.clone(), 0, 20.0);
    s.add(g.clone(), 30_000, 21.0);
    s.add(g, 60_000, STALE_NAN);
    let g = Labels::from_pairs(&[("__name__", "temp"), ("room", "b")]);
    s.add(g, 0, 18.0);
    let h = Labels::from_pairs(&[("__name__", "humidity"), ("room", "b")]);
    s.add(h, 0, 40.0);
    s
}

fn engine() -> Engine {
    Engine::new(EngineOptions::default())
}

#[test]
fn range_query_rate_handles_counter_reset() {
    let v = engine()
        .range_query(&storage(), "rate(req_total[1m])", 60_000, 600_000, 60_000)
        .unwrap();
    let Value::Matrix(series) = v else {
        panic!("expected a matrix, got {v:?}")
    };
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].labels, Labels::from_pairs(&[("job", "api")]));
    assert_eq!(series[0].samples.len(), 10);
    for p in &series[0].samples {
        // 15 per 15s is 1/s everywhere, the reset included.
        assert!((p.v - 1.0).abs() < 1e-9, "at {}: {}", p.t, p.v);
    }
}

#[test]
fn range_query_respects_staleness_and_lookback() {
    let v = engine()
        .range_query(&storage(), "temp", 0, 400_000, 30_000)
        .unwrap();
    let Value::Matrix(series) = v else { panic!() };
    assert_eq!(series.len(), 2);
    // room a: samples at 0 and 30s, stale at 60s.
    let a: Vec<i64> = series[0].samples.iter().map(|p| p.t).collect();
    assert_eq!(a, vec![0, 30_000]);
    // room b: one sample at 0, visible for the 5m lookback (closed).
    let b: Vec<i64> = series[1].samples.iter().map(|p| p.t).collect();
    assert_eq!(b, (0..=10).map(|i| i * 30_000).collect::<Vec<_>>());
}

#[test]
fn scalar_results_and_json() {
    let e = engine();
    let s = storage();
    let v = e
        .instant_query(&s, "scalar(temp{room=\"b\"}) * 2", 0)
        .unwrap();
    assert_eq!(v, Value::Scalar { t: 0, v: 36.0 });
    let v = e.range_query(&s, "time()", 0, 2000, 1000).unwrap();
    assert_eq!(
        v.to_json(),
        r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0,"0"],[1,"1"],[2,"2"]]}]}"#
    );
    let v = e.instant_query(&s, "\"hello\"", 1500).unwrap();
    assert_eq!(
        v.to_json(),
        r#"{"resultType":"string","result":[1.5,"hello"]}"#
    );
    let v = e.instant_query(&s, "temp{room=\"b\"}[1m]", 30_000).unwrap();
    assert_eq!(
        v.to_json(),
        r#"{"resultType":"matrix","result":[{"metric":{"__name__":"temp","room":"b"},"values":[[0,"18"]]}]}"#
    );
}

#[test]
fn error_kinds() {
    let e = engine();
    let s = storage();
    let err = e.instant_query(&s, "sum(", 0).unwrap_err();
    assert_eq!(err.error_type(), "bad_data", "{err}");
    let err = e
        .instant_query(&s, "mad_over_time(temp[5m])", 0)
        .unwrap_err();
    assert_eq!(err.error_type(), "bad_data", "{err}");
    let err = e.range_query(&s, "temp[5m]", 0, 10, 1).unwrap_err();
    assert_eq!(
        err,
        QueryError::BadData(
            "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
                .into()
        )
    );
    let err = e
        .instant_query(&s, "label_replace(temp, \"x\", \"\", \"room\", \"(.*\")", 0)
        .unwrap_err();
    assert_eq!(err.error_type(), "execution");
    assert_eq!(
        err.to_string(),
        "invalid regular expression in label_replace(): (.*"
    );
    let err = e.instant_query(&s, "temp + on() temp", 0).unwrap_err();
    assert_eq!(err.error_type(), "execution");
    assert!(
        err.to_string().starts_with(
            "found duplicate series for the match group {} on the right hand-side of the operation"
        ),
        "{err}"
    );
    let err = e.instant_query(&s, "-{room=\"b\"}", 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
}

#[test]
fn sample_limit() {
    let e = Engine::new(EngineOptions {
        max_samples: 20,
        ..EngineOptions::default()
    });
    let err = e
        .instant_query(&storage(), "req_total[10m]", 600_000)
        .unwrap_err();
    assert_eq!(
        err,
        QueryError::Execution(
            "query processing would load too many samples into memory in query execution".into()
        )
    );
    assert!(e
        .instant_query(&storage(), "req_total[1m]", 600_000)
        .is_ok());
}

#[test]
fn cancel_and_timeout() {
    let s = storage();
    let cancel = Arc::new(AtomicBool::new(true));
    let expr = sonde_promql::parse("rate(req_total[1m])").unwrap();
    let opts = QueryOptions {
        cancel: Some(cancel),
        ..QueryOptions::default()
    };
    let err = engine()
        .range_query_expr(&s, &expr, 0, 600_000, 1000, &opts)
        .0
        .unwrap_err();
    assert_eq!(err.error_type(), "canceled");
    assert_eq!(err.to_string(), "query was canceled in query execution");
    let e = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    let err = e.instant_query(&s, "temp", 0).unwrap_err();
    assert_eq!(err.error_type(), "timeout");
    assert_eq!(err.to_string(), "query timed out in query execution");
}

#[test]
fn at_modifier_and_subquery_in_range_mode() {
    let e = engine();
    let s = storage();
    // Pinned at 30s, every step sees room a's value 21.
    let v = e
        .range_query(&s, "temp{room=\"a\"} @ 30", 0, 600_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = v else { panic!() };
    assert_eq!(m[0].samples.len(), 11);
    assert!(m[0].samples.iter().all(|p| p.v == 21.0));
    // max over a 2m subquery of the 1m rate equals the rate (constant 1/s).
    let v = e
        .range_query(
            &s,
            "max_over_time(rate(req_total[1m])[2m:15s])",
            120_000,
            600_000,
            60_000,
        )
        .unwrap();
    let Value::Matrix(m) = v else { panic!() };
    assert_eq!(m[0].samples.len(), 9);
    assert!(
        m[0].samples.iter().all(|p| (p.v - 1.0).abs() < 1e-9),
        "{m:?}"
    );
}

#[test]
fn parse_selector_gives_storage_matchers() {
    let m = sonde_promql::parse_selector("up{job=~\"api|web\", env!=\"\"}").unwrap();
    let shown: Vec<String> = m.iter().map(|m| m.to_string()).collect();
    assert_eq!(
        shown,
        vec!["__name__=\"up\"", "job=~\"api|web\"", "env!=\"\""]
    );
    assert!(m[1].matches("web") && !m[1].matches("xweb"));
    for bad in ["sum(up)", "up offset 5m", "up[5m]", "{", "up{job=~\"(\"}"] {
        let err = sonde_promql::parse_selector(bad).unwrap_err();
        assert_eq!(err.error_type(), "bad_data", "{bad}: {err}");
    }
}

#[test]
fn extreme_queries_are_errors_or_results_never_panics() {
    let e = engine();
    let s = storage();
    for q in [
        "temp[292277024y]",
        "temp offset 292277024y",
        "temp offset -292277024y",
        "temp @ -9e18",
        "rate(temp[292277024y:1ms])",
        "year(vector(NaN))",
        "topk(NaN, temp)",
        "count_values(\"__name__\", temp)",
    ] {
        let _ = e.instant_query(&s, q, 0);
        let _ = e.range_query(&s, q, 0, 60_000, 15_000);
    }
    let err = e
        .instant_query(&s, "max_over_time(vector(1)[100y:1ms])", 0)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    let err = e.instant_query(&s, "topk(1e300, temp)", 0).unwrap_err();
    assert_eq!(err.to_string(), "Scalar value 1e+300 overflows int64");
}

#[test]
fn stats_count_queries_failures_and_samples() {
    let e = engine();
    let s = storage();
    e.instant_query(&s, "temp", 0).unwrap();
    e.range_query(&s, "rate(req_total[1m])", 0, 60_000, 15_000)
        .unwrap();
    let shorter = e.with_options(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    shorter.instant_query(&s, "temp", 0).unwrap_err();
    e.instant_query(&s, "sum(", 0).unwrap_err();
    let snap = e.stats().snapshot();
    assert_eq!((snap.instant_queries, snap.range_queries), (2, 1));
    // Parse errors fail before evaluation and are not counted.
    assert_eq!(snap.failures, [0, 0, 1, 0, 0]);
    assert!(snap.samples >= 2, "{snap:?}");
}

#[test]
fn timestamp_merges_series_that_differ_only_by_name_at_different_steps() {
    let mut s = MemStorage::new();
    let a = Labels::from_pairs(&[("__name__", "a"), ("x", "1")]);
    let b = Labels::from_pairs(&[("__name__", "b"), ("x", "1")]);
    s.add(a.clone(), 0, 1.0);
    s.add(a, 60_000, STALE_NAN);
    s.add(b, 120_000, 1.0);
    let e = engine();
    let v = e
        .range_query(&s, "timestamp({x=\"1\"})", 0, 180_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = v else { panic!() };
    assert_eq!(m.len(), 1);
    let points: Vec<(i64, f64)> = m[0].samples.iter().map(|p| (p.t, p.v)).collect();
    assert_eq!(points, vec![(0, 0.0), (120_000, 120.0), (180_000, 120.0)]);
    // At one step both exist: that is an error.
    s.add(
        Labels::from_pairs(&[("__name__", "b"), ("x", "1")]),
        180_000,
        1.0,
    );
    s.add(
        Labels::from_pairs(&[("__name__", "a"), ("x", "1")]),
        180_000,
        1.0,
    );
    let err = e
        .instant_query(&s, "timestamp({x=\"1\"})", 180_000)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
}

/// The series-by-series paths (element-wise functions, vector/scalar
/// operators, `histogram_quantile`) gather like the step-wise evaluation:
/// outputs that differ only by the dropped name merge when they never
/// meet at a step, and are an error at a step where they do.
#[test]
fn column_wise_operators_merge_or_refuse_equal_label_sets() {
    let mut s = MemStorage::new();
    let pairs = |name: &'static str, le: &'static str| {
        Labels::from_pairs(&[("__name__", name), ("le", le), ("x", "1")])
    };
    for le in ["1", "+Inf"] {
        s.add(pairs("a_bucket", le), 0, 4.0);
        s.add(pairs("a_bucket", le), 60_000, STALE_NAN);
        s.add(pairs("b_bucket", le), 120_000, 8.0);
    }
    let e = engine();
    for (q, want) in [
        ("abs({x=\"1\",le=\"1\"})", [4.0, 8.0, 8.0]),
        ("{x=\"1\",le=\"1\"} * 2", [8.0, 16.0, 16.0]),
        ("2 * {x=\"1\",le=\"1\"}", [8.0, 16.0, 16.0]),
        ("histogram_quantile(0.5, {x=\"1\"})", [0.5, 0.5, 0.5]),
    ] {
        let v = e.range_query(&s, q, 0, 180_000, 60_000).unwrap();
        let Value::Matrix(m) = v else { panic!("{q}") };
        assert_eq!(m.len(), 1, "{q}");
        let points: Vec<(i64, f64)> = m[0].samples.iter().map(|p| (p.t, p.v)).collect();
        assert_eq!(
            points,
            vec![(0, want[0]), (120_000, want[1]), (180_000, want[2])],
            "{q}"
        );
    }
    for le in ["1", "+Inf"] {
        s.add(pairs("a_bucket", le), 180_000, 4.0);
    }
    for q in [
        "abs({x=\"1\",le=\"1\"})",
        "{x=\"1\",le=\"1\"} * 2",
        "histogram_quantile(0.5, {x=\"1\"})",
    ] {
        let err = e.range_query(&s, q, 0, 180_000, 60_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "vector cannot contain metrics with the same labelset",
            "{q}"
        );
    }
}
