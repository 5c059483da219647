//! Discovery mechanisms that Prometheus 2.42 accepts but Sonde does not run
//! (cloud and orchestration APIs). Their sections are still parsed strictly
//! from a schema table (keys, types, defaults) and checked with Prometheus'
//! rules, so a `prometheus.yml` using them loads, reloads and prints (with
//! secrets hidden) exactly as it would in Prometheus.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::docker::DockerFilter;
use crate::de::{report_checks, Checks, Ctx, Fields};
use crate::http::{HttpClientConfig, TlsConfig};
use crate::locate::Node;
use crate::units::{join_dir, Secret};
use crate::url::ConfigUrl;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Secret,
    Bool,
    Int,
    Duration,
    List,
    Tls,
    Filters,
}

/// One field value of a [`GenericSdConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdValue {
    Str(String),
    Secret(Secret),
    Bool(bool),
    Int(i64),
    Duration(Duration),
    List(Vec<String>),
    Tls(TlsConfig),
    Filters(Vec<DockerFilter>),
}

impl Serialize for SdValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SdValue::Str(v) => v.serialize(s),
            SdValue::Secret(v) => v.serialize(s),
            SdValue::Bool(v) => v.serialize(s),
            SdValue::Int(v) => v.serialize(s),
            SdValue::Duration(d) => s.serialize_str(&sonde_model::format_duration(*d)),
            SdValue::List(v) => v.serialize(s),
            SdValue::Tls(v) => v.serialize(s),
            SdValue::Filters(v) => v.serialize(s),
        }
    }
}

impl SdValue {
    fn is_empty(&self) -> bool {
        match self {
            SdValue::Str(v) => v.is_empty(),
            SdValue::Secret(v) => v.is_empty(),
            SdValue::List(v) => v.is_empty(),
            SdValue::Filters(v) => v.is_empty(),
            _ => false,
        }
    }
}

/// One section of a mechanism Sonde parses but does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericSdConfig {
    /// The YAML key of its list, e.g. `azure_sd_configs`.
    pub section: &'static str,
    pub fields: Vec<(&'static str, SdValue)>,
    /// Present for mechanisms that inline HTTP client settings.
    pub http: Option<HttpClientConfig>,
}

impl GenericSdConfig {
    pub fn get(&self, key: &str) -> Option<&SdValue> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    fn str(&self, key: &str) -> &str {
        match self.get(key) {
            Some(SdValue::Str(s)) => s,
            Some(SdValue::Secret(s)) => s.expose(),
            _ => "",
        }
    }
    fn list(&self, key: &str) -> &[String] {
        match self.get(key) {
            Some(SdValue::List(l)) => l,
            _ => &[],
        }
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        for (k, v) in &mut self.fields {
            match v {
                SdValue::Str(s) if k.ends_with("_file") => join_dir(dir, s),
                SdValue::Tls(t) => t.set_directory(dir),
                _ => {}
            }
        }
        if let Some(h) = &mut self.http {
            h.set_directory(dir);
        }
    }
}

impl Serialize for GenericSdConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            fields: FieldMap<'a>,
            #[serde(flatten)]
            http: Option<&'a HttpClientConfig>,
        }
        Out {
            fields: FieldMap(&self.fields),
            http: self.http.as_ref(),
        }
        .serialize(s)
    }
}

struct FieldMap<'a>(&'a [(&'static str, SdValue)]);

impl Serialize for FieldMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.0.iter().filter(|(_, v)| !v.is_empty()) {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// The lists of generic sections, grouped under their keys for output.
pub(crate) struct GenericSections<'a>(pub &'a [GenericSdConfig]);

impl Serialize for GenericSections<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut groups: BTreeMap<&str, Vec<&GenericSdConfig>> = BTreeMap::new();
        for g in self.0 {
            groups.entry(g.section).or_default().push(g);
        }
        let mut m = s.serialize_map(Some(groups.len()))?;
        for (k, v) in groups {
            m.serialize_entry(k, &v)?;
        }
        m.end()
    }
}

/// Keys, types and defaults of one mechanism, and its checks.
pub(crate) struct Schema {
    pub section: &'static str,
    pub type_name: &'static str,
    pub fields: &'static [(&'static str, Kind, &'static str)],
    pub http: bool,
    pub check: fn(&GenericSdConfig, &mut Checks),
}

fn default_value(kind: Kind, text: &str) -> SdValue {
    match kind {
        Kind::Str => SdValue::Str(text.to_string()),
        Kind::Secret => SdValue::Secret(Secret::default()),
        Kind::Bool => SdValue::Bool(text == "true"),
        Kind::Int => SdValue::Int(text.parse().unwrap_or(0)),
        Kind::Duration => SdValue::Duration(sonde_model::parse_duration(text).unwrap_or_default()),
        Kind::List => SdValue::List(Vec::new()),
        Kind::Tls => SdValue::Tls(TlsConfig::default()),
        Kind::Filters => SdValue::Filters(Vec::new()),
    }
}

fn take_value(f: &mut Fields<'_>, cx: &mut Ctx, key: &str, v: &mut SdValue) {
    match v {
        SdValue::Str(x) => f.take(cx, key, x),
        SdValue::Secret(x) => f.take(cx, key, x),
        SdValue::Bool(x) => f.take(cx, key, x),
        SdValue::Int(x) => f.take(cx, key, x),
        SdValue::Duration(x) => f.take(cx, key, x),
        SdValue::List(x) => f.take(cx, key, x),
        SdValue::Tls(x) => f.take(cx, key, x),
        SdValue::Filters(x) => f.take(cx, key, x),
    };
}

pub(crate) fn decode(schema: &Schema, node: &Node, cx: &mut Ctx) -> Option<GenericSdConfig> {
    let mut f = Fields::new(node, cx, schema.type_name)?;
    let mut cfg = GenericSdConfig {
        section: schema.section,
        fields: schema
            .fields
            .iter()
            .map(|(k, kind, d)| (*k, default_value(*kind, d)))
            .collect(),
        http: schema.http.then(HttpClientConfig::default),
    };
    for (k, v) in &mut cfg.fields {
        take_value(&mut f, cx, k, v);
    }
    if let Some(h) = &mut cfg.http {
        h.take_fields(&mut f, cx);
    }
    f.finish(cx);
    let mut checks = Checks::default();
    (schema.check)(&cfg, &mut checks);
    if checks.items.is_empty() {
        if let Some(h) = &mut cfg.http {
            h.validate(&mut checks);
        }
    }
    report_checks(node, checks, cx);
    Some(cfg)
}

// ---- the mechanisms -------------------------------------------------------

use Kind::*;

const AWS: &[(&str, Kind, &str)] = &[
    ("endpoint", Str, ""),
    ("region", Str, ""),
    ("access_key", Str, ""),
    ("secret_key", Secret, ""),
    ("profile", Str, ""),
    ("role_arn", Str, ""),
    ("refresh_interval", Duration, "60s"),
    ("port", Int, "80"),
];

const EC2: &[(&str, Kind, &str)] = &[
    ("endpoint", Str, ""),
    ("region", Str, ""),
    ("access_key", Str, ""),
    ("secret_key", Secret, ""),
    ("profile", Str, ""),
    ("role_arn", Str, ""),
    ("refresh_interval", Duration, "60s"),
    ("port", Int, "80"),
    ("filters", Filters, ""),
];

const PORT_REFRESH: &[(&str, Kind, &str)] =
    &[("refresh_interval", Duration, "60s"), ("port", Int, "80")];

const ZOOKEEPER: &[(&str, Kind, &str)] = &[
    ("servers", List, ""),
    ("paths", List, ""),
    ("timeout", Duration, "10s"),
];

fn no_check(_: &GenericSdConfig, _: &mut Checks) {}

fn require(c: &mut Checks, cond: bool, msg: &str) -> bool {
    if !cond {
        c.fail(msg.to_string());
    }
    cond
}

fn check_azure(g: &GenericSdConfig, c: &mut Checks) {
    let need = |c: &mut Checks, key: &str| {
        require(
            c,
            !g.str(key).is_empty(),
            &format!("azure SD configuration requires a {key}"),
        )
    };
    if !need(c, "subscription_id") {
        return;
    }
    let method = g.str("authentication_method");
    if method == "OAuth"
        && !(need(c, "tenant_id") && need(c, "client_id") && need(c, "client_secret"))
    {
        return;
    }
    if method != "OAuth" && method != "ManagedIdentity" {
        c.fail_at(
            "authentication_method",
            format!("unknown authentication_type {method:?}. Supported types are \"OAuth\" or \"ManagedIdentity\""),
        );
    }
}

fn check_ec2(g: &GenericSdConfig, c: &mut Checks) {
    if !require(
        c,
        !g.str("region").is_empty(),
        "EC2 SD configuration requires a region",
    ) {
        return;
    }
    if let Some(SdValue::Filters(fs)) = g.get("filters") {
        if fs.iter().any(|f| f.values.is_empty()) {
            c.fail_at(
                "filters",
                "EC2 SD configuration filter values cannot be empty",
            );
        }
    }
}

fn check_lightsail(g: &GenericSdConfig, c: &mut Checks) {
    require(
        c,
        !g.str("region").is_empty(),
        "Lightsail SD configuration requires a region",
    );
}

fn check_server_url(g: &GenericSdConfig, c: &mut Checks, empty: &str, invalid: &str) {
    let server = g.str("server");
    if !require(c, !server.is_empty(), empty) {
        return;
    }
    match ConfigUrl::parse(server) {
        Err(e) => c.fail_at("server", e),
        Ok(u) if u.scheme().is_empty() || u.host().is_empty() => {
            c.fail_at("server", invalid.to_string())
        }
        Ok(_) => {}
    }
}

fn check_eureka(g: &GenericSdConfig, c: &mut Checks) {
    check_server_url(
        g,
        c,
        "eureka_sd: empty or null eureka server",
        "eureka_sd: invalid eureka server URL",
    );
}

fn check_kuma(g: &GenericSdConfig, c: &mut Checks) {
    let s = g.str("server").to_string();
    check_server_url(
        g,
        c,
        &format!("kuma SD server must not be empty: {s}"),
        &format!("kuma SD server must not be empty and have a scheme: {s}"),
    );
}

fn check_gce(g: &GenericSdConfig, c: &mut Checks) {
    let _ = require(
        c,
        !g.str("project").is_empty(),
        "GCE SD configuration requires a project",
    ) && require(
        c,
        !g.str("zone").is_empty(),
        "GCE SD configuration requires a zone",
    );
}

fn check_role(g: &GenericSdConfig, c: &mut Checks, roles: &[&str], missing: &str) -> bool {
    let role = g.str("role");
    if role.is_empty() {
        c.fail(missing.to_string());
        return false;
    }
    if !roles.contains(&role) {
        c.fail_at(
            "role",
            format!("unknown role {role:?} (one of: {})", roles.join(", ")),
        );
        return false;
    }
    true
}

fn check_hetzner(g: &GenericSdConfig, c: &mut Checks) {
    check_role(
        g,
        c,
        &["robot", "hcloud"],
        "role missing (one of: robot, hcloud)",
    );
}

fn check_ionos(g: &GenericSdConfig, c: &mut Checks) {
    require(
        c,
        !g.str("datacenter_id").is_empty(),
        "datacenter id can't be empty",
    );
}

fn check_marathon(g: &GenericSdConfig, c: &mut Checks) {
    let token = !g.str("auth_token").is_empty() || !g.str("auth_token_file").is_empty();
    let http = g.http.clone().unwrap_or_default();
    let msg = if g.list("servers").is_empty() {
        "marathon_sd: must contain at least one Marathon server"
    } else if !g.str("auth_token").is_empty() && !g.str("auth_token_file").is_empty() {
        "marathon_sd: at most one of auth_token & auth_token_file must be configured"
    } else if http.basic_auth.is_some() && token {
        "marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured"
    } else if (!http.bearer_token.is_empty() || !http.bearer_token_file.is_empty()) && token {
        "marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured"
    } else if http.authorization.is_some() && token {
        "marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured"
    } else {
        return;
    };
    c.fail(msg);
}

fn check_zookeeper(g: &GenericSdConfig, c: &mut Checks, name: &str) {
    if !require(
        c,
        !g.list("servers").is_empty(),
        &format!("{name} SD config must contain at least one Zookeeper server"),
    ) || !require(
        c,
        !g.list("paths").is_empty(),
        &format!("{name} SD config must contain at least one path"),
    ) {
        return;
    }
    for p in g.list("paths") {
        if !p.starts_with('/') {
            c.fail_at(
                "paths",
                format!("{name} SD config paths must begin with '/': {p}"),
            );
        }
    }
}

fn check_nerve(g: &GenericSdConfig, c: &mut Checks) {
    check_zookeeper(g, c, "nerve");
}

fn check_serverset(g: &GenericSdConfig, c: &mut Checks) {
    check_zookeeper(g, c, "serverset");
}

fn check_nomad(g: &GenericSdConfig, c: &mut Checks) {
    require(
        c,
        !g.str("server").trim().is_empty(),
        "nomad SD configuration requires a server address",
    );
}

fn check_openstack(g: &GenericSdConfig, c: &mut Checks) {
    let role = g.str("role");
    if !role.is_empty() && role != "instance" && role != "hypervisor" {
        c.fail_at(
            "role",
            format!("unknown OpenStack SD role {role:?} (one of: instance, hypervisor)"),
        );
        return;
    }
    let avail = g.str("availability");
    if !matches!(avail, "public" | "internal" | "admin") {
        c.fail_at(
            "availability",
            format!("unknown availability {avail}, must be one of admin, internal or public"),
        );
        return;
    }
    let _ = require(
        c,
        !role.is_empty(),
        "role missing (one of: instance, hypervisor)",
    ) && require(
        c,
        !g.str("region").is_empty(),
        "openstack SD configuration requires a region",
    );
}

fn check_ovhcloud(g: &GenericSdConfig, c: &mut Checks) {
    let ok = require(
        c,
        !g.str("endpoint").is_empty(),
        "endpoint can not be empty",
    ) && require(
        c,
        !g.str("application_key").is_empty(),
        "application key can not be empty",
    ) && require(
        c,
        !g.str("application_secret").is_empty(),
        "application secret can not be empty",
    ) && require(
        c,
        !g.str("consumer_key").is_empty(),
        "consumer key can not be empty",
    );
    let service = g.str("service");
    if ok && service != "vps" && service != "dedicated_server" {
        c.fail_at(
            "service",
            format!("unknown service: {service} (one of: vps, dedicated_server)"),
        );
    }
}

fn check_puppetdb(g: &GenericSdConfig, c: &mut Checks) {
    let before = c.items.len();
    super::simple::check_http_url(g.str("url"), c);
    if c.items.len() == before {
        require(c, !g.str("query").is_empty(), "query missing");
    }
}

fn check_scaleway(g: &GenericSdConfig, c: &mut Checks) {
    if !check_role(
        g,
        c,
        &["instance", "baremetal"],
        "role missing (one of: instance, baremetal)",
    ) {
        return;
    }
    let (key, file) = (
        !g.str("secret_key").is_empty(),
        !g.str("secret_key_file").is_empty(),
    );
    let _ = require(
        c,
        !g.str("project_id").is_empty(),
        "project_id is mandatory",
    ) && require(
        c,
        key || file,
        "one of secret_key & secret_key_file must be configured",
    ) && require(
        c,
        !(key && file),
        "at most one of secret_key & secret_key_file must be configured",
    ) && require(
        c,
        !g.str("access_key").is_empty(),
        "access_key is mandatory",
    );
}

fn check_triton(g: &GenericSdConfig, c: &mut Checks) {
    let role = g.str("role");
    let positive = matches!(g.get("refresh_interval"), Some(SdValue::Duration(d)) if !d.is_zero());
    let _ = require(
        c,
        role == "container" || role == "cn",
        "triton SD configuration requires role to be 'container' or 'cn'",
    ) && require(
        c,
        !g.str("account").is_empty(),
        "triton SD configuration requires an account",
    ) && require(
        c,
        !g.str("dns_suffix").is_empty(),
        "triton SD configuration requires a dns_suffix",
    ) && require(
        c,
        !g.str("endpoint").is_empty(),
        "triton SD configuration requires an endpoint",
    ) && require(
        c,
        positive,
        "triton SD configuration requires RefreshInterval to be a positive integer",
    );
}

fn check_uyuni(g: &GenericSdConfig, c: &mut Checks) {
    let ok = require(
        c,
        !g.str("server").is_empty(),
        "Uyuni SD configuration requires server host",
    );
    if !ok {
        return;
    }
    if let Err(e) = ConfigUrl::parse(g.str("server")) {
        c.fail_at("server", format!("Uyuni Server URL is not valid: {e}"));
        return;
    }
    let _ = require(
        c,
        !g.str("username").is_empty(),
        "Uyuni SD configuration requires a username",
    ) && require(
        c,
        !g.str("password").is_empty(),
        "Uyuni SD configuration requires a password",
    );
}

/// Every generic mechanism, in the order their sections are printed.
pub(crate) static SCHEMAS: &[Schema] = &[
    Schema {
        section: "azure_sd_configs",
        type_name: "azure.plain",
        fields: &[
            ("environment", Str, "AzurePublicCloud"),
            ("port", Int, "80"),
            ("subscription_id", Str, ""),
            ("tenant_id", Str, ""),
            ("client_id", Str, ""),
            ("client_secret", Secret, ""),
            ("refresh_interval", Duration, "5m"),
            ("authentication_method", Str, "OAuth"),
            ("resource_group", Str, ""),
        ],
        http: true,
        check: check_azure,
    },
    Schema {
        section: "digitalocean_sd_configs",
        type_name: "digitalocean.plain",
        fields: PORT_REFRESH,
        http: true,
        check: no_check,
    },
    Schema {
        section: "ec2_sd_configs",
        type_name: "aws.plain",
        fields: EC2,
        http: true,
        check: check_ec2,
    },
    Schema {
        section: "eureka_sd_configs",
        type_name: "eureka.plain",
        fields: &[("server", Str, ""), ("refresh_interval", Duration, "30s")],
        http: true,
        check: check_eureka,
    },
    Schema {
        section: "gce_sd_configs",
        type_name: "gce.plain",
        fields: &[
            ("project", Str, ""),
            ("zone", Str, ""),
            ("filter", Str, ""),
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
            ("tag_separator", Str, ","),
        ],
        http: false,
        check: check_gce,
    },
    Schema {
        section: "hetzner_sd_configs",
        type_name: "hetzner.plain",
        fields: &[
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
            ("role", Str, ""),
        ],
        http: true,
        check: check_hetzner,
    },
    Schema {
        section: "ionos_sd_configs",
        type_name: "ionos.plain",
        fields: &[
            ("datacenter_id", Str, ""),
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
        ],
        http: true,
        check: check_ionos,
    },
    Schema {
        section: "kuma_sd_configs",
        type_name: "xds.plainKumaConf",
        fields: &[
            ("server", Str, ""),
            ("refresh_interval", Duration, "15s"),
            ("fetch_timeout", Duration, "2m"),
        ],
        http: true,
        check: check_kuma,
    },
    Schema {
        section: "lightsail_sd_configs",
        type_name: "aws.plain",
        fields: AWS,
        http: true,
        check: check_lightsail,
    },
    Schema {
        section: "linode_sd_configs",
        type_name: "linode.plain",
        fields: &[
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
            ("tag_separator", Str, ","),
        ],
        http: true,
        check: no_check,
    },
    Schema {
        section: "marathon_sd_configs",
        type_name: "marathon.plain",
        fields: &[
            ("servers", List, ""),
            ("refresh_interval", Duration, "30s"),
            ("auth_token", Secret, ""),
            ("auth_token_file", Str, ""),
        ],
        http: true,
        check: check_marathon,
    },
    Schema {
        section: "nerve_sd_configs",
        type_name: "zookeeper.plain",
        fields: ZOOKEEPER,
        http: false,
        check: check_nerve,
    },
    Schema {
        section: "nomad_sd_configs",
        type_name: "nomad.plain",
        fields: &[
            ("allow_stale", Bool, "true"),
            ("namespace", Str, ""),
            ("refresh_interval", Duration, "60s"),
            ("region", Str, "global"),
            ("server", Str, "http://localhost:4646"),
            ("tag_separator", Str, ","),
        ],
        http: true,
        check: check_nomad,
    },
    Schema {
        section: "openstack_sd_configs",
        type_name: "openstack.plain",
        fields: &[
            ("identity_endpoint", Str, ""),
            ("username", Str, ""),
            ("userid", Str, ""),
            ("password", Secret, ""),
            ("project_name", Str, ""),
            ("project_id", Str, ""),
            ("domain_name", Str, ""),
            ("domain_id", Str, ""),
            ("application_credential_name", Str, ""),
            ("application_credential_id", Str, ""),
            ("application_credential_secret", Secret, ""),
            ("role", Str, ""),
            ("region", Str, ""),
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
            ("all_tenants", Bool, "false"),
            ("tls_config", Tls, ""),
            ("availability", Str, "public"),
        ],
        http: false,
        check: check_openstack,
    },
    Schema {
        section: "ovhcloud_sd_configs",
        type_name: "ovhcloud.plain",
        fields: &[
            ("endpoint", Str, "ovh-eu"),
            ("application_key", Str, ""),
            ("application_secret", Secret, ""),
            ("consumer_key", Secret, ""),
            ("refresh_interval", Duration, "60s"),
            ("service", Str, ""),
        ],
        http: false,
        check: check_ovhcloud,
    },
    Schema {
        section: "puppetdb_sd_configs",
        type_name: "puppetdb.plain",
        fields: &[
            ("refresh_interval", Duration, "60s"),
            ("url", Str, ""),
            ("query", Str, ""),
            ("include_parameters", Bool, "false"),
            ("port", Int, "80"),
        ],
        http: true,
        check: check_puppetdb,
    },
    Schema {
        section: "scaleway_sd_configs",
        type_name: "scaleway.plain",
        fields: &[
            ("project_id", Str, ""),
            ("api_url", Str, "https://api.scaleway.com"),
            ("zone", Str, "fr-par-1"),
            ("access_key", Str, ""),
            ("secret_key", Secret, ""),
            ("secret_key_file", Str, ""),
            ("name_filter", Str, ""),
            ("tags_filter", List, ""),
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
            ("role", Str, ""),
        ],
        http: true,
        check: check_scaleway,
    },
    Schema {
        section: "serverset_sd_configs",
        type_name: "zookeeper.plain",
        fields: ZOOKEEPER,
        http: false,
        check: check_serverset,
    },
    Schema {
        section: "triton_sd_configs",
        type_name: "triton.plain",
        fields: &[
            ("account", Str, ""),
            ("role", Str, "container"),
            ("dns_suffix", Str, ""),
            ("endpoint", Str, ""),
            ("groups", List, ""),
            ("port", Int, "9163"),
            ("refresh_interval", Duration, "60s"),
            ("tls_config", Tls, ""),
            ("version", Int, "1"),
        ],
        http: false,
        check: check_triton,
    },
    Schema {
        section: "uyuni_sd_configs",
        type_name: "uyuni.plain",
        fields: &[
            ("server", Str, ""),
            ("username", Str, ""),
            ("password", Secret, ""),
            ("entitlement", Str, "monitoring_entitled"),
            ("separator", Str, ","),
            ("refresh_interval", Duration, "1m"),
        ],
        http: true,
        check: check_uyuni,
    },
    Schema {
        section: "vultr_sd_configs",
        type_name: "vultr.plain",
        fields: PORT_REFRESH,
        http: true,
        check: no_check,
    },
];
