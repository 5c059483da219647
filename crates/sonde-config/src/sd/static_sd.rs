//! `static_configs`: target groups written in the configuration, and the
//! target group format that file and HTTP discovery read.

use serde::Serialize;

use crate::de::{Checks, Ctx, Decode, Fields};
use crate::labelset::LabelSet;

/// A list of `host:port` targets sharing a set of labels.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    #[serde(skip_serializing_if = "LabelSet::is_empty")]
    pub labels: LabelSet,
}

impl Decode for TargetGroup {
    const TYPE: &'static str = "target_group";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        f.take(cx, "targets", &mut self.targets);
        f.take(cx, "labels", &mut self.labels);
    }
}

impl TargetGroup {
    /// Prometheus' `checkStaticTargets`, applied when a scrape config has no
    /// relabel rules that could rewrite the address.
    pub(crate) fn check_addresses(&self, c: &mut Checks) {
        for t in &self.targets {
            if t.contains('/') {
                c.fail_at(
                    "targets",
                    format!("{t:?} is not a valid hostname (targets are host:port, not URLs)"),
                );
            }
        }
    }
}
