//! The relabel rule, its defaults and its load-time validation, with the
//! messages of Prometheus 2.42's `relabel.Config.UnmarshalYAML`.

use std::fmt;
use std::sync::LazyLock;

use serde::{Serialize, Serializer};
use sonde_model::{is_valid_label_name, PromRegex};

use crate::de::{report_checks, Checks, Ctx, Fields, FromNode};
use crate::locate::Node;

/// What a relabel rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Case-insensitive, as Prometheus reads it.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One relabel rule. Defaults: separator `;`, regex `(.*)`, replacement
/// `$1`, action `replace`. The regex is anchored at both ends.
#[derive(Debug, Clone, PartialEq)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    pub regex: PromRegex,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

/// Written as Prometheus writes it, except that keys an action forbids are
/// left out when they hold their defaults, so the output loads again.
impl Serialize for RelabelConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let equal = matches!(self.action, Action::KeepEqual | Action::DropEqual);
        let label_set = matches!(self.action, Action::LabelDrop | Action::LabelKeep);
        let mut m = s.serialize_map(None)?;
        if !self.source_labels.is_empty() {
            m.serialize_entry("source_labels", &self.source_labels)?;
        }
        if !self.separator.is_empty() && !((equal || label_set) && self.separator == ";") {
            m.serialize_entry("separator", &self.separator)?;
        }
        if !(self.regex.as_str().is_empty() || equal && self.regex.as_str() == DEFAULT_REGEX) {
            m.serialize_entry("regex", self.regex.as_str())?;
        }
        if self.modulus != 0 {
            m.serialize_entry("modulus", &self.modulus)?;
        }
        if !self.target_label.is_empty() {
            m.serialize_entry("target_label", &self.target_label)?;
        }
        if !self.replacement.is_empty() && !((equal || label_set) && self.replacement == "$1") {
            m.serialize_entry("replacement", &self.replacement)?;
        }
        m.serialize_entry("action", &self.action)?;
        m.end()
    }
}

pub(crate) const DEFAULT_REGEX: &str = "(.*)";

static DEFAULT_PROM_REGEX: LazyLock<PromRegex> =
    LazyLock::new(|| PromRegex::new(DEFAULT_REGEX).expect("BUG: default relabel regex compiles"));

/// What a target label (or labelmap replacement) must look like before
/// expansion: name characters and `$name`/`${name}` references.
static RELABEL_TARGET: LazyLock<PromRegex> = LazyLock::new(|| {
    PromRegex::new(r"(?:(?:[a-zA-Z_]|\$(?:\{[a-zA-Z0-9_]+\}|[a-zA-Z0-9_]+))+[a-zA-Z0-9_]*)+")
        .expect("BUG: relabel target pattern compiles")
});

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: ";".to_string(),
            regex: DEFAULT_PROM_REGEX.clone(),
            modulus: 0,
            target_label: String::new(),
            replacement: "$1".to_string(),
            action: Action::Replace,
        }
    }
}

impl RelabelConfig {
    /// Builds and validates a rule from code (tests, built-in rules).
    pub fn new(
        action: Action,
        source_labels: &[&str],
        regex: &str,
        target_label: &str,
        replacement: &str,
    ) -> Result<RelabelConfig, String> {
        let regex_set = regex != DEFAULT_REGEX;
        let regex = PromRegex::new(regex).map_err(|e| regex_error(regex, &e))?;
        let cfg = RelabelConfig {
            source_labels: source_labels.iter().map(|s| s.to_string()).collect(),
            regex,
            target_label: target_label.to_string(),
            replacement: replacement.to_string(),
            action,
            ..RelabelConfig::default()
        };
        let mut checks = Checks::default();
        cfg.validate(regex_set, !source_labels.is_empty(), &mut checks);
        match checks.items.into_iter().next() {
            Some((_, msg)) => Err(msg),
            None => Ok(cfg),
        }
    }

    /// Prometheus' rules; `regex_set`/`sources_set` say whether those keys
    /// were written at all (Prometheus compares against the default object,
    /// so even `regex: (.*)` counts as set for keepequal/dropequal).
    fn validate(&self, regex_set: bool, sources_set: bool, c: &mut Checks) {
        let a = self.action;
        use Action::*;
        if self.modulus == 0 && a == HashMod {
            c.fail("relabel configuration for hashmod requires non-zero modulus");
            return;
        }
        let needs_target = matches!(
            a,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            c.fail(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
            return;
        }
        let templated_target = matches!(a, Replace | Lowercase | Uppercase | KeepEqual | DropEqual);
        if templated_target && !RELABEL_TARGET.is_match(&self.target_label) {
            c.fail_at(
                "target_label",
                format!(
                    "{:?} is invalid 'target_label' for {a} action",
                    self.target_label
                ),
            );
            return;
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual) && self.replacement != "$1" {
            c.fail_at(
                "replacement",
                format!("'replacement' can not be set for {a} action"),
            );
            return;
        }
        if a == LabelMap && !RELABEL_TARGET.is_match(&self.replacement) {
            c.fail_at(
                "replacement",
                format!(
                    "{:?} is invalid 'replacement' for {a} action",
                    self.replacement
                ),
            );
            return;
        }
        if a == HashMod && !is_valid_label_name(&self.target_label) {
            c.fail_at(
                "target_label",
                format!(
                    "{:?} is invalid 'target_label' for {a} action",
                    self.target_label
                ),
            );
            return;
        }
        if matches!(a, KeepEqual | DropEqual)
            && (regex_set || self.modulus != 0 || self.separator != ";" || self.replacement != "$1")
        {
            c.fail(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
            return;
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (sources_set
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != ";"
                || self.replacement != "$1")
        {
            c.fail(format!(
                "{a} action requires only 'regex', and no other fields"
            ));
        }
    }
}

fn regex_error(pattern: &str, e: &regex::Error) -> String {
    let detail = e
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    format!("error parsing regexp {pattern:?}: {detail}")
}

/// A label name list entry: must be a valid label name.
#[derive(Default)]
struct LabelName(String);

impl FromNode for LabelName {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let s = String::from_node(node, cx)?;
        if !is_valid_label_name(&s) {
            cx.err(node.mark, format!("{s:?} is not a valid label name"));
            return None;
        }
        Some(LabelName(s))
    }
}

impl FromNode for RelabelConfig {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let mut f = Fields::new(node, cx, "relabel_config")?;
        let mut cfg = RelabelConfig::default();
        let mut sources: Vec<LabelName> = Vec::new();
        // Prometheus tests for a non-nil list: `source_labels: []` is set,
        // `source_labels:` (null) is not.
        let sources_set = f.take(cx, "source_labels", &mut sources)
            && node.get("source_labels").is_some_and(|n| !n.is_null());
        cfg.source_labels = sources.into_iter().map(|l| l.0).collect();
        f.take(cx, "separator", &mut cfg.separator);
        let mut regex_ok = true;
        let regex_set = match f.raw("regex") {
            None => false,
            Some(r) => {
                let pattern = if r.is_null() {
                    Some(String::new())
                } else {
                    cx.at("regex", |cx| String::from_node(r, cx))
                };
                if let Some(p) = pattern {
                    match PromRegex::new(&p) {
                        Ok(re) => cfg.regex = re,
                        Err(e) => {
                            regex_ok = false;
                            cx.at("regex", |cx| cx.err(r.mark, regex_error(&p, &e)));
                        }
                    }
                }
                true
            }
        };
        f.take(cx, "modulus", &mut cfg.modulus);
        f.take(cx, "target_label", &mut cfg.target_label);
        f.take(cx, "replacement", &mut cfg.replacement);
        let mut action_ok = true;
        if let Some(a) = f.raw("action") {
            let text = if a.is_null() {
                Some(String::new())
            } else {
                cx.at("action", |cx| String::from_node(a, cx))
            };
            match text.as_deref().map(|t| (t, Action::parse(t))) {
                Some((_, Some(act))) => cfg.action = act,
                Some(("", None)) => {
                    action_ok = false;
                    cx.at("action", |cx| {
                        cx.err(a.mark, "relabel action cannot be empty")
                    });
                }
                Some((t, None)) => {
                    action_ok = false;
                    let valid: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                    cx.at("action", |cx| {
                        cx.err(
                            a.mark,
                            format!("unknown relabel action {t:?} (valid: {})", valid.join(", ")),
                        )
                    });
                }
                None => action_ok = false,
            }
        }
        f.finish(cx);
        if action_ok && regex_ok {
            let mut checks = Checks::default();
            cfg.validate(regex_set, sources_set, &mut checks);
            report_checks(node, checks, cx);
        }
        Some(cfg)
    }
}
