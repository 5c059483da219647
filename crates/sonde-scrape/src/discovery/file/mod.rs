//! File SD: reads target groups from files matching the configured globs,
//! re-reading them when a watched directory changes (the `notify` crate) and
//! every `refresh_interval`, as Prometheus does.
//!
//! Each group gets `__meta_filepath` and the source `<path>:<index>`. A file
//! that cannot be read or parsed keeps its previous groups (the error is
//! counted in `sonde_sd_file_read_errors_total`); a file that disappears, or now has
//! fewer groups, gets empty groups sent for the sources it no longer has.

mod config;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use notify::Watcher;
use sonde_model::LabelsBuilder;
use tokio::sync::mpsc;

pub use config::{FileSdConfig, DEFAULT_REFRESH_INTERVAL};

use super::{Discoverer, SdConfig};
use crate::metrics::DiscoveryMetrics;
use crate::targetgroup::{parse_groups, Group};

/// The label holding the file a group came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

struct FileDiscoverer {
    cfg: FileSdConfig,
    /// Groups sent per file at the last refresh.
    last: BTreeMap<PathBuf, usize>,
    /// The last read or parse error, for tests and logs.
    last_error: Option<String>,
}

pub(crate) fn build(cfg: &SdConfig) -> Option<Box<dyn Discoverer>> {
    match cfg {
        SdConfig::File(c) => Some(Box::new(FileDiscoverer {
            cfg: c.clone(),
            last: BTreeMap::new(),
            last_error: None,
        })),
        _ => None,
    }
}

impl Discoverer for FileDiscoverer {
    fn run(
        self: Box<Self>,
        updates: mpsc::Sender<Vec<Group>>,
        metrics: Arc<DiscoveryMetrics>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.run_loop(updates, metrics))
    }
}

impl FileDiscoverer {
    async fn run_loop(
        mut self: Box<Self>,
        updates: mpsc::Sender<Vec<Group>>,
        metrics: Arc<DiscoveryMetrics>,
    ) {
        // A change event only needs to wake one refresh; extra events while
        // one is pending are dropped.
        let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
        let _watcher = self.watch(wake_tx);
        let mut ticker = tokio::time::interval(self.cfg.refresh_interval.max(MIN_REFRESH));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let groups = self.refresh(&metrics);
            if !groups.is_empty() && updates.send(groups).await.is_err() {
                return;
            }
            tokio::select! {
                _ = ticker.tick() => {}
                w = wake_rx.recv() => if w.is_none() { ticker.tick().await; },
                _ = updates.closed() => return,
            }
        }
    }

    /// Watches the directory of every pattern. Watch failures are not fatal:
    /// the refresh interval still applies.
    fn watch(&self, wake: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
        let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok() {
                let _ = wake.try_send(());
            }
        })
        .ok()?;
        let dirs: BTreeSet<PathBuf> = self
            .cfg
            .files
            .iter()
            .map(|f| match Path::new(f).parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            })
            .collect();
        for d in dirs {
            let _ = w.watch(&d, notify::RecursiveMode::NonRecursive);
        }
        Some(w)
    }

    /// Reads every matching file; returns the groups to send, including
    /// empty groups for vanished sources.
    fn refresh(&mut self, metrics: &DiscoveryMetrics) -> Vec<Group> {
        let mut out = Vec::new();
        let mut now: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for path in list_files(&self.cfg.files) {
            match read_file(&path) {
                Ok(groups) => {
                    now.insert(path.clone(), groups.len());
                    out.extend(groups);
                }
                Err(e) => {
                    crate::metrics::inc(&metrics.file_read_errors);
                    self.last_error = Some(e);
                    // Keep what was last read from this file.
                    now.insert(path.clone(), self.last.get(&path).copied().unwrap_or(0));
                }
            }
        }
        for (path, &n) in &self.last {
            let m = now.get(path).copied().unwrap_or(0);
            for i in m..n {
                out.push(Group {
                    source: source(path, i),
                    ..Group::default()
                });
            }
        }
        self.last = now;
        out
    }
}

/// Below this a refresh loop would spin; Prometheus has no minimum but a
/// zero interval is not meaningful.
const MIN_REFRESH: std::time::Duration = std::time::Duration::from_millis(10);

fn source(path: &Path, i: usize) -> String {
    format!("{}:{i}", path.display())
}

/// The files matching the patterns, sorted, without duplicates.
pub(crate) fn list_files(patterns: &[String]) -> Vec<PathBuf> {
    let mut files = BTreeSet::new();
    for p in patterns {
        if let Ok(paths) = glob::glob(p) {
            files.extend(paths.flatten().filter(|p| p.is_file()));
        }
    }
    files.into_iter().collect()
}

/// Reads one file's groups, labelled with the file and numbered.
pub(crate) fn read_file(path: &Path) -> Result<Vec<Group>, String> {
    let body = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let groups = parse_groups(&body, &path.display().to_string())?;
    let file = path.display().to_string();
    Ok(groups
        .into_iter()
        .enumerate()
        .map(|(i, mut g)| {
            let mut lb = LabelsBuilder::from_labels(&g.labels);
            lb.set(FILEPATH_LABEL, &file);
            g.labels = lb.build();
            g.source = source(path, i);
            g
        })
        .collect())
}
