//! Scalars as Go's yaml.v2 reads them into typed fields: a string field
//! takes any scalar's text, booleans and integers follow YAML 1.1 (`yes`,
//! `off`, `0x10`), a quoted scalar is always a string, durations use
//! Prometheus' syntax.

use std::time::Duration;

use crate::de::{Ctx, FromNode};
use crate::locate::{Node, NodeKind, Scalar};

pub(crate) fn scalar<'a>(node: &'a Node, cx: &mut Ctx, into: &str) -> Option<&'a Scalar> {
    match &node.kind {
        NodeKind::Scalar(s) => Some(s),
        _ => {
            cx.err(
                node.mark,
                format!("cannot unmarshal {} into {into}", node.type_name()),
            );
            None
        }
    }
}

/// Go's `%q` of possibly invalid UTF-8 bytes.
pub(crate) fn go_quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(&go_escape(s));
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(&go_escape(std::str::from_utf8(good).unwrap_or_default()));
                let n = e.error_len().unwrap_or(bad.len()).max(1);
                for b in &bad[..n] {
                    out.push_str(&format!("\\x{b:02x}"));
                }
                rest = &bad[n..];
            }
        }
    }
    out.push('"');
    out
}

fn go_escape(s: &str) -> String {
    let dbg = format!("{s:?}");
    dbg[1..dbg.len() - 1].to_string()
}

impl FromNode for String {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let s = scalar(node, cx, "string")?;
        if let Some(bytes) = &s.binary {
            if std::str::from_utf8(bytes).is_err() {
                cx.err(
                    node.mark,
                    format!("{} is not valid UTF-8", go_quote_bytes(bytes)),
                );
                return None;
            }
        }
        Some(s.text.clone())
    }
}

impl FromNode for bool {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let s = scalar(node, cx, "bool")?;
        if !s.quoted {
            // YAML 1.1 booleans, as yaml.v2 resolves them.
            match s.text.as_str() {
                "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On"
                | "ON" => return Some(true),
                "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off"
                | "OFF" => return Some(false),
                _ => {}
            }
        }
        cx.err(
            node.mark,
            format!(
                "cannot unmarshal {:?} into bool (expected true or false)",
                s.text
            ),
        );
        None
    }
}

/// Parses a YAML 1.1 integer as yaml.v2 does (`0x`, `0o`, `0b`, `_`).
fn parse_int(text: &str) -> Option<i128> {
    let t: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let v = if let Some(h) = body.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(o) = body.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i128::from_str_radix(&body[1..], 8).ok()?
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse().ok()?
    } else {
        // A whole float such as `1e3` also fills an integer field.
        let f: f64 = body.parse().ok()?;
        if f.fract() != 0.0 || !f.is_finite() {
            return None;
        }
        f as i128
    };
    Some(if neg { -v } else { v })
}

macro_rules! int_from_node {
    ($($t:ty),*) => {$(
        impl FromNode for $t {
            fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
                let s = scalar(node, cx, stringify!($t))?;
                match (!s.quoted).then(|| parse_int(&s.text)).flatten().and_then(|v| <$t>::try_from(v).ok()) {
                    Some(v) => Some(v),
                    None => {
                        cx.err(node.mark, format!(
                            "cannot unmarshal {:?} into {} (expected an integer from {} to {})",
                            s.text, stringify!($t), <$t>::MIN, <$t>::MAX));
                        None
                    }
                }
            }
        }
    )*};
}
int_from_node!(u32, u64, i32, i64, usize);

impl FromNode for f64 {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let s = scalar(node, cx, "float")?;
        let v = match s.text.as_str() {
            ".inf" | ".Inf" | ".INF" | "+.inf" => Some(f64::INFINITY),
            "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
            ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
            t => t.parse().ok(),
        };
        if v.is_none() || s.quoted {
            cx.err(
                node.mark,
                format!("cannot unmarshal {:?} into a number", s.text),
            );
            return None;
        }
        v
    }
}

impl FromNode for Duration {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let s = scalar(node, cx, "duration")?;
        match sonde_model::parse_duration(&s.text) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.err(node.mark, e.to_string());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_ints_and_bools() {
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("1_000"), Some(1000));
        assert_eq!(parse_int("-5"), Some(-5));
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_int("1e3"), Some(1000));
    }

    #[test]
    fn go_quote_of_bad_utf8() {
        assert_eq!(go_quote_bytes(&[0xff]), "\"\\xff\"");
        assert_eq!(go_quote_bytes(b"ok"), "\"ok\"");
    }
}
