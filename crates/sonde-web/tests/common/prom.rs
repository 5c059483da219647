//! A real Prometheus 2.42 holding a given data set (imported as blocks with
//! `promtool tsdb create-blocks-from openmetrics`), and the same data set
//! appended to a Sonde storage, so that both can be asked the same requests.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sonde_model::{Appendable, Labels};

use super::{free_port, peer_present, KillOnDrop};

/// Series with their samples `(time ms, value)`, in time order.
pub type Dataset = Vec<(Labels, Vec<(i64, f64)>)>;

/// A running Prometheus; stopped and its directory removed on drop.
pub struct Prometheus {
    _child: KillOnDrop,
    _dir: tempfile::TempDir,
    pub base: String,
}

/// Appends `data` to `appendable` in one batch.
pub fn load(appendable: &dyn Appendable, data: &Dataset) {
    let mut app = appendable.appender();
    for (labels, samples) in data {
        let mut r = 0;
        for (t, v) in samples {
            r = app.append(r, labels, *t, *v).expect("append");
        }
    }
    app.commit().expect("commit");
}

/// The data set in OpenMetrics text, as promtool imports it.
fn openmetrics(data: &Dataset) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (labels, samples) in data {
        let pairs: Vec<String> = labels
            .iter()
            .filter(|(n, _)| *n != "__name__")
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect();
        let name = labels.get("__name__").unwrap_or_default();
        for (t, v) in samples {
            let _ = writeln!(
                out,
                "{name}{{{}}} {v} {}.{:03}",
                pairs.join(","),
                t.div_euclid(1000),
                t.rem_euclid(1000)
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Starts Prometheus over `data` with `extra` flags, or `None` (test
/// skipped, reason printed) when it is not installed.
pub async fn start(data: &Dataset, extra: &[&str]) -> Option<Prometheus> {
    if !peer_present("prometheus", "--version", "prometheus")
        || !peer_present("promtool", "--version", "prometheus")
    {
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let tsdb = dir.path().join("tsdb");
    if !data.is_empty() {
        import(dir.path(), &tsdb, data);
    }
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1m\n").expect("write config");
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let peer = Prometheus {
        _child: KillOnDrop(child),
        _dir: dir,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{}/-/ready", peer.base)).await {
            if r.status() == 200 {
                return Some(peer);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("prometheus did not become ready at {}", peer.base);
}

fn import(dir: &Path, tsdb: &Path, data: &Dataset) {
    let om = dir.join("data.om");
    std::fs::write(&om, openmetrics(data)).expect("write openmetrics");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&om)
        .arg(tsdb)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
