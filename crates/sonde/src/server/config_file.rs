//! Where the configuration comes from: the `--config.file`, or, when the
//! default file does not exist, the built-in all-in-one configuration in which
//! Sonde scrapes itself.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;

/// The flag's default; only a missing *default* file falls back to the
/// built-in configuration. A file named explicitly must exist.
pub const DEFAULT_CONFIG_FILE: &str = "prometheus.yml";

/// The configuration text and the name to use for it in messages.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub name: String,
    pub text: String,
}

/// The file that `--config.file` names; `None` when that is the default
/// file and it does not exist: the built-in configuration applies, which
/// needs the address the server listens on ([`builtin`]).
pub fn read(config_file: &str) -> anyhow::Result<Option<ConfigSource>> {
    if config_file == DEFAULT_CONFIG_FILE && !Path::new(config_file).exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(config_file)
        .with_context(|| format!("cannot read --config.file {config_file}"))?;
    Ok(Some(ConfigSource {
        name: config_file.to_string(),
        text,
    }))
}

/// The built-in configuration of a server listening on `listen` under
/// `route_prefix`.
pub fn builtin(listen: SocketAddr, route_prefix: &str) -> ConfigSource {
    ConfigSource {
        name: BUILTIN_NAME.to_string(),
        text: builtin_text(listen, route_prefix),
    }
}

/// How messages name the built-in configuration.
pub const BUILTIN_NAME: &str = "<built-in all-in-one configuration>";

/// Scrapes Sonde's own `/metrics` every 15 s, as the Prometheus example
/// configuration does for Prometheus.
fn builtin_text(listen: SocketAddr, route_prefix: &str) -> String {
    let port = listen.port();
    format!(
        "# Sonde's built-in configuration: scrape this server itself.\n\
         global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n\
         scrape_configs:\n  - job_name: sonde\n    metrics_path: {route_prefix}/metrics\n    \
         static_configs:\n      - targets: [\"localhost:{port}\"]\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_config_scrapes_own_port_under_prefix() {
        let text = builtin("0.0.0.0:9191".parse().unwrap(), "/prom").text;
        assert!(text.contains("localhost:9191"), "{text}");
        assert!(text.contains("metrics_path: /prom/metrics"), "{text}");
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let e = read("/nonexistent/sonde.yml").unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/sonde.yml"), "{e:#}");
    }
}
