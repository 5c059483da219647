//! Bytes on disk after ingest, in two forms:
//!
//! * `data_dir`: the whole data directory after the steps below (blocks,
//!   WAL, indexes, caches: whatever the server keeps), snapshots excluded.
//! * `compacted`: every sample in the server's persistent, compacted form,
//!   without a WAL. Sonde and Prometheus: a snapshot through the admin API
//!   (`POST /api/v1/admin/tsdb/snapshot`, head included), which hard-links
//!   the blocks already cut and writes the head as one more block;
//!   measured is the snapshot directory. VictoriaMetrics (no WAL):
//!   `/internal/force_flush`, then `/internal/force_merge`, waiting until
//!   `vm_active_force_merges` and `vm_active_merges` are 0 and the size
//!   stops changing; measured are its `data` and `indexdb` directories.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::server::{dir_bytes, Kind, Server};

#[derive(Debug, Clone, Default)]
pub struct DiskResult {
    pub data_dir: u64,
    pub compacted: u64,
}

/// Makes what VictoriaMetrics holds in memory searchable
/// (`/internal/force_flush`): it answers a write before the samples can be
/// queried, for about a second. Nothing to do for the other servers,
/// which answer once the samples are queryable.
pub fn make_searchable(server: &Server) -> anyhow::Result<()> {
    if server.spec.kind != Kind::Victoria {
        return Ok(());
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    victoria_get(&client, &server.base_url(), "/internal/force_flush")
}

fn victoria_get(client: &reqwest::blocking::Client, base: &str, path: &str) -> anyhow::Result<()> {
    let url = format!("{base}{path}");
    let r = client
        .get(&url)
        .send()
        .with_context(|| format!("GET {url}"))?;
    if !r.status().is_success() {
        bail!("{url}: {}", r.status());
    }
    Ok(())
}

pub fn measure(server: &Server) -> anyhow::Result<DiskResult> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let base = server.base_url();
    let compacted = match server.spec.kind {
        Kind::Sonde | Kind::Prometheus => {
            let url = format!("{base}/api/v1/admin/tsdb/snapshot");
            let resp = client
                .post(&url)
                .send()
                .with_context(|| format!("POST {url}"))?;
            let status = resp.status();
            let body = resp.bytes().with_context(|| format!("answer of {url}"))?;
            let v: serde_json::Value = serde_json::from_slice(&body)
                .with_context(|| format!("answer of {url} is not JSON ({status})"))?;
            let Some(name) = v["data"]["name"].as_str() else {
                bail!("{url}: {status}: no snapshot name in {v}");
            };
            let dir = server.data.join("snapshots").join(name);
            let bytes = dir_bytes(&dir, &[]);
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            bytes
        }
        Kind::Victoria => {
            for path in ["/internal/force_flush", "/internal/force_merge"] {
                victoria_get(&client, &base, path)?;
            }
            wait_vm_merged(&client, server)?
        }
    };
    // After the flush for VictoriaMetrics (before it, recent data is only
    // in memory); snapshots excluded.
    let data_dir = dir_bytes(&server.data, &["snapshots"]);
    Ok(DiskResult {
        data_dir,
        compacted,
    })
}

fn vm_parts_bytes(server: &Server) -> u64 {
    dir_bytes(&server.data.join("data"), &[]) + dir_bytes(&server.data.join("indexdb"), &[])
}

fn wait_vm_merged(client: &reqwest::blocking::Client, server: &Server) -> anyhow::Result<u64> {
    let url = format!("{}/metrics", server.base_url());
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut last = u64::MAX;
    let mut stable = 0;
    std::thread::sleep(Duration::from_secs(1));
    while Instant::now() < deadline {
        let text = client.get(&url).send()?.text()?;
        let active =
            metric_sum(&text, "vm_active_force_merges") + metric_sum(&text, "vm_active_merges");
        let size = vm_parts_bytes(server);
        if active == 0.0 && size == last {
            stable += 1;
            if stable >= 3 {
                return Ok(size);
            }
        } else {
            stable = 0;
        }
        last = size;
        std::thread::sleep(Duration::from_secs(1));
    }
    bail!("VictoriaMetrics merges did not finish within 900 s")
}

/// Sum of every sample of `name` in a Prometheus text exposition.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_adds_labelled_samples_only_of_that_name() {
        let text = "vm_active_merges{type=\"small\"} 2\nvm_active_merges{type=\"big\"} 1\nvm_active_merges_total 9\n# HELP x\nvm_active_force_merges 0\n";
        assert_eq!(metric_sum(text, "vm_active_merges"), 3.0);
        assert_eq!(metric_sum(text, "vm_active_force_merges"), 0.0);
    }
}
