//! The range query result cache gives exactly what evaluation without it
//! gives, whatever writes come between queries: in-order, late
//! (out-of-order window, backfill), and deletions. A property test over
//! random interleavings, a sliding-dashboard scenario, and the cache end
//! to end over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::sync::Arc;

use proptest::prelude::*;
use sonde_model::{Appendable, Labels, Matcher, Queryable};
use sonde_promql::{Engine, EngineOptions, QueryOptions, Value};
use sonde_tsdb::{Db, DbOptions, FsyncPolicy};
use sonde_web::{QueryCache, QueryService, TrackedAppendable, WriteTracker};

const QUERIES: &[&str] = &[
    "m",
    "rate(m[1m])",
    "sum by (k) (m)",
    "max_over_time(m[2m:30s])",
    "m offset 1m",
    "count(m) + time()",
    "timestamp(m)",
    "m @ 600",
    "m offset -1m",
    "absent(m{k=\"z\"})",
];

struct Setup {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    writer: TrackedAppendable,
    cache: QueryCache,
    engine: Engine,
}

fn setup(cache_bytes: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        DbOptions {
            wal_fsync: FsyncPolicy::Never,
            background: false,
            out_of_order_window_ms: 2 * 3_600_000,
            ..DbOptions::default()
        },
    )
    .unwrap();
    let tracker = Arc::new(WriteTracker::new());
    Setup {
        writer: TrackedAppendable::new(db.clone(), tracker.clone()),
        cache: QueryCache::new(cache_bytes, tracker),
        engine: Engine::new(EngineOptions::default()),
        db,
        _dir: dir,
    }
}

fn series(k: u8) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("k", &format!("s{k}"))])
}

impl Setup {
    fn write(&self, batch: &[(u8, i64, f64)]) {
        let mut app = self.writer.appender();
        for (k, t, v) in batch {
            // Refused samples (duplicates) are part of the game.
            let _ = app.append(0, &series(*k), *t, *v);
        }
        app.commit().unwrap();
    }

    fn write_many(&self, batch: &[(u8, i64, f64)]) {
        let mut app = self.writer.appender();
        for (k, t, v) in batch {
            app.append(0, &series(*k), *t, *v).unwrap();
        }
        app.commit().unwrap();
    }

    fn delete(&self, k: u8, mint: i64, maxt: i64) {
        let m = [
            Matcher::equal("__name__", "m"),
            Matcher::equal("k", &format!("s{k}")),
        ];
        self.db.delete_series(&m, mint, maxt).unwrap();
        // What the admin endpoint does after a deletion.
        self.cache.tracker().record(mint);
    }

    /// Cached and uncached answers, as JSON text.
    fn both(&self, q: &str, start: i64, end: i64, step: i64) -> (String, String) {
        let expr = sonde_promql::parse(q).unwrap();
        let storage: &dyn Queryable = self.db.as_ref();
        let cached = self
            .cache
            .range_query(&self.engine, storage, q, &expr, start, end, step, None)
            .map(|v| v.to_json())
            .unwrap_or_else(|e| format!("error: {e}"));
        let plain = self
            .engine
            .range_query_expr(storage, &expr, start, end, step, &QueryOptions::default())
            .0
            .map(|v: Value| v.to_json())
            .unwrap_or_else(|e| format!("error: {e}"));
        (cached, plain)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<(u8, i64, f64)>),
    Delete(u8, i64, i64),
    Query(usize, i64, i64, i64),
}

fn op() -> impl Strategy<Value = Op> {
    let sample = (0u8..3, 0i64..240, -5i64..50).prop_map(|(k, t, v)| (k, t * 15_000, v as f64));
    prop_oneof![
        3 => prop::collection::vec(sample, 1..6).prop_map(Op::Write),
        1 => (0u8..3, 0i64..3600, 0i64..600)
            .prop_map(|(k, a, len)| Op::Delete(k, a * 1_000, (a + len) * 1_000)),
        // Few starts and steps, so that queries meet their cache entries.
        6 => (0..QUERIES.len(), 0i64..4, 1i64..240, prop::sample::select(vec![15_000i64, 60_000]))
            .prop_map(|(q, s, n, step)| Op::Query(q, s * 60_000, s * 60_000 + n * step, step)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn cached_equals_uncached_under_interleaved_writes(ops in prop::collection::vec(op(), 1..80)) {
        let s = setup(1 << 20);
        for op in ops {
            match op {
                Op::Write(batch) => s.write(&batch),
                Op::Delete(k, a, b) => s.delete(k, a, b),
                Op::Query(q, start, end, step) => {
                    let (cached, plain) = s.both(QUERIES[q], start, end, step);
                    prop_assert_eq!(cached, plain, "{} [{}, {}] step {}", QUERIES[q], start, end, step);
                }
            }
        }
    }
}

/// A dashboard refreshing `now-30m..now` while samples arrive in order and
/// late: every refresh reuses the earlier steps and is still exact.
#[test]
fn sliding_dashboard_reuses_steps_and_sees_late_samples() {
    let s = setup(1 << 20);
    let step = 15_000;
    let mut now = 3_600_000;
    for t in (0..now).step_by(15_000) {
        s.write(&[(0, t, (t / 1000) as f64), (1, t, 1.0)]);
    }
    for refresh in 0..20 {
        now += 30_000;
        s.write(&[(0, now - 15_000, 1.0), (0, now, 2.0), (1, now, 1.0)]);
        if refresh % 5 == 4 {
            // A late sample 20 minutes back (an agent replaying its queue).
            s.write(&[(2, now - 1_200_000, 7.0)]);
        }
        for q in ["sum(m)", "rate(m[1m])", "count(m)"] {
            let start = now - 1_800_000;
            let start = start - start % step;
            let (cached, plain) = s.both(q, start, now - now % step, step);
            assert_eq!(cached, plain, "refresh {refresh} {q}");
        }
    }
    let stats = s.cache.stats();
    assert!(stats.hits >= 50, "{stats:?}");
    assert!(stats.steps_reused > stats.hits * 50, "{stats:?}");
    assert!(stats.invalidations > 0, "{stats:?}");
    assert!(
        stats.bytes > 0 && stats.bytes <= stats.max_bytes,
        "{stats:?}"
    );
}

#[test]
fn memory_stays_within_the_limit() {
    let s = setup(64 << 10);
    for k in 0..3 {
        s.write(
            &(0..200)
                .map(|i| (k, i * 15_000, i as f64))
                .collect::<Vec<_>>(),
        );
    }
    for i in 0..50 {
        let q = format!("m + {i}");
        let (cached, plain) = s.both(&q, 0, 2_985_000, 15_000);
        assert_eq!(cached, plain);
        let st = s.cache.stats();
        assert!(st.bytes <= st.max_bytes, "{st:?}");
    }
    assert!(s.cache.stats().evictions > 0);
    let off = setup(0);
    off.write(&[(0, 0, 1.0)]);
    let (cached, plain) = off.both("m", 0, 60_000, 15_000);
    assert_eq!(cached, plain);
    assert_eq!(off.cache.stats().entries, 0);
}

/// Over HTTP: the second identical range query is served from the cache,
/// a late remote-written... (here: appended) sample shows up at once, and
/// `stats` requests bypass the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_range_queries_go_through_the_cache() {
    let s = setup(1 << 20);
    for t in (0..600_000).step_by(15_000) {
        s.write(&[(0, t, 1.0)]);
    }
    let tracker = s.cache.tracker().clone();
    let cache = Arc::new(QueryCache::new(1 << 20, tracker));
    let query = QueryService::new(Engine::new(EngineOptions::default()), s.db.clone(), 2)
        .with_cache(cache.clone());
    let writer: Arc<dyn Appendable> = Arc::new(TrackedAppendable::new(
        s.db.clone(),
        cache.tracker().clone(),
    ));
    let addr = common::serve(common::context(
        Some(query),
        Some(writer.clone()),
        Labels::empty(),
    ))
    .await;
    let url = format!("http://{addr}/api/v1/query_range?query=sum(m)&start=0&end=600&step=60");
    let get = |u: String| async move {
        reqwest::get(u)
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let first = get(url.clone()).await;
    let second = get(url.clone()).await;
    assert_eq!(first, second);
    assert_eq!(cache.stats().hits, 1, "{:?}", cache.stats());
    // A late sample of a new series at 300 s changes the steps from 300 s.
    let mut app = writer.appender();
    app.append(0, &series(1), 300_000, 5.0).unwrap();
    app.commit().unwrap();
    let third = get(url.clone()).await;
    let values = third["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(values[4], serde_json::json!([240, "1"]));
    assert_eq!(values[5], serde_json::json!([300, "6"]));
    assert_eq!(cache.stats().invalidations, 1);
    let with_stats = get(format!("{url}&stats=1")).await;
    assert!(with_stats["data"]["stats"].is_object());
    assert_eq!(cache.stats().hits, 2, "stats requests bypass the cache");
}

/// Not a test: how much a dashboard refresh costs with and without the
/// cache (`cargo test --release -p sonde-web --test query_cache --
/// --ignored --nocapture`). 200 series, 6 h at 15 s; each refresh asks for
/// the last 6 h at step 15 s, 30 s later than the one before.
#[test]
#[ignore]
fn measure_dashboard_refresh() {
    let s = setup(256 << 20);
    let (series, step) = (200u8, 15_000);
    let end = 6 * 3_600_000;
    for t in (0..end).step_by(step as usize) {
        let batch: Vec<_> = (0..series)
            .map(|k| (k, t, (t / 1000) as f64 * (1 + k % 7) as f64))
            .collect();
        s.write_many(&batch);
    }
    let queries = [
        "sum(rate(m[5m]))",
        "sum by (k) (rate(m[5m]))",
        "max_over_time(m[10m])",
    ];
    for q in queries {
        let expr = sonde_promql::parse(q).unwrap();
        let storage: &dyn Queryable = s.db.as_ref();
        let (mut cached, mut plain) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        for refresh in 0..20 {
            let now = end - 600_000 + refresh * 30_000;
            let start = (now - 6 * 3_600_000).max(0) / step * step;
            let stop = now / step * step;
            let t = std::time::Instant::now();
            let a = s
                .cache
                .range_query(&s.engine, storage, q, &expr, start, stop, step, None)
                .unwrap();
            cached += t.elapsed();
            let t = std::time::Instant::now();
            let b = s
                .engine
                .range_query_expr(storage, &expr, start, stop, step, &QueryOptions::default())
                .0
                .unwrap();
            plain += t.elapsed();
            assert_eq!(a, b);
        }
        println!(
            "{q}: 20 refreshes, uncached {plain:?}, cached {cached:?} ({:.1}x)",
            plain.as_secs_f64() / cached.as_secs_f64()
        );
    }
}
