//! The discovery manager (Prometheus' `discovery.Manager`): runs the
//! providers of every scrape job, merges their groups by source, and
//! publishes the full set of groups per job on a `watch` channel at most once
//! per `update_interval` (Prometheus waits 5 s between updates so that a burst
//! of changes causes one scrape-pool sync, not hundreds).
//!
//! On `apply_config`, a provider whose (job, position, config) is unchanged
//! keeps running with its groups; the others are stopped and their groups
//! forgotten. A job with no provider still appears, with no groups, so its
//! scrape pool exists.
//!
//! Thread safety: the state sits behind one mutex, held only to update maps.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use super::{provider_for, SdConfig};
use crate::metrics::{add, DiscoveryMetrics};
use crate::targetgroup::Group;

/// Groups per scrape job (job name -> groups from all its providers).
pub type TargetSets = Arc<BTreeMap<String, Vec<Group>>>;

/// Prometheus' `updatert`: the minimum time between two published updates.
pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(5);

type ProviderKey = (String, usize);

struct RunningProvider {
    /// Unique per start, so a stopped provider's late update is ignored
    /// even if a new provider took its key.
    id: u64,
    cfg: SdConfig,
    task: JoinHandle<()>,
    forward: JoinHandle<()>,
}

struct State {
    providers: HashMap<ProviderKey, RunningProvider>,
    /// Groups per provider, by source.
    groups: HashMap<ProviderKey, BTreeMap<String, Group>>,
    jobs: Vec<String>,
    next_id: u64,
}

struct Shared {
    state: Mutex<State>,
    dirty: Notify,
    metrics: Arc<DiscoveryMetrics>,
}

/// Runs discovery providers and publishes their target groups per job.
pub struct DiscoveryManager {
    shared: Arc<Shared>,
    rx: watch::Receiver<TargetSets>,
    sender: JoinHandle<()>,
}

impl DiscoveryManager {
    /// Starts the manager (needs a tokio runtime). Updates are published at
    /// most once per `update_interval`.
    pub fn new(update_interval: Duration, metrics: Arc<DiscoveryMetrics>) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                providers: HashMap::new(),
                groups: HashMap::new(),
                jobs: Vec::new(),
                next_id: 0,
            }),
            dirty: Notify::new(),
            metrics,
        });
        let (tx, rx) = watch::channel(TargetSets::default());
        let sender = tokio::spawn(publish_loop(shared.clone(), tx, update_interval));
        DiscoveryManager { shared, rx, sender }
    }

    /// A receiver of the latest target sets; `changed()` wakes on each update.
    pub fn subscribe(&self) -> watch::Receiver<TargetSets> {
        self.rx.clone()
    }

    /// Replaces the providers: `jobs` maps a job name to its SD configs.
    pub fn apply_config(&self, jobs: &BTreeMap<String, Vec<SdConfig>>) {
        let Ok(mut st) = self.shared.state.lock() else {
            return;
        };
        let mut keep = HashMap::new();
        for (key, p) in st.providers.drain() {
            let same = jobs.get(&key.0).and_then(|c| c.get(key.1)) == Some(&p.cfg);
            if same {
                keep.insert(key, p);
            } else {
                p.task.abort();
                p.forward.abort();
            }
        }
        st.providers = keep;
        let live: Vec<ProviderKey> = st.providers.keys().cloned().collect();
        st.groups.retain(|k, _| live.contains(k));
        for (job, cfgs) in jobs {
            for (i, cfg) in cfgs.iter().enumerate() {
                let key = (job.clone(), i);
                if st.providers.contains_key(&key) {
                    continue;
                }
                st.next_id += 1;
                let id = st.next_id;
                if let Some(p) = self.start(key.clone(), id, cfg) {
                    st.providers.insert(key, p);
                }
            }
        }
        st.jobs = jobs.keys().cloned().collect();
        drop(st);
        self.shared.dirty.notify_one();
    }

    fn start(&self, key: ProviderKey, id: u64, cfg: &SdConfig) -> Option<RunningProvider> {
        let (_, discoverer) = provider_for(cfg)?;
        // Small buffer: a provider blocks rather than queueing stale lists.
        let (tx, mut rx) = mpsc::channel::<Vec<Group>>(2);
        let task = tokio::spawn(discoverer.run(tx, self.shared.metrics.clone()));
        let shared = self.shared.clone();
        let forward = tokio::spawn(async move {
            while let Some(groups) = rx.recv().await {
                if let Ok(mut st) = shared.state.lock() {
                    if st.providers.get(&key).map(|p| p.id) != Some(id) {
                        continue;
                    }
                    let by_source = st.groups.entry(key.clone()).or_default();
                    for g in groups {
                        if g.targets.is_empty() && g.labels.is_empty() {
                            by_source.remove(&g.source);
                        } else {
                            by_source.insert(g.source.clone(), g);
                        }
                    }
                }
                shared.dirty.notify_one();
            }
        });
        Some(RunningProvider {
            id,
            cfg: cfg.clone(),
            task,
            forward,
        })
    }

    /// Stops every provider and the publisher.
    pub fn shutdown(&self) {
        if let Ok(mut st) = self.shared.state.lock() {
            for (_, p) in st.providers.drain() {
                p.task.abort();
                p.forward.abort();
            }
        }
        self.sender.abort();
    }
}

impl Drop for DiscoveryManager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn snapshot(st: &State) -> TargetSets {
    let mut out: BTreeMap<String, Vec<Group>> =
        st.jobs.iter().map(|j| (j.clone(), Vec::new())).collect();
    let mut keys: Vec<&ProviderKey> = st.groups.keys().collect();
    keys.sort();
    for key in keys {
        if let Some(groups) = out.get_mut(&key.0) {
            groups.extend(st.groups[key].values().cloned());
        }
    }
    Arc::new(out)
}

async fn publish_loop(shared: Arc<Shared>, tx: watch::Sender<TargetSets>, every: Duration) {
    loop {
        shared.dirty.notified().await;
        let sets = match shared.state.lock() {
            Ok(st) => snapshot(&st),
            Err(_) => return,
        };
        add(&shared.metrics.updates_sent, 1);
        if tx.send(sets).is_err() {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::static_sd::StaticConfig;

    fn group(addr: &str) -> Group {
        Group::from_parts(String::new(), &[addr.to_string()], &BTreeMap::new()).unwrap()
    }

    async fn wait_for(
        rx: &mut watch::Receiver<TargetSets>,
        f: impl Fn(&TargetSets) -> bool,
    ) -> TargetSets {
        let fut = async {
            loop {
                {
                    let v = rx.borrow_and_update().clone();
                    if f(&v) {
                        return v;
                    }
                }
                rx.changed().await.expect("manager stopped");
            }
        };
        tokio::time::timeout(Duration::from_secs(20), fut)
            .await
            .expect("no matching update within 20s")
    }

    #[tokio::test]
    async fn merges_jobs_and_replaces_changed_providers() {
        let dm = DiscoveryManager::new(Duration::from_millis(1), Default::default());
        let mut rx = dm.subscribe();
        let mut jobs = BTreeMap::new();
        jobs.insert(
            "a".to_string(),
            vec![SdConfig::Static(StaticConfig::new(vec![
                group("h:1"),
                group("h:2"),
            ]))],
        );
        jobs.insert("empty".to_string(), vec![]);
        dm.apply_config(&jobs);
        let sets = wait_for(&mut rx, |s| s.get("a").is_some_and(|g| g.len() == 2)).await;
        assert!(sets["empty"].is_empty());

        jobs.insert(
            "a".to_string(),
            vec![SdConfig::Static(StaticConfig::new(vec![group("h:3")]))],
        );
        jobs.remove("empty");
        dm.apply_config(&jobs);
        let sets = wait_for(&mut rx, |s| {
            s.get("a")
                .is_some_and(|g| g.len() == 1 && g[0].targets[0].get("__address__") == Some("h:3"))
        })
        .await;
        assert!(!sets.contains_key("empty"));
        dm.shutdown();
    }
}
