//! Service discovery sections (`static_configs`, `file_sd_configs`, ...) as
//! they appear inlined in scrape configs and alertmanager configs.
//!
//! Sonde runs static, file, HTTP, DNS, Consul, Docker, Docker Swarm and
//! Kubernetes discovery; their sections are typed structs. The other
//! mechanisms of Prometheus 2.42 are parsed and checked from a schema table
//! ([`GenericSdConfig`]) so that existing files load unchanged.

mod docker;
mod generic;
mod generic_schemas;
mod kubernetes;
mod simple;
mod static_sd;

use std::path::Path;

use serde::Serialize;

pub use docker::{DockerFilter, DockerSdConfig, DockerSwarmSdConfig};
pub use generic::{GenericSdConfig, SdValue};
pub use kubernetes::{AttachMetadata, KubernetesSdConfig, NamespaceDiscovery, SelectorConfig};
pub use simple::{ConsulSdConfig, DnsSdConfig, FileSdConfig, HttpSdConfig};
pub use static_sd::TargetGroup;

use crate::de::{take_list, Checks, Ctx, Fields};
use crate::locate::NodeKind;

/// All discovery sections of one scrape config or alertmanager config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SdConfigs {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<TargetGroup>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consul_sd_configs: Vec<ConsulSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub docker_sd_configs: Vec<DockerSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dockerswarm_sd_configs: Vec<DockerSwarmSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    /// Sections of mechanisms Sonde parses but does not run.
    #[serde(flatten, serialize_with = "ser_generic")]
    pub other: Vec<GenericSdConfig>,
}

fn ser_generic<S: serde::Serializer>(v: &[GenericSdConfig], s: S) -> Result<S::Ok, S::Error> {
    generic::GenericSections(v).serialize(s)
}

impl SdConfigs {
    /// Reads every `*_sd_configs` / `static_configs` key of the parent.
    pub(crate) fn take_fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        take_list(
            f,
            cx,
            "static_configs",
            "section in static_configs",
            &mut self.static_configs,
        );
        take_list(
            f,
            cx,
            "file_sd_configs",
            "section in file_sd_configs",
            &mut self.file_sd_configs,
        );
        take_list(
            f,
            cx,
            "http_sd_configs",
            "section in http_sd_configs",
            &mut self.http_sd_configs,
        );
        take_list(
            f,
            cx,
            "dns_sd_configs",
            "section in dns_sd_configs",
            &mut self.dns_sd_configs,
        );
        take_list(
            f,
            cx,
            "consul_sd_configs",
            "section in consul_sd_configs",
            &mut self.consul_sd_configs,
        );
        take_list(
            f,
            cx,
            "docker_sd_configs",
            "section in docker_sd_configs",
            &mut self.docker_sd_configs,
        );
        take_list(
            f,
            cx,
            "dockerswarm_sd_configs",
            "section in dockerswarm_sd_configs",
            &mut self.dockerswarm_sd_configs,
        );
        take_list(
            f,
            cx,
            "kubernetes_sd_configs",
            "section in kubernetes_sd_configs",
            &mut self.kubernetes_sd_configs,
        );
        for schema in generic_schemas::SCHEMAS {
            let Some(node) = f.raw(schema.section) else {
                continue;
            };
            if node.is_null() {
                continue;
            }
            cx.at(schema.section, |cx| {
                let NodeKind::Seq(items) = &node.kind else {
                    cx.err(
                        node.mark,
                        format!("cannot unmarshal {} into a list", node.type_name()),
                    );
                    return;
                };
                for (i, item) in items.iter().enumerate() {
                    cx.at_index(i, |cx| {
                        if item.is_null() {
                            cx.err(
                                item.mark,
                                format!("empty or null section in {}", schema.section),
                            );
                        } else if let Some(g) = generic::decode(schema, item, cx) {
                            self.other.push(g);
                        }
                    });
                }
            });
        }
    }

    /// Static targets must be `host:port`, unless relabeling may fix them.
    pub(crate) fn check_static_targets(&self, c: &mut Checks) {
        for tg in &self.static_configs {
            tg.check_addresses(c);
        }
    }

    pub(crate) fn set_directory(&mut self, dir: &Path) {
        self.file_sd_configs
            .iter_mut()
            .for_each(|s| s.set_directory(dir));
        self.http_sd_configs
            .iter_mut()
            .for_each(|s| s.http.set_directory(dir));
        self.consul_sd_configs
            .iter_mut()
            .for_each(|s| s.http.set_directory(dir));
        self.docker_sd_configs
            .iter_mut()
            .for_each(|s| s.http.set_directory(dir));
        self.dockerswarm_sd_configs
            .iter_mut()
            .for_each(|s| s.http.set_directory(dir));
        self.kubernetes_sd_configs
            .iter_mut()
            .for_each(|s| s.set_directory(dir));
        self.other.iter_mut().for_each(|s| s.set_directory(dir));
    }

    /// True when no discovery section is configured at all.
    pub fn is_empty(&self) -> bool {
        *self == SdConfigs::default()
    }
}
