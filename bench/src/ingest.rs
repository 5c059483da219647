//! Sends the pre-encoded bodies to one server, one thread and one
//! keep-alive connection per shard, and measures what the server spent.

use std::net::SocketAddr;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Request};
use hyper_util::rt::TokioIo;

use crate::encode::{Encoded, ShardBodies};
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
    let gate = EpochGate::new(enc.shards.len());
    let before = proc_stats(pid)?;
    let sender_before = proc_stats(std::process::id())?;
    let started = Instant::now();
    let results: Vec<anyhow::Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = enc
            .shards
            .iter()
            .enumerate()
            .map(|(i, shard)| {
                let gate = &gate;
                scope.spawn(move || {
                    let sent = send_all(addr, shard, i, gate);
                    if sent.is_err() {
                        gate.fail();
                    }
                    sent
                })
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
    let sender_after = proc_stats(std::process::id())?;
    let mut requests = 0;
    // The first real error, not the others' "another sender failed".
    let (failed, ok): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_err());
    if let Some(e) = failed
        .into_iter()
        .filter_map(Result::err)
        .min_by_key(|e| e.to_string().contains(ANOTHER_FAILED))
    {
        return Err(e);
    }
    for r in ok {
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

const ANOTHER_FAILED: &str = "another sender failed";

/// Keeps the senders within one epoch (`encode::EPOCH_STEPS` of data) of
/// each other, as Prometheus' shards stay close by reading one WAL. Unpaced,
/// a connection that ran ahead by an hour of data would have the lagging
/// shards' samples refused by Prometheus as out of bounds (older than its
/// head allows), which is the harness' doing, not the server's.
struct EpochGate {
    state: Mutex<GateState>,
    moved: Condvar,
}

struct GateState {
    /// Epochs each shard has finished.
    done: Vec<usize>,
    failed: bool,
}

impl EpochGate {
    fn new(shards: usize) -> Self {
        EpochGate {
            state: Mutex::new(GateState {
                done: vec![0; shards],
                failed: false,
            }),
            moved: Condvar::new(),
        }
    }

    /// Waits until every shard has finished the epochs before `epoch - 1`.
    fn enter(&self, epoch: usize) -> anyhow::Result<()> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| anyhow::anyhow!(ANOTHER_FAILED))?;
        loop {
            if st.failed {
                bail!(ANOTHER_FAILED);
            }
            if st.done.iter().all(|&d| d + 1 >= epoch) {
                return Ok(());
            }
            st = self
                .moved
                .wait(st)
                .map_err(|_| anyhow::anyhow!(ANOTHER_FAILED))?;
        }
    }

    fn finish(&self, shard: usize, epoch: usize) {
        if let Ok(mut st) = self.state.lock() {
            st.done[shard] = epoch + 1;
        }
        self.moved.notify_all();
    }

    fn fail(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.failed = true;
        }
        self.moved.notify_all();
    }
}

/// POSTs `bodies` in order on one keep-alive HTTP/1.1 connection, driven
/// by a runtime on this thread: no hand-off to another thread per request,
/// so the senders take as little as they can of the cores the server runs
/// on. Any answer but 2xx stops the run (a benchmark that drops samples
/// measures nothing).
fn send_all(
    addr: SocketAddr,
    shard: &ShardBodies,
    index: usize,
    gate: &EpochGate,
) -> anyhow::Result<u64> {
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
        let mut start = 0;
        for (epoch, &end) in shard.epoch_ends.iter().enumerate() {
            gate.enter(epoch)?;
            for i in start..end {
                post(&mut sender, addr, i, &shard.bodies[i]).await?;
            }
            gate.finish(index, epoch);
            start = end;
        }
        Ok(shard.bodies.len() as u64)
    })
}

/// POSTs request `i` and fails unless the answer is 2xx.
async fn post(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    i: usize,
    body: &Bytes,
) -> anyhow::Result<()> {
    let request = Request::post(WRITE_PATH)
        .header(header::HOST, addr.to_string())
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
        .map_err(|_| anyhow::anyhow!("request {i} to {addr}: no answer in {REQUEST_TIMEOUT:?}"))?
        .with_context(|| format!("request {i} to {addr}"))?;
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&text).chars().take(500).collect();
        bail!("request {i} to {addr}: {status}: {text}");
    }
    Ok(())
}
