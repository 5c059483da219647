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
    pub(crate) fn str(&self, key: &str) -> &str {
        match self.get(key) {
            Some(SdValue::Str(s)) => s,
            Some(SdValue::Secret(s)) => s.expose(),
            _ => "",
        }
    }
    pub(crate) fn list(&self, key: &str) -> &[String] {
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
