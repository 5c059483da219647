//! Exemplars through the database: appended with a batch, refused or
//! deduplicated like Prometheus 2.42, kept across a restart by the WAL (and
//! by checkpoints), resized at run time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use common::*;
use sonde_model::{
    AppendError, Appendable, Exemplar, ExemplarQueryable, ExemplarSeries, Labels, Matcher,
};
use sonde_tsdb::{Db, DbOptions};

fn trace(id: &str) -> Labels {
    Labels::from_pairs(&[("trace_id", id)])
}

fn ex(id: &str, value: f64, ts: Option<i64>) -> Exemplar {
    Exemplar {
        labels: trace(id),
        value,
        ts,
    }
}

fn everything(db: &Db) -> Vec<ExemplarSeries> {
    db.select_exemplars(
        i64::MIN,
        i64::MAX,
        &[vec![Matcher::new(
            sonde_model::MatchOp::Regex,
            "__name__",
            ".+",
        )
        .unwrap()]],
    )
    .unwrap()
}

/// (series name, trace id, value, ts) of every exemplar.
fn flat(db: &Db) -> Vec<(String, String, f64, i64)> {
    everything(db)
        .into_iter()
        .flat_map(|s| {
            let name = s.series_labels.get("__name__").unwrap().to_string();
            s.exemplars.into_iter().map(move |e| {
                (
                    name.clone(),
                    e.labels.get("trace_id").unwrap().to_string(),
                    e.value,
                    e.ts.unwrap(),
                )
            })
        })
        .collect()
}

#[test]
fn exemplars_are_stored_at_commit_deduplicated_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let a = series("req_total", &[("job", "api")]);
    let mut app = db.appender();
    let r = app.append(0, &a, 1000, 1.0).unwrap();
    // Without its own timestamp, an exemplar takes its sample's.
    assert_eq!(app.append_exemplar(r, &a, &ex("t1", 0.5, None)).unwrap(), r);
    // Not visible before the commit.
    assert!(everything(&db).is_empty());
    app.commit().unwrap();
    assert_eq!(
        flat(&db),
        vec![("req_total".into(), "t1".into(), 0.5, 1000)]
    );

    let mut app = db.appender();
    let r = app.append(r, &a, 2000, 2.0).unwrap();
    // The same exemplar scraped again without a timestamp: a no-op.
    app.append_exemplar(r, &a, &ex("t1", 0.5, None)).unwrap();
    // Older than the newest stored: refused at once.
    assert_eq!(
        app.append_exemplar(r, &a, &ex("t0", 0.1, Some(999))),
        Err(AppendError::OutOfOrderExemplar)
    );
    // Label names and values over 128 runes together: refused.
    let long = Exemplar {
        labels: Labels::from_pairs(&[("trace_id", "x".repeat(121).as_str())]),
        ..ex("", 1.0, Some(2000))
    };
    let err = app.append_exemplar(r, &a, &long).unwrap_err().to_string();
    assert!(
        err.contains("exceeds maximum of 128 UTF-8 characters"),
        "{err}"
    );
    // An empty label value is dropped, not counted.
    let with_empty = Exemplar {
        labels: Labels::from_sorted([("span_id", ""), ("trace_id", "t2")]),
        ..ex("", 2.5, Some(1500))
    };
    // Series found by labels when the ref is unknown.
    app.append_exemplar(0, &a, &with_empty).unwrap();
    app.commit().unwrap();
    let got = everything(&db);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].series_labels, a);
    let ts: Vec<i64> = got[0].exemplars.iter().map(|e| e.ts.unwrap()).collect();
    assert_eq!(ts, vec![1000, 1500]);
    assert_eq!(got[0].exemplars[1].labels, trace("t2"));

    let m = db.metrics().exemplars;
    assert_eq!(m.appended_total, 2);
    assert_eq!(m.out_of_order_total, 1);
    assert_eq!(m.in_storage, 2);
    assert_eq!(m.series_in_storage, 1);
    assert_eq!(m.max_exemplars, 100_000);
    assert_eq!(m.oldest_timestamp_seconds, 1.0);
    db.close().unwrap();
}

#[test]
fn an_exemplar_alone_in_a_batch_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let a = series("x", &[]);
    append(&db, &[(&a, 1000, 1.0)]);
    let mut app = db.appender();
    app.append_exemplar(0, &a, &ex("t", 1.0, Some(1200)))
        .unwrap();
    app.commit().unwrap();
    // Rolled back: not stored.
    let mut app = db.appender();
    app.append_exemplar(0, &a, &ex("u", 1.0, Some(1300)))
        .unwrap();
    app.rollback();
    assert_eq!(flat(&db), vec![("x".into(), "t".into(), 1.0, 1200)]);
    db.close().unwrap();
    // Also after a restart (WAL replay).
    let db = open(dir.path(), opts());
    assert_eq!(flat(&db), vec![("x".into(), "t".into(), 1.0, 1200)]);
}

#[test]
fn disabled_storage_takes_nothing_and_fails_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(
        dir.path(),
        DbOptions {
            max_exemplars: 0,
            ..opts()
        },
    );
    let a = series("x", &[]);
    let mut app = db.appender();
    let r = app.append(0, &a, 1000, 1.0).unwrap();
    assert_eq!(app.append_exemplar(r, &a, &ex("t", 1.0, None)), Ok(r));
    app.commit().unwrap();
    assert!(everything(&db).is_empty());
    // Enabled at run time (configuration reload).
    db.set_max_exemplars(2);
    let mut app = db.appender();
    app.append_exemplar(r, &a, &ex("t", 1.0, Some(1000)))
        .unwrap();
    app.commit().unwrap();
    assert_eq!(flat(&db).len(), 1);
}

#[test]
fn wal_replay_restores_the_ring_in_order_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let o = DbOptions {
        max_exemplars: 5,
        ..opts()
    };
    let db = open(dir.path(), o.clone());
    let a = series("a", &[]);
    let b = series("b", &[("k", "v")]);
    for i in 0..8i64 {
        let l = if i % 2 == 0 { &a } else { &b };
        let mut app = db.appender();
        let r = app.append(0, l, 1000 * i, i as f64).unwrap();
        app.append_exemplar(r, l, &ex(&format!("t{i}"), i as f64 / 10.0, None))
            .unwrap();
        app.commit().unwrap();
    }
    let before = flat(&db);
    assert_eq!(before.len(), 5);
    let stats = db.metrics().exemplars;
    db.close().unwrap();
    drop(db);

    let db = open(dir.path(), o.clone());
    assert_eq!(flat(&db), before);
    let after = db.metrics().exemplars;
    assert_eq!(
        (
            after.in_storage,
            after.series_in_storage,
            after.oldest_timestamp_seconds
        ),
        (
            stats.in_storage,
            stats.series_in_storage,
            stats.oldest_timestamp_seconds
        )
    );
    // Opened with a smaller ring: the newest are kept.
    db.close().unwrap();
    drop(db);
    let db = open(
        dir.path(),
        DbOptions {
            max_exemplars: 2,
            ..o
        },
    );
    let names: Vec<String> = flat(&db).into_iter().map(|x| x.1).collect();
    assert_eq!(names, vec!["t6", "t7"]);
}

#[test]
fn exemplars_survive_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let a = series("a", &[]);
    let gone = series("gone", &[]);
    let mut app = db.appender();
    let r = app.append(0, &a, H, 1.0).unwrap();
    app.append_exemplar(r, &a, &ex("early", 1.0, None)).unwrap();
    let g = app.append(0, &gone, H, 1.0).unwrap();
    app.append_exemplar(g, &gone, &ex("g", 1.0, None)).unwrap();
    app.commit().unwrap();
    let mut app = db.appender();
    let r = app.append(r, &a, 5 * H, 2.0).unwrap();
    app.append_exemplar(r, &a, &ex("late", 2.0, None)).unwrap();
    app.commit().unwrap();
    // Cutting [.., 4h) into a block checkpoints the WAL and removes the
    // segments holding the first batch; "gone" leaves the head.
    db.cut_block(4 * H).unwrap();
    assert_eq!(flat(&db).len(), 3, "in memory until restart");
    db.close().unwrap();
    drop(db);
    let db = open(dir.path(), opts());
    assert_eq!(
        flat(&db),
        vec![
            ("a".into(), "early".into(), 1.0, H),
            ("a".into(), "late".into(), 2.0, 5 * H)
        ]
    );
}

#[test]
fn select_uses_the_time_range_and_any_matcher_set() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let a = series("a", &[("job", "x")]);
    let b = series("b", &[("job", "y")]);
    let mut app = db.appender();
    for (l, t) in [(&a, 1000), (&b, 2000), (&a, 3000)] {
        let r = app.append(0, l, t, 1.0).unwrap();
        app.append_exemplar(r, l, &ex(&t.to_string(), 1.0, None))
            .unwrap();
    }
    app.commit().unwrap();
    let sel = |start, end, sets: &[Vec<Matcher>]| -> Vec<(String, usize)> {
        db.select_exemplars(start, end, sets)
            .unwrap()
            .into_iter()
            .map(|s| (s.series_labels.to_string(), s.exemplars.len()))
            .collect()
    };
    let job = |v: &str| vec![Matcher::equal("job", v)];
    assert_eq!(
        sel(0, 5000, &[job("x"), job("y")]),
        vec![(a.to_string(), 2), (b.to_string(), 1)]
    );
    assert_eq!(
        sel(1500, 2500, &[job("x"), job("y")]),
        vec![(b.to_string(), 1)]
    );
    assert_eq!(sel(0, 5000, &[job("z")]), vec![]);
}

#[test]
fn exemplars_attach_only_to_existing_series_and_follow_refused_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(
        dir.path(),
        DbOptions {
            out_of_order_window_ms: 0,
            ..opts()
        },
    );
    let a = series("a", &[]);
    let ghost = series("ghost", &[]);
    append(&db, &[(&a, 5000, 1.0)]);
    let mut app = db.appender();
    // No series "ghost": refused, and not created.
    let err = app
        .append_exemplar(0, &ghost, &ex("g", 1.0, Some(5000)))
        .unwrap_err();
    assert!(err.to_string().contains("no such series"), "{err}");
    // An out-of-order sample is refused; its exemplar still takes its time.
    assert_eq!(app.append(0, &a, 4000, 2.0), Err(AppendError::OutOfOrder));
    app.append_exemplar(0, &a, &ex("late", 2.0, None)).unwrap();
    app.commit().unwrap();
    assert_eq!(flat(&db), vec![("a".into(), "late".into(), 2.0, 4000)]);
    assert_eq!(db.metrics().head_series, 1);
}

/// Measurement, not a check: `cargo test --release -p sonde-tsdb --test
/// exemplars -- --ignored --nocapture`. Adds into a full 100,000-entry
/// store (every add evicts), then selects one series' exemplars.
#[test]
#[ignore]
fn measure_store_add_and_select() {
    use sonde_tsdb::exemplars::{ExemplarStore, StoredExemplar};
    let store = ExemplarStore::new(100_000);
    let series: Vec<Labels> = (0..10_000)
        .map(|i| {
            series(
                "http_requests_total",
                &[("instance", &format!("host-{i}:9100"))],
            )
        })
        .collect();
    let trace = |i: u64| Labels::from_pairs(&[("trace_id", format!("{i:032x}").as_str())]);
    let n = 1_000_000u64;
    let exemplars: Vec<StoredExemplar> = (0..n)
        .map(|i| StoredExemplar {
            labels: trace(i),
            value: i as f64,
            ts: i as i64,
            has_ts: true,
        })
        .collect();
    let started = std::time::Instant::now();
    for (i, e) in exemplars.into_iter().enumerate() {
        store.add(&series[i % series.len()], e).unwrap();
    }
    let add = started.elapsed();
    let started = std::time::Instant::now();
    let rounds = 1000;
    let mut found = 0;
    for i in 0..rounds {
        let m = vec![vec![Matcher::equal("instance", &format!("host-{i}:9100"))]];
        found += store.select(i64::MIN, i64::MAX, &m).len();
    }
    let select = started.elapsed();
    assert_eq!(found, rounds);
    println!(
        "add: {:.2} M exemplars/s; select of one series among 10,000: {:.0} us",
        n as f64 / add.as_secs_f64() / 1e6,
        select.as_secs_f64() * 1e6 / rounds as f64
    );
}
