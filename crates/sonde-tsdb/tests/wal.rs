//! Integration tests: unwrapping is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use proptest::prelude::*;
use sonde_model::{AppendError, Appendable, Labels};
use sonde_tsdb::{DbOptions, FsyncPolicy, TsdbError};

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().len() == 8)
        .filter(|p| fs::metadata(p).unwrap().len() > 0)
        .collect();
    v.sort();
    v
}

/// Where the records of a segment end: the segment being written is
/// zero-filled ahead of them, and a frame never starts with a zero byte.
fn records_end(data: &[u8]) -> usize {
    let mut off = 0;
    while off < data.len() && data[off] != 0 {
        off += 9 + u32::from_le_bytes(data[off + 1..off + 5].try_into().unwrap()) as usize;
    }
    off
}

fn small_segments() -> DbOptions {
    DbOptions {
        wal_segment_bytes: 4096,
        ..opts()
    }
}

/// 40 committed batches of 10 series, then a crash.
fn write_and_crash(dir: &Path) -> BTreeMap<String, Vec<(i64, u64)>> {
    let db = open(dir, small_segments());
    let ls: Vec<Labels> = (0..10)
        .map(|i| series("w", &[("i", &i.to_string())]))
        .collect();
    for round in 0..40i64 {
        let b: Vec<_> = ls.iter().map(|l| (l, round * 1000, round as f64)).collect();
        append(&db, &b);
    }
    let d = dump(&db, &all());
    std::mem::forget(db);
    d
}

fn total(d: &BTreeMap<String, Vec<(i64, u64)>>) -> usize {
    d.values().map(Vec::len).sum()
}

#[test]
fn torn_tail_is_truncated_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let before = write_and_crash(dir.path());
    let last = segments(dir.path()).pop().unwrap();
    let len = records_end(&fs::read(&last).unwrap()) as u64;
    // Cut the last record in half, as a crash during write would.
    fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 20)
        .unwrap();
    let db = open(dir.path(), small_segments());
    let after = dump(&db, &all());
    assert_eq!(
        total(&after),
        total(&before) - 10,
        "exactly the torn batch is lost"
    );
    assert!(db.metrics().wal_corruptions_dropped_bytes > 0);
    // Every surviving sample is one that was written.
    for (k, v) in &after {
        assert_eq!(v[..], before[k][..v.len()]);
    }
    drop(db);
    // The truncation is durable: a second open finds a clean WAL.
    let db = open(dir.path(), small_segments());
    assert_eq!(dump(&db, &all()), after);
    assert_eq!(db.metrics().wal_corruptions_dropped_bytes, 0);
}

#[test]
fn zeroed_tail_is_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let before = write_and_crash(dir.path());
    let last = segments(dir.path()).pop().unwrap();
    let mut data = fs::read(&last).unwrap();
    let n = records_end(&data);
    for b in &mut data[n - 30..n] {
        *b = 0;
    }
    fs::write(&last, &data).unwrap();
    let db = open(dir.path(), small_segments());
    assert_eq!(total(&dump(&db, &all())), total(&before) - 10);
}

#[test]
fn corruption_in_the_middle_fails_open_unless_repair() {
    let dir = tempfile::tempdir().unwrap();
    let before = write_and_crash(dir.path());
    let segs = segments(dir.path());
    assert!(segs.len() >= 2, "{segs:?}");
    let victim = &segs[segs.len() - 2];
    let mut data = fs::read(victim).unwrap();
    let at = data.len() / 2;
    data[at] ^= 0x40;
    fs::write(victim, &data).unwrap();

    let err = match sonde_tsdb::Db::open(dir.path(), small_segments()) {
        Err(e) => e,
        Ok(_) => panic!("open must fail on corruption in the middle"),
    };
    assert!(matches!(err, TsdbError::WalCorruption { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&victim.display().to_string()), "{msg}");
    assert!(msg.contains("at offset"), "{msg}");
    assert!(msg.contains("repair"), "{msg}");

    let db = open(
        dir.path(),
        DbOptions {
            wal_repair: true,
            ..small_segments()
        },
    );
    let after = dump(&db, &all());
    assert!(total(&after) < total(&before));
    assert!(total(&after) > 0);
    for (k, v) in &after {
        assert_eq!(v[..], before[k][..v.len()], "a prefix of what was written");
    }
    drop(db);
    let db = open(dir.path(), small_segments());
    assert_eq!(dump(&db, &all()), after);
}

#[test]
fn flipped_byte_in_last_segment_with_records_after_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_and_crash(dir.path());
    let last = segments(dir.path()).pop().unwrap();
    let mut data = fs::read(&last).unwrap();
    assert!(data.len() > 200);
    data[12] ^= 1;
    fs::write(&last, &data).unwrap();
    assert!(matches!(
        sonde_tsdb::Db::open(dir.path(), small_segments()),
        Err(TsdbError::WalCorruption { .. })
    ));
}

#[derive(Debug, Clone)]
enum Op {
    /// (series, minutes forward of the clock, minutes back from it)
    Append(Vec<(u8, u8, u8)>),
    Crash,
    CloseAndReopen,
    CutBlock,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec((0u8..6, 0u8..20, 0u8..90), 1..30).prop_map(Op::Append),
        1 => Just(Op::Crash),
        1 => Just(Op::CloseAndReopen),
        1 => Just(Op::CutBlock),
        1 => Just(Op::Compact),
    ]
}

/// The value stored at (series, t) is a function of both, so a repeated
/// sample is always the same sample.
fn value(s: u8, t: i64) -> f64 {
    (t / 1000) as f64 * 0.5 + s as f64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the sequence of appends, crashes, reopenings, block cuts and
    /// compactions, the database holds exactly the acknowledged samples.
    #[test]
    fn database_matches_model(ops in proptest::collection::vec(op(), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        let o = DbOptions {
            block_range_ms: 2 * H,
            wal_segment_bytes: 4096,
            wal_fsync: FsyncPolicy::Never,
            retention_ms: 0,
            ..opts()
        };
        let labels: Vec<Labels> = (0..6).map(|i| series("p", &[("s", &i.to_string())])).collect();
        let mut model: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
        let mut db = open(dir.path(), o.clone());
        let mut clock = 100 * H;
        for op in ops {
            match op {
                Op::Append(batch) => {
                    let mut app = db.appender();
                    let mut accepted = Vec::new();
                    for (s, fwd, back) in batch {
                        clock += fwd as i64 * 60_000;
                        let t = clock - back as i64 * 60_000;
                        let v = value(s, t);
                        match app.append(0, &labels[s as usize], t, v) {
                            Ok(_) => accepted.push((s, t, v)),
                            Err(AppendError::TooOld) => {}
                            Err(e) => panic!("unexpected {e:?} for s={s} t={t}"),
                        }
                    }
                    app.commit().unwrap();
                    for (s, t, v) in accepted {
                        model.entry(labels[s as usize].to_string()).or_default().insert(t, v.to_bits());
                    }
                }
                Op::Crash => {
                    std::mem::forget(db);
                    db = open(dir.path(), o.clone());
                }
                Op::CloseAndReopen => {
                    db.close().unwrap();
                    drop(db);
                    db = open(dir.path(), o.clone());
                }
                Op::CutBlock => db.cut_block(clock - H).unwrap(),
                Op::Compact => db.compact().unwrap(),
            }
            let want: BTreeMap<String, Vec<(i64, u64)>> = model
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(|(t, b)| (*t, *b)).collect()))
                .collect();
            prop_assert_eq!(dump(&db, &all()), want);
        }
    }
}
