//! Target groups: what every discovery provider produces. A group has a
//! `source` unique within its provider; a later group with the same source
//! replaces the earlier one, and an empty group deletes it.
//!
//! The JSON/YAML form is the one of file SD and HTTP SD:
//! `[{"targets": ["host:port", ...], "labels": {"name": "value"}}]`.

use std::collections::BTreeMap;

use serde::Deserialize;
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

/// The on-the-wire form of a group, unknown fields refused as Prometheus does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
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

fn from_raw(raw: Vec<Option<RawGroup>>) -> Result<Vec<Group>, String> {
    raw.into_iter()
        .map(|g| {
            let g = g.ok_or_else(|| "nil target group item found".to_string())?;
            Group::from_parts(String::new(), &g.targets, &g.labels)
        })
        .collect()
}

/// Parses a JSON list of groups (file SD `.json`, HTTP SD bodies).
pub fn parse_json_groups(body: &[u8]) -> Result<Vec<Group>, String> {
    let raw: Vec<Option<RawGroup>> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    from_raw(raw)
}

/// Parses a YAML list of groups (file SD `.yml`/`.yaml`). An empty document
/// is an empty list.
pub fn parse_yaml_groups(body: &[u8]) -> Result<Vec<Group>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let raw: Option<Vec<Option<RawGroup>>> =
        serde_yaml::from_slice(body).map_err(|e| e.to_string())?;
    from_raw(raw.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_and_yaml_alike() {
        let j = br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": []}]"#;
        let y = b"- targets: ['a:1', 'b:2']\n  labels:\n    env: prod\n- targets: []\n";
        let gj = parse_json_groups(j).unwrap();
        let gy = parse_yaml_groups(y).unwrap();
        assert_eq!(gj, gy);
        assert_eq!(gj.len(), 2);
        assert_eq!(gj[0].targets[1].get("__address__"), Some("b:2"));
        assert_eq!(gj[0].labels.get("env"), Some("prod"));
    }

    #[test]
    fn refuses_bad_input() {
        let e =
            parse_json_groups(br#"[{"targets": ["a:1"], "labels": {"a-b": "x"}}]"#).unwrap_err();
        assert_eq!(e, "\"a-b\" is not a valid label name");
        let e = parse_json_groups(br#"[{"targets": ["a:1"], "extra": 1}]"#).unwrap_err();
        assert!(e.contains("unknown field `extra`"), "{e}");
        let e = parse_json_groups(b"[null]").unwrap_err();
        assert_eq!(e, "nil target group item found");
        assert!(parse_json_groups(b"{").is_err());
        assert!(parse_yaml_groups(b"").unwrap().is_empty());
    }
}
