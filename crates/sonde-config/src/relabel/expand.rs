//! `$1`, `${1}`, `$name` and `${name}` expansion exactly as Go's
//! `regexp.Expand`: a name is the longest run of letters, digits and `_`
//! (so `$1x` means the group named `1x`, which does not exist), an unknown
//! or unmatched group expands to nothing, `$$` is a literal `$`, and a
//! malformed reference (`$` followed by nothing usable, `${` without `}`)
//! is copied as a literal `$`.

use regex::{Captures, Regex};

/// Appends `template` expanded with `caps` (a match of `re` on `src`) to `dst`.
pub fn expand(dst: &mut String, template: &str, re: &Regex, caps: &Captures<'_>) {
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        dst.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            dst.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract(rest) else {
            dst.push('$');
            continue;
        };
        rest = after;
        match group_number(name) {
            Some(n) => {
                if let Some(m) = caps.get(n) {
                    dst.push_str(m.as_str());
                }
            }
            None => {
                // Go takes the first group with that name.
                if let Some(i) = re.capture_names().position(|g| g == Some(name)) {
                    if let Some(m) = caps.get(i) {
                        dst.push_str(m.as_str());
                    }
                }
            }
        }
    }
    dst.push_str(rest);
}

/// Splits a reference name off `s` (just after the `$`): `(name, rest)`.
fn extract(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len: usize = body
        .chars()
        .take_while(|c| c.is_alphabetic() || c.is_numeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let mut rest = &body[len..];
    if braced {
        rest = rest.strip_prefix('}')?;
    }
    Some((name, rest))
}

/// A name made only of ASCII digits, without a leading zero, below 1e8.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    let mut n: usize = 0;
    for b in name.bytes() {
        if n >= 100_000_000 {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pattern: &str, src: &str, template: &str) -> String {
        let re = Regex::new(&format!("^(?:{pattern})$")).unwrap();
        let caps = re.captures(src).unwrap();
        let mut out = String::new();
        expand(&mut out, template, &re, &caps);
        out
    }

    #[test]
    fn go_expand_rules() {
        assert_eq!(run("(a)(b)", "ab", "$2$1"), "ba");
        assert_eq!(run("(a)(b)", "ab", "${1}x"), "ax");
        assert_eq!(run("(a)(b)", "ab", "$1x"), "", "$1x names group 1x");
        assert_eq!(run("(a)(b)", "ab", "$3"), "");
        assert_eq!(run("(a)", "a", "$$1"), "$1");
        assert_eq!(run("(a)", "a", "x$"), "x$");
        assert_eq!(run("(a)", "a", "${1"), "${1");
        assert_eq!(run("(?P<n>a)", "a", "<$n>"), "<a>");
        assert_eq!(run("(a)", "a", "$01"), "", "leading zero is a name");
        assert_eq!(run("(a)|(b)", "b", "[$1]"), "[]");
    }
}
