//! Integration tests: unwrapping is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use sonde_model::{AppendError, Appendable, MatchOp, Matcher, Queryable, SelectHints, STALE_NAN};
use sonde_tsdb::{Db, DbOptions, FsyncPolicy};

fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
    Matcher::new(op, n, v).unwrap()
}

#[test]
fn append_select_seek_and_label_apis() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let a = series("up", &[("job", "api"), ("env", "prod")]);
    let b = series("up", &[("job", "web")]);
    let c = series("cpu", &[("job", "api")]);
    let mut batch = Vec::new();
    for i in 0..300 {
        batch.push((&a, i * 15_000, i as f64));
        batch.push((&b, i * 15_000, 0.5 * i as f64));
        batch.push((&c, i * 15_000, 1.0));
    }
    append(&db, &batch);

    let got = dump(&db, &[Matcher::equal("__name__", "up")]);
    assert_eq!(got.len(), 2);
    assert_eq!(got[&a.to_string()].len(), 300);
    // Missing label matches "": env="" selects b only.
    let got = dump(
        &db,
        &[Matcher::equal("__name__", "up"), Matcher::equal("env", "")],
    );
    assert_eq!(got.keys().collect::<Vec<_>>(), vec![&b.to_string()]);
    let got = dump(&db, &[m(MatchOp::Regex, "job", "api|nope")]);
    assert_eq!(got.len(), 2);

    let q = db.querier(0, 299 * 15_000).unwrap();
    assert_eq!(q.label_names(&[]).unwrap(), vec!["__name__", "env", "job"]);
    assert_eq!(
        q.label_names(&[Matcher::equal("__name__", "cpu")]).unwrap(),
        vec!["__name__", "job"]
    );
    assert_eq!(q.label_values("job", &[]).unwrap(), vec!["api", "web"]);
    assert_eq!(
        q.label_values("job", &[Matcher::equal("__name__", "cpu")])
            .unwrap(),
        vec!["api"]
    );

    // Range restriction and seek.
    let q = db.querier(15_000 * 10, 15_000 * 20).unwrap();
    let mut set = q
        .select(&SelectHints::default(), &[Matcher::equal("job", "web")])
        .unwrap();
    let s = set.next().unwrap().unwrap();
    let mut it = s.samples();
    assert_eq!(it.seek(0).unwrap().t, 150_000);
    assert_eq!(it.seek(15_000 * 15 + 1).unwrap().t, 15_000 * 16);
    assert_eq!(it.seek(0).unwrap().t, 15_000 * 16);
    let mut n = 0;
    while it.next().is_some() {
        n += 1;
    }
    assert_eq!(n, 4);
    assert!(set.next().is_none());
    db.close().unwrap();
}

#[test]
fn out_of_order_window_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let a = series("m", &[]);
    append(&db, &[(&a, 10 * H, 1.0)]);
    let mut app = db.appender();
    assert_eq!(app.append(0, &a, 10 * H - H / 2, 2.0).map(|_| ()), Ok(()));
    assert_eq!(
        app.append(0, &a, 10 * H - 2 * H, 3.0),
        Err(AppendError::TooOld)
    );
    assert_eq!(app.append(0, &a, 10 * H, 1.0).map(|_| ()), Ok(()));
    assert_eq!(
        app.append(0, &a, 10 * H, 5.0),
        Err(AppendError::DuplicateSampleForTimestamp)
    );
    app.commit().unwrap();
    // The out-of-order sample is now stored: same value is a no-op, another
    // value a duplicate.
    let mut app = db.appender();
    assert!(app.append(0, &a, 10 * H - H / 2, 2.0).is_ok());
    assert_eq!(
        app.append(0, &a, 10 * H - H / 2, 9.0),
        Err(AppendError::DuplicateSampleForTimestamp)
    );
    app.commit().unwrap();
    let got = dump(&db, &all());
    assert_eq!(
        got[&a.to_string()],
        vec![(10 * H - H / 2, 2f64.to_bits()), (10 * H, 1f64.to_bits())]
    );
    let snap = db.metrics();
    assert_eq!(snap.too_old_refused_total, 1);
    assert_eq!(snap.duplicate_refused_total, 2);

    // Without an out-of-order window: Prometheus' OutOfOrder / OutOfBounds.
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = open(
        dir2.path(),
        DbOptions {
            out_of_order_window_ms: 0,
            ..opts()
        },
    );
    let b = series("n", &[]);
    append(&db2, &[(&b, 10 * H, 1.0)]);
    let mut app = db2.appender();
    assert_eq!(
        app.append(0, &b, 10 * H - 1, 2.0),
        Err(AppendError::OutOfOrder)
    );
    assert_eq!(
        app.append(0, &b, 10 * H - 2 * H, 2.0),
        Err(AppendError::OutOfBounds)
    );
    app.rollback();
}

#[test]
fn close_releases_the_directory_while_stray_handles_live_on() {
    let dir = tempfile::tempdir().unwrap();
    let a = series("m", &[]);
    let locked = DbOptions {
        no_lockfile: false,
        ..opts()
    };
    let db = open(dir.path(), locked.clone());
    append(&db, &[(&a, 1000, 1.0)]);
    let err = Db::open(dir.path(), locked.clone())
        .err()
        .expect("the lock is held");
    assert!(err.to_string().contains("in use"), "{err}");
    // A server's connection tasks may still hold clones of the handle.
    let stray = db.clone();
    db.close().unwrap();
    let again = open(dir.path(), locked);
    assert_eq!(
        dump(&again, &all())[&a.to_string()],
        vec![(1000, 1f64.to_bits())]
    );
    drop(stray);
    again.close().unwrap();
}

#[test]
fn stale_nan_is_bit_exact_through_wal_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let a = series("m", &[]);
    let want = vec![
        (1000, 1f64.to_bits()),
        (2000, STALE_NAN.to_bits()),
        (3000, f64::NAN.to_bits()),
    ];
    {
        let db = open(dir.path(), opts());
        append(
            &db,
            &[(&a, 1000, 1.0), (&a, 2000, STALE_NAN), (&a, 3000, f64::NAN)],
        );
        assert_eq!(dump(&db, &all())[&a.to_string()], want);
    }
    let db = open(dir.path(), opts());
    assert_eq!(dump(&db, &all())[&a.to_string()], want);
    db.cut_block(i64::MAX).unwrap();
    assert_eq!(db.blocks().len(), 1);
    assert_eq!(dump(&db, &all())[&a.to_string()], want);
    db.close().unwrap();
    drop(db);
    let db = open(dir.path(), opts());
    assert_eq!(dump(&db, &all())[&a.to_string()], want);
}

#[test]
fn crash_without_close_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let o = DbOptions {
        wal_fsync: FsyncPolicy::Always,
        wal_segment_bytes: 8192,
        ..opts()
    };
    let db = open(dir.path(), o.clone());
    let labels: Vec<_> = (0..20)
        .map(|i| series("c", &[("i", &i.to_string())]))
        .collect();
    for round in 0..50i64 {
        let batch: Vec<_> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l, round * 10_000, (round * 100 + i as i64) as f64))
            .collect();
        append(&db, &batch);
    }
    let before = dump(&db, &all());
    // A crash: no close, no destructor.
    std::mem::forget(db);
    let db = open(dir.path(), o);
    assert_eq!(dump(&db, &all()), before);
    assert_eq!(before.values().map(Vec::len).sum::<usize>(), 1000);
}

#[test]
fn blocks_are_cut_compacted_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let o = DbOptions {
        retention_ms: 0,
        ..opts()
    };
    let db = open(dir.path(), o.clone());
    let labels: Vec<_> = (0..10)
        .map(|i| series("g", &[("i", &i.to_string())]))
        .collect();
    // 20 hours at one sample a minute, in 10 batches.
    for batch in 0..20 {
        let mut b = Vec::new();
        for minute in 0..60 {
            let t = (batch * 60 + minute) * 60_000;
            for (i, l) in labels.iter().enumerate() {
                b.push((l, t, (t / 60_000 + i as i64) as f64));
            }
        }
        append(&db, &b);
    }
    let before = dump(&db, &all());
    db.compact().unwrap();
    let p = db.progress();
    assert!(p.blocks_cut >= 8, "{p:?}");
    assert!(p.compactions >= 1, "{p:?}");
    assert!(db.blocks().iter().any(|b| b.compaction.level > 1));
    assert_eq!(dump(&db, &all()), before);
    // The WAL was checkpointed: replay does not start at segment 1.
    let wal: Vec<String> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(wal.iter().any(|n| n.starts_with("checkpoint.")), "{wal:?}");
    assert!(!wal.contains(&"00000001".to_string()), "{wal:?}");
    let m = db.metrics();
    assert!(m.blocks_loaded >= 1 && m.compactions_total >= 1);
    db.close().unwrap();
    drop(db);

    let db = open(dir.path(), o);
    assert_eq!(dump(&db, &all()), before);
    // Samples persisted in blocks are accepted again by the head only
    // through the out-of-order window; a late sample merges on read.
    let late = 20 * H - H / 4;
    append(&db, &[(&labels[0], late + 1, 42.0)]);
    let got = dump(&db, &[Matcher::equal("i", "0")]);
    assert_eq!(got.values().next().unwrap().len(), 20 * 60 + 1);
}

#[test]
fn background_thread_cuts_blocks_and_hooks_report_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(
        dir.path(),
        DbOptions {
            background: true,
            background_interval: Duration::from_millis(20),
            ..opts()
        },
    );
    let a = series("m", &[]);
    let batch: Vec<_> = (0..300).map(|i| (&a, i * 60_000, i as f64)).collect();
    append(&db, &batch);
    assert!(db.wait_for(Duration::from_secs(60), |p| p.blocks_cut >= 1));
    assert_eq!(dump(&db, &all())[&a.to_string()].len(), 300);
    db.close().unwrap();
}

#[test]
fn retention_deletes_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(
        dir.path(),
        DbOptions {
            retention_ms: 6 * H,
            ..opts()
        },
    );
    let a = series("m", &[]);
    let batch: Vec<_> = (0..24 * 60).map(|i| (&a, i * 60_000, i as f64)).collect();
    append(&db, &batch);
    db.compact().unwrap();
    let oldest = dump(&db, &all())[&a.to_string()][0].0;
    assert!(oldest >= 24 * H - 6 * H - 2 * H, "oldest {oldest}");
    assert!(db.progress().retention_deletions >= 1);
}

#[test]
fn tombstones_delete_in_head_and_blocks_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = series("m", &[("k", "a")]);
    let b = series("m", &[("k", "b")]);
    {
        let db = open(dir.path(), opts());
        let batch: Vec<_> = (0..100)
            .flat_map(|i| [(&a, i * 60_000, 1.0), (&b, i * 60_000, 2.0)])
            .collect();
        append(&db, &batch);
        db.cut_block(50 * 60_000).unwrap();
        db.delete_series(&[Matcher::equal("k", "a")], 40 * 60_000, 59 * 60_000)
            .unwrap();
        let got = dump(&db, &all());
        assert_eq!(got[&a.to_string()].len(), 80);
        assert_eq!(got[&b.to_string()].len(), 100);
    }
    let db = open(dir.path(), opts());
    assert_eq!(dump(&db, &all())[&a.to_string()].len(), 80);
    db.clean_tombstones().unwrap();
    assert_eq!(dump(&db, &all())[&a.to_string()].len(), 80);
    db.cut_block(i64::MAX).unwrap();
    assert_eq!(dump(&db, &all())[&a.to_string()].len(), 80);
}

#[test]
fn snapshot_with_head_opens_as_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let snap = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let a = series("m", &[]);
    let batch: Vec<_> = (0..200).map(|i| (&a, i * 60_000, i as f64)).collect();
    append(&db, &batch);
    db.cut_block(100 * 60_000).unwrap();
    db.snapshot(&snap.path().join("s"), true).unwrap();
    let copy = open(&snap.path().join("s"), opts());
    assert_eq!(dump(&copy, &all()), dump(&db, &all()));
}

#[test]
fn concurrent_appenders_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let db: Arc<Db> = open(
        dir.path(),
        DbOptions {
            wal_fsync: FsyncPolicy::Always,
            ..opts()
        },
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for round in 0..50i64 {
                    let ls: Vec<_> = (0..20)
                        .map(|i| series("x", &[("t", &t.to_string()), ("i", &i.to_string())]))
                        .collect();
                    let mut app = db.appender();
                    for l in &ls {
                        app.append(0, l, round * 1000, round as f64).unwrap();
                    }
                    app.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let got = dump(&db, &all());
    assert_eq!(got.len(), 80);
    assert!(got.values().all(|v| v.len() == 50));
    assert_eq!(db.metrics().samples_appended_total, 4000);
    drop(db);
    let db = open(dir.path(), opts());
    assert_eq!(dump(&db, &all()), got);
}

#[test]
fn stats_have_prometheus_shape() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let batch: Vec<_> = (0..5)
        .map(|i| series("up", &[("job", &format!("j{i}"))]))
        .chain([series("other", &[("job", "j0")])])
        .collect();
    let refs: Vec<_> = batch.iter().map(|l| (l, 1000, 1.0)).collect();
    append(&db, &refs);
    let s = db.stats(10);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["headStats"]["numSeries"], 6);
    assert_eq!(json["headStats"]["minTime"], 1000);
    assert_eq!(json["seriesCountByMetricName"][0]["name"], "up");
    assert_eq!(json["seriesCountByMetricName"][0]["value"], 5);
    assert_eq!(json["labelValueCountByLabelName"][0]["name"], "job");
    assert_eq!(
        json["seriesCountByLabelValuePair"][0]["name"],
        "__name__=up"
    );
    assert!(json["memoryInBytesByLabelName"].is_array());
}

#[test]
fn series_refs_skip_lookup_and_stale_refs_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let a = series("m", &[("k", "a")]);
    let b = series("m", &[("k", "b")]);
    let mut app = db.appender();
    let ra = app.append(0, &a, 1, 1.0).unwrap();
    assert_eq!(app.append(ra, &a, 2, 2.0).unwrap(), ra);
    // A ref that belongs to another series is ignored, not trusted.
    let rb = app.append(ra, &b, 1, 1.0).unwrap();
    assert_ne!(ra, rb);
    app.commit().unwrap();
    let got = dump(&db, &all());
    assert_eq!(got[&a.to_string()].len(), 2);
    assert_eq!(got[&b.to_string()].len(), 1);
}

#[test]
fn size_retention_deletes_oldest_blocks_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(
        dir.path(),
        DbOptions {
            retention_ms: 0,
            retention_bytes: 1,
            ..opts()
        },
    );
    let ls: Vec<_> = (0..20)
        .map(|i| series("m", &[("i", &i.to_string())]))
        .collect();
    let batch: Vec<_> = (0..12 * 60)
        .flat_map(|k| ls.iter().map(move |l| (l, k * 60_000, k as f64)))
        .collect();
    append(&db, &batch);
    db.compact().unwrap();
    // Everything persisted is over the limit of 1 byte; what remains
    // readable is the head's part, the newest data.
    assert!(db.blocks().is_empty(), "{:?}", db.blocks());
    assert!(db.progress().retention_deletions >= 1);
    let got = dump(&db, &all());
    let oldest = got.values().map(|v| v[0].0).min().unwrap();
    assert!(oldest >= 8 * H, "oldest {oldest}");
    assert_eq!(
        got.values().map(|v| v.last().unwrap().0).max(),
        Some((12 * 60 - 1) * 60_000)
    );
}

#[test]
fn reopening_without_writes_does_not_pile_up_segments() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..5 {
        let db = open(dir.path(), opts());
        db.close().unwrap();
    }
    let n = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert_eq!(n, 1);
}

#[test]
fn a_locked_directory_cannot_be_opened_twice() {
    let dir = tempfile::tempdir().unwrap();
    let locked = DbOptions {
        no_lockfile: false,
        ..opts()
    };
    let db = open(dir.path(), locked.clone());
    let err = match Db::open(dir.path(), locked.clone()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("second open must fail"),
    };
    assert!(err.contains("lock") && err.contains("in use"), "{err}");
    db.close().unwrap();
    drop(db);
    open(dir.path(), locked).close().unwrap();
}

#[test]
fn damaged_block_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let a = series("m", &[]);
    let block_dir = {
        let db = open(dir.path(), opts());
        let batch: Vec<_> = (0..500).map(|i| (&a, i * 1000, i as f64 * 0.5)).collect();
        append(&db, &batch);
        db.cut_block(i64::MAX).unwrap();
        dir.path().join(&db.blocks()[0].ulid)
    };
    // A flipped byte in a chunk: the read fails with the block and offset.
    let chunks = block_dir.join("chunks");
    let mut data = std::fs::read(&chunks).unwrap();
    data[20] ^= 0x10;
    std::fs::write(&chunks, &data).unwrap();
    let db = open(dir.path(), opts());
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let err = q
        .select(&SelectHints::default(), &all())
        .err()
        .expect("select must fail")
        .to_string();
    assert!(
        err.contains("checksum mismatch") && err.contains("offset"),
        "{err}"
    );
    drop(q);
    drop(db);
    // A flipped byte in the index: the block does not open.
    let index = block_dir.join("index");
    let mut data = std::fs::read(&index).unwrap();
    data[10] ^= 0x01;
    std::fs::write(&index, &data).unwrap();
    let err = match Db::open(dir.path(), opts()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("open must fail"),
    };
    assert!(
        err.contains("corrupt block") && err.contains("index"),
        "{err}"
    );
}

/// A block moved into the data directory of an open database (what
/// `sonde tsdb import` does) is served after the next maintenance pass,
/// as Prometheus' periodic reload serves it; a directory still being
/// written (`*.tmp`) and one that cannot be opened are left alone.
#[test]
fn blocks_moved_into_the_directory_are_picked_up_by_maintenance() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let own = series("own", &[]);
    let own_batch: Vec<_> = (0..100).map(|i| (&own, i * 60_000, i as f64)).collect();
    append(&db, &own_batch);

    let src = open(other.path(), opts());
    let moved = series("moved", &[]);
    let moved_batch: Vec<_> = (0..100)
        .map(|i| (&moved, i * 60_000, 0.5 * i as f64))
        .collect();
    append(&src, &moved_batch);
    src.cut_block(100 * 60_000).unwrap();
    let want = dump(&src, &all());
    let ulid = src.blocks()[0].ulid.clone();
    src.close().unwrap();
    drop(src);

    std::fs::rename(other.path().join(&ulid), dir.path().join(&ulid)).unwrap();
    // Not yet: as in Prometheus, blocks are listed at open and at each pass.
    let only_moved = [Matcher::equal("__name__", "moved")];
    assert!(dump(&db, &only_moved).is_empty());
    // A block being written and a damaged one stay out.
    std::fs::create_dir(dir.path().join("01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp")).unwrap();
    let damaged = dir.path().join("01HYYYYYYYYYYYYYYYYYYYYYYY");
    std::fs::create_dir(&damaged).unwrap();
    std::fs::write(damaged.join("meta.json"), "{").unwrap();

    db.compact().unwrap();
    assert_eq!(dump(&db, &only_moved), want);
    assert_eq!(dump(&db, &[Matcher::equal("__name__", "own")]).len(), 1);
    let blocks: Vec<String> = db.blocks().into_iter().map(|b| b.ulid).collect();
    assert_eq!(blocks, vec![ulid.clone()]);
    // A second pass adds nothing twice.
    db.compact().unwrap();
    assert_eq!(db.blocks().len(), 1);
    assert_eq!(db.metrics().blocks_loaded, 1);
    assert!(dir.path().join("01HZZZZZZZZZZZZZZZZZZZZZZZ.tmp").exists());
}

/// The newest sample of every series as an instant selector asks for it
/// (`last_in` over a lookback window, hints of one time), against walking
/// the same window with `seek`/`next` on a plain selection.
fn newest_in(db: &Db, mint: i64, maxt: i64) -> Vec<(String, Option<(i64, u64)>)> {
    let q = db.querier(mint, maxt).unwrap();
    let hints = SelectHints {
        start: mint,
        end: maxt,
        ..SelectHints::default()
    };
    let fast = q.select(&hints, &all()).unwrap();
    let walked = q.select(&SelectHints::default(), &all()).unwrap();
    fast.zip(walked)
        .map(|(f, w)| {
            let (f, w) = (f.unwrap(), w.unwrap());
            assert_eq!(f.labels(), w.labels());
            let got = f
                .samples()
                .last_in(mint, maxt)
                .map(|s| (s.t, s.v.to_bits()));
            let mut it = w.samples();
            let mut want = None;
            let mut x = it.seek(mint);
            while let Some(s) = x.filter(|s| s.t <= maxt) {
                want = Some((s.t, s.v.to_bits()));
                x = it.next();
            }
            assert_eq!(got, want, "{} in [{mint}, {maxt}]", f.labels());
            (f.labels().to_string(), got)
        })
        .collect()
}

/// Instant selectors read a head series' newest sample without decoding
/// its chunks; deleted samples, stale markers, out-of-order samples and
/// blocks overlapping the head must still give what the chunks hold.
#[test]
fn instant_selectors_honour_tombstones_staleness_and_merged_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(
        dir.path(),
        DbOptions {
            out_of_order_window_ms: H,
            ..opts()
        },
    );
    let s = 1000;
    let (a, b, c, d) = (
        series("m", &[("k", "deleted")]),
        series("m", &[("k", "stale")]),
        series("m", &[("k", "ooo")]),
        series("m", &[("k", "plain")]),
    );
    let mut batch = Vec::new();
    for i in 0..=30 {
        let t = 10 * H + i * 10 * s;
        batch.extend([(&a, t, i as f64), (&c, t, i as f64), (&d, t, i as f64)]);
        batch.push((&b, t, if i == 30 { STALE_NAN } else { i as f64 }));
    }
    append(&db, &batch);
    let end = 10 * H + 300 * s;
    // The newest sample of "deleted" is gone; an out-of-order sample lands
    // just before the newest of "ooo".
    db.delete_series(&[Matcher::equal("k", "deleted")], end - 5 * s, end)
        .unwrap();
    append(&db, &[(&c, end - 5 * s, -1.0)]);
    let got = newest_in(&db, end - 300 * s, end + 60 * s);
    let newest = |k: &str| got.iter().find(|(l, _)| l.contains(k)).unwrap().1;
    assert_eq!(newest("deleted"), Some((end - 10 * s, 29f64.to_bits())));
    assert_eq!(newest("stale"), Some((end, STALE_NAN.to_bits())));
    assert_eq!(newest("ooo"), Some((end, 30f64.to_bits())));
    assert_eq!(newest("plain"), Some((end, 30f64.to_bits())));
    // Windows ending before the newest sample, or starting after it.
    for (mint, maxt) in [
        (end - 300 * s, end - 3 * s),
        (end - 300 * s, end - 5 * s),
        (end - 7 * s, end - 4 * s),
        (end + 1, end + 300 * s),
        (end - 60 * s, end - 60 * s),
    ] {
        newest_in(&db, mint, maxt);
    }
    let before = newest_in(&db, end - 300 * s, end - 3 * s);
    let ooo = before.iter().find(|(l, _)| l.contains("ooo")).unwrap().1;
    assert_eq!(ooo, Some((end - 5 * s, (-1f64).to_bits())));
    // Older data cut into a block, the rest still in the head: the same.
    db.cut_block(end - 100 * s).unwrap();
    append(&db, &[(&d, end + 10 * s, 31.0)]);
    for (mint, maxt) in [
        (end - 300 * s, end + 60 * s),
        (end - 300 * s, end - 150 * s),
        (end - 120 * s, end - 90 * s),
    ] {
        newest_in(&db, mint, maxt);
    }
}
