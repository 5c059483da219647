//! URL escaping as Go's `net/url` does it, so scrape URLs print exactly as
//! Prometheus prints them in `/api/v1/targets` (`scrapeUrl`).

use std::collections::BTreeMap;
use std::fmt::Write;

/// Go's `url.QueryEscape`: unreserved bytes stay, space becomes `+`, the rest
/// is `%XX` with upper-case hex.
pub(crate) fn query_escape(dst: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                dst.push(b as char)
            }
            b' ' => dst.push('+'),
            _ => {
                let _ = write!(dst, "%{b:02X}");
            }
        }
    }
}

/// Go's escaping of a URL path (`encodePath`): unreserved bytes and
/// `$&+,/:;=@` stay, the rest is `%XX`.
pub(crate) fn path_escape(dst: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b'/'
            | b':'
            | b';'
            | b'='
            | b'@' => dst.push(b as char),
            _ => {
                let _ = write!(dst, "%{b:02X}");
            }
        }
    }
}

/// Go's `url.Values.Encode`: keys sorted, each value as `k=v`, joined by `&`.
pub(crate) fn encode_query(params: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = String::new();
    for (k, vs) in params {
        for v in vs {
            if !out.is_empty() {
                out.push('&');
            }
            query_escape(&mut out, k);
            out.push('=');
            query_escape(&mut out, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let mut p = BTreeMap::new();
        p.insert("b".to_string(), vec!["x y".to_string()]);
        p.insert("a".to_string(), vec!["1/2".to_string(), "é".to_string()]);
        assert_eq!(encode_query(&p), "a=1%2F2&a=%C3%A9&b=x+y");
        let mut s = String::new();
        path_escape(&mut s, "/metrics a?");
        assert_eq!(s, "/metrics%20a%3F");
    }
}
