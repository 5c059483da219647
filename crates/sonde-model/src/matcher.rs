//! Label matchers: `=`, `!=`, `=~`, `!~` with Prometheus semantics.

use std::fmt;

use crate::labels::Labels;
use crate::regex::PromRegex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {pattern:?} in matcher for label {name:?}: {source}")]
pub struct MatcherError {
    pub name: String,
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

/// One label matcher. A missing label matches as the empty string, so a
/// matcher that accepts `""` also selects series without the label.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<PromRegex>,
}

impl Matcher {
    pub fn new(op: MatchOp, name: &str, value: &str) -> Result<Self, MatcherError> {
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(PromRegex::new(value).map_err(|source| MatcherError {
                    name: name.to_string(),
                    pattern: value.to_string(),
                    source,
                })?)
            }
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// `name="value"`, which cannot fail.
    pub fn equal(name: &str, value: &str) -> Self {
        Matcher {
            name: name.to_string(),
            op: MatchOp::Equal,
            value: value.to_string(),
            regex: None,
        }
    }

    /// Whether a label value (`""` for a missing label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (&self.op, &self.regex) {
            (MatchOp::Equal, _) => self.value == value,
            (MatchOp::NotEqual, _) => self.value != value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            (_, None) => unreachable!("BUG: regex matcher built without a regex"),
        }
    }

    /// Whether the matcher selects series that lack the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// Whether a whole label set satisfies the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_label_matches_as_empty() {
        let l = Labels::from_pairs(&[("job", "a")]);
        assert!(Matcher::new(MatchOp::Equal, "env", "")
            .unwrap()
            .matches_labels(&l));
        assert!(Matcher::new(MatchOp::Regex, "env", "prod|")
            .unwrap()
            .matches_labels(&l));
        assert!(!Matcher::new(MatchOp::Regex, "env", "prod")
            .unwrap()
            .matches_labels(&l));
        assert!(Matcher::new(MatchOp::NotRegex, "job", "b.*")
            .unwrap()
            .matches_labels(&l));
        assert!(!Matcher::new(MatchOp::NotEqual, "job", "a")
            .unwrap()
            .matches_labels(&l));
    }

    #[test]
    fn bad_regex_names_label_and_pattern() {
        let e = Matcher::new(MatchOp::Regex, "job", "(")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"job\"") && e.contains("\"(\""), "{e}");
    }
}
