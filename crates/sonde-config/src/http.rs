//! HTTP client settings shared by scrape configs, remote write/read,
//! alertmanagers and most service discovery sections (Prometheus'
//! `common/config.HTTPClientConfig`, inlined into its parent's keys).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::de::{Checks, Ctx, Decode, Fields};
use crate::units::{join_dir, Secret};
use crate::url::ConfigUrl;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BasicAuth {
    pub username: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password_file: String,
}

impl Decode for BasicAuth {
    const TYPE: &'static str = "basic_auth";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "username", &mut self.username);
        f.take(cx, "password", &mut self.password);
        f.take(cx, "password_file", &mut self.password_file);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Authorization {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub credentials: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
}

impl Decode for Authorization {
    const TYPE: &'static str = "authorization";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "type", &mut self.kind);
        f.take(cx, "credentials", &mut self.credentials);
        f.take(cx, "credentials_file", &mut self.credentials_file);
    }
}

/// A TLS version name: `TLS10`, `TLS11`, `TLS12`, `TLS13`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TlsVersion {
    #[serde(rename = "TLS10")]
    Tls10,
    #[serde(rename = "TLS11")]
    Tls11,
    #[serde(rename = "TLS12")]
    Tls12,
    #[serde(rename = "TLS13")]
    Tls13,
}

impl crate::de::FromNode for TlsVersion {
    fn from_node(node: &crate::locate::Node, cx: &mut Ctx) -> Option<Self> {
        let s = String::from_node(node, cx)?;
        let v = match s.as_str() {
            "TLS10" => TlsVersion::Tls10,
            "TLS11" => TlsVersion::Tls11,
            "TLS12" => TlsVersion::Tls12,
            "TLS13" => TlsVersion::Tls13,
            _ => {
                cx.err(
                    node.mark,
                    format!("unknown TLS version: {s} (expected TLS10, TLS11, TLS12 or TLS13)"),
                );
                return None;
            }
        };
        Some(v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TlsConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server_name: String,
    pub insecure_skip_verify: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_version: Option<TlsVersion>,
}

impl Decode for TlsConfig {
    const TYPE: &'static str = "tls_config";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "ca_file", &mut self.ca_file);
        f.take(cx, "cert_file", &mut self.cert_file);
        f.take(cx, "key_file", &mut self.key_file);
        f.take(cx, "server_name", &mut self.server_name);
        f.take(cx, "insecure_skip_verify", &mut self.insecure_skip_verify);
        f.take_opt(cx, "min_version", &mut self.min_version);
        f.take_opt(cx, "max_version", &mut self.max_version);
    }
}

impl TlsConfig {
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        join_dir(dir, &mut self.ca_file);
        join_dir(dir, &mut self.cert_file);
        join_dir(dir, &mut self.key_file);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct OAuth2 {
    pub client_id: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub client_secret: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_secret_file: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    pub token_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<ConfigUrl>,
    pub tls_config: TlsConfig,
}

impl Decode for OAuth2 {
    const TYPE: &'static str = "oauth2";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "client_id", &mut self.client_id);
        f.take(cx, "client_secret", &mut self.client_secret);
        f.take(cx, "client_secret_file", &mut self.client_secret_file);
        f.take(cx, "scopes", &mut self.scopes);
        f.take(cx, "token_url", &mut self.token_url);
        f.take(cx, "endpoint_params", &mut self.endpoint_params);
        f.take_opt(cx, "proxy_url", &mut self.proxy_url);
        f.take(cx, "tls_config", &mut self.tls_config);
    }
}

/// How to talk HTTP to a target or endpoint. Immutable once loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpClientConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    /// Folded into `authorization` by validation, as Prometheus does.
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub bearer_token: Secret,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bearer_token_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<ConfigUrl>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
    pub tls_config: TlsConfig,
    pub follow_redirects: bool,
    pub enable_http2: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: Secret::default(),
            bearer_token_file: String::new(),
            proxy_url: None,
            proxy_connect_header: BTreeMap::new(),
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

impl HttpClientConfig {
    /// Reads the inlined keys from the parent's mapping.
    pub(crate) fn take_fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take_opt(cx, "basic_auth", &mut self.basic_auth);
        f.take_opt(cx, "authorization", &mut self.authorization);
        f.take_opt(cx, "oauth2", &mut self.oauth2);
        f.take(cx, "bearer_token", &mut self.bearer_token);
        f.take(cx, "bearer_token_file", &mut self.bearer_token_file);
        f.take_opt(cx, "proxy_url", &mut self.proxy_url);
        f.take(cx, "proxy_connect_header", &mut self.proxy_connect_header);
        f.take(cx, "tls_config", &mut self.tls_config);
        f.take(cx, "follow_redirects", &mut self.follow_redirects);
        f.take(cx, "enable_http2", &mut self.enable_http2);
    }

    /// Prometheus' `HTTPClientConfig.Validate`, including its normalisation
    /// of `bearer_token(_file)` into `authorization` with type `Bearer`.
    pub(crate) fn validate(&mut self, c: &mut Checks) {
        let has_bearer = !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty();
        if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            c.fail("at most one of bearer_token & bearer_token_file must be configured");
            return;
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && has_bearer {
            c.fail("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
            return;
        }
        if let Some(b) = &self.basic_auth {
            if !b.password.is_empty() && !b.password_file.is_empty() {
                c.fail_at(
                    "basic_auth",
                    "at most one of basic_auth password & password_file must be configured",
                );
                return;
            }
        }
        if let Some(a) = &mut self.authorization {
            if has_bearer {
                c.fail("authorization is not compatible with bearer_token & bearer_token_file");
                return;
            }
            if !a.credentials.is_empty() && !a.credentials_file.is_empty() {
                c.fail_at("authorization", "at most one of authorization credentials & credentials_file must be configured");
                return;
            }
            a.kind = a.kind.trim().to_string();
            if a.kind.is_empty() {
                a.kind = "Bearer".to_string();
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                c.fail_at(
                    "authorization",
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                );
                return;
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                c.fail("at most one of basic_auth, oauth2 & authorization must be configured");
                return;
            }
        } else if !self.bearer_token.is_empty() {
            self.authorization = Some(Authorization {
                kind: "Bearer".into(),
                credentials: std::mem::take(&mut self.bearer_token),
                credentials_file: String::new(),
            });
        } else if !self.bearer_token_file.is_empty() {
            self.authorization = Some(Authorization {
                kind: "Bearer".into(),
                credentials: Secret::default(),
                credentials_file: std::mem::take(&mut self.bearer_token_file),
            });
        }
        if let Some(o) = &self.oauth2 {
            let msg = if self.basic_auth.is_some() {
                Some("at most one of basic_auth, oauth2 & authorization must be configured")
            } else if o.client_id.is_empty() {
                Some("oauth2 client_id must be configured")
            } else if o.client_secret.is_empty() && o.client_secret_file.is_empty() {
                Some("either oauth2 client_secret or client_secret_file must be configured")
            } else if o.token_url.is_empty() {
                Some("oauth2 token_url must be configured")
            } else if !o.client_secret.is_empty() && !o.client_secret_file.is_empty() {
                Some("at most one of oauth2 client_secret & client_secret_file must be configured")
            } else {
                None
            };
            if let Some(m) = msg {
                c.fail_at("oauth2", m);
                return;
            }
        }
        if !self.proxy_connect_header.is_empty()
            && self.proxy_url.as_ref().is_none_or(ConfigUrl::is_empty)
        {
            c.fail("if proxy_connect_header is configured proxy_url must also be configured");
        }
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.tls_config.set_directory(dir);
        if let Some(b) = &mut self.basic_auth {
            join_dir(dir, &mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join_dir(dir, &mut a.credentials_file);
        }
        if let Some(o) = &mut self.oauth2 {
            join_dir(dir, &mut o.client_secret_file);
            o.tls_config.set_directory(dir);
        }
        join_dir(dir, &mut self.bearer_token_file);
    }
}
