//! `kubernetes_sd_configs`, with Prometheus 2.42's rules on roles,
//! selectors, `api_server`, `kubeconfig_file` and own-namespace discovery.

use std::path::Path;

use serde::Serialize;

use crate::de::{Checks, Ctx, Decode, Fields};
use crate::http::HttpClientConfig;
use crate::units::{is_false, join_dir};
use crate::url::ConfigUrl;

const ROLES: [&str; 6] = [
    "pod",
    "service",
    "endpoints",
    "endpointslice",
    "node",
    "ingress",
];

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NamespaceDiscovery {
    #[serde(skip_serializing_if = "is_false")]
    pub own_namespace: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

impl Decode for NamespaceDiscovery {
    const TYPE: &'static str = "kubernetes.NamespaceDiscovery";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "own_namespace", &mut self.own_namespace);
        f.take(cx, "names", &mut self.names);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SelectorConfig {
    pub role: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl Decode for SelectorConfig {
    const TYPE: &'static str = "kubernetes.SelectorConfig";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "role", &mut self.role);
        f.take(cx, "label", &mut self.label);
        f.take(cx, "field", &mut self.field);
    }
    fn check(&mut self, c: &mut Checks) {
        check_role(&self.role, true, c);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AttachMetadata {
    pub node: bool,
}

impl Decode for AttachMetadata {
    const TYPE: &'static str = "kubernetes.AttachMetadataConfig";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "node", &mut self.node);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct KubernetesSdConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server: Option<ConfigUrl>,
    pub role: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kubeconfig_file: String,
    #[serde(flatten)]
    pub http: HttpClientConfig,
    #[serde(skip_serializing_if = "is_default_ns")]
    pub namespaces: NamespaceDiscovery,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<SelectorConfig>,
    #[serde(skip_serializing_if = "is_default_attach")]
    pub attach_metadata: AttachMetadata,
}

fn is_default_ns(n: &NamespaceDiscovery) -> bool {
    *n == NamespaceDiscovery::default()
}

fn is_default_attach(a: &AttachMetadata) -> bool {
    !a.node
}

fn check_role(role: &str, allow_empty: bool, c: &mut Checks) {
    if !(ROLES.contains(&role) || allow_empty && role.is_empty()) {
        c.fail_at(
            "role",
            format!(
                "unknown Kubernetes SD role {role:?} (one of: {})",
                ROLES.join(", ")
            ),
        );
    }
}

impl Decode for KubernetesSdConfig {
    const TYPE: &'static str = "kubernetes.plain";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take_opt(cx, "api_server", &mut self.api_server);
        f.take(cx, "role", &mut self.role);
        f.take(cx, "kubeconfig_file", &mut self.kubeconfig_file);
        self.http.take_fields(f, cx);
        f.take(cx, "namespaces", &mut self.namespaces);
        f.take(cx, "selectors", &mut self.selectors);
        f.take(cx, "attach_metadata", &mut self.attach_metadata);
    }

    fn check(&mut self, c: &mut Checks) {
        if self.role.is_empty() {
            c.fail("role missing (one of: pod, service, endpoints, endpointslice, node, ingress)");
            return;
        }
        if !ROLES.contains(&self.role.as_str()) {
            check_role(&self.role, false, c);
            return;
        }
        let before = c.items.len();
        self.http.validate(c);
        if c.items.len() > before {
            return;
        }
        let custom_http = self.http != HttpClientConfig::default();
        let own_ns = self.namespaces.own_namespace;
        let msg = if self.api_server.is_some() && !self.kubeconfig_file.is_empty() {
            Some("cannot use 'kubeconfig_file' and 'api_server' simultaneously")
        } else if !self.kubeconfig_file.is_empty() && custom_http {
            Some("cannot use a custom HTTP client configuration together with 'kubeconfig_file'")
        } else if self.api_server.is_none() && custom_http {
            Some("to use custom HTTP client configuration please provide the 'api_server' URL explicitly")
        } else if self.api_server.is_some() && own_ns {
            Some("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously")
        } else if !self.kubeconfig_file.is_empty() && own_ns {
            Some("cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously")
        } else {
            None
        };
        if let Some(m) = msg {
            c.fail(m);
            return;
        }
        self.check_selectors(c);
    }
}

impl KubernetesSdConfig {
    fn check_selectors(&self, c: &mut Checks) {
        let allowed: &[&str] = match self.role.as_str() {
            "endpoints" => &["pod", "service", "endpoints"],
            "endpointslice" => &["pod", "service", "endpointslice"],
            "pod" => &["pod"],
            "service" => &["service"],
            "node" => &["node"],
            _ => &["ingress"],
        };
        let mut seen: Vec<&str> = Vec::new();
        for s in &self.selectors {
            if seen.contains(&s.role.as_str()) {
                c.fail_at("selectors", format!("duplicated selector role: {}", s.role));
                return;
            }
            seen.push(&s.role);
            if !allowed.contains(&s.role.as_str()) {
                c.fail_at(
                    "selectors",
                    format!(
                        "{} role supports only {} selectors",
                        self.role,
                        allowed.join(", ")
                    ),
                );
                return;
            }
            if let Err(e) = parse_field_selector(&s.field) {
                c.fail_at("selectors", e);
                return;
            }
            if let Err(e) = parse_label_selector(&s.label) {
                c.fail_at("selectors", e);
                return;
            }
        }
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.http.set_directory(dir);
        join_dir(dir, &mut self.kubeconfig_file);
    }
}

/// Kubernetes field selectors: comma-separated `key=value`, `key==value`
/// or `key!=value` terms (empty selects everything).
fn parse_field_selector(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    for term in s.split(',') {
        let ok = ["!=", "==", "="]
            .iter()
            .any(|op| term.split_once(op).is_some_and(|(k, _)| !k.is_empty()));
        if !ok {
            return Err(format!(
                "invalid selector: '{s}'; can't understand '{term}'"
            ));
        }
    }
    Ok(())
}

/// Kubernetes label selectors: `k`, `!k`, `k=v`, `k==v`, `k!=v`,
/// `k in (a,b)`, `k notin (a,b)`, comma-separated.
fn parse_label_selector(s: &str) -> Result<(), String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(());
    }
    let bad = |why: &str| {
        Err(format!(
            "unable to parse requirement in label selector {s:?}: {why}"
        ))
    };
    let mut rest = s;
    while !rest.is_empty() {
        let (term, tail) = split_top_level(rest);
        rest = tail;
        let term = term.trim();
        let key_ok = |k: &str| {
            let k = k.trim();
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        };
        if let Some(k) = term.strip_prefix('!') {
            if !key_ok(k) {
                return bad("invalid key");
            }
        } else if let Some((k, v)) = term
            .split_once(" notin ")
            .or_else(|| term.split_once(" in "))
        {
            let v = v.trim();
            if !(key_ok(k) && v.starts_with('(') && v.ends_with(')')) {
                return bad("expected a key and a (value, ...) list");
            }
        } else if let Some((k, _)) = term
            .split_once("!=")
            .or_else(|| term.split_once("=="))
            .or_else(|| term.split_once('='))
        {
            if !key_ok(k) {
                return bad("invalid key");
            }
        } else if !key_ok(term) {
            return bad("invalid key");
        }
    }
    Ok(())
}

/// Splits off one term at the first comma outside parentheses.
fn split_top_level(s: &str) -> (&str, &str) {
    let mut depth = 0;
    for (i, ch) in s.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => return (&s[..i], &s[i + 1..]),
            _ => {}
        }
    }
    (s, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert!(parse_field_selector("metadata.status=Running").is_ok());
        assert!(parse_field_selector("metadata.status-Running").is_err());
        assert!(parse_label_selector("foo in (bar,baz)").is_ok());
        assert!(parse_label_selector("foo=bar,!baz").is_ok());
        assert!(parse_label_selector("foo in bar").is_err());
    }
}
