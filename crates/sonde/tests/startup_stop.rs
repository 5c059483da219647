//! End to end: SIGTERM, SIGINT or `/-/quit` while the server replays its
//! WAL stops it at once, with success, without it ever reporting ready,
//! and without changing the data directory: the next start replays it all.
//!
//! The replay is held between two segments without any test hook, as in
//! `ready.rs`: the second of three segments is a named pipe, so the server
//! has replayed the first when it opens the pipe, and reads the second only
//! once the test has asked it to stop and writes the bytes. Nothing here
//! depends on how fast the machine is.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::remote::{self, Ledger};
use common::{empty_config, post, replace_with_pipe, Sonde};

const NAME: &str = "startup_stop_test_metric";
const SERIES: usize = 300;

/// The entries of `data` and `data/wal` with the contents of the files
/// (empty for a directory); the test's data has no blocks.
fn files(data: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    [data.to_path_buf(), data.join("wal")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .map(|p| match p.is_dir() {
            true => (p, Vec::new()),
            false => {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            }
        })
        .collect()
}

/// How the test asks the server to stop.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Signal(&'static str),
    Quit,
}

/// Starts the server on `data`, asks it to stop once the replay is held at
/// the pipe `pipe` (after its first segment), lets the replay go on, and
/// checks that the server exits with success without becoming ready.
fn stop_during_replay(data: &Path, args: &[&str], pipe: &Path, bytes: &[u8], stop: Stop) {
    let cwd = tempfile::tempdir().unwrap();
    let mut sonde = Sonde::spawn(Sonde::command(cwd.path(), data, args), cwd);
    sonde.wait_for_log("segment=1 done=1 total=3", Duration::from_secs(120));
    // Opening the pipe waits for the server to open it: it is replaying
    // the second segment now.
    let mut writer = std::fs::OpenOptions::new().write(true).open(pipe).unwrap();
    match stop {
        Stop::Signal(name) => sonde.signal(name),
        Stop::Quit => assert_eq!(post(&sonde.url("/-/quit")).0, 200),
    }
    let line = sonde.wait_for_log(
        "during start-up; stopping the WAL replay",
        Duration::from_secs(60),
    );
    match stop {
        Stop::Signal(name) => assert!(line.contains(&format!("received SIG{name}")), "{line}"),
        Stop::Quit => assert!(line.contains("quit requested over HTTP"), "{line}"),
    }
    writer.write_all(bytes).unwrap();
    drop(writer);
    assert!(
        sonde.wait_exit(Duration::from_secs(120)),
        "{stop:?} during start-up: sonde exited with an error"
    );
    let rest = sonde.rest_of_log();
    assert!(
        rest.iter().any(|l| l.contains("storage open cancelled")),
        "{stop:?}: {rest:#?}"
    );
    assert!(
        !rest
            .iter()
            .any(|l| l.contains("ready to receive web requests")
                || l.contains("WAL segment replayed")
                || l.contains("TSDB started")),
        "{stop:?}: went on after the stop: {rest:#?}"
    );
}

#[test]
fn a_stop_during_the_wal_replay_exits_at_once_and_keeps_everything() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let config = empty_config(work.path());
    let args = [config.as_str(), "--web.enable-lifecycle"];
    let t0 = remote::now_ms() - 1_800_000;
    let mut ledger = Ledger::default();

    // Three runs killed with SIGKILL: three WAL segments with data, never
    // checkpointed, the last still with the zeros a clean open truncates.
    for run in 0..3 {
        let mut sonde = Sonde::start_on(&data, &args);
        let from = t0 + run * 40_000;
        remote::write_batches(&sonde.addr, &mut ledger, NAME, 0..SERIES, from, 40);
        sonde.kill9();
    }
    let before = files(&data);
    let wal = data.join("wal");
    let segments: Vec<String> = before
        .keys()
        .filter(|p| p.parent() == Some(wal.as_path()))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(segments, ["00000001", "00000002", "00000003"]);
    // What a finished open would truncate.
    let last = &before[&wal.join("00000003")];
    assert_eq!(last.last(), Some(&0), "the last segment ends in zeros");
    let second = wal.join("00000002");
    let bytes = replace_with_pipe(&second);

    for stop in [Stop::Signal("TERM"), Stop::Signal("INT"), Stop::Quit] {
        stop_during_replay(&data, &args, &second, &bytes, stop);
    }

    std::fs::remove_file(&second).unwrap();
    std::fs::write(&second, &bytes).unwrap();
    let after = files(&data);
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert!(
        changed.is_empty(),
        "changed in the data directory: {changed:?}"
    );

    let sonde = Sonde::start_on(&data, &args);
    let read = remote::read(&sonde.addr, NAME, t0 - 1, t0 + 120_000);
    assert_eq!(ledger.check(NAME, &read), ledger.acked_count());
    assert_eq!(ledger.acked_count(), 3 * 40 * SERIES);
}
