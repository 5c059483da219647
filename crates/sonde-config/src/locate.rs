//! A YAML document as a tree of nodes that remember where they start.
//!
//! Every node carries its [`Mark`] (1-based line and column), so that every
//! error found while decoding or validating can name the exact place in the
//! file. Aliases are resolved by cloning the anchored node, as Go's yaml.v2
//! does. Duplicate keys are kept here and reported by the decoder, which knows
//! the type being filled.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the source: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl From<Marker> for Mark {
    fn from(m: Marker) -> Self {
        Mark {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// A scalar as written: its text, whether it was quoted (a quoted scalar is
/// always a string, never null/bool/int), and the bytes of a `!!binary` one.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub quoted: bool,
    /// Set for `!!binary` scalars: the decoded bytes, which need not be UTF-8.
    pub binary: Option<Vec<u8>>,
}

impl Scalar {
    /// True for the plain scalars YAML reads as null: ``, `~`, `null`.
    pub fn is_null(&self) -> bool {
        !self.quoted
            && self.binary.is_none()
            && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub mark: Mark,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar(s) if s.is_null())
    }

    /// The YAML type name used in messages, as yaml.v2 spells them.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) if s.is_null() => "!!null",
            NodeKind::Scalar(s) if s.binary.is_some() => "!!binary",
            NodeKind::Scalar(_) => "!!str",
            NodeKind::Seq(_) => "!!seq",
            NodeKind::Map(_) => "!!map",
        }
    }

    /// The value stored under `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar_text() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The mark of `key` itself in a mapping node (where a person looks).
    pub fn key_mark(&self, key: &str) -> Option<Mark> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar_text() == Some(key))
                .map(|(k, _)| k.mark),
            _ => None,
        }
    }

    pub fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// The `i`-th element of a sequence node.
    pub fn index(&self, i: usize) -> Option<&Node> {
        match &self.kind {
            NodeKind::Seq(items) => items.get(i),
            _ => None,
        }
    }
}

/// A YAML syntax error, with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub mark: Mark,
    pub message: String,
}

/// Parses the first YAML document of `text`. `Ok(None)` for an empty stream.
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| SyntaxError {
        mark: (*e.marker()).into(),
        message: e.info().to_string(),
    })?;
    if let Some(message) = builder.error {
        return Err(SyntaxError {
            mark: builder.error_mark,
            message,
        });
    }
    Ok(builder.root)
}

enum Open {
    Seq(Node, usize),
    /// A mapping, its anchor, and a key waiting for its value.
    Map(Node, usize, Option<Node>),
}

/// Most nodes that aliases may add to a document: a handful of anchors
/// referring to each other would otherwise expand exponentially ("billion
/// laughs"). A real configuration stays far below this.
const MAX_ALIAS_NODES: usize = 1_000_000;

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    /// Anchored nodes with their sizes in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes added so far by resolving aliases.
    alias_nodes: usize,
    root: Option<Node>,
    error: Option<String>,
    error_mark: Mark,
}

impl Builder {
    fn fail(&mut self, mark: Mark, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
            self.error_mark = mark;
        }
    }

    /// Attaches a finished node to its parent (or makes it the root).
    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let size = node_size(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(parent, _)) => {
                if let NodeKind::Seq(items) = &mut parent.kind {
                    items.push(node);
                }
            }
            Some(Open::Map(parent, _, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let NodeKind::Map(entries) = &mut parent.kind {
                        entries.push((key, node));
                    }
                }
            },
        }
    }

    fn scalar(&mut self, text: String, style: TScalarStyle, tag: Option<Tag>, mark: Mark) -> Node {
        let quoted = !matches!(style, TScalarStyle::Plain);
        let mut scalar = Scalar {
            text,
            quoted,
            binary: None,
        };
        if let Some(tag) = tag {
            match (tag.handle.as_str(), tag.suffix.as_str()) {
                ("tag:yaml.org,2002:", "binary") | ("!!", "binary") => {
                    match decode_base64(&scalar.text) {
                        Some(bytes) => {
                            scalar.text = String::from_utf8_lossy(&bytes).into_owned();
                            scalar.binary = Some(bytes);
                        }
                        None => {
                            self.fail(mark, "!!binary value contains invalid base64 data".into())
                        }
                    }
                }
                // An explicit string tag makes `null`, `true`, `1` strings.
                ("tag:yaml.org,2002:", "str") | ("!!", "str") => scalar.quoted = true,
                _ => {}
            }
        }
        Node {
            kind: NodeKind::Scalar(scalar),
            mark,
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        let mark = Mark::from(marker);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let node = self.scalar(text, style, tag, mark);
                self.finish(node, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Seq(
                Node {
                    kind: NodeKind::Seq(Vec::new()),
                    mark,
                },
                anchor,
            )),
            Event::MappingStart(anchor, _) => self.stack.push(Open::Map(
                Node {
                    kind: NodeKind::Map(Vec::new()),
                    mark,
                },
                anchor,
                None,
            )),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Open::Seq(node, anchor)) | Some(Open::Map(node, anchor, _)) => {
                    let mut node = merge_keys(node);
                    // A block mapping is best pointed at by its first key.
                    if let NodeKind::Map(entries) = &node.kind {
                        if let Some((k, _)) = entries.first() {
                            node.mark = k.mark;
                        }
                    }
                    self.finish(node, anchor)
                }
                None => self.fail(mark, "unbalanced YAML collection end".into()),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((_, size)) if self.alias_nodes + size > MAX_ALIAS_NODES => self.fail(
                    mark,
                    format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                ),
                Some((node, size)) => {
                    self.alias_nodes += size;
                    let node = node.clone();
                    self.finish(node, 0)
                }
                None => self.fail(mark, "unknown anchor".into()),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

fn node_size(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar(_) => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(node_size).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| node_size(k) + node_size(v))
                .sum::<usize>()
        }
    }
}

/// Applies YAML merge keys (`<<: *anchor`), which yaml.v2 supports: keys of
/// the merged mapping(s) are added unless the mapping sets them itself.
fn merge_keys(node: Node) -> Node {
    let NodeKind::Map(entries) = node.kind else {
        return node;
    };
    if !entries
        .iter()
        .any(|(k, _)| matches!(&k.kind, NodeKind::Scalar(s) if s.text == "<<" && !s.quoted))
    {
        return Node {
            kind: NodeKind::Map(entries),
            mark: node.mark,
        };
    }
    let mut own = Vec::new();
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        let is_merge = matches!(&k.kind, NodeKind::Scalar(s) if s.text == "<<" && !s.quoted);
        if !is_merge {
            own.push((k, v));
            continue;
        }
        let sources = match v.kind {
            NodeKind::Seq(items) => items,
            other => vec![Node {
                kind: other,
                mark: v.mark,
            }],
        };
        for src in sources {
            if let NodeKind::Map(src_entries) = src.kind {
                for (sk, sv) in src_entries {
                    if !merged
                        .iter()
                        .any(|(mk, _)| mk.scalar_text() == sk.scalar_text())
                    {
                        merged.push((sk, sv));
                    }
                }
            }
        }
    }
    for (mk, mv) in merged {
        if !own.iter().any(|(k, _)| k.scalar_text() == mk.scalar_text()) {
            own.push((mk, mv));
        }
    }
    Node {
        kind: NodeKind::Map(own),
        mark: node.mark,
    }
}

/// Standard base64 (with optional padding, whitespace ignored), as YAML's
/// `!!binary` uses it.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_one_based() {
        let root = parse("a: 1\nb:\n  c: [x, y]\n").unwrap().unwrap();
        assert_eq!(root.key_mark("b"), Some(Mark { line: 2, col: 1 }));
        let c = root.get("b").unwrap().get("c").unwrap();
        assert_eq!(c.index(1).unwrap().mark, Mark { line: 3, col: 10 });
    }

    #[test]
    fn empty_document_is_none() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }

    #[test]
    fn binary_and_aliases() {
        let root = parse("a: !!binary \"/w==\"\nb: &x {k: v}\nc: *x\nd:\n  <<: *x\n  z: 1\n")
            .unwrap()
            .unwrap();
        let NodeKind::Scalar(s) = &root.get("a").unwrap().kind else {
            panic!("not a scalar")
        };
        assert_eq!(s.binary.as_deref(), Some(&[0xffu8][..]));
        assert_eq!(
            root.get("c").unwrap().get("k").unwrap().scalar_text(),
            Some("v")
        );
        assert_eq!(
            root.get("d").unwrap().get("k").unwrap().scalar_text(),
            Some("v")
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            doc.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse(&doc).unwrap_err();
        assert!(err.message.contains("aliases expand"), "{err:?}");
    }

    #[test]
    fn syntax_error_has_place() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.mark.line >= 1, "{err:?}");
    }
}
