//! The whole configuration file: loading, cross-section checks, relative
//! path resolution, YAML output and the reload diff.
//!
//! A loaded [`Config`] is immutable and meant to be shared as
//! `Arc<Config>`; a reload builds a new one and compares it with
//! [`Config::diff`].

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde::Serialize;

use crate::alerting::AlertingConfig;
use crate::de::{decode_list, report_checks, Checks, Ctx, Fields, FromNode};
use crate::error::{ConfigError, Diagnostic};
use crate::global::{GlobalConfig, RawGlobal};
use crate::ingest::IngestConfig;
use crate::locate::{self, Node};
use crate::remote::{RemoteReadConfig, RemoteWriteConfig};
use crate::scrape::ScrapeConfig;
use crate::storage::{StorageConfig, TracingConfig};
use crate::units::join_dir;
use crate::web::WebConfig;

/// The checked configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Config {
    pub global: GlobalConfig,
    #[serde(skip_serializing_if = "AlertingConfig::is_empty")]
    pub alerting: AlertingConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rule_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrape_configs: Vec<ScrapeConfig>,
    pub storage: StorageConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<RemoteWriteConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_read: Vec<RemoteReadConfig>,
    pub web: WebConfig,
    pub ingest: IngestConfig,
}

/// How to load: Prometheus' agent mode and feature flags.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Agent mode: `alerting`, `rule_files` and `remote_read` are refused.
    pub agent_mode: bool,
    /// Expand `$VAR`/`${VAR}` in external label values from the environment.
    pub expand_external_labels: bool,
    /// Directory against which relative paths are resolved; `load_file`
    /// sets it to the file's directory. `None`: paths are kept as written.
    pub base_dir: Option<PathBuf>,
}

/// Reads and checks the configuration file at `path`.
pub fn load_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    load_file_with(path, &LoadOptions::default())
}

/// [`load_file`] with options; `base_dir` defaults to the file's directory.
pub fn load_file_with(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Config, ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut opts = opts.clone();
    if opts.base_dir.is_none() {
        opts.base_dir = Some(path.parent().map(Path::to_path_buf).unwrap_or_default());
    }
    load_str_with(&text, &path.display().to_string(), &opts)
}

/// Checks configuration text; `name` is used in messages only.
pub fn load_str(text: &str, name: &str) -> Result<Config, ConfigError> {
    load_str_with(text, name, &LoadOptions::default())
}

pub fn load_str_with(text: &str, name: &str, opts: &LoadOptions) -> Result<Config, ConfigError> {
    let root = locate::parse(text).map_err(|e| {
        ConfigError::Invalid(vec![Diagnostic {
            file: name.to_string(),
            line: e.mark.line,
            col: e.mark.col,
            path: String::new(),
            message: format!("YAML syntax error: {}", e.message),
        }])
    })?;
    let mut cx = Ctx::new(name);
    let mut cfg = match &root {
        Some(node) if !node.is_null() => decode_config(node, &mut cx),
        _ => Config::default(),
    };
    if opts.agent_mode {
        check_agent_mode(&cfg, root.as_ref(), &mut cx);
    }
    if !cx.errors.is_empty() {
        let mut errors = cx.errors;
        errors.sort_by_key(|d| (d.line, d.col));
        return Err(ConfigError::Invalid(errors));
    }
    if opts.expand_external_labels {
        cfg.global
            .expand_external_labels(&|k| std::env::var(k).ok());
    }
    if let Some(dir) = &opts.base_dir {
        cfg.set_directory(dir);
    }
    Ok(cfg)
}

/// Prometheus' `patRulePath`: a wildcard only in the last path component.
static RULE_PATH: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[^*]*(\*[^/]*)?$").expect("BUG: rule path pattern compiles")
});

fn decode_config(node: &Node, cx: &mut Ctx) -> Config {
    let Some(mut f) = Fields::new(node, cx, "config") else {
        return Config::default();
    };
    let mut cfg = Config::default();
    if let Some(g) = f.raw("global") {
        if !g.is_null() {
            if let Some(raw) = cx.at("global", |cx| RawGlobal::from_node(g, cx)) {
                cfg.global = raw.0;
            }
        }
    }
    decode_rule_files(&mut f, cx, &mut cfg.rule_files);
    decode_scrape_configs(&mut f, cx, &mut cfg);
    f.take(cx, "alerting", &mut cfg.alerting);
    f.take(cx, "storage", &mut cfg.storage);
    f.take(cx, "ingest", &mut cfg.ingest);
    f.take_opt(cx, "tracing", &mut cfg.tracing);
    let rw =
        decode_list::<RemoteWriteConfig>(&mut f, cx, "remote_write", "remote write config section");
    check_unique_names(
        cx,
        "remote_write",
        "remote write",
        rw.iter().map(|(c, n)| (c.name.as_str(), *n)),
    );
    cfg.remote_write = rw.into_iter().map(|(c, _)| c).collect();
    let rr =
        decode_list::<RemoteReadConfig>(&mut f, cx, "remote_read", "remote read config section");
    check_unique_names(
        cx,
        "remote_read",
        "remote read",
        rr.iter().map(|(c, n)| (c.name.as_str(), *n)),
    );
    cfg.remote_read = rr.into_iter().map(|(c, _)| c).collect();
    f.take(cx, "web", &mut cfg.web);
    f.finish(cx);
    cfg
}

fn decode_rule_files(f: &mut Fields<'_>, cx: &mut Ctx, out: &mut Vec<String>) {
    let Some(node) = f.raw("rule_files") else {
        return;
    };
    if node.is_null() {
        return;
    }
    let Some(files) = cx.at("rule_files", |cx| Vec::<String>::from_node(node, cx)) else {
        return;
    };
    for (i, rf) in files.iter().enumerate() {
        if !RULE_PATH.is_match(rf) {
            let mark = node.index(i).map_or(node.mark, |n| n.mark);
            cx.at("rule_files", |cx| {
                cx.at_index(i, |cx| {
                    cx.err(mark, format!("invalid rule file path {rf:?} (a wildcard is allowed in the last path component only)"))
                })
            });
        }
    }
    *out = files;
}

fn decode_scrape_configs(f: &mut Fields<'_>, cx: &mut Ctx, cfg: &mut Config) {
    let items = decode_list::<ScrapeConfig>(f, cx, "scrape_configs", "scrape config section");
    let idx_of = |n: &Node| {
        f.node().get("scrape_configs").and_then(|l| match &l.kind {
            locate::NodeKind::Seq(v) => v.iter().position(|x| std::ptr::eq(x, n)),
            _ => None,
        })
    };
    let mut seen: Vec<String> = Vec::new();
    for (mut sc, node) in items {
        let i = idx_of(node).unwrap_or(0);
        cx.at("scrape_configs", |cx| {
            cx.at_index(i, |cx| {
                let mut checks = Checks::default();
                sc.inherit(&cfg.global, &mut checks);
                if !sc.job_name.is_empty() && seen.contains(&sc.job_name) {
                    checks.fail_at(
                        "job_name",
                        format!(
                            "found multiple scrape configs with job name {:?}",
                            sc.job_name
                        ),
                    );
                }
                report_checks(node, checks, cx);
            })
        });
        seen.push(sc.job_name.clone());
        cfg.scrape_configs.push(sc);
    }
}

fn check_unique_names<'n>(
    cx: &mut Ctx,
    key: &str,
    what: &str,
    items: impl Iterator<Item = (&'n str, &'n Node)>,
) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, (name, node)) in items.enumerate() {
        if !name.is_empty() && seen.contains(&name) {
            let mark = node.key_mark("name").unwrap_or(node.mark);
            cx.at(key, |cx| {
                cx.at_index(i, |cx| {
                    cx.err(
                        mark,
                        format!("found multiple {what} configs with job name {name:?}"),
                    )
                })
            });
        }
        seen.push(name);
    }
}

fn check_agent_mode(cfg: &Config, root: Option<&Node>, cx: &mut Ctx) {
    let mut refuse = |key: &str, present: bool| {
        if present {
            let mark = root.and_then(|r| r.key_mark(key)).unwrap_or_default();
            cx.err(mark, format!("field {key} is not allowed in agent mode"));
        }
    };
    refuse("alerting", !cfg.alerting.is_empty());
    refuse("rule_files", !cfg.rule_files.is_empty());
    refuse("remote_read", !cfg.remote_read.is_empty());
}

impl Config {
    /// Resolves relative file paths against `dir` (Prometheus' `SetDirectory`).
    fn set_directory(&mut self, dir: &Path) {
        self.global.set_directory(dir);
        self.alerting.set_directory(dir);
        if let Some(t) = &mut self.tracing {
            t.tls_config.set_directory(dir);
        }
        for rf in &mut self.rule_files {
            join_dir(dir, rf);
        }
        self.scrape_configs
            .iter_mut()
            .for_each(|s| s.set_directory(dir));
        self.remote_write
            .iter_mut()
            .for_each(|s| s.set_directory(dir));
        self.remote_read
            .iter_mut()
            .for_each(|s| s.set_directory(dir));
    }

    /// The scrape config of `job`.
    pub fn scrape_config(&self, job: &str) -> Option<&ScrapeConfig> {
        self.scrape_configs.iter().find(|s| s.job_name == job)
    }

    /// What changed from `self` to `new`, for a reload.
    pub fn diff(&self, new: &Config) -> ConfigDiff {
        let mut d = ConfigDiff {
            global: self.global != new.global,
            rule_files: self.rule_files != new.rule_files,
            alerting: self.alerting != new.alerting,
            remote_write: self.remote_write != new.remote_write,
            remote_read: self.remote_read != new.remote_read,
            storage: self.storage != new.storage,
            tracing: self.tracing != new.tracing,
            web: self.web != new.web,
            ingest: self.ingest != new.ingest,
            ..ConfigDiff::default()
        };
        for sc in &new.scrape_configs {
            match self.scrape_config(&sc.job_name) {
                None => d.scrape_added.push(sc.job_name.clone()),
                Some(old) if old != sc => d.scrape_changed.push(sc.job_name.clone()),
                Some(_) => {}
            }
        }
        for sc in &self.scrape_configs {
            if new.scrape_config(&sc.job_name).is_none() {
                d.scrape_removed.push(sc.job_name.clone());
            }
        }
        d
    }
}

/// The result of [`Config::diff`]: which parts a reload must re-apply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigDiff {
    pub global: bool,
    pub rule_files: bool,
    pub alerting: bool,
    pub remote_write: bool,
    pub remote_read: bool,
    pub storage: bool,
    pub tracing: bool,
    pub web: bool,
    pub ingest: bool,
    /// Job names, in the new file's order.
    pub scrape_added: Vec<String>,
    pub scrape_changed: Vec<String>,
    /// Job names, in the old file's order.
    pub scrape_removed: Vec<String>,
}

impl ConfigDiff {
    pub fn is_empty(&self) -> bool {
        *self == ConfigDiff::default()
    }
}

/// The effective configuration (defaults filled in) as YAML, secrets shown
/// as `<secret>`, as Prometheus serves it at `/api/v1/status/config`.
pub fn to_yaml(cfg: &Config) -> String {
    serde_yaml::to_string(cfg).unwrap_or_else(|e| format!("<error creating config string: {e}>"))
}
