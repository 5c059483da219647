//! Scrape targets: how a discovered label set becomes a [`Target`] (Prometheus
//! 2.42 `PopulateLabels` and `TargetsFromGroup`), its scrape URL, its identity
//! hash and its start offset within the scrape interval.
//!
//! Invariants: a `Target` is immutable. Its `labels` hold the relabeled set
//! including the `__`-prefixed internal labels (`__address__`, `__scheme__`,
//! `__metrics_path__`, `__param_*`, `__scrape_interval__`,
//! `__scrape_timeout__`) but never `__meta_*` labels, and always `instance`.
//! What a user sees ([`Target::labels`]) drops every `__` label.

use std::collections::BTreeMap;
use std::time::Duration;

use sonde_model::{format_duration, parse_duration, Labels, LabelsBuilder};

use crate::hostport::split_host_port;
use crate::targetgroup::Group;
use crate::url_encode::{encode_query, path_escape};

pub const ADDRESS_LABEL: &str = "__address__";
pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_LABEL_PREFIX: &str = "__param_";
pub const META_LABEL_PREFIX: &str = "__meta_";
pub const RESERVED_LABEL_PREFIX: &str = "__";
pub const JOB_LABEL: &str = "job";
pub const INSTANCE_LABEL: &str = "instance";

/// The pool-level values a target falls back to (from its `scrape_config`).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetDefaults {
    pub job_name: String,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub metrics_path: String,
    pub scheme: String,
    pub params: BTreeMap<String, Vec<String>>,
}

/// One target of a scrape pool. Cheap to clone behind an `Arc`; immutable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    labels: Labels,
    discovered: Labels,
    params: BTreeMap<String, Vec<String>>,
}

impl Target {
    pub fn new(labels: Labels, discovered: Labels, params: BTreeMap<String, Vec<String>>) -> Self {
        Target {
            labels,
            discovered,
            params,
        }
    }

    /// Labels attached to every scraped series: the relabeled set without
    /// `__`-prefixed labels.
    pub fn labels(&self) -> Labels {
        Labels::from_sorted(
            self.labels
                .iter()
                .filter(|(n, _)| !n.starts_with(RESERVED_LABEL_PREFIX)),
        )
    }

    /// The relabeled set including internal `__` labels.
    pub fn full_labels(&self) -> &Labels {
        &self.labels
    }

    /// The labels as discovered, before relabeling (with `__meta_*`).
    pub fn discovered_labels(&self) -> &Labels {
        &self.discovered
    }

    /// The value of a label of the full set, or "".
    pub fn get(&self, name: &str) -> &str {
        self.labels.get(name).unwrap_or("")
    }

    /// The scrape URL: `__scheme__://__address____metrics_path__?params`,
    /// where `__param_<name>` labels replace the first value of `params[name]`.
    pub fn url(&self) -> String {
        let mut params = self.params.clone();
        for (n, v) in self.labels.iter() {
            if let Some(k) = n.strip_prefix(PARAM_LABEL_PREFIX) {
                match params.get_mut(k) {
                    Some(vs) if !vs.is_empty() => vs[0] = v.to_string(),
                    _ => {
                        params.insert(k.to_string(), vec![v.to_string()]);
                    }
                }
            }
        }
        let mut url = String::new();
        url.push_str(self.get(SCHEME_LABEL));
        url.push_str("://");
        url.push_str(self.get(ADDRESS_LABEL));
        let path = self.get(METRICS_PATH_LABEL);
        if !path.is_empty() && !path.starts_with('/') {
            url.push('/');
        }
        path_escape(&mut url, path);
        let query = encode_query(&params);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        url
    }

    /// The scrape interval of this target (`__scrape_interval__`), or `default`.
    pub fn interval(&self, default: Duration) -> Duration {
        parse_duration(self.get(SCRAPE_INTERVAL_LABEL)).unwrap_or(default)
    }

    /// The scrape timeout of this target (`__scrape_timeout__`), or `default`.
    pub fn timeout(&self, default: Duration) -> Duration {
        parse_duration(self.get(SCRAPE_TIMEOUT_LABEL)).unwrap_or(default)
    }

    /// Identity within a pool: FNV-1a over the label hash and the URL, as
    /// Prometheus' `Target.hash()`, so a target keeps its loop across
    /// discovery updates as long as its labels and URL stay the same.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv64a::new();
        h.write(format!("{:016}", self.labels.stable_hash()).as_bytes());
        h.write(self.url().as_bytes());
        h.finish()
    }

    /// How long after `now_nanos` (Unix nanoseconds) the first scrape should
    /// happen, so that the targets of a server spread over the interval and a
    /// target is scraped at the same phase after a restart (Prometheus'
    /// `Target.offset()`).
    pub fn offset(&self, interval: Duration, jitter_seed: u64, now_nanos: i64) -> Duration {
        let iv = interval.as_nanos().min(i64::MAX as u128) as i64;
        if iv <= 0 {
            return Duration::ZERO;
        }
        let base = iv - now_nanos.rem_euclid(iv);
        let offset = ((self.hash() ^ jitter_seed) % iv as u64) as i64;
        let mut next = base + offset;
        if next > iv {
            next -= iv;
        }
        Duration::from_nanos(next as u64)
    }
}

/// 64-bit FNV-1a, the hash Prometheus uses for target offsets and jitter.
pub(crate) struct Fnv64a(u64);

impl Fnv64a {
    pub(crate) fn new() -> Self {
        Fnv64a(0xcbf2_9ce4_8422_2325)
    }
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// The outcome of [`populate_labels`] for one discovered label set.
#[derive(Debug, Clone, PartialEq)]
pub enum Populated {
    /// The target is scraped with these labels (internal labels included).
    Active { labels: Labels, discovered: Labels },
    /// Relabeling dropped it; kept for `/api/v1/targets` `droppedTargets`.
    Dropped { discovered: Labels },
}

/// Prometheus 2.42 `PopulateLabels`: adds the pool defaults (`job`,
/// `__scrape_interval__`, `__scrape_timeout__`, `__metrics_path__`,
/// `__scheme__`, `__param_*`) where absent, relabels with `relabel`, then
/// checks the address, adds a default port, validates interval and timeout,
/// deletes `__meta_*` and defaults `instance` to `__address__`.
pub fn populate_labels(
    lset: &Labels,
    defaults: &TargetDefaults,
    relabel: &dyn Fn(Labels) -> Option<Labels>,
) -> Result<Populated, String> {
    let interval_s = format_duration(defaults.scrape_interval);
    let timeout_s = format_duration(defaults.scrape_timeout);
    let mut lb = LabelsBuilder::from_labels(lset);
    let scrape_labels = [
        (JOB_LABEL, defaults.job_name.as_str()),
        (SCRAPE_INTERVAL_LABEL, interval_s.as_str()),
        (SCRAPE_TIMEOUT_LABEL, timeout_s.as_str()),
        (METRICS_PATH_LABEL, defaults.metrics_path.as_str()),
        (SCHEME_LABEL, defaults.scheme.as_str()),
    ];
    for (name, value) in scrape_labels {
        if lset.get(name).unwrap_or("").is_empty() {
            lb.set(name, value);
        }
    }
    for (k, vs) in &defaults.params {
        if let Some(v) = vs.first() {
            lb.set(&format!("{PARAM_LABEL_PREFIX}{k}"), v);
        }
    }
    let pre_relabel = lb.build();
    let Some(lset) = relabel(pre_relabel.clone()) else {
        return Ok(Populated::Dropped {
            discovered: pre_relabel,
        });
    };
    if lset.get(ADDRESS_LABEL).unwrap_or("").is_empty() {
        return Err("no address".to_string());
    }
    let mut lb = LabelsBuilder::from_labels(&lset);
    let mut addr = lset.get(ADDRESS_LABEL).unwrap_or("").to_string();
    let scheme = lset.get(SCHEME_LABEL).unwrap_or("");
    let needs_port =
        split_host_port(&addr).is_err() && split_host_port(&format!("{addr}:1234")).is_ok();
    if needs_port {
        match scheme {
            "http" | "" => addr.push_str(":80"),
            "https" => addr.push_str(":443"),
            _ => return Err(format!("invalid scheme: {:?}", defaults.scheme)),
        }
        lb.set(ADDRESS_LABEL, &addr);
    }
    if addr.contains('/') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    check_interval_timeout(&lset)?;
    for (n, _) in lset.iter() {
        if n.starts_with(META_LABEL_PREFIX) {
            lb.del(n);
        }
    }
    if lset.get(INSTANCE_LABEL).unwrap_or("").is_empty() {
        lb.set(INSTANCE_LABEL, &addr);
    }
    Ok(Populated::Active {
        labels: lb.build(),
        discovered: pre_relabel,
    })
}

fn check_interval_timeout(lset: &Labels) -> Result<(), String> {
    let interval = lset.get(SCRAPE_INTERVAL_LABEL).unwrap_or("");
    let interval_d =
        parse_duration(interval).map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if interval_d.is_zero() {
        return Err("scrape interval cannot be 0".to_string());
    }
    let timeout = lset.get(SCRAPE_TIMEOUT_LABEL).unwrap_or("");
    let timeout_d =
        parse_duration(timeout).map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if timeout_d.is_zero() {
        return Err("scrape timeout cannot be 0".to_string());
    }
    if timeout_d > interval_d {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout:?} > {interval:?})"
        ));
    }
    Ok(())
}

/// The targets of one discovered group (Prometheus' `TargetsFromGroup`):
/// group labels under each target's own labels, then [`populate_labels`].
/// Returns active and dropped targets, and one error per bad instance.
pub fn targets_from_group(
    group: &Group,
    defaults: &TargetDefaults,
    relabel: &dyn Fn(Labels) -> Option<Labels>,
) -> (Vec<Target>, Vec<Target>, Vec<String>) {
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut failures = Vec::new();
    for (i, tlset) in group.targets.iter().enumerate() {
        let mut lb = LabelsBuilder::from_labels(tlset);
        for (n, v) in group.labels.iter() {
            if !tlset.contains(n) {
                lb.set(n, v);
            }
        }
        match populate_labels(&lb.build(), defaults, relabel) {
            Ok(Populated::Active { labels, discovered }) => {
                active.push(Target::new(labels, discovered, defaults.params.clone()))
            }
            Ok(Populated::Dropped { discovered }) => dropped.push(Target::new(
                Labels::empty(),
                discovered,
                defaults.params.clone(),
            )),
            Err(e) => failures.push(format!("instance {i} in group {}: {e}", group.source)),
        }
    }
    (active, dropped, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> TargetDefaults {
        TargetDefaults {
            job_name: "node".into(),
            scrape_interval: Duration::from_secs(15),
            scrape_timeout: Duration::from_secs(10),
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            params: BTreeMap::new(),
        }
    }

    fn keep(l: Labels) -> Option<Labels> {
        Some(l)
    }

    fn active(p: Populated) -> (Labels, Labels) {
        match p {
            Populated::Active { labels, discovered } => (labels, discovered),
            Populated::Dropped { .. } => panic!("dropped"),
        }
    }

    #[test]
    fn defaults_job_instance_and_port() {
        let l = Labels::from_pairs(&[("__address__", "h1"), ("__meta_x", "y")]);
        let (labels, discovered) = active(populate_labels(&l, &defaults(), &keep).unwrap());
        assert_eq!(labels.get("__address__"), Some("h1:80"));
        assert_eq!(labels.get("instance"), Some("h1:80"));
        assert_eq!(labels.get("job"), Some("node"));
        assert_eq!(labels.get("__meta_x"), None);
        assert_eq!(discovered.get("__meta_x"), Some("y"));
        assert_eq!(discovered.get("__scrape_interval__"), Some("15s"));
        let t = Target::new(labels, discovered, BTreeMap::new());
        assert_eq!(
            t.labels(),
            Labels::from_pairs(&[("instance", "h1:80"), ("job", "node")])
        );
        assert_eq!(t.url(), "http://h1:80/metrics");
    }

    #[test]
    fn https_default_port_and_ipv6() {
        let l = Labels::from_pairs(&[("__address__", "h1"), ("__scheme__", "https")]);
        let (labels, _) = active(populate_labels(&l, &defaults(), &keep).unwrap());
        assert_eq!(labels.get("__address__"), Some("h1:443"));
        let l = Labels::from_pairs(&[("__address__", "[::1]")]);
        let (labels, _) = active(populate_labels(&l, &defaults(), &keep).unwrap());
        assert_eq!(labels.get("__address__"), Some("[::1]:80"));
        let l = Labels::from_pairs(&[("__address__", "h1"), ("__scheme__", "ftp")]);
        assert_eq!(
            populate_labels(&l, &defaults(), &keep).unwrap_err(),
            "invalid scheme: \"http\""
        );
    }

    #[test]
    fn errors_like_prometheus() {
        let l = Labels::from_pairs(&[("foo", "bar")]);
        assert_eq!(
            populate_labels(&l, &defaults(), &keep).unwrap_err(),
            "no address"
        );
        let l = Labels::from_pairs(&[("__address__", "h/1:80")]);
        assert_eq!(
            populate_labels(&l, &defaults(), &keep).unwrap_err(),
            "\"h/1:80\" is not a valid hostname"
        );
        let l = Labels::from_pairs(&[("__address__", "h:80"), ("__scrape_timeout__", "20s")]);
        assert_eq!(
            populate_labels(&l, &defaults(), &keep).unwrap_err(),
            "scrape timeout cannot be greater than scrape interval (\"20s\" > \"15s\")"
        );
        let l = Labels::from_pairs(&[("__address__", "h:80"), ("__scrape_interval__", "0s")]);
        assert_eq!(
            populate_labels(&l, &defaults(), &keep).unwrap_err(),
            "scrape interval cannot be 0"
        );
    }

    #[test]
    fn dropped_keeps_discovered_labels() {
        let l = Labels::from_pairs(&[("__address__", "h:1")]);
        match populate_labels(&l, &defaults(), &|_| None).unwrap() {
            Populated::Dropped { discovered } => {
                assert_eq!(discovered.get("__address__"), Some("h:1"));
                assert_eq!(discovered.get("job"), Some("node"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn params_and_param_labels_build_the_url() {
        let mut d = defaults();
        d.params
            .insert("module".into(), vec!["a".into(), "b".into()]);
        let l = Labels::from_pairs(&[("__address__", "h:9"), ("__param_target", "x y")]);
        let (labels, discovered) = active(populate_labels(&l, &d, &keep).unwrap());
        assert_eq!(labels.get("__param_module"), Some("a"));
        let t = Target::new(labels, discovered, d.params.clone());
        assert_eq!(t.url(), "http://h:9/metrics?module=a&module=b&target=x+y");
        let relabel = |l: Labels| {
            let mut b = l.to_builder();
            b.set("__param_module", "c");
            Some(b.build())
        };
        let (labels, discovered) = active(populate_labels(&l, &d, &relabel).unwrap());
        let t = Target::new(labels, discovered, d.params.clone());
        assert_eq!(t.url(), "http://h:9/metrics?module=c&module=b&target=x+y");
    }

    #[test]
    fn group_labels_under_target_labels() {
        let g = Group {
            source: "s".into(),
            targets: vec![
                Labels::from_pairs(&[("__address__", "a:1"), ("env", "t")]),
                Labels::from_pairs(&[("x", "y")]),
            ],
            labels: Labels::from_pairs(&[("env", "g"), ("team", "x")]),
        };
        let (act, dropped, errs) = targets_from_group(&g, &defaults(), &keep);
        assert_eq!(act.len(), 1);
        assert!(dropped.is_empty());
        assert_eq!(act[0].labels().get("env"), Some("t"));
        assert_eq!(act[0].labels().get("team"), Some("x"));
        assert_eq!(errs, vec!["instance 1 in group s: no address".to_string()]);
    }

    #[test]
    fn offset_is_within_interval_and_stable() {
        let l = Labels::from_pairs(&[("__address__", "h:1")]);
        let (labels, discovered) = active(populate_labels(&l, &defaults(), &keep).unwrap());
        let t = Target::new(labels, discovered, BTreeMap::new());
        let iv = Duration::from_secs(15);
        let now = 1_700_000_000_123_456_789i64;
        let o1 = t.offset(iv, 7, now);
        assert!(o1 <= iv);
        assert_eq!(o1, t.offset(iv, 7, now));
        // The phase (now + offset) mod interval does not depend on `now`.
        let phase =
            |now: i64| (now + t.offset(iv, 7, now).as_nanos() as i64) % iv.as_nanos() as i64;
        assert_eq!(phase(now), phase(now + 3_000_000_000));
    }
}
