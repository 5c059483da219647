//! Target groups: what every discovery provider produces. A group has a
//! `source` unique within its provider; a later group with the same source
//! replaces the earlier one, and an empty group deletes it.
//!
//! The JSON/YAML form is the one of file SD and HTTP SD:
//! `[{"targets": ["host:port", ...], "labels": {"name": "value"}}]`,
//! read by sonde-config's `parse_target_groups`.

use std::collections::BTreeMap;

use sonde_model::{is_valid_label_name, Labels};

use crate::target::ADDRESS_LABEL;

/// A set of targets sharing labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    /// Identifies the group within its provider (e.g. `file.json:0`).
    pub source: String,
    /// One label set per target, each with at least `__address__`.
    pub targets: Vec<Labels>,
    /// Labels common to every target; a target's own labels win.
    pub labels: Labels,
}

impl Group {
    /// Builds a group from `host:port` strings and common labels; every label
    /// name must be valid.
    pub fn from_parts(
        source: String,
        targets: &[String],
        labels: &BTreeMap<String, String>,
    ) -> Result<Group, String> {
        for name in labels.keys() {
            if !is_valid_label_name(name) {
                return Err(format!("{name:?} is not a valid label name"));
            }
        }
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Ok(Group {
            source,
            targets: targets
                .iter()
                .map(|t| Labels::from_pairs(&[(ADDRESS_LABEL, t.as_str())]))
                .collect(),
            labels: Labels::from_pairs(&pairs),
        })
    }
}

/// Parses a JSON or YAML list of groups (file SD files, HTTP SD bodies)
/// with sonde-config's strict reader; `name` (a path or URL) and the line
/// appear in errors.
pub fn parse_groups(body: &[u8], name: &str) -> Result<Vec<Group>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("{name}: invalid UTF-8: {e}"))?;
    let groups = sonde_config::parse_target_groups(text, name).map_err(|e| e.to_string())?;
    groups
        .iter()
        .map(|g| Group::from_parts(String::new(), &g.targets, &g.labels.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_and_yaml_alike() {
        let j = br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": []}]"#;
        let y = b"- targets: ['a:1', 'b:2']\n  labels:\n    env: prod\n- targets: []\n";
        let gj = parse_groups(j, "a.json").unwrap();
        let gy = parse_groups(y, "a.yml").unwrap();
        assert_eq!(gj, gy);
        assert_eq!(gj.len(), 2);
        assert_eq!(gj[0].targets[1].get("__address__"), Some("b:2"));
        assert_eq!(gj[0].labels.get("env"), Some("prod"));
    }

    #[test]
    fn refuses_bad_input() {
        let e = parse_groups(
            br#"[{"targets": ["a:1"], "labels": {"a-b": "x"}}]"#,
            "f.json",
        )
        .unwrap_err();
        assert!(e.contains("f.json") && e.contains("a-b"), "{e}");
        let e = parse_groups(b"- targets: ['a:1']\n  extra: 1\n", "f.yml").unwrap_err();
        assert!(e.contains("f.yml:2"), "{e}");
        assert!(parse_groups(b"[{", "f.json").is_err());
        assert!(parse_groups(b"\xff", "f.json").is_err());
        assert!(parse_groups(b"", "f.yml").unwrap().is_empty());
    }
}
