//! URLs as Go's `net/url.Parse` reads them, for the checks Prometheus does
//! at load time (scheme present, host present), and redacted output.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::de::{Ctx, FromNode};
use crate::locate::Node;

/// A URL from the configuration. The text is kept as written; `scheme` and
/// `host` are what Go's parser would find.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct ConfigUrl {
    text: String,
    scheme: String,
    host: String,
    has_password: bool,
}

impl ConfigUrl {
    /// Parses like Go's `url.Parse`, which accepts most strings.
    pub fn parse(s: &str) -> Result<ConfigUrl, String> {
        if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(format!(
                "parse {s:?}: net/url: invalid control character in URL"
            ));
        }
        let (scheme, rest) = split_scheme(s);
        if scheme.is_none() && s.starts_with(':') {
            return Err(format!("parse {s:?}: missing protocol scheme"));
        }
        let rest = rest.split(['#']).next().unwrap_or("");
        let rest = rest.split('?').next().unwrap_or("");
        let (host, has_password) = match rest.strip_prefix("//") {
            Some(after) => {
                let authority = after.split('/').next().unwrap_or("");
                match authority.rsplit_once('@') {
                    Some((user, host)) => (host.to_string(), user.contains(':')),
                    None => (authority.to_string(), false),
                }
            }
            None => (String::new(), false),
        };
        if scheme.is_none() {
            let first = rest.split('/').next().unwrap_or("");
            if first.contains(':') {
                return Err(format!(
                    "parse {s:?}: first path segment in URL cannot contain colon"
                ));
            }
        }
        Ok(ConfigUrl {
            text: s.to_string(),
            scheme: scheme.unwrap_or_default().to_ascii_lowercase(),
            host,
            has_password,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn scheme(&self) -> &str {
        &self.scheme
    }
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The URL with any password replaced by `xxxxx`, as Prometheus prints it.
    pub fn redacted(&self) -> String {
        if !self.has_password {
            return self.text.clone();
        }
        let Some(start) = self.text.find("//").map(|i| i + 2) else {
            return self.text.clone();
        };
        let authority_end = self.text[start..]
            .find('/')
            .map_or(self.text.len(), |i| start + i);
        let authority = &self.text[start..authority_end];
        let Some((user, host)) = authority.rsplit_once('@') else {
            return self.text.clone();
        };
        let name = user.split(':').next().unwrap_or("");
        format!(
            "{}{name}:xxxxx@{host}{}",
            &self.text[..start],
            &self.text[authority_end..]
        )
    }
}

/// `scheme:` prefix per RFC 3986 (`[a-zA-Z][a-zA-Z0-9+.-]*:`).
fn split_scheme(s: &str) -> (Option<&str>, &str) {
    for (i, c) in s.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i > 0 => return (Some(&s[..i]), &s[i + 1..]),
            _ => return (None, s),
        }
    }
    (None, s)
}

impl fmt::Debug for ConfigUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl Serialize for ConfigUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl FromNode for ConfigUrl {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let s = String::from_node(node, cx)?;
        match ConfigUrl::parse(&s) {
            Ok(u) => Some(u),
            Err(e) => {
                cx.err(node.mark, e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let u = ConfigUrl::parse("https://user:pw@host:9090/path?q=1").unwrap();
        assert_eq!((u.scheme(), u.host()), ("https", "host:9090"));
        assert_eq!(u.redacted(), "https://user:xxxxx@host:9090/path?q=1");
        let bare = ConfigUrl::parse("localhost:9090").unwrap();
        assert_eq!((bare.scheme(), bare.host()), ("localhost", ""));
        let none = ConfigUrl::parse("invalid").unwrap();
        assert_eq!((none.scheme(), none.host()), ("", ""));
        assert!(ConfigUrl::parse(":foo").is_err());
        assert!(ConfigUrl::parse("http://a\nb").is_err());
    }
}
