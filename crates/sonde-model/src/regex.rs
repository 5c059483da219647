//! Regular expressions with the semantics Prometheus 2.42 gives them (Go RE2).
//!
//! Prometheus anchors every label regex at both ends, and Go's RE2 differs
//! from the `regex` crate's defaults in ways a user can see: Go's `\d`, `\w`,
//! `\s` and `\b` are ASCII-only (the crate's are Unicode), Go's `\s` excludes
//! `\v`, and Go accepts `\Q...\E` literal quoting. [`PromRegex::new`] rewrites
//! those constructs into equivalent crate syntax before compiling; everything
//! else (`.` not matching `\n`, `(?i)`, `\pL`, repetition) already agrees.

use std::fmt;

/// A fully anchored regular expression with Go RE2 semantics.
#[derive(Clone)]
pub struct PromRegex {
    source: String,
    re: regex::Regex,
}

impl PromRegex {
    /// Compiles `pattern` anchored as `^(?:pattern)$`.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        let translated = translate_go_syntax(pattern);
        let re = regex::RegexBuilder::new(&format!("^(?:{translated})$"))
            .size_limit(64 << 20)
            .build()?;
        Ok(PromRegex {
            source: pattern.to_string(),
            re,
        })
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled, anchored expression, for capture-group expansion.
    pub fn inner(&self) -> &regex::Regex {
        &self.re
    }
}

impl fmt::Debug for PromRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PromRegex({:?})", self.source)
    }
}

impl PartialEq for PromRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Go's `\s`: `[\t\n\f\r ]` (no `\v`).
const GO_SPACE: &str = r"\t\n\x0C\r ";

fn translate_go_syntax(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\'); // trailing backslash: let the compiler report it
                    break;
                };
                if e == 'Q' {
                    let mut literal = String::new();
                    while let Some(q) = chars.next() {
                        if q == '\\' && chars.peek() == Some(&'E') {
                            chars.next();
                            break;
                        }
                        literal.push(q);
                    }
                    out.push_str(&regex::escape(&literal));
                    continue;
                }
                out.push_str(&translate_escape(e, in_class));
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A `]` or `^]` right after `[` is a literal, not the end.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str(r"\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // POSIX class such as [:alpha:] inside a bracket: copy verbatim.
                out.push('[');
                for p in chars.by_ref() {
                    out.push(p);
                    if p == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str(r"\["), // Go treats a nested `[` as literal
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

fn translate_escape(e: char, in_class: bool) -> String {
    let class = match (e, in_class) {
        ('d', false) => "[0-9]".to_string(),
        ('D', false) => "[^0-9]".to_string(),
        ('w', false) => "[0-9A-Za-z_]".to_string(),
        ('W', false) => "[^0-9A-Za-z_]".to_string(),
        ('s', false) => format!("[{GO_SPACE}]"),
        ('S', false) => format!("[^{GO_SPACE}]"),
        ('d', true) => "0-9".to_string(),
        ('D', true) => "[:^digit:]".to_string(),
        ('w', true) => "0-9A-Za-z_".to_string(),
        ('W', true) => "[:^word:]".to_string(),
        ('s', true) => GO_SPACE.to_string(),
        ('S', true) => "[:^space:]".to_string(),
        ('b', false) => r"(?-u:\b)".to_string(),
        ('B', false) => r"(?-u:\B)".to_string(),
        _ => format!("\\{e}"),
    };
    class
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        PromRegex::new(p).unwrap().is_match(s)
    }

    #[test]
    fn anchored_both_ends() {
        assert!(m("foo", "foo"));
        assert!(!m("foo", "xfoo"));
        assert!(!m("foo", "foox"));
        assert!(m("a|b", "b"));
        assert!(!m("a|b", "ab"));
    }

    #[test]
    fn perl_classes_are_ascii_only() {
        assert!(m(r"\d+", "123"));
        assert!(!m(r"\d", "٣")); // Arabic-Indic digit three
        assert!(!m(r"\w", "é"));
        assert!(m(r"[\w.]+", "a.b_1"));
        assert!(!m(r"[\w]", "é"));
        assert!(m(r"\s", "\t"));
        assert!(!m(r"\s", "\u{0B}")); // Go's \s has no vertical tab
        assert!(!m(r"\s", "\u{A0}"));
        assert!(m(r"[^\d]", "x"));
        assert!(m(r"[\D]", "x"));
        assert!(!m(r"[\D]", "5"));
    }

    #[test]
    fn dot_does_not_match_newline() {
        assert!(!m(".*", "a\nb"));
        assert!(m("(?s).*", "a\nb"));
    }

    #[test]
    fn go_quoting_and_classes() {
        assert!(m(r"\Qa.b\E", "a.b"));
        assert!(!m(r"\Qa.b\E", "axb"));
        assert!(m(r"[]a]+", "]a"));
        assert!(m(r"[[:alpha:]]+", "abc"));
    }

    #[test]
    fn bad_pattern_is_an_error() {
        assert!(PromRegex::new("a(").is_err());
    }
}
