//! sonde-config: loading and checking `prometheus.yml` (Prometheus 2.42
//! compatible) plus Sonde's own sections, and the relabeling engine.
//!
//! ```
//! let cfg = sonde_config::load_str("scrape_configs:\n  - job_name: node\n", "inline.yml").unwrap();
//! assert_eq!(cfg.scrape_configs[0].scrape_interval, std::time::Duration::from_secs(60));
//! ```
//!
//! Loading is strict (unknown or repeated keys are errors), fills in
//! Prometheus 2.42's defaults, and reports every problem with file, line,
//! column and key path. The loaded [`Config`] is immutable; share it as
//! `Arc<Config>` and compare reloads with [`Config::diff`].

pub mod alerting;
mod config;
mod de;
mod de_scalar;
pub mod error;
pub mod global;
pub mod http;
pub mod ingest;
mod labelset;
mod locate;
pub mod relabel;
pub mod remote;
pub mod scrape;
pub mod sd;
pub mod storage;
mod targets;
pub mod units;
pub mod url;
pub mod web;

pub use config::{
    load_file, load_file_with, load_str, load_str_with, to_yaml, Config, ConfigDiff, LoadOptions,
};
pub use error::{ConfigError, Diagnostic};
pub use labelset::LabelSet;
pub use relabel::{process, process_builder, Action, RelabelConfig};
pub use targets::parse_target_groups;
