//! Append throughput through the `Appender` trait: a scrape-sized batch
//! of 1000 series per commit, from one and from several threads, with the
//! WAL written but not fsynced (the in-memory and encoding path) and with
//! fsync on every commit (group commit). Also prints the on-disk size of a
//! block cut from 2h of the workload, in bytes per sample.

#[path = "support/workload.rs"]
mod workload;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sonde_model::{Appendable, Labels};
use sonde_tsdb::{Db, DbOptions, FsyncPolicy};
use workload::{labels, samples, Pattern, INTERVAL_MS};

const SERIES: usize = 1000;

fn opts(fsync: FsyncPolicy) -> DbOptions {
    DbOptions {
        background: false,
        wal_fsync: fsync,
        ..Default::default()
    }
}

struct Feed {
    ls: Vec<(Labels, Pattern)>,
    data: Vec<Vec<(i64, f64)>>,
}

impl Feed {
    fn new(n: usize, len: usize) -> Self {
        let ls = labels(n);
        let data = ls
            .iter()
            .enumerate()
            .map(|(i, (_, p))| samples(*p, len, i as u64 + 1))
            .collect();
        Feed { ls, data }
    }
}

/// Commits scrape `k` of every series in `feed` (refs cached as a scrape
/// loop does). Past the end of the feed its values repeat, later in time.
fn scrape(db: &Db, feed: &Feed, refs: &mut [u64], k: usize) {
    let mut app = db.appender();
    for (i, (l, _)) in feed.ls.iter().enumerate() {
        let len = feed.data[i].len();
        let (t, v) = feed.data[i][k % len];
        let t = t + (k / len) as i64 * len as i64 * INTERVAL_MS;
        refs[i] = app.append(refs[i], l, t, v).expect("append");
    }
    app.commit().expect("commit");
}

/// Resident memory of this process in bytes (Linux), 0 elsewhere.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Head memory per series: resident memory grown by 100k series of 8
/// labels with 30 minutes of samples each (one open chunk of 120 samples).
fn report_memory_per_series() {
    const N: usize = 100_000;
    let feed = Feed::new(N, 120);
    let dir = tempfile::tempdir().expect("tempdir");
    let before = rss_bytes();
    let db = Db::open(dir.path(), opts(FsyncPolicy::Never)).expect("open");
    let mut refs = vec![0u64; N];
    for k in 0..120 {
        scrape(&db, &feed, &mut refs, k);
    }
    let after = rss_bytes();
    let label_bytes: usize = feed.ls.iter().map(|(l, _)| l.byte_size()).sum();
    println!(
        "head memory: {:.0} bytes/series for {N} series x 120 samples (labels alone: {:.0} bytes/series)",
        after.saturating_sub(before) as f64 / N as f64,
        label_bytes as f64 / N as f64
    );
}

/// Bytes per sample on disk: 2h cut into one block, then 24h cut and
/// compacted.
fn report_disk_size() {
    report_block_size(2);
    report_block_size(24);
}

fn report_block_size(hours: i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(
        dir.path(),
        DbOptions {
            retention_ms: 0,
            ..opts(FsyncPolicy::Never)
        },
    )
    .expect("open");
    let scrapes = (hours * 3_600_000 / INTERVAL_MS) as usize;
    let feed = Feed::new(SERIES, scrapes);
    let mut refs = vec![0u64; SERIES];
    for k in 0..scrapes {
        scrape(&db, &feed, &mut refs, k);
    }
    db.compact().expect("compact");
    db.cut_block(i64::MAX).expect("cut");
    db.compact().expect("compact");
    let mut bytes = 0u64;
    let mut chunks = 0u64;
    for m in db.blocks() {
        let d = dir.path().join(&m.ulid);
        for f in ["chunks", "index", "meta.json", "tombstones"] {
            let len = std::fs::metadata(d.join(f)).map(|m| m.len()).unwrap_or(0);
            bytes += len;
            if f == "chunks" {
                chunks += len;
            }
        }
    }
    let n = (SERIES * scrapes) as f64;
    let levels: Vec<u32> = db.blocks().iter().map(|b| b.compaction.level).collect();
    println!(
        "{hours}h of {SERIES} series x {scrapes} samples in blocks of levels {levels:?}: \
         {:.3} bytes/sample on disk ({:.3} in chunks)",
        bytes as f64 / n,
        chunks as f64 / n
    );
}

fn bench(c: &mut Criterion) {
    report_memory_per_series();
    report_disk_size();
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(SERIES as u64));
    let feed = Arc::new(Feed::new(SERIES, 2000));
    for (name, fsync) in [
        ("no_fsync", FsyncPolicy::Never),
        ("fsync_always", FsyncPolicy::Always),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), opts(fsync)).expect("open");
        let mut refs = vec![0u64; SERIES];
        let mut k = 0;
        g.bench_function(format!("1000_series_batch/{name}"), |b| {
            b.iter(|| {
                scrape(&db, &feed, &mut refs, k);
                k += 1;
            })
        });
    }
    // Several appenders at once, each with its own 1000 series.
    let threads = 4;
    g.throughput(Throughput::Elements((SERIES * threads) as u64));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), opts(FsyncPolicy::Always)).expect("open");
    let feeds: Vec<Arc<Feed>> = (0..threads)
        .map(|t| {
            let mut f = Feed::new(SERIES, 2000);
            for (l, _) in &mut f.ls {
                let mut b = l.to_builder();
                b.set("shard", &t.to_string());
                *l = b.build();
            }
            Arc::new(f)
        })
        .collect();
    let mut k = 0usize;
    g.bench_function("4_threads_x_1000_series/fsync_always", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for f in &feeds {
                    let db = &db;
                    s.spawn(move || {
                        let mut refs = vec![0u64; SERIES];
                        scrape(db, f, &mut refs, k);
                    });
                }
            });
            k += 1;
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
