//! The web settings in force: each `--web.*` flag given on the command line
//! wins over the configuration file's `web:` key, and the file's key wins
//! over the flag's default (both defaults are Prometheus', see
//! `cli::tests::web_flag_defaults_are_the_config_defaults`).
//!
//! On reload, [`KEYS`] says per key whether the running server takes a new
//! value ([`Apply::Live`]: the CORS origin, the read timeout for connections
//! and requests that start after it) or needs a restart ([`Apply::Restart`]:
//! the listener, the routes and the connection limit are set up once).

use std::time::Duration;

use anyhow::Context;
use sonde_config::web::WebConfig;
use sonde_web::CorsOrigin;

use super::web_address;
use crate::cli::ServerArgs;

/// How a changed key takes effect while the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    Live,
    Restart,
}

/// A `web:` key, the flag standing for it (whose clap id is the key), how
/// a reload applies it, and its value in a [`WebSettings`].
pub struct Key {
    pub key: &'static str,
    pub flag: &'static str,
    pub apply: Apply,
    show: fn(&WebSettings) -> String,
}

impl Key {
    /// The key's value in `settings`, as text to compare and show, written
    /// as its flag takes it (no read timeout: `0s`).
    pub fn value(&self, settings: &WebSettings) -> String {
        (self.show)(settings)
    }
}

/// Every `web:` key the server applies (`page_title` waits for the UI).
pub static KEYS: [Key; 8] = [
    Key {
        key: "listen_address",
        flag: "--web.listen-address",
        apply: Apply::Restart,
        show: |s| s.listen_address.clone(),
    },
    Key {
        key: "external_url",
        flag: "--web.external-url",
        apply: Apply::Restart,
        show: |s| s.external_url.clone(),
    },
    Key {
        key: "route_prefix",
        flag: "--web.route-prefix",
        apply: Apply::Restart,
        show: |s| s.route_prefix.clone(),
    },
    Key {
        key: "enable_lifecycle",
        flag: "--web.enable-lifecycle",
        apply: Apply::Restart,
        show: |s| s.enable_lifecycle.to_string(),
    },
    Key {
        key: "enable_admin_api",
        flag: "--web.enable-admin-api",
        apply: Apply::Restart,
        show: |s| s.enable_admin_api.to_string(),
    },
    Key {
        key: "max_connections",
        flag: "--web.max-connections",
        apply: Apply::Restart,
        show: |s| s.max_connections.to_string(),
    },
    Key {
        key: "read_timeout",
        flag: "--web.read-timeout",
        apply: Apply::Live,
        show: |s| {
            s.read_timeout
                .map_or_else(|| "0s".to_string(), sonde_model::format_duration)
        },
    },
    Key {
        key: "cors_origin",
        flag: "--web.cors.origin",
        apply: Apply::Live,
        show: |s| s.cors_origin.clone(),
    },
];

/// The web settings in force. Immutable once resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSettings {
    pub listen_address: String,
    /// Resolved: `http://<hostname>:<port>/` when neither flag nor file sets it.
    pub external_url: String,
    /// Resolved: `""` or `/path`, without a trailing slash.
    pub route_prefix: String,
    pub enable_lifecycle: bool,
    pub enable_admin_api: bool,
    /// `None`: no limit (`--web.read-timeout=0s`).
    pub read_timeout: Option<Duration>,
    /// 0: no limit.
    pub max_connections: u32,
    pub cors_origin: String,
}

impl WebSettings {
    /// The settings from `args` and the file's `web` section (`file` names
    /// the file in messages). Fails when a flag's value is invalid (the
    /// file's were checked when it was loaded).
    pub fn resolve(args: &ServerArgs, web: &WebConfig, file: &str) -> anyhow::Result<WebSettings> {
        let flag = |id: &str| args.is_given(id);
        let listen_address = if flag("listen_address") {
            args.listen_address.clone()
        } else {
            web.listen_address.clone()
        };
        let external_url = if flag("external_url") {
            &args.external_url
        } else {
            &web.external_url
        };
        let route_prefix = if flag("route_prefix") {
            args.route_prefix.as_deref()
        } else {
            web.explicit_route_prefix()
        };
        let (external_url, route_prefix) =
            web_address::resolve(&listen_address, external_url, route_prefix)
                .with_context(|| format!("web settings from the flags and {file}"))?;
        let read_timeout = if flag("read_timeout") {
            let t = sonde_model::parse_duration(&args.read_timeout).with_context(|| {
                format!(
                    "--web.read-timeout {:?} is not a duration (e.g. 5m, 30s)",
                    args.read_timeout
                )
            })?;
            Some(t).filter(|t| !t.is_zero())
        } else {
            Some(web.read_timeout)
        };
        let cors_origin = if flag("cors_origin") {
            CorsOrigin::new(&args.cors_origin)
                .map_err(|e| anyhow::anyhow!("--web.cors.origin: {e}"))?;
            args.cors_origin.clone()
        } else {
            web.cors_origin.clone()
        };
        Ok(WebSettings {
            listen_address,
            external_url,
            route_prefix,
            enable_lifecycle: pick(
                flag("enable_lifecycle"),
                args.enable_lifecycle,
                web.enable_lifecycle,
            ),
            enable_admin_api: pick(
                flag("enable_admin_api"),
                args.enable_admin_api,
                web.enable_admin_api,
            ),
            read_timeout,
            max_connections: pick(
                flag("max_connections"),
                args.max_connections,
                web.max_connections,
            ),
            cors_origin,
        })
    }

    /// The compiled CORS origin (checked when resolved).
    pub fn cors(&self) -> anyhow::Result<CorsOrigin> {
        CorsOrigin::new(&self.cors_origin).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The keys whose value differs between `self` and `other`.
    pub fn changed(&self, other: &WebSettings) -> Vec<&'static Key> {
        KEYS.iter()
            .filter(|k| k.value(self) != k.value(other))
            .collect()
    }

    /// The keys the file sets (to something other than the default) that
    /// a flag given on the command line overrides with another value.
    pub fn overridden(args: &ServerArgs, web: &WebConfig) -> Vec<&'static Key> {
        let default = WebSettings::unresolved_file(&WebConfig::default());
        let file = WebSettings::unresolved_file(web);
        let flags = WebSettings {
            listen_address: args.listen_address.clone(),
            external_url: args.external_url.clone(),
            route_prefix: args.route_prefix.clone().unwrap_or_default(),
            enable_lifecycle: args.enable_lifecycle,
            enable_admin_api: args.enable_admin_api,
            read_timeout: sonde_model::parse_duration(&args.read_timeout).ok(),
            max_connections: args.max_connections,
            cors_origin: args.cors_origin.clone(),
        };
        file.changed(&flags)
            .into_iter()
            .filter(|k| args.is_given(k.key) && k.value(&file) != k.value(&default))
            .collect()
    }

    /// The file's values as they are written (the route prefix only when
    /// set explicitly), for comparing with the flags'.
    fn unresolved_file(web: &WebConfig) -> WebSettings {
        WebSettings {
            listen_address: web.listen_address.clone(),
            external_url: web.external_url.clone(),
            route_prefix: web.explicit_route_prefix().unwrap_or_default().to_string(),
            enable_lifecycle: web.enable_lifecycle,
            enable_admin_api: web.enable_admin_api,
            read_timeout: Some(web.read_timeout),
            max_connections: web.max_connections,
            cors_origin: web.cors_origin.clone(),
        }
    }

    /// The `--web.*` flags as in force (flag, else file, else default), as
    /// `/api/v1/status/flags` shows them: flag name without `--`, value as
    /// the flag would be written.
    pub fn flag_values(&self) -> Vec<(&'static str, String)> {
        KEYS.iter()
            .map(|k| (k.flag.trim_start_matches("--"), k.value(self)))
            .collect()
    }
}

fn pick<T>(flag_given: bool, flag: T, file: T) -> T {
    if flag_given {
        flag
    } else {
        file
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;

    fn args(flags: &[&str]) -> ServerArgs {
        let mut argv = vec!["sonde"];
        argv.extend_from_slice(flags);
        Cli::try_parse_noting_given(argv).unwrap().server
    }

    fn web(yaml: &str) -> WebConfig {
        sonde_config::load_str(yaml, "t.yml").unwrap().web
    }

    fn resolve(flags: &[&str], yaml: &str) -> WebSettings {
        WebSettings::resolve(&args(flags), &web(yaml), "t.yml").unwrap()
    }

    #[test]
    fn a_given_flag_wins_and_the_file_wins_over_a_default() {
        let yaml = "web:\n  listen_address: 127.0.0.1:9999\n  max_connections: 7\n  read_timeout: 1m\n  enable_lifecycle: true\n";
        let s = resolve(&[], yaml);
        assert_eq!(s.listen_address, "127.0.0.1:9999");
        assert_eq!(s.max_connections, 7);
        assert_eq!(s.read_timeout, Some(Duration::from_secs(60)));
        assert!(s.enable_lifecycle);
        // Flags given with their default values still win.
        let s = resolve(
            &[
                "--web.listen-address=0.0.0.0:9090",
                "--web.max-connections=512",
                "--web.read-timeout=0s",
            ],
            yaml,
        );
        assert_eq!(s.listen_address, "0.0.0.0:9090");
        assert_eq!(s.max_connections, 512);
        assert_eq!(s.read_timeout, None, "0s: no limit");
        assert!(
            s.enable_lifecycle,
            "a boolean flag left out does not turn the file's off"
        );
    }

    #[test]
    fn the_route_prefix_follows_the_external_url_in_force() {
        let yaml = "web:\n  external_url: http://proxy.example/from-file/\n";
        assert_eq!(resolve(&[], yaml).route_prefix, "/from-file");
        let s = resolve(
            &["--web.external-url=http://other.example/from-flag/"],
            yaml,
        );
        assert_eq!(s.route_prefix, "/from-flag");
        assert_eq!(s.external_url, "http://other.example/from-flag/");
        let yaml = "web:\n  external_url: http://proxy.example/x/\n  route_prefix: /set\n";
        assert_eq!(resolve(&[], yaml).route_prefix, "/set");
        assert_eq!(
            resolve(&["--web.route-prefix=/flag"], yaml).route_prefix,
            "/flag"
        );
    }

    #[test]
    fn bad_flag_values_are_errors_naming_the_flag() {
        let e =
            WebSettings::resolve(&args(&["--web.cors.origin=("]), &web(""), "t.yml").unwrap_err();
        assert!(format!("{e:#}").contains("--web.cors.origin"), "{e:#}");
        let e = WebSettings::resolve(&args(&["--web.read-timeout=soon"]), &web(""), "t.yml")
            .unwrap_err();
        assert!(format!("{e:#}").contains("--web.read-timeout"), "{e:#}");
    }

    #[test]
    fn changed_and_overridden_keys() {
        let a = resolve(&[], "");
        let b = resolve(&[], "web:\n  cors_origin: x\n  route_prefix: /p\n");
        let changed: Vec<_> = a.changed(&b).iter().map(|k| (k.key, k.apply)).collect();
        assert_eq!(
            changed,
            [
                ("route_prefix", Apply::Restart),
                ("cors_origin", Apply::Live)
            ]
        );
        let file = web("web:\n  max_connections: 3\n  cors_origin: x\n");
        let over: Vec<_> = WebSettings::overridden(
            &args(&["--web.max-connections=4", "--web.cors.origin=x"]),
            &file,
        )
        .iter()
        .map(|k| k.key)
        .collect();
        assert_eq!(over, ["max_connections"], "the same value is no override");
    }
}
