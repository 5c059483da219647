//! The scrape manager (Prometheus' `scrape.Manager`): one [`ScrapePool`]
//! per scrape config, fed by the [`DiscoveryManager`] it owns.
//!
//! `apply_pools` (and `apply_config`) leave pools whose settings did not
//! change untouched, so their loops keep scraping through a reload; changed
//! pools restart their loops keeping their caches where possible; removed
//! pools stop with end-of-run staleness markers. `shutdown` stops everything
//! without markers (the server will resume where it stopped).
//!
//! Thread safety: pools are mutated under one async mutex (config applies
//! and discovery syncs are serialized); readers use a snapshot refreshed
//! after each change, behind a `RwLock`, plus each target's status mutex.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sonde_model::{Appendable, Labels, MetricMetadata};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::cache::MetadataStore;
use crate::discovery::{DiscoveryManager, TargetSets, DEFAULT_UPDATE_INTERVAL};
use crate::metrics::{inc, MetricValue, ScrapeMetrics};
use crate::pool::ScrapePool;
use crate::pool_config::PoolConfig;
use crate::scrape_loop::{LoopEnv, StopMode};
use crate::status::{ActiveTarget, DroppedTarget, ScrapeEvent, TargetMetadata, TargetStatus};
use crate::target::{Target, SCRAPE_INTERVAL_LABEL, SCRAPE_TIMEOUT_LABEL};

/// Settings of a manager.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// Mixed into every target's offset so that two servers scraping the
    /// same targets do not scrape in lockstep. Prometheus derives it from
    /// the hostname and external labels ([`jitter_seed`]).
    pub jitter_seed: u64,
    /// Minimum time between two target-group updates from discovery.
    pub discovery_update_interval: Duration,
    /// Replaces the wait of end-of-run staleness (two intervals plus 10%)
    /// when set; for tests.
    pub end_of_run_staleness_delay: Option<Duration>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            jitter_seed: 0,
            discovery_update_interval: DEFAULT_UPDATE_INTERVAL,
            end_of_run_staleness_delay: None,
        }
    }
}

/// Prometheus' jitter seed: FNV-1a of the hostname and the external labels.
pub fn jitter_seed(hostname: &str, external_labels: &Labels) -> u64 {
    let mut h = crate::target::Fnv64a::new();
    h.write(hostname.as_bytes());
    h.write(external_labels.to_string().as_bytes());
    h.finish()
}

/// A failure to start or reload a pool; the others are applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("scrape pool {job:?}: {reason}")]
pub struct PoolError {
    pub job: String,
    pub reason: String,
}

struct LoopView {
    target: Arc<Target>,
    status: Arc<Mutex<TargetStatus>>,
    metadata: Arc<MetadataStore>,
    interval: Duration,
    timeout: Duration,
}

#[derive(Default)]
struct PoolView {
    loops: Vec<LoopView>,
    dropped: Vec<Target>,
}

struct Inner {
    pools: tokio::sync::Mutex<BTreeMap<String, ScrapePool>>,
    view: RwLock<BTreeMap<String, PoolView>>,
    last_sets: Mutex<TargetSets>,
    env: LoopEnv,
    metrics: Arc<ScrapeMetrics>,
    shutdown_tx: watch::Sender<bool>,
    syncs_tx: watch::Sender<u64>,
}

/// Runs the scrape pools. Create inside a tokio runtime.
pub struct ScrapeManager {
    inner: Arc<Inner>,
    discovery: DiscoveryManager,
    sync_task: JoinHandle<()>,
}

impl ScrapeManager {
    /// A manager with no pools; samples go to `appendable`.
    pub fn new(appendable: Arc<dyn Appendable>, opts: ManagerOptions) -> Self {
        let metrics = Arc::new(ScrapeMetrics::default());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (events, _) = broadcast::channel(1024);
        let env = LoopEnv {
            appendable,
            metrics: metrics.clone(),
            jitter_seed: opts.jitter_seed,
            end_of_run_delay: opts.end_of_run_staleness_delay,
            shutdown: shutdown_rx,
            events,
        };
        let discovery =
            DiscoveryManager::new(opts.discovery_update_interval, metrics.discovery.clone());
        let inner = Arc::new(Inner {
            pools: tokio::sync::Mutex::new(BTreeMap::new()),
            view: RwLock::new(BTreeMap::new()),
            last_sets: Mutex::new(TargetSets::default()),
            env,
            metrics,
            shutdown_tx,
            syncs_tx: watch::channel(0).0,
        });
        let sync_task = tokio::spawn(sync_loop(inner.clone(), discovery.subscribe()));
        ScrapeManager {
            inner,
            discovery,
            sync_task,
        }
    }

    /// Applies scrape pool settings: starts new pools, reloads changed ones,
    /// stops removed ones, leaves unchanged ones running, and hands the
    /// service discovery configs to discovery. Returns the pools that could
    /// not be started or reloaded (they keep their previous settings).
    pub async fn apply_pools(&self, configs: Vec<PoolConfig>) -> Result<(), Vec<PoolError>> {
        let mut errors = Vec::new();
        let mut pools = self.inner.pools.lock().await;
        let wanted: BTreeMap<String, Arc<PoolConfig>> = configs
            .into_iter()
            .map(|c| (c.job_name().to_string(), Arc::new(c)))
            .collect();
        let removed: Vec<String> = pools
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for job in removed {
            if let Some(mut p) = pools.remove(&job) {
                p.stop(StopMode::Removed).await;
            }
        }
        let sets = self
            .inner
            .last_sets
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        for (job, cfg) in &wanted {
            match pools.get_mut(job) {
                Some(p) if *p.cfg == **cfg => {}
                Some(p) => {
                    inc(&self.inner.metrics.reloads);
                    if let Err(e) = p.reload(cfg.clone()).await {
                        inc(&self.inner.metrics.reload_failures);
                        errors.push(PoolError {
                            job: job.clone(),
                            reason: e.to_string(),
                        });
                    }
                }
                None => match ScrapePool::new(cfg.clone(), self.inner.env.clone()) {
                    Ok(mut p) => {
                        if let Some(groups) = sets.get(job) {
                            p.sync(groups).await;
                        }
                        pools.insert(job.clone(), p);
                    }
                    Err(e) => errors.push(PoolError {
                        job: job.clone(),
                        reason: e.to_string(),
                    }),
                },
            }
        }
        let sd: BTreeMap<String, Vec<crate::discovery::SdConfig>> = pools
            .iter()
            .map(|(job, p)| (job.clone(), p.cfg.service_discovery.clone()))
            .collect();
        self.discovery.apply_config(&sd);
        refresh_view(&self.inner, &pools);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Applies the `scrape_configs` of a checked configuration (see
    /// [`ScrapeManager::apply_pools`]). A job whose settings the scraper
    /// does not support keeps its previous settings (or is not started);
    /// discovery sections it does not run are reported and skipped. Every
    /// such problem is in the returned list; the rest is applied.
    pub async fn apply_config(&self, cfg: &sonde_config::Config) -> Result<(), Vec<PoolError>> {
        let mut errors = Vec::new();
        let mut pools = Vec::new();
        for sc in &cfg.scrape_configs {
            match crate::convert::pool_config(sc) {
                Ok((p, unsupported)) => {
                    errors.extend(unsupported.into_iter().map(|reason| PoolError {
                        job: sc.job_name.clone(),
                        reason,
                    }));
                    pools.push(p);
                }
                Err(reason) => {
                    errors.push(PoolError {
                        job: sc.job_name.clone(),
                        reason,
                    });
                    let current = self.inner.pools.lock().await;
                    if let Some(p) = current.get(&sc.job_name) {
                        pools.push((*p.cfg).clone());
                    }
                }
            }
        }
        if let Err(e) = self.apply_pools(pools).await {
            errors.extend(e);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Stops discovery and every loop, without staleness markers.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown_tx.send(true);
        self.discovery.shutdown();
        self.sync_task.abort();
        let mut pools = self.inner.pools.lock().await;
        for (_, mut p) in std::mem::take(&mut *pools) {
            p.stop(StopMode::Shutdown).await;
        }
        refresh_view(&self.inner, &pools);
    }

    /// Active targets of every pool, by pool then scrape URL.
    pub fn active_targets(&self) -> Vec<ActiveTarget> {
        let Ok(view) = self.inner.view.read() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (pool, pv) in view.iter() {
            for l in &pv.loops {
                let st = l.status.lock().map(|s| s.clone()).unwrap_or_default();
                out.push(ActiveTarget {
                    discovered_labels: l.target.discovered_labels().clone(),
                    labels: l.target.labels(),
                    scrape_pool: pool.clone(),
                    scrape_url: l.target.url(),
                    last_error: st.last_error,
                    last_scrape: st.last_scrape,
                    last_scrape_duration: st.last_scrape_duration,
                    health: st.health,
                    scrape_interval: l.target.get(SCRAPE_INTERVAL_LABEL).to_string(),
                    scrape_timeout: l.target.get(SCRAPE_TIMEOUT_LABEL).to_string(),
                    interval: l.interval,
                    timeout: l.timeout,
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.scrape_pool, &a.scrape_url, &a.labels).cmp(&(
                &b.scrape_pool,
                &b.scrape_url,
                &b.labels,
            ))
        });
        out
    }

    /// Targets dropped by relabeling, by pool.
    pub fn dropped_targets(&self) -> Vec<DroppedTarget> {
        let Ok(view) = self.inner.view.read() else {
            return Vec::new();
        };
        view.iter()
            .flat_map(|(pool, pv)| {
                pv.dropped.iter().map(|t| DroppedTarget {
                    discovered_labels: t.discovered_labels().clone(),
                    scrape_pool: pool.clone(),
                })
            })
            .collect()
    }

    /// Metadata per target (`/api/v1/targets/metadata`), optionally of one
    /// metric only.
    pub fn targets_metadata(&self, metric: Option<&str>) -> Vec<TargetMetadata> {
        let Ok(view) = self.inner.view.read() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for pv in view.values() {
            for l in &pv.loops {
                let target = l.target.labels();
                for (name, meta) in l.metadata.list() {
                    if metric.is_none_or(|m| m == name) {
                        out.push(TargetMetadata {
                            target: target.clone(),
                            metric: name,
                            metadata: meta,
                        });
                    }
                }
            }
        }
        out
    }

    /// Distinct metadata per metric over all targets (`/api/v1/metadata`).
    pub fn metric_metadata(&self) -> BTreeMap<String, Vec<MetricMetadata>> {
        let mut out: BTreeMap<String, Vec<MetricMetadata>> = BTreeMap::new();
        for tm in self.targets_metadata(None) {
            let v = out.entry(tm.metric).or_default();
            if !v.contains(&tm.metadata) {
                v.push(tm.metadata);
            }
        }
        out
    }

    /// The crate's own metrics with the `pools` and `targets` gauges.
    pub fn metrics(&self) -> Vec<MetricValue> {
        let (pools, targets) = self
            .inner
            .view
            .read()
            .map(|v| (v.len(), v.values().map(|p| p.loops.len()).sum()))
            .unwrap_or((0, 0));
        self.inner.metrics.snapshot(pools, targets)
    }

    /// The raw counters.
    pub fn counters(&self) -> &ScrapeMetrics {
        &self.inner.metrics
    }

    /// An event after every scrape of every loop (test and logging hook).
    pub fn subscribe_scrapes(&self) -> broadcast::Receiver<ScrapeEvent> {
        self.inner.env.events.subscribe()
    }

    /// A counter bumped after each discovery sync has been applied.
    pub fn subscribe_syncs(&self) -> watch::Receiver<u64> {
        self.inner.syncs_tx.subscribe()
    }

    /// Asks every loop of `job` (all jobs with `None`) to scrape now.
    pub async fn scrape_now(&self, job: Option<&str>) {
        let pools = self.inner.pools.lock().await;
        for (name, p) in pools.iter() {
            if job.is_none_or(|j| j == name) {
                p.trigger_all();
            }
        }
    }
}

impl Drop for ScrapeManager {
    fn drop(&mut self) {
        let _ = self.inner.shutdown_tx.send(true);
        self.sync_task.abort();
    }
}

fn refresh_view(inner: &Inner, pools: &BTreeMap<String, ScrapePool>) {
    let view: BTreeMap<String, PoolView> = pools
        .iter()
        .map(|(job, p)| {
            let loops = p
                .loops
                .values()
                .map(|l| LoopView {
                    target: l.target.clone(),
                    status: l.status.clone(),
                    metadata: l.metadata.clone(),
                    interval: l.interval,
                    timeout: l.timeout,
                })
                .collect();
            (
                job.clone(),
                PoolView {
                    loops,
                    dropped: p.dropped.clone(),
                },
            )
        })
        .collect();
    if let Ok(mut v) = inner.view.write() {
        *v = view;
    }
}

async fn sync_loop(inner: Arc<Inner>, mut rx: watch::Receiver<TargetSets>) {
    while rx.changed().await.is_ok() {
        let sets = rx.borrow_and_update().clone();
        if let Ok(mut last) = inner.last_sets.lock() {
            *last = sets.clone();
        }
        let mut pools = inner.pools.lock().await;
        for (job, groups) in sets.iter() {
            if let Some(p) = pools.get_mut(job) {
                p.sync(groups).await;
            }
        }
        refresh_view(&inner, &pools);
        drop(pools);
        inner.syncs_tx.send_modify(|n| *n += 1);
    }
}
