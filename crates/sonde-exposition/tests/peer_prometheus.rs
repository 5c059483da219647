//! Peer test: serves every OpenMetrics suite case and every quirk case of
//! tests/common as its own scrape target to a real Prometheus 2.42
//! (`prometheus` on PATH), reads `up` per target through its HTTP API, and
//! checks that Sonde's scrape-mode verdict is the same for each, and that
//! the recorded verdicts in testdata still hold.
//!
//! Skips with a printed reason when `prometheus` is not installed, unless
//! `SONDE_REQUIRE_PEERS=1`. With `SONDE_RECORD_VERDICTS=1` it rewrites
//! testdata/prometheus-2.42-scrape-verdicts.tsv from the measurement.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sonde_exposition::{format_for_content_type, validate, Mode, Scratch};

struct Target {
    name: String,
    content_type: String,
    body: Vec<u8>,
}

fn targets() -> Vec<Target> {
    let mut v: Vec<Target> = common::om_cases()
        .into_iter()
        .map(|c| Target {
            name: c.name,
            content_type: common::OM.to_string(),
            body: c.body,
        })
        .collect();
    for q in common::quirk_cases() {
        v.push(Target {
            name: format!("quirk_{}", q.name),
            content_type: q.content_type.to_string(),
            body: q.body.to_vec(),
        });
    }
    v
}

/// A tiny HTTP/1.1 server: GET /case/<name> returns that body.
fn serve(targets: Arc<HashMap<String, (String, Vec<u8>)>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let targets = targets.clone();
            std::thread::spawn(move || handle(conn, &targets));
        }
    });
    port
}

fn handle(mut conn: TcpStream, targets: &HashMap<String, (String, Vec<u8>)>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req);
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let name = path.strip_prefix("/case/").unwrap_or("");
    let resp = match targets.get(name) {
        Some((ct, body)) => {
            let mut r = format!("HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
            r.extend_from_slice(body);
            r
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = conn.write_all(&resp);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// GET on 127.0.0.1:port, returning the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_string()))
}

fn query(port: u16, expr: &str) -> HashMap<String, f64> {
    let enc: String = expr
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let Some(body) = http_get(port, &format!("/api/v1/query?query={enc}")) else {
        return HashMap::new();
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let mut out = HashMap::new();
    for r in v["data"]["result"].as_array().into_iter().flatten() {
        let case = r["metric"]["case"].as_str().unwrap_or("").to_string();
        let val = r["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN);
        out.insert(case, val);
    }
    out
}

struct Prom {
    child: Child,
    dir: PathBuf,
}

impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_prometheus(targets: &[Target], server_port: u16) -> (Prom, u16) {
    let dir = std::env::temp_dir().join(format!("sonde-expo-peer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cfg = String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n- job_name: cases\n  static_configs:\n");
    for t in targets {
        cfg += &format!("  - targets: ['127.0.0.1:{server_port}']\n    labels: {{__metrics_path__: '/case/{0}', case: '{0}'}}\n", t.name);
    }
    std::fs::write(dir.join("prometheus.yml"), cfg).expect("write config");
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    (Prom { child, dir }, port)
}

fn prometheus_available() -> bool {
    Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits until every target was scraped at least 5 times and its `up` is
/// the same over the last 3 seconds; returns case -> up.
fn measure(port: u16, n: usize) -> HashMap<String, bool> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape all {n} targets in time"
        );
        std::thread::sleep(Duration::from_secs(1));
        let count = query(port, "count_over_time(up[1h])");
        if count.len() < n || count.values().any(|c| *c < 5.0) {
            continue;
        }
        let lo = query(port, "min_over_time(up[3s])");
        let hi = query(port, "max_over_time(up[3s])");
        if lo.len() == n && lo.iter().all(|(k, v)| hi.get(k) == Some(v)) {
            return lo.into_iter().map(|(k, v)| (k, v == 1.0)).collect();
        }
    }
}

#[test]
fn scrape_verdicts_match_a_live_prometheus() {
    if !prometheus_available() {
        assert!(
            std::env::var("SONDE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "SONDE_REQUIRE_PEERS=1 but `prometheus` is not installed"
        );
        println!("skipped: `prometheus` (2.42) is not installed; apt-get install -y prometheus to run this peer test");
        return;
    }
    let targets = targets();
    let map: HashMap<String, (String, Vec<u8>)> = targets
        .iter()
        .map(|t| (t.name.clone(), (t.content_type.clone(), t.body.clone())))
        .collect();
    let server_port = serve(Arc::new(map));
    let (prom, port) = start_prometheus(&targets, server_port);
    let up = measure(port, targets.len());
    let mut scratch = Scratch::new();
    let mut wrong = Vec::new();
    for t in &targets {
        let format = format_for_content_type(Some(&t.content_type));
        let sonde = validate(&t.body, format, Mode::Scrape, &mut scratch);
        let prom_up = up[&t.name];
        if sonde.is_ok() != prom_up {
            wrong.push(format!(
                "{}: prometheus up={prom_up}, sonde {sonde:?}",
                t.name
            ));
        }
    }
    let recorded = common::recorded_verdicts();
    let stale: Vec<String> = recorded
        .iter()
        .filter(|(c, v)| up[c] != *v)
        .map(|(c, _)| c.clone())
        .collect();
    if std::env::var("SONDE_RECORD_VERDICTS").as_deref() == Ok("1") {
        record(
            &recorded
                .iter()
                .map(|(c, _)| (c.clone(), up[c]))
                .collect::<Vec<_>>(),
            &prom.dir,
        );
    }
    drop(prom);
    println!(
        "live Prometheus: Sonde's scrape verdict equals Prometheus' on {}/{} targets",
        targets.len() - wrong.len(),
        targets.len()
    );
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        stale.is_empty(),
        "recorded verdicts differ from the live ones for {stale:?}"
    );
}

fn record(verdicts: &[(String, bool)], _dir: &Path) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/prometheus-2.42-scrape-verdicts.tsv");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let header: String = old
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let errors: HashMap<&str, &str> = old
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.splitn(3, '\t');
            Some((f.next()?, f.nth(1).unwrap_or("")))
        })
        .collect();
    let mut out = header + "case\tverdict\tprometheus_last_error\n";
    for (c, up) in verdicts {
        out += &format!(
            "{c}\t{}\t{}\n",
            if *up { "up" } else { "down" },
            errors.get(c.as_str()).unwrap_or(&"")
        );
    }
    std::fs::write(path, out).expect("write verdicts");
}
