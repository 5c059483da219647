//! End to end: the server answers HTTP while it replays its WAL, with
//! Prometheus' not-ready behaviour (`/-/healthy` 200, `/-/ready` and the
//! API 503 `Service Unavailable`), and becomes ready only after replay.
//!
//! The replay is held at a known point without any test hook: the first
//! WAL segment is replaced by a named pipe holding the same bytes, so the
//! server's read of it blocks until the test writes them (as a very slow
//! disk would). Everything asserted while it blocks is certain, not a race.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::io::Write;
use std::time::Duration;

use common::remote::{self, Ledger};
use common::{empty_config, get, replace_with_pipe, Sonde};

const NAME: &str = "ready_test_metric";
const SERIES: usize = 300;

fn write_some(sonde: &Sonde, ledger: &mut Ledger, t0: i64, batches: i64) {
    remote::write_batches(&sonde.addr, ledger, NAME, 0..SERIES, t0, batches);
}

#[test]
fn ready_and_api_answer_503_until_the_wal_is_replayed() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let config = empty_config(work.path());
    let args = [config.as_str()];
    let now = remote::now_ms();
    let t0 = now - 1_800_000;
    let mut ledger = Ledger::default();

    // Two runs, so that the WAL has two segments with data.
    let mut first = Sonde::start_on(&data, &args);
    write_some(&first, &mut ledger, t0, 40);
    first.kill9();
    let mut second = Sonde::start_on(&data, &args);
    write_some(&second, &mut ledger, t0 + 40_000, 40);
    second.kill9();

    let wal = data.join("wal");
    let segment = wal.join("00000001");
    assert!(wal.join("00000002").exists());
    let bytes = replace_with_pipe(&segment);
    assert!(!bytes.is_empty());

    let cwd = tempfile::tempdir().unwrap();
    let sonde = Sonde::spawn(Sonde::command(cwd.path(), &data, &args), cwd);
    // Replay cannot finish: segment 1 has not been written into the pipe.
    assert_eq!(
        get(&sonde.url("/-/healthy")),
        (200, "Sonde is Healthy.\n".into())
    );
    assert_eq!(
        get(&sonde.url("/-/ready")),
        (503, "Service Unavailable".into())
    );
    for route in [
        "/api/v1/query?query=up",
        "/api/v1/labels",
        "/api/v1/status/buildinfo",
        "/federate?match[]=up",
    ] {
        assert_eq!(
            get(&sonde.url(route)),
            (503, "Service Unavailable".into()),
            "{route}"
        );
    }
    let client = reqwest::blocking::Client::new();
    let (status, body) = remote::write(&client, &sonde.addr, NAME, 0..1, now).unwrap();
    assert_eq!((status, body.as_str()), (503, "Service Unavailable"));
    let (status, metrics) = get(&sonde.url("/metrics"));
    assert_eq!(status, 200);
    assert!(metrics.contains("sonde_build_info"), "{metrics}");
    assert!(
        !metrics.contains("sonde_tsdb_head_series"),
        "storage metrics before storage is open: {metrics}"
    );

    // Let the replay go on; it logs its progress per segment, then opens
    // storage, then reports ready: in that order.
    let mut pipe = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    pipe.write_all(&bytes).unwrap();
    drop(pipe);
    let mut seen = Vec::new();
    loop {
        let line = sonde
            .next_log(Duration::from_secs(120))
            .expect("the server stopped logging before it was ready");
        let ready = line.contains("ready to receive web requests");
        for (i, marker) in [
            "segment=1 done=1 total=2",
            "segment=2 done=2 total=2",
            "storage opened",
        ]
        .iter()
        .enumerate()
        {
            if line.contains("WAL segment replayed") && line.contains(marker)
                || *marker == "storage opened" && line.contains(marker)
            {
                seen.push(i);
            }
        }
        if ready {
            break;
        }
    }
    assert_eq!(seen, vec![0, 1, 2], "replay progress and open, in order");

    assert_eq!(
        get(&sonde.url("/-/ready")),
        (200, "Sonde is Ready.\n".into())
    );
    let read = remote::read(&sonde.addr, NAME, t0 - 1, now);
    assert_eq!(ledger.check(NAME, &read), ledger.acked_count());
    let (status, body) = get(&sonde.url(&format!(
        "/api/v1/query?query=count({NAME})&time={}",
        (t0 + 79_000) / 1000
    )));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("\"{SERIES}\"")), "{body}");
}
