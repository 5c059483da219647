//! End to end: `kill -9` at chosen instants loses no acknowledged sample.
//!
//! Four remote-write senders push batches of 50 series each into the real
//! binary, recording which batches were answered 2xx. The server runs with
//! 1-minute blocks and 64 KiB WAL segments, and the senders' timestamps run
//! 20 times faster than the clock, so segment rotations, head cuts,
//! checkpoints and compactions all happen every few seconds. Each iteration
//! SIGKILLs the server at one kill point, restarts it on the same data and
//! reads everything back with remote read: every acknowledged sample must
//! be there with its exact value, and nothing that was never sent.
//!
//! Kill points, and how each is reached:
//! * mid-stream: after a varying delay while all senders are writing;
//! * segment rotation: as soon as a new WAL segment file appears in
//!   `data/wal` (the previous one has just been fsynced and closed);
//! * head cut: on the log line `head cut into block` (the block is written,
//!   the head is being truncated and the WAL checkpointed);
//! * checkpoint: as soon as a new `wal/checkpoint.N` appears (segments
//!   before N are being deleted);
//! * compaction: on the log line `compacting blocks` (blocks are being
//!   merged into a new one).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::remote::{self, Ledger};
use common::Sonde;

const NAME: &str = "kill9_test_metric";
const SENDERS: usize = 4;
const SERIES_PER_SENDER: usize = 50;
/// Sample time runs this much faster than the wall clock.
const SPEED: i64 = 20;
const ITERATIONS: usize = 8;
/// How long a kill point may take to come (a liveness bound, not a timing
/// assertion: each comes within seconds).
const KILL_POINT_WITHIN: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Copy)]
enum KillPoint {
    MidStream,
    SegmentRotation,
    HeadCut,
    Checkpoint,
    Compaction,
}

const KILL_POINTS: [KillPoint; 5] = [
    KillPoint::MidStream,
    KillPoint::SegmentRotation,
    KillPoint::HeadCut,
    KillPoint::Checkpoint,
    KillPoint::Compaction,
];

struct Shared {
    addr: Mutex<String>,
    ledger: Mutex<Ledger>,
    paused: AtomicBool,
    idle: AtomicUsize,
    stop: AtomicBool,
    t0: i64,
    start: Instant,
}

impl Shared {
    fn sample_time(&self) -> i64 {
        self.t0 + self.start.elapsed().as_millis() as i64 * SPEED
    }

    /// Stops the senders between requests and waits until all are idle, so
    /// that the ledger holds the outcome of every request sent.
    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        while self.idle.load(Ordering::SeqCst) < SENDERS {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

fn sender(shared: Arc<Shared>, k: usize) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let series = k * SERIES_PER_SENDER..(k + 1) * SERIES_PER_SENDER;
    let mut last_t = i64::MIN;
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.paused.load(Ordering::SeqCst) {
            shared.idle.fetch_add(1, Ordering::SeqCst);
            while shared.paused.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            shared.idle.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let addr = shared.addr.lock().unwrap().clone();
        let t = shared.sample_time().max(last_t + 1);
        last_t = t;
        let res = remote::write(&client, &addr, NAME, series.clone(), t);
        let acked = matches!(res, Ok((s, _)) if (200..300).contains(&s));
        if let Ok((status, body)) = &res {
            // Refusals other than by the kill are not expected; a 400 would
            // mean the senders fell out of the out-of-order window.
            assert!(
                acked || *status >= 500,
                "unexpected answer {status}: {body}"
            );
        }
        shared
            .ledger
            .lock()
            .unwrap()
            .record(series.clone(), t, acked);
        std::thread::sleep(Duration::from_millis(if res.is_err() { 50 } else { 25 }));
    }
    shared.idle.fetch_add(1, Ordering::SeqCst);
}

fn max_numbered(dir: &Path, prefix: &str) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix(prefix)?.parse::<u64>().ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Waits until a file `<prefix><n>` with `n` above the current highest
/// appears in `dir`.
fn wait_for_new_file(dir: &Path, prefix: &str) {
    let before = max_numbered(dir, prefix);
    let deadline = Instant::now() + KILL_POINT_WITHIN;
    while max_numbered(dir, prefix) <= before {
        assert!(
            Instant::now() < deadline,
            "no new {prefix}N in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn reach(point: KillPoint, sonde: &Sonde, data: &Path, iteration: usize) {
    let wal = data.join("wal");
    match point {
        KillPoint::MidStream => {
            std::thread::sleep(Duration::from_millis(300 + 370 * iteration as u64));
        }
        KillPoint::SegmentRotation => wait_for_new_file(&wal, ""),
        KillPoint::HeadCut => {
            sonde.wait_for_log("head cut into block", KILL_POINT_WITHIN);
        }
        KillPoint::Checkpoint => wait_for_new_file(&wal, "checkpoint."),
        KillPoint::Compaction => {
            sonde.wait_for_log("compacting blocks", KILL_POINT_WITHIN);
        }
    }
}

fn verify(sonde: &Sonde, shared: &Shared, what: &str) {
    let ledger = shared.ledger.lock().unwrap().clone();
    let read = remote::read(
        &sonde.addr,
        NAME,
        shared.t0 - 1,
        shared.sample_time() + 60_000,
    );
    let n = ledger.check(NAME, &read);
    eprintln!(
        "{what}: {} acknowledged samples all present, {n} read back",
        ledger.acked_count()
    );
}

#[test]
fn kill_9_at_any_instant_loses_no_acknowledged_sample() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let config = work.path().join("prometheus.yml");
    // No scrape jobs: the server's own samples would be at the real time,
    // far ahead of the test's sample times.
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
    )
    .unwrap();
    let config_flag = format!("--config.file={}", config.display());
    let args = [
        config_flag.as_str(),
        "--storage.tsdb.min-block-duration=1m",
        "--storage.tsdb.wal-segment-size=64KB",
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let shared = Arc::new(Shared {
        addr: Mutex::new(String::new()),
        ledger: Mutex::new(Ledger::default()),
        paused: AtomicBool::new(true),
        idle: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        // Far enough back that 20x time stays behind the clock for an hour.
        t0: now - 3 * 3_600_000,
        start: Instant::now(),
    });
    let senders: Vec<_> = (0..SENDERS)
        .map(|k| {
            let s = shared.clone();
            std::thread::spawn(move || sender(s, k))
        })
        .collect();

    for i in 0..ITERATIONS {
        let point = KILL_POINTS[i % KILL_POINTS.len()];
        let mut sonde = Sonde::start_on(&data, &args);
        *shared.addr.lock().unwrap() = sonde.addr.clone();
        shared.pause();
        if i > 0 {
            verify(&sonde, &shared, &format!("after restart {i}"));
        }
        shared.resume();
        reach(point, &sonde, &data, i);
        sonde.kill9();
        eprintln!("iteration {i}: killed at {point:?}");
    }

    let sonde = Sonde::start_on(&data, &args);
    *shared.addr.lock().unwrap() = sonde.addr.clone();
    shared.pause();
    shared.stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.join().unwrap();
    }
    let ledger = shared.ledger.lock().unwrap().clone();
    assert!(
        ledger.acked_count() > 10_000,
        "too few samples acknowledged to mean anything: {}",
        ledger.acked_count()
    );
    verify(&sonde, &shared, "final");
    let blocks = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("meta.json").exists())
        .count();
    assert!(
        blocks > 0,
        "no block was ever cut: the cut kill points were not exercised"
    );
}
