//! Sends the pre-encoded bodies to one server, one thread and one
//! keep-alive connection per shard, and measures what the server spent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{header, Request};
use hyper_util::rt::TokioIo;

use crate::encode::Encoded;
use crate::server::{proc_stats, Server};

const WRITE_PATH: &str = "/api/v1/write";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Default)]
pub struct IngestResult {
    pub samples: u64,
    pub requests: u64,
    pub wall: Duration,
    /// Server CPU (user + system) from the first request to the last answer.
    pub cpu_secs: f64,
    /// The benchmark's own CPU over the same interval: the senders, which
    /// share the machine's cores with the server.
    pub sender_cpu_secs: f64,
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

    pub fn sender_cpu_per_million(&self) -> f64 {
        self.sender_cpu_secs / (self.samples as f64 / 1e6).max(1e-9)
    }
}

/// Sends everything, then waits `settle` and reads the steady RSS.
pub fn run(server: &Server, enc: &Encoded, settle: Duration) -> anyhow::Result<IngestResult> {
    let addr = server.addr();
    let pid = server.pid();
    let before = proc_stats(pid)?;
    let sender_before = proc_stats(std::process::id())?;
    let started = Instant::now();
    let results: Vec<anyhow::Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = enc
            .shards
            .iter()
            .map(|shard| scope.spawn(move || send_all(addr, &shard.bodies)))
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
    let sender_after = proc_stats(std::process::id())?;
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
        sender_cpu_secs: sender_after.cpu_secs - sender_before.cpu_secs,
        peak_rss: steady.hwm_bytes,
        steady_rss: steady.rss_bytes,
    })
}

/// POSTs `bodies` in order on one keep-alive HTTP/1.1 connection, driven
/// by a runtime on this thread: no hand-off to another thread per request,
/// so the senders take as little as they can of the cores the server runs
/// on. Any answer but 2xx stops the run (a benchmark that drops samples
/// measures nothing).
fn send_all(addr: SocketAddr, bodies: &[Bytes]) -> anyhow::Result<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // On a current-thread runtime the connection runs on this thread.
        tokio::spawn(connection);
        let host = addr.to_string();
        for (i, body) in bodies.iter().enumerate() {
            let request = Request::post(WRITE_PATH)
                .header(header::HOST, &host)
                .header(header::CONTENT_ENCODING, "snappy")
                .header(header::CONTENT_TYPE, sonde_remote::PROTOBUF_CONTENT_TYPE)
                .header(
                    "X-Prometheus-Remote-Write-Version",
                    sonde_remote::REMOTE_WRITE_VERSION,
                )
                .header(header::USER_AGENT, "Prometheus/2.42.0")
                .body(Full::new(body.clone()))?;
            let answer = async {
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let text = response.into_body().collect().await?.to_bytes();
                anyhow::Ok((status, text))
            };
            let (status, text) = tokio::time::timeout(REQUEST_TIMEOUT, answer)
                .await
                .map_err(|_| {
                    anyhow::anyhow!("request {i} to {addr}: no answer in {REQUEST_TIMEOUT:?}")
                })?
                .with_context(|| format!("request {i} to {addr}"))?;
            if !status.is_success() {
                bail!(
                    "request {i} to {addr}: {status}: {}",
                    String::from_utf8_lossy(&text)
                        .chars()
                        .take(500)
                        .collect::<String>()
                );
            }
        }
        Ok(bodies.len() as u64)
    })
}
