//! End to end: a full disk makes storage read-only with a clear error,
//! never corrupts it, and ingestion resumes by itself once space is free.
//!
//! The server runs on a small tmpfs of its own, mounted in a private mount
//! namespace (`unshare --mount`, so nothing leaks to the host); a ballast
//! file fills most of it. The test reaches the namespace's files through
//! `/proc/<pid>/root`. Needs root; skipped with the reason otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::remote::{self, Ledger};
use common::{get, Sonde};

const NAME: &str = "disk_full_test_metric";
const SERIES: usize = 200;
const TMPFS_SIZE: &str = "4m";
const BALLAST_KIB: u32 = 3 * 1024;

/// Why this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("needs root to mount a tmpfs in a private mount namespace".into());
    }
    // Containers often allow the namespace but not the mount: try both.
    let dir = tempfile::tempdir().ok()?;
    let probe = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "mount",
            "-t",
            "tmpfs",
        ])
        .args(["-o", "size=1m", "sonde-probe"])
        .arg(dir.path())
        .output();
    match probe {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "cannot mount a tmpfs in a private mount namespace ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run unshare: {e}")),
    }
}

/// `sonde server` on a fresh tmpfs at `mnt`, started through `unshare` and
/// `exec`, so that the child is the server itself.
fn start_on_tmpfs(work: &Path, mnt: &Path, config: &str) -> Sonde {
    let data = mnt.join("data");
    let sonde_cmd = Sonde::command(work, &data, &[config]);
    let mut script = format!(
        "set -e; mount -t tmpfs -o size={TMPFS_SIZE} sonde-disk-full '{m}'; mkdir '{m}/data'; \
         dd if=/dev/zero of='{m}/ballast' bs=1024 count={BALLAST_KIB} 2>/dev/null; exec",
        m = mnt.display()
    );
    script.push_str(&format!(" '{}'", sonde_cmd.get_program().to_string_lossy()));
    for a in sonde_cmd.get_args() {
        script.push_str(&format!(" '{}'", a.to_string_lossy()));
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .current_dir(work);
    let sonde = Sonde::spawn(cmd, tempfile::tempdir().unwrap());
    sonde.wait_ready();
    sonde
}

/// A path inside the server's mount namespace.
fn inside(sonde: &Sonde, path: &Path) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root", sonde.pid())).join(path.strip_prefix("/").unwrap())
}

fn metric(sonde: &Sonde, name: &str) -> Option<f64> {
    let (_, body) = get(&sonde.url("/metrics"));
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

struct Sender {
    client: reqwest::blocking::Client,
    ledger: Ledger,
    t: i64,
}

impl Sender {
    /// Sends one batch at the next timestamp; returns the status and body.
    fn send(&mut self, sonde: &Sonde) -> (u16, String) {
        self.t += 1000;
        let (status, body) =
            remote::write(&self.client, &sonde.addr, NAME, 0..SERIES, self.t).unwrap();
        self.ledger
            .record(0..SERIES, self.t, (200..300).contains(&status));
        (status, body)
    }
}

#[test]
fn full_disk_gives_503_and_read_only_then_resumes_without_loss() {
    if let Some(why) = cannot_run() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let mnt = work.path().join("tmpfs");
    std::fs::create_dir(&mnt).unwrap();
    let config_path = work.path().join("prometheus.yml");
    std::fs::write(&config_path, "scrape_configs: []\n").unwrap();
    let config = format!("--config.file={}", config_path.display());
    let sonde = start_on_tmpfs(work.path(), &mnt, &config);
    assert_eq!(metric(&sonde, "sonde_tsdb_read_only"), Some(0.0));

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut sender = Sender {
        client: reqwest::blocking::Client::new(),
        ledger: Ledger::default(),
        t: now - 3_600_000,
    };

    // Fill the disk: 1 MiB is left, a batch takes a few KiB of WAL.
    let mut refusal = None;
    for _ in 0..20_000 {
        let (status, body) = sender.send(&sonde);
        match status {
            204 => continue,
            503 => {
                refusal = Some(body);
                break;
            }
            _ => panic!("unexpected answer {status}: {body}"),
        }
    }
    let refusal = refusal.expect("the disk never filled up");
    assert!(sender.ledger.acked_count() > 0);
    for part in ["read-only", "No space left on device", "/data/wal/0000000"] {
        assert!(refusal.contains(part), "503 body lacks {part:?}: {refusal}");
    }
    assert_eq!(metric(&sonde, "sonde_tsdb_read_only"), Some(1.0));
    // Still refused, and queries still answer with everything acknowledged.
    let (status, body) = sender.send(&sonde);
    assert_eq!(status, 503, "{body}");
    let read = remote::read(&sonde.addr, NAME, now - 7_200_000, now);
    sender.ledger.check(NAME, &read);
    let (status, body) = get(&sonde.url(&format!("/api/v1/query?query=count({NAME})")));
    assert_eq!(status, 200, "{body}");
    // The other push routes answer the same.
    let client = reqwest::blocking::Client::new();
    for (path, payload) in [
        ("/write?db=test", "disk_full_influx,host=a value=1"),
        (
            "/api/v2/write?bucket=test",
            "disk_full_influx,host=a value=1",
        ),
        ("/api/v1/import/prometheus", "disk_full_import 1\n"),
    ] {
        let resp = client.post(sonde.url(path)).body(payload).send().unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().unwrap();
        assert_eq!(status, 503, "{path}: {body}");
        assert!(body.contains("No space left on device"), "{path}: {body}");
    }

    // Free the space: ingestion resumes at the next probe (within seconds).
    std::fs::remove_file(inside(&sonde, &mnt.join("ballast"))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = sender.send(&sonde);
        if status == 204 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            Instant::now() < deadline,
            "ingestion did not resume: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for _ in 0..20 {
        let (status, body) = sender.send(&sonde);
        assert_eq!(status, 204, "{body}");
    }
    assert_eq!(metric(&sonde, "sonde_tsdb_read_only"), Some(0.0));
    assert_eq!(
        metric(&sonde, "sonde_tsdb_read_only_entered_total"),
        Some(1.0)
    );
    let read = remote::read(&sonde.addr, NAME, now - 7_200_000, now);
    sender.ledger.check(NAME, &read);

    // The data on disk is consistent: a copy taken with the server frozen
    // (as a crash would leave it) opens without error and holds everything
    // acknowledged, including around the write that failed.
    let copy = work.path().join("copy");
    let frozen = Command::new("kill")
        .args(["-STOP", &sonde.pid().to_string()])
        .status()
        .unwrap();
    assert!(frozen.success());
    let status = Command::new("cp")
        .arg("-a")
        .arg(inside(&sonde, &mnt.join("data")))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success(), "copying the data out of the tmpfs");
    drop(sonde);
    let again = Sonde::start_on(&copy, &[&config]);
    let read = remote::read(&again.addr, NAME, now - 7_200_000, now);
    let n = sender.ledger.check(NAME, &read);
    assert!(n >= sender.ledger.acked_count());
}
