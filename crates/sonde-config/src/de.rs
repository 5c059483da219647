//! Strict decoding of [`Node`] trees into configuration structs.
//!
//! The rules are those of Go's `yaml.UnmarshalStrict` as Prometheus uses it:
//! a key the type does not know is an error, a key repeated in one mapping is
//! an error, a null value leaves the Go zero value (here: `Default`), and a
//! string field accepts any scalar's text. Every error is recorded in the
//! [`Ctx`] with its place and key path and decoding goes on, so that one run
//! reports every problem in the file.

use std::collections::BTreeMap;

use crate::error::Diagnostic;
use crate::locate::{Mark, Node, NodeKind};

pub(crate) use crate::de_scalar::go_quote_bytes;

/// Decoding context: the file name, the current key path, the errors so far.
pub(crate) struct Ctx {
    file: String,
    path: Vec<String>,
    pub(crate) errors: Vec<Diagnostic>,
}

impl Ctx {
    pub(crate) fn new(file: &str) -> Self {
        Ctx {
            file: file.to_string(),
            path: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn path_string(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            if !s.is_empty() && !seg.starts_with('[') {
                s.push('.');
            }
            s.push_str(seg);
        }
        s
    }

    /// Records an error at `mark` for the current path.
    pub(crate) fn err(&mut self, mark: Mark, message: impl Into<String>) {
        let path = self.path_string();
        self.errors.push(Diagnostic {
            file: self.file.clone(),
            line: mark.line,
            col: mark.col,
            path,
            message: message.into(),
        });
    }

    /// Runs `f` with `seg` appended to the key path.
    pub(crate) fn at<R>(&mut self, seg: impl Into<String>, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(seg.into());
        let r = f(self);
        self.path.pop();
        r
    }

    pub(crate) fn at_index<R>(&mut self, i: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        self.at(format!("[{i}]"), f)
    }
}

/// A value that can be read from one YAML node.
pub(crate) trait FromNode: Sized {
    /// Decodes a node that is not null. `None` after recording an error.
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self>;
}

/// Validation messages of one struct, each optionally tied to one of its keys.
#[derive(Default)]
pub(crate) struct Checks {
    pub(crate) items: Vec<(Option<&'static str>, String)>,
}

impl Checks {
    pub(crate) fn fail(&mut self, message: impl Into<String>) {
        self.items.push((None, message.into()));
    }
    pub(crate) fn fail_at(&mut self, key: &'static str, message: impl Into<String>) {
        self.items.push((Some(key), message.into()));
    }
}

/// A configuration struct: defaults from `Default`, keys read by `fields`,
/// then `check` validates the whole (as Prometheus' `UnmarshalYAML` does).
pub(crate) trait Decode: Default {
    /// The name used in "field x not found in ..." messages.
    const TYPE: &'static str;
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx);
    fn check(&mut self, _checks: &mut Checks) {}
}

impl<T: Decode> FromNode for T {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let mut f = Fields::new(node, cx, T::TYPE)?;
        let mut v = T::default();
        v.fields(&mut f, cx);
        f.finish(cx);
        let mut checks = Checks::default();
        v.check(&mut checks);
        report_checks(node, checks, cx);
        Some(v)
    }
}

/// Records validation messages at the key they concern (or the mapping).
pub(crate) fn report_checks(node: &Node, checks: Checks, cx: &mut Ctx) {
    for (key, msg) in checks.items {
        match key.and_then(|k| node.key_mark(k).map(|m| (k, m))) {
            Some((k, mark)) => cx.at(k, |cx| cx.err(mark, msg)),
            None => cx.err(node.mark, msg),
        }
    }
}

/// The keys of one mapping, consumed one by one; what is left is unknown.
pub(crate) struct Fields<'n> {
    node: &'n Node,
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    type_name: &'static str,
    /// Every key this type asked for: the valid keys, for "did you mean".
    asked: Vec<String>,
}

impl<'n> Fields<'n> {
    /// Opens a mapping node; reports a non-mapping or repeated keys.
    pub(crate) fn new(node: &'n Node, cx: &mut Ctx, type_name: &'static str) -> Option<Self> {
        let NodeKind::Map(entries) = &node.kind else {
            cx.err(
                node.mark,
                format!(
                    "cannot unmarshal {} into {type_name}: expected a mapping of keys to values",
                    node.type_name()
                ),
            );
            return None;
        };
        for (i, (k, _)) in entries.iter().enumerate() {
            let name = k.scalar_text().unwrap_or("");
            if entries[..i]
                .iter()
                .any(|(p, _)| p.scalar_text() == Some(name))
            {
                cx.err(
                    k.mark,
                    format!("field {name} already set in type {type_name}"),
                );
            }
        }
        Some(Fields {
            node,
            entries,
            used: vec![false; entries.len()],
            type_name,
            asked: Vec::new(),
        })
    }

    /// The mapping node itself.
    pub(crate) fn node(&self) -> &'n Node {
        self.node
    }

    /// Whether `key` is written in the mapping (and notes it as a valid key).
    pub(crate) fn has(&mut self, key: &str) -> bool {
        self.asked.push(key.to_string());
        self.entries
            .iter()
            .any(|(k, _)| k.scalar_text() == Some(key))
    }

    /// Takes the value node of `key` (first occurrence), marking the key known.
    pub(crate) fn raw(&mut self, key: &str) -> Option<&'n Node> {
        self.asked.push(key.to_string());
        let mut found = None;
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if k.scalar_text() == Some(key) {
                self.used[i] = true;
                if found.is_none() {
                    found = Some(v);
                }
            }
        }
        found
    }

    /// Reads `key` into `out` if present; a null value resets `out` to its
    /// zero value. Returns whether the key was present.
    pub(crate) fn take<T: FromNode + Default>(
        &mut self,
        cx: &mut Ctx,
        key: &str,
        out: &mut T,
    ) -> bool {
        let Some(v) = self.raw(key) else {
            return false;
        };
        cx.at(key, |cx| {
            if v.is_null() {
                *out = T::default();
            } else if let Some(x) = T::from_node(v, cx) {
                *out = x;
            }
        });
        true
    }

    /// Like [`Fields::take`] for an optional section: null leaves `None`.
    pub(crate) fn take_opt<T: FromNode>(
        &mut self,
        cx: &mut Ctx,
        key: &str,
        out: &mut Option<T>,
    ) -> bool {
        let Some(v) = self.raw(key) else {
            return false;
        };
        *out = if v.is_null() {
            None
        } else {
            cx.at(key, |cx| T::from_node(v, cx))
        };
        true
    }

    /// Reports every key that was not taken.
    pub(crate) fn finish(self, cx: &mut Ctx) {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let name = k.scalar_text().unwrap_or("?");
            let known: Vec<&str> = self.asked.iter().map(String::as_str).collect();
            let hint = match closest(name, &known) {
                Some(c) => format!(" (did you mean {c}?)"),
                None => String::new(),
            };
            cx.err(
                k.mark,
                format!("field {name} not found in type {}{hint}", self.type_name),
            );
        }
    }
}

/// Suggests the closest of `candidates` to `name`, for "did you mean" hints.
pub(crate) fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(name, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl<T: FromNode + Default> FromNode for Vec<T> {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let NodeKind::Seq(items) = &node.kind else {
            cx.err(
                node.mark,
                format!("cannot unmarshal {} into a list", node.type_name()),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            cx.at_index(i, |cx| {
                if item.is_null() {
                    out.push(T::default());
                } else if let Some(v) = T::from_node(item, cx) {
                    out.push(v);
                }
            });
        }
        Some(out)
    }
}

impl<T: FromNode> FromNode for Option<T> {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        if node.is_null() {
            return Some(None);
        }
        T::from_node(node, cx).map(Some)
    }
}

impl<T: FromNode + Default> FromNode for BTreeMap<String, T> {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let NodeKind::Map(entries) = &node.kind else {
            cx.err(
                node.mark,
                format!("cannot unmarshal {} into a mapping", node.type_name()),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in entries {
            let Some(key) = k.scalar_text().map(str::to_string) else {
                cx.err(k.mark, "mapping keys must be scalars");
                continue;
            };
            if out.contains_key(&key) {
                cx.err(k.mark, format!("key {key:?} already set in map"));
                continue;
            }
            cx.at(key.clone(), |cx| {
                if v.is_null() {
                    out.insert(key, T::default());
                } else if let Some(x) = T::from_node(v, cx) {
                    out.insert(key, x);
                }
            });
        }
        Some(out)
    }
}

/// Reads a list whose elements must not be null: Prometheus rejects a null
/// entry in most sections with "empty or null ..." (`what` names it). Each
/// decoded element comes with its node, for checks that span elements.
pub(crate) fn decode_list<'n, T: FromNode>(
    f: &mut Fields<'n>,
    cx: &mut Ctx,
    key: &str,
    what: &str,
) -> Vec<(T, &'n Node)> {
    let mut out = Vec::new();
    let Some(node) = f.raw(key) else { return out };
    if node.is_null() {
        return out;
    }
    cx.at(key, |cx| {
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
                    cx.err(item.mark, format!("empty or null {what}"));
                } else if let Some(v) = T::from_node(item, cx) {
                    out.push((v, item));
                }
            });
        }
    });
    out
}

/// [`decode_list`] without the nodes.
pub(crate) fn take_list<T: FromNode>(
    f: &mut Fields<'_>,
    cx: &mut Ctx,
    key: &str,
    what: &str,
    out: &mut Vec<T>,
) {
    if f.has(key) {
        *out = decode_list(f, cx, key, what)
            .into_iter()
            .map(|(v, _)| v)
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_key() {
        assert_eq!(
            closest(
                "consult_sd_configs",
                &["consul_sd_configs", "dns_sd_configs"]
            ),
            Some("consul_sd_configs")
        );
        assert_eq!(closest("zzz", &["consul_sd_configs"]), None);
    }
}
