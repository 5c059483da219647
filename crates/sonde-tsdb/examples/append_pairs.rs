//! The storage side of remote-write ingest, alone: 10,000 series of the
//! benchmarks' workload, each request 500 of them with one sample each
//! and every series given by its label pairs (as a remote-write sender
//! sends them), appended with `Appender::append_known` (a new series
//! through `append` with its built labels), committed per request with the
//! WAL written but not fsynced. One thread, so that instruction counts and
//! cache misses under `valgrind --tool=cachegrind` are repeatable.
//!
//! `cargo run --release -p sonde-tsdb --example append_pairs [ROUNDS]`:
//! ROUNDS times every series (default 150: 1.5 M samples, one chunk cut
//! per series), after one round that creates the series (not counted).
//! Prints CPU seconds of the appends (utime + stime) and nanoseconds per
//! sample. Each request's series are looked up at once first
//! (`Appender::lookup_known`, as the remote-write handler does), unless
//! `ONE_BY_ONE=1` is set in the environment.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool

#[path = "../benches/support/cpu.rs"]
mod cpu;
#[path = "../benches/support/workload.rs"]
mod workload;

use cpu::cpu_secs;
use sonde_model::{Appendable, Labels};
use sonde_tsdb::{Db, DbOptions, FsyncPolicy};

const SERIES: usize = 10_000;
const PER_REQUEST: usize = 500;

struct Feed {
    labels: Vec<Labels>,
    /// Each series' pairs as owned strings (what the decoder borrows from
    /// the request).
    pairs: Vec<Vec<(String, String)>>,
    data: Vec<Vec<(i64, f64)>>,
}

/// Sends round `k` of every series, `PER_REQUEST` series per commit.
fn round(db: &Db, feed: &Feed, pairs: &[Vec<(&str, &str)>], k: usize, one_by_one: bool) {
    for start in (0..SERIES).step_by(PER_REQUEST) {
        let idx = start..(start + PER_REQUEST).min(SERIES);
        let pairs = &pairs[idx.clone()];
        let mut app = db.appender();
        let mut refs = vec![0; pairs.len()];
        if !one_by_one {
            let all: Vec<&[(&str, &str)]> = pairs.iter().map(|p| p.as_slice()).collect();
            app.lookup_known(&all, &mut refs);
        }
        for ((i, p), r) in idx.zip(pairs).zip(refs) {
            let (t, v) = feed.data[i][k];
            if app.append_known(r, p, t, v).unwrap().is_none() {
                app.append(0, &feed.labels[i], t, v).unwrap();
            }
        }
        app.commit().unwrap();
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(150, |a| a.parse().expect("ROUNDS: a number"));
    let ls = workload::labels(SERIES);
    let feed = Feed {
        pairs: ls
            .iter()
            .map(|(l, _)| {
                l.iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect()
            })
            .collect(),
        data: ls
            .iter()
            .enumerate()
            .map(|(i, (_, p))| workload::samples(*p, rounds + 1, i as u64 + 1))
            .collect(),
        labels: ls.into_iter().map(|(l, _)| l).collect(),
    };
    let dir = tempfile::tempdir().unwrap();
    let opts = DbOptions {
        background: false,
        wal_fsync: FsyncPolicy::Never,
        ..Default::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let pairs: Vec<Vec<(&str, &str)>> = feed
        .pairs
        .iter()
        .map(|p| p.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect())
        .collect();
    let one_by_one = std::env::var_os("ONE_BY_ONE").is_some_and(|v| v == "1");
    round(&db, &feed, &pairs, 0, one_by_one);
    let (c0, w0) = (cpu_secs(), std::time::Instant::now());
    for k in 1..=rounds {
        round(&db, &feed, &pairs, k, one_by_one);
    }
    let (cpu, wall) = (cpu_secs() - c0, w0.elapsed());
    let n = (rounds * SERIES) as f64;
    println!(
        "{} samples: {cpu:.2} CPU s ({:.0} ns/sample), wall {:.0} ns/sample",
        n,
        cpu * 1e9 / n,
        wall.as_nanos() as f64 / n
    );
    db.close().unwrap();
}
