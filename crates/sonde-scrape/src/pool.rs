//! A scrape pool: the loops of one `scrape_config` (Prometheus'
//! `scrapePool`). `sync` turns discovered groups into targets and starts a
//! loop per new target, stops the loops of vanished targets (with
//! end-of-run staleness), and enforces `target_limit`. `reload` restarts
//! every loop with new settings, handing each its scrape cache when the
//! change does not alter series, so no staleness markers are written.
//!
//! Thread safety: owned by the manager, mutated under its async mutex.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sonde_model::Labels;

use crate::error::{ClientError, ScrapeError};
use crate::metrics::inc;
use crate::pool_config::PoolConfig;
use crate::scrape_loop::{LoopEnv, LoopHandle, StopMode};
use crate::target::{targets_from_group, Target};
use crate::targetgroup::Group;

/// Connection set-up is bounded by the scrape timeout anyway; this caps it
/// for very long timeouts.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct ScrapePool {
    pub cfg: Arc<PoolConfig>,
    client: reqwest::Client,
    env: LoopEnv,
    /// Loops by target hash.
    pub loops: HashMap<u64, LoopHandle>,
    pub dropped: Vec<Target>,
    /// Per-instance errors of the last sync (bad address, bad interval...).
    pub sync_errors: Vec<String>,
    /// The groups of the last sync, replayed after a reload.
    last_groups: Vec<Group>,
}

pub(crate) fn build_client(cfg: &PoolConfig) -> Result<reqwest::Client, ClientError> {
    cfg.http
        .build(cfg.target_defaults.scrape_timeout.min(MAX_CONNECT_TIMEOUT))
}

impl ScrapePool {
    pub fn new(cfg: Arc<PoolConfig>, env: LoopEnv) -> Result<ScrapePool, ClientError> {
        let client = build_client(&cfg)?;
        Ok(ScrapePool {
            cfg,
            client,
            env,
            loops: HashMap::new(),
            dropped: Vec::new(),
            sync_errors: Vec::new(),
            last_groups: Vec::new(),
        })
    }

    fn relabel(cfg: &PoolConfig) -> impl Fn(Labels) -> Option<Labels> + '_ {
        move |l: Labels| {
            let rc = &cfg.relabel_configs;
            if rc.is_empty() {
                Some(l)
            } else {
                sonde_config::relabel::process(&l, rc)
            }
        }
    }

    /// Brings the loops in line with `groups`.
    pub async fn sync(&mut self, groups: &[Group]) {
        self.last_groups = groups.to_vec();
        let cfg = self.cfg.clone();
        let relabel = Self::relabel(&cfg);
        let mut active: Vec<Target> = Vec::new();
        let mut dropped = Vec::new();
        let mut errors = Vec::new();
        for g in groups {
            let (a, d, e) = targets_from_group(g, &cfg.target_defaults, &relabel);
            active.extend(a);
            dropped.extend(d);
            errors.extend(e);
        }
        self.dropped = dropped;
        self.sync_errors = errors;
        let mut wanted: HashMap<u64, Target> = HashMap::new();
        for t in active {
            wanted.entry(t.hash()).or_insert(t);
        }
        let gone: Vec<u64> = self
            .loops
            .keys()
            .filter(|h| !wanted.contains_key(h))
            .copied()
            .collect();
        for h in gone {
            if let Some(l) = self.loops.remove(&h) {
                l.stop(StopMode::Removed).await;
            }
        }
        for (h, t) in wanted {
            match self.loops.entry(h) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(LoopHandle::start(
                        self.env.clone(),
                        self.cfg.clone(),
                        self.client.clone(),
                        Arc::new(t),
                        None,
                    ));
                }
                // Same labels and URL: the loop goes on; keep the newest
                // discovered labels for the API, as Prometheus does.
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    if e.get().target.discovered_labels() != t.discovered_labels() {
                        e.get_mut().target = Arc::new(t);
                    }
                }
            }
        }
        self.apply_target_limit();
    }

    /// Prometheus' `refreshTargetLimitErr`: over the limit, every loop of
    /// the pool reports the error instead of scraping.
    fn apply_target_limit(&self) {
        let limit = self.cfg.target_limit;
        let n = self.loops.len();
        let err = (limit > 0 && n as u64 > limit)
            .then_some(ScrapeError::TargetLimit { targets: n, limit });
        if err.is_some() {
            inc(&self.env.metrics.exceeded_target_limit);
        }
        for l in self.loops.values() {
            l.set_forced_error(err.clone());
        }
    }

    /// Restarts every loop with `cfg`, then re-syncs with the last groups
    /// (the new relabeling may change the targets). On a bad HTTP client
    /// setting the pool keeps running with its old settings.
    pub async fn reload(&mut self, cfg: Arc<PoolConfig>) -> Result<(), ClientError> {
        let client = build_client(&cfg)?;
        let reuse = self.cfg.cache_reusable(&cfg);
        let old: Vec<(u64, LoopHandle)> = self.loops.drain().collect();
        self.cfg = cfg;
        self.client = client;
        for (h, l) in old {
            let target = l.target.clone();
            let cache = l.stop(StopMode::Reload).await;
            let cache = if reuse { cache } else { None };
            self.loops.insert(
                h,
                LoopHandle::start(
                    self.env.clone(),
                    self.cfg.clone(),
                    self.client.clone(),
                    target,
                    cache,
                ),
            );
        }
        let groups = std::mem::take(&mut self.last_groups);
        self.sync(&groups).await;
        Ok(())
    }

    /// Stops every loop: `Removed` writes end-of-run staleness markers,
    /// `Shutdown` does not.
    pub async fn stop(&mut self, mode: StopMode) {
        for (_, l) in self.loops.drain() {
            l.stop(mode).await;
        }
    }

    pub fn trigger_all(&self) {
        for l in self.loops.values() {
            l.trigger();
        }
    }
}
