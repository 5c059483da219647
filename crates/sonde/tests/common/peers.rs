//! Real peer programs (Prometheus, node_exporter, Pushgateway ...) started by
//! hand on loopback ports with temporary directories, stopped when dropped.
//!
//! A test whose peer is not installed prints why and skips, unless
//! `SONDE_REQUIRE_PEERS=1` (CI), where it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Finds `name` on PATH. `None` means: skip (the reason has been printed).
/// Panics when peers are required.
pub fn find(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let why =
            format!("peer binary {name:?} is not installed (apt-get install it to run this test)");
        if std::env::var("SONDE_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("SONDE_REQUIRE_PEERS=1 but {why}");
        }
        eprintln!("SKIPPED: {why}");
    }
    found
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub struct Peer {
    child: Child,
    pub name: String,
    pub port: u16,
    log: PathBuf,
}

impl Peer {
    /// Starts `binary` with `args`, logging to `<dir>/<name>.log`, and waits
    /// until `ready_path` answers 200 on `port`.
    pub fn start(
        binary: &Path,
        name: &str,
        args: &[String],
        port: u16,
        dir: &Path,
        ready_path: &str,
    ) -> Peer {
        let log = dir.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary)
            .args(args)
            .current_dir(dir)
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let peer = Peer {
            child,
            name: name.to_string(),
            port,
            log,
        };
        peer.wait_ready(ready_path);
        peer
    }

    fn wait_ready(&self, path: &str) {
        let url = format!("http://127.0.0.1:{}{}", self.port, path);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::blocking::get(&url) {
                if r.status().is_success() {
                    return;
                }
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!(
                    "{} did not become ready at {url}; its log:\n{log}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
