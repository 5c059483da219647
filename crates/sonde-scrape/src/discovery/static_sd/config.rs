//! `static_configs`: groups written in the configuration.

use crate::targetgroup::Group;

/// The groups of one job's `static_configs`, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StaticConfig {
    pub groups: Vec<Group>,
}

impl StaticConfig {
    /// Sources are the group's index, as Prometheus numbers them.
    pub fn new(groups: Vec<Group>) -> Self {
        let groups = groups
            .into_iter()
            .enumerate()
            .map(|(i, mut g)| {
                g.source = i.to_string();
                g
            })
            .collect();
        StaticConfig { groups }
    }
}
