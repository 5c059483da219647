//! `web` (a Sonde key): where the HTTP API and UI listen and how they are
//! reached. Each key stands for one of Prometheus' `--web.*` flags, with the
//! same default; the server applies the file's value unless that flag is
//! given on its command line (see the sonde crate's `server::web_settings`
//! for which keys a reload changes live).

use std::time::Duration;

use serde::Serialize;
use sonde_model::PromRegex;

use crate::de::{Checks, Ctx, Decode, Fields};
use crate::units::ser_duration;
use crate::url::ConfigUrl;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebConfig {
    /// `host:port` to listen on; an empty host means all addresses.
    pub listen_address: String,
    /// The URL under which Sonde is reached from outside (behind a proxy);
    /// used in links and alert sources. Empty: derived from the listener.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub external_url: String,
    /// Path prefix of every endpoint; defaults to `external_url`'s path.
    pub route_prefix: String,
    /// Allow `POST /-/reload` and `/-/quit`.
    pub enable_lifecycle: bool,
    /// Allow `/api/v1/admin/*` (delete series, snapshots).
    pub enable_admin_api: bool,
    /// Longest time to read a request, headers and body included.
    #[serde(serialize_with = "ser_duration")]
    pub read_timeout: Duration,
    /// Simultaneous connections; 0 means no limit.
    pub max_connections: u32,
    /// Title of the web UI's pages; not applied until Sonde serves a UI.
    pub page_title: String,
    /// Anchored regex of origins allowed by CORS.
    pub cors_origin: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen_address: "0.0.0.0:9090".into(),
            external_url: String::new(),
            route_prefix: "/".into(),
            enable_lifecycle: false,
            enable_admin_api: false,
            read_timeout: Duration::from_secs(300),
            max_connections: 512,
            page_title: "Sonde".into(),
            cors_origin: ".*".into(),
        }
    }
}

impl Decode for WebConfig {
    const TYPE: &'static str = "web";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "listen_address", &mut self.listen_address);
        f.take(cx, "external_url", &mut self.external_url);
        let prefix_set = f.take(cx, "route_prefix", &mut self.route_prefix);
        f.take(cx, "enable_lifecycle", &mut self.enable_lifecycle);
        f.take(cx, "enable_admin_api", &mut self.enable_admin_api);
        f.take(cx, "read_timeout", &mut self.read_timeout);
        f.take(cx, "max_connections", &mut self.max_connections);
        f.take(cx, "page_title", &mut self.page_title);
        f.take(cx, "cors_origin", &mut self.cors_origin);
        if !prefix_set {
            self.route_prefix = String::new();
        }
    }

    fn check(&mut self, c: &mut Checks) {
        if let Err(e) = check_listen_address(&self.listen_address) {
            c.fail_at("listen_address", e);
        }
        let mut url_path = String::new();
        if !self.external_url.is_empty() {
            match ConfigUrl::parse(&self.external_url) {
                Ok(u)
                    if (u.scheme() == "http" || u.scheme() == "https") && !u.host().is_empty() =>
                {
                    url_path = path_of(&self.external_url);
                }
                _ => c.fail_at(
                    "external_url",
                    format!(
                        "{:?} is not a valid external URL (expected http(s)://host[:port][/path])",
                        self.external_url
                    ),
                ),
            }
        }
        if self.route_prefix.is_empty() {
            self.route_prefix = url_path;
        }
        normalize_prefix(&mut self.route_prefix);
        if self.read_timeout.is_zero() {
            c.fail_at(
                "read_timeout",
                "read_timeout must be greater than 0 (e.g. 5m)",
            );
        }
        if let Err(e) = PromRegex::new(&self.cors_origin) {
            let detail = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            c.fail_at(
                "cors_origin",
                format!("invalid cors_origin regex {:?}: {detail}", self.cors_origin),
            );
        }
    }
}

impl WebConfig {
    /// The route prefix the file sets; `None` when it follows the external
    /// URL's path (left out, or set to that same path).
    pub fn explicit_route_prefix(&self) -> Option<&str> {
        (self.route_prefix != path_prefix(&self.external_url)).then_some(self.route_prefix.as_str())
    }

    /// The keys set to something other than their default that the server
    /// does not apply: `page_title`, the title of the web UI, which Sonde
    /// does not serve yet. Every other key is applied (a `--web.*` flag
    /// given on the command line wins over it).
    pub fn not_applied(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.page_title != WebConfig::default().page_title {
            keys.push("page_title");
        }
        keys
    }

    /// [`WebConfig::not_applied`] as warnings for a person, one per key.
    pub fn not_applied_warnings(&self) -> Vec<String> {
        self.not_applied()
            .into_iter()
            .map(|key| {
                format!(
                    "web.{key} is not applied yet: it sets the title of the web UI, \
                     which this version of Sonde does not serve; it takes effect once the UI exists"
                )
            })
            .collect()
    }
}

/// The route prefix a checked section has when `route_prefix` is not set:
/// the external URL's path.
fn path_prefix(external_url: &str) -> String {
    let mut p = path_of(external_url);
    normalize_prefix(&mut p);
    p
}

/// A leading slash and no trailing one (but `/` itself).
fn normalize_prefix(p: &mut String) {
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    while p.len() > 1 && p.ends_with('/') {
        p.pop();
    }
}

/// `host:port` with a numeric port; the host may be empty, a name, an IPv4
/// address or a bracketed IPv6 address.
fn check_listen_address(addr: &str) -> Result<(), String> {
    let bad = || {
        format!("{addr:?} is not a valid listen address (expected host:port such as 0.0.0.0:9090 or :9090)")
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    if port.parse::<u16>().is_err() {
        return Err(bad());
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(bad());
    }
    Ok(())
}

fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..]
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert!(check_listen_address(":9090").is_ok());
        assert!(check_listen_address("0.0.0.0:9090").is_ok());
        assert!(check_listen_address("[::1]:9090").is_ok());
        assert!(check_listen_address("9090").is_err());
        assert!(check_listen_address("host:http").is_err());
        assert_eq!(path_of("https://mon.example.com/sonde/?x"), "/sonde/");
    }

    fn load(yaml: &str) -> WebConfig {
        crate::load_str(yaml, "test.yml").unwrap().web
    }

    #[test]
    fn only_page_title_is_not_applied() {
        assert!(load("").not_applied().is_empty());
        let web = load(
            "web:\n  listen_address: 127.0.0.1:9999\n  route_prefix: /x\n  enable_admin_api: true\n  cors_origin: a\n  read_timeout: 1s\n  max_connections: 3\n",
        );
        assert!(web.not_applied().is_empty());
        let web = load("web:\n  page_title: Fleet\n");
        assert_eq!(web.not_applied(), vec!["page_title"]);
        assert!(web.not_applied_warnings()[0].contains("once the UI exists"));
    }

    #[test]
    fn explicit_route_prefix_is_none_when_it_follows_the_external_url() {
        assert_eq!(load("").explicit_route_prefix(), None);
        // The prefix the external URL implies is no setting of its own.
        let web = load("web:\n  external_url: http://proxy.example/sonde/\n");
        assert_eq!(web.explicit_route_prefix(), None);
        let web = load("web:\n  external_url: http://proxy.example/sonde/\n  route_prefix: /x/\n");
        assert_eq!(web.explicit_route_prefix(), Some("/x"));
    }
}
