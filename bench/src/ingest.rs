//! Sends the pre-encoded bodies to one server, one thread and one
//! keep-alive connection per shard, and measures what the server spent.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::encode::Encoded;
use crate::server::{proc_stats, Server};

#[derive(Debug, Clone, Default)]
pub struct IngestResult {
    pub samples: u64,
    pub requests: u64,
    pub wall: Duration,
    /// Server CPU (user + system) from the first request to the last answer.
    pub cpu_secs: f64,
    pub peak_rss: u64,
    /// RSS after the settle pause.
    pub steady_rss: u64,
}

impl IngestResult {
    pub fn samples_per_sec(&self) -> f64 {
        self.samples as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn cpu_per_million(&self) -> f64 {
        self.cpu_secs / (self.samples as f64 / 1e6).max(1e-9)
    }
}

/// Sends everything, then waits `settle` and reads the steady RSS.
pub fn run(server: &Server, enc: &Encoded, settle: Duration) -> anyhow::Result<IngestResult> {
    let url = format!("{}/api/v1/write", server.base_url());
    let pid = server.pid();
    let before = proc_stats(pid)?;
    let started = Instant::now();
    let results: Vec<anyhow::Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = enc
            .shards
            .iter()
            .map(|shard| {
                let url = url.clone();
                scope.spawn(move || send_all(&url, &shard.bodies))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("sender thread panicked")))
            })
            .collect()
    });
    let wall = started.elapsed();
    let after = proc_stats(pid)?;
    let mut requests = 0;
    for r in results {
        requests += r?;
    }
    std::thread::sleep(settle);
    let steady = proc_stats(pid)?;
    Ok(IngestResult {
        samples: enc.shards.iter().map(|s| s.samples).sum(),
        requests,
        wall,
        cpu_secs: after.cpu_secs - before.cpu_secs,
        peak_rss: steady.hwm_bytes,
        steady_rss: steady.rss_bytes,
    })
}

/// POSTs `bodies` in order on one connection; any answer but 2xx stops the
/// run (a benchmark that drops samples measures nothing).
fn send_all(url: &str, bodies: &[Vec<u8>]) -> anyhow::Result<u64> {
    let client = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(120))
        .build()?;
    for (i, body) in bodies.iter().enumerate() {
        let resp = client
            .post(url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", sonde_remote::PROTOBUF_CONTENT_TYPE)
            .header(
                "X-Prometheus-Remote-Write-Version",
                sonde_remote::REMOTE_WRITE_VERSION,
            )
            .header("User-Agent", "Prometheus/2.42.0")
            .body(body.clone())
            .send()
            .with_context(|| format!("request {i} to {url}"))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().unwrap_or_default();
            bail!(
                "request {i} to {url}: {status}: {}",
                text.chars().take(500).collect::<String>()
            );
        }
    }
    Ok(bodies.len() as u64)
}
