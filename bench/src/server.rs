//! The three servers as child processes on 127.0.0.1 with their own data
//! directory: started, waited on until ready, measured through /proc, and
//! stopped with SIGTERM (so each shuts down as it does in production).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sonde,
    Prometheus,
    Victoria,
}

/// What to run: a kind, its binary, and extra flags.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Name in the report ("sonde", "sonde+cache", "prometheus", ...).
    pub name: String,
    pub kind: Kind,
    pub binary: PathBuf,
    pub extra_args: Vec<String>,
}

pub struct Server {
    pub spec: Spec,
    pub port: u16,
    pub data: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    /// Starts `spec` on a free loopback port with data in `data` (logs in
    /// `<data>.log`) and returns once it answers ready, with the time that
    /// took.
    pub fn start(spec: &Spec, data: &Path, config: &Path) -> anyhow::Result<(Server, Duration)> {
        let port = free_port()?;
        let log = data.with_extension("log");
        let mut server = Server {
            spec: spec.clone(),
            port,
            data: data.to_path_buf(),
            child: None,
            log,
        };
        let took = server.spawn(config)?;
        Ok((server, took))
    }

    fn spawn(&mut self, config: &Path) -> anyhow::Result<Duration> {
        let addr = format!("127.0.0.1:{}", self.port);
        let data = self.data.display().to_string();
        let mut args: Vec<String> = match self.spec.kind {
            Kind::Sonde => vec![
                "server".into(),
                format!("--config.file={}", config.display()),
                format!("--web.listen-address={addr}"),
                format!("--storage.tsdb.path={data}"),
                "--web.enable-admin-api".into(),
                "--log.level=warn".into(),
            ],
            Kind::Prometheus => vec![
                format!("--config.file={}", config.display()),
                format!("--web.listen-address={addr}"),
                format!("--storage.tsdb.path={data}"),
                "--web.enable-remote-write-receiver".into(),
                "--web.enable-admin-api".into(),
                "--log.level=warn".into(),
            ],
            Kind::Victoria => vec![
                format!("-storageDataPath={data}"),
                format!("-httpListenAddr={addr}"),
                // Issue 4: time VictoriaMetrics without its result cache.
                "-search.disableCache".into(),
                // Show samples up to now, like the others (default hides
                // the last 30 s), so answers can be compared.
                "-search.latencyOffset=0s".into(),
                "-loggerLevel=WARN".into(),
            ],
        };
        args.extend(self.spec.extra_args.iter().cloned());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open log {}", self.log.display()))?;
        let started = Instant::now();
        let child = Command::new(&self.spec.binary)
            .args(&args)
            .current_dir(self.data.parent().unwrap_or(Path::new("/tmp")))
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} ({})",
                    self.spec.name,
                    self.spec.binary.display()
                )
            })?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(600))?;
        Ok(started.elapsed())
    }

    fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let path = match self.spec.kind {
            Kind::Victoria => "/health",
            _ => "/-/ready",
        };
        let url = format!("{}{}", self.base_url(), path);
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "{} exited with {status} before it was ready; see {}",
                        self.spec.name,
                        self.log.display()
                    );
                }
            }
            if client
                .get(&url)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "{} not ready at {url} after {limit:?}; see {}",
            self.spec.name,
            self.log.display()
        )
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits for the process to exit (killed after 120 s).
    /// Returns how long the shutdown took.
    pub fn stop(&mut self) -> anyhow::Result<Duration> {
        let Some(mut child) = self.child.take() else {
            return Ok(Duration::ZERO);
        };
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while started.elapsed() < Duration::from_secs(120) {
            if child.try_wait()?.is_some() {
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill()?;
        child.wait()?;
        bail!(
            "{} did not stop within 120 s of SIGTERM and was killed",
            self.spec.name
        )
    }

    /// Stops and starts again on the same port and data; returns the time
    /// from spawn to ready (WAL replay for Sonde and Prometheus).
    pub fn restart(&mut self, config: &Path) -> anyhow::Result<Duration> {
        self.stop()?;
        self.spawn(config)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `perf record` attached to a server while one phase runs, when the run
/// asks for profiles (`--perf-dir`). Stopped (SIGINT, so perf writes its
/// file) when dropped.
pub struct Profile(Option<Child>);

impl Profile {
    pub fn start(dir: Option<&Path>, pid: u32, name: &str) -> Profile {
        Profile::record(dir, &["-p", &pid.to_string()], name)
    }

    /// Whole-system profile, for phases that start a process (restart);
    /// read it with `perf report --comm <server>`.
    pub fn system(dir: Option<&Path>, name: &str) -> Profile {
        Profile::record(dir, &["-a"], name)
    }

    fn record(dir: Option<&Path>, target: &[&str], name: &str) -> Profile {
        let Some(dir) = dir else { return Profile(None) };
        let out = dir.join(format!("{name}.perf.data"));
        let child = Command::new("perf")
            .args(["record", "-F", "499", "-g"])
            .args(target)
            .arg("-o")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(c) => {
                // perf needs a moment to attach before the phase starts.
                std::thread::sleep(Duration::from_millis(300));
                Profile(Some(c))
            }
            Err(e) => {
                eprintln!(
                    "perf record not started ({e}); no profile {}",
                    out.display()
                );
                Profile(None)
            }
        }
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

/// Process CPU (user + system) and memory from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    pub cpu_secs: f64,
    /// Peak resident set (VmHWM), bytes.
    pub hwm_bytes: u64,
    /// Resident set now (VmRSS), bytes.
    pub rss_bytes: u64,
}

pub fn proc_stats(pid: u32) -> anyhow::Result<ProcStats> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // Fields after the command name in parentheses; utime and stime are
    // fields 14 and 15 of the line, 12 and 13 after ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let cpu_secs = (ticks(11) + ticks(12)) as f64 / clock_ticks() as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Ok(ProcStats {
        cpu_secs,
        hwm_bytes: kb("VmHWM:"),
        rss_bytes: kb("VmRSS:"),
    })
}

/// `getconf CLK_TCK` (100 on Linux unless configured otherwise).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Total size of the regular files under `dir` (apparent size; hard links
/// inside `dir` counted once per path, which a snapshot dir does not have).
pub fn dir_bytes(dir: &Path, skip: &[&str]) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let Ok(meta) = e.path().symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            total += dir_bytes(&e.path(), &[]);
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_stats_are_read() {
        let s = proc_stats(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0 && s.hwm_bytes >= s.rss_bytes);
        assert!(s.cpu_secs >= 0.0);
    }

    #[test]
    fn dir_bytes_sums_files_and_skips_names() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("a")).unwrap();
        std::fs::write(d.path().join("a/x"), [0u8; 10]).unwrap();
        std::fs::write(d.path().join("y"), [0u8; 5]).unwrap();
        assert_eq!(dir_bytes(d.path(), &[]), 15);
        assert_eq!(dir_bytes(d.path(), &["a"]), 5);
    }
}
