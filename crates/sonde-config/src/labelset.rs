//! Label sets written in the configuration (`external_labels`, target group
//! `labels`, `required_matchers`): names must be valid Prometheus label
//! names and values valid UTF-8, with Prometheus' messages.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use sonde_model::{is_valid_label_name, Labels};

use crate::de::{go_quote_bytes, Ctx, FromNode};
use crate::locate::{Node, NodeKind};

/// A validated label set read from YAML, kept sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct LabelSet(pub BTreeMap<String, String>);

impl LabelSet {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    /// As a [`Labels`] (empty values are dropped, as Prometheus does).
    pub fn to_labels(&self) -> Labels {
        Labels::from_sorted(self.iter().filter(|(_, v)| !v.is_empty()))
    }
}

impl Serialize for LabelSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl FromNode for LabelSet {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let NodeKind::Map(entries) = &node.kind else {
            cx.err(
                node.mark,
                format!(
                    "cannot unmarshal {} into a label set (expected name: value pairs)",
                    node.type_name()
                ),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in entries {
            let name = k.scalar_text().unwrap_or_default().to_string();
            if !is_valid_label_name(&name) {
                cx.err(
                    k.mark,
                    format!(
                        "{name:?} is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)"
                    ),
                );
                continue;
            }
            if out.contains_key(&name) {
                cx.err(k.mark, format!("key {name:?} already set in map"));
                continue;
            }
            let value = match &v.kind {
                _ if v.is_null() => String::new(),
                NodeKind::Scalar(s) => match &s.binary {
                    Some(bytes) => match String::from_utf8(bytes.clone()) {
                        Ok(s) => s,
                        Err(_) => {
                            cx.at(name.clone(), |cx| {
                                cx.err(
                                    v.mark,
                                    format!(
                                        "{} is not a valid label value (not UTF-8)",
                                        go_quote_bytes(bytes)
                                    ),
                                )
                            });
                            continue;
                        }
                    },
                    None => s.text.clone(),
                },
                _ => {
                    cx.at(name.clone(), |cx| {
                        cx.err(
                            v.mark,
                            format!("cannot unmarshal {} into a label value", v.type_name()),
                        )
                    });
                    continue;
                }
            };
            out.insert(name, value);
        }
        Some(LabelSet(out))
    }
}
