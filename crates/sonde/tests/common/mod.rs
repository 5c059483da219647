//! Starts the real `sonde` binary on an ephemeral loopback port with a
//! temporary data directory, and stops it when dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod peers;
pub mod remote;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct Sonde {
    child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
    log: mpsc::Receiver<String>,
}

impl Sonde {
    /// Starts `sonde server` with `args` added to a loopback listen address and
    /// a temporary storage path, and waits until it is ready.
    pub fn start(args: &[&str]) -> Sonde {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, args)
    }

    /// Like [`Sonde::start`], in `dir` (storage in `dir/data`).
    pub fn start_in(dir: tempfile::TempDir, args: &[&str]) -> Sonde {
        let sonde = Self::spawn_in(dir, args);
        sonde.wait_ready();
        sonde
    }

    /// Starts the server on storage at `data` (kept when the server stops:
    /// the same data can be opened again), and waits until it is ready.
    pub fn start_on(data: &Path, args: &[&str]) -> Sonde {
        let dir = tempfile::tempdir().expect("temp dir");
        let cmd = Self::command(dir.path(), data, args);
        let sonde = Self::spawn(cmd, dir);
        sonde.wait_ready();
        sonde
    }

    /// Starts the server in `dir` and returns once it listens, which is
    /// before its storage is open (it is not ready yet).
    pub fn spawn_in(dir: tempfile::TempDir, args: &[&str]) -> Sonde {
        let cmd = Self::command(dir.path(), &dir.path().join("data"), args);
        Self::spawn(cmd, dir)
    }

    /// The command line of `sonde server` on a loopback port, run in `cwd`.
    pub fn command(cwd: &Path, data: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sonde"));
        cmd.arg("server")
            .arg("--web.listen-address=127.0.0.1:0")
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .args(args)
            .current_dir(cwd);
        cmd
    }

    /// Runs `cmd` (which must end up running `sonde server` as this very
    /// process, e.g. through `exec`), collects its log, and waits until it
    /// listens.
    pub fn spawn(mut cmd: Command, dir: tempfile::TempDir) -> Sonde {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sonde");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("sonde| {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sonde = Sonde {
            child,
            addr: String::new(),
            dir,
            log,
        };
        let line = sonde.wait_for_log("listening", Duration::from_secs(30));
        let addr = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("address="))
            .expect("address in the listening line");
        sonde.addr = addr.to_string();
        sonde
    }

    /// Waits until the server says it is ready (storage open, WAL replayed).
    pub fn wait_ready(&self) {
        self.wait_for_log("ready to receive web requests", Duration::from_secs(120));
    }

    /// Kills the server with SIGKILL and waits until it is gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The next log line, if one comes within `timeout`.
    pub fn next_log(&self, timeout: Duration) -> Option<String> {
        self.log.recv_timeout(timeout).ok()
    }

    /// The log lines not read yet, up to the end of the log (the process
    /// has exited, or closed its standard error).
    pub fn rest_of_log(&self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.next_log(Duration::from_secs(120)) {
            lines.push(line);
        }
        lines
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(_) => panic!("sonde did not log {needle:?} within {timeout:?}"),
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`HUP`, `TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Stops the server gracefully (SIGTERM) and starts it again with
    /// `args` on the same directory, so data must come back from disk.
    pub fn restart(mut self, args: &[&str]) -> Sonde {
        self.signal("TERM");
        assert!(
            self.wait_exit(Duration::from_secs(30)),
            "sonde exited with an error"
        );
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        drop(self);
        Sonde::start_in(dir, args)
    }

    /// Waits for the process to exit on its own and returns whether it succeeded.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sonde did not exit within {timeout:?}");
    }
}

impl Drop for Sonde {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a configuration with no scrape jobs into `dir` and returns the
/// `--config.file` flag naming it: the server's own samples would be at
/// the real time, far from the test's sample times.
pub fn empty_config(dir: &Path) -> String {
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, "scrape_configs: []\n").expect("write prometheus.yml");
    format!("--config.file={}", path.display())
}

/// Replaces the file at `path` by a named pipe and returns its bytes: a
/// server that reads it blocks until the test writes them into the pipe
/// (as a very slow disk would), which holds a WAL replay at a known point
/// without any test hook.
pub fn replace_with_pipe(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("read the file to replace");
    std::fs::remove_file(path).expect("remove the file to replace");
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
    bytes
}

pub fn get(url: &str) -> (u16, String) {
    let resp = reqwest::blocking::get(url).expect("GET");
    (resp.status().as_u16(), resp.text().expect("body"))
}

pub fn post(url: &str) -> (u16, String) {
    let resp = reqwest::blocking::Client::new()
        .post(url)
        .send()
        .expect("POST");
    (resp.status().as_u16(), resp.text().expect("body"))
}

pub fn post_body(url: &str, body: String) -> (u16, String) {
    let resp = reqwest::blocking::Client::new()
        .post(url)
        .body(body)
        .send()
        .expect("POST");
    (resp.status().as_u16(), resp.text().expect("body"))
}

pub fn get_json(url: &str) -> serde_json::Value {
    let (status, body) = get(url);
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).expect("JSON")
}
