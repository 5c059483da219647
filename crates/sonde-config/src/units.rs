//! Value types with Prometheus syntax: byte sizes (`100MB`, `1GiB`), secrets
//! that never print, durations in YAML output, and relative path resolution.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::de::{Ctx, FromNode};
use crate::locate::{Node, NodeKind};

/// A byte count written with Go's `units.Base2Bytes` syntax: `100MB` and
/// `100MiB` both mean 100 × 1024², `B` is bytes, `0` is zero. Units are
/// required (`100` alone is an error, as in Prometheus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct ByteSize(pub u64);

const MAGNITUDES: [(&str, u32); 6] = [("E", 6), ("P", 5), ("T", 4), ("G", 3), ("M", 2), ("K", 1)];

impl ByteSize {
    /// Parses `s`; the error text matches Prometheus' (`units: unknown unit  in 100`).
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        parse_units(s, "iB")
            .or_else(|_| parse_units(s, "B"))
            .map(ByteSize)
    }

    pub fn bytes(self) -> u64 {
        self.0
    }
}

fn unit_scale(unit: &str, suffix: &str) -> Option<f64> {
    if unit == "B" {
        return Some(1.0);
    }
    MAGNITUDES.iter().find_map(|(m, p)| {
        let rest = unit.strip_prefix(m)?;
        (rest == suffix).then(|| 1024f64.powi(*p as i32))
    })
}

fn parse_units(orig: &str, suffix: &str) -> Result<u64, String> {
    let invalid = || format!("units: invalid {orig}");
    let mut s = orig.strip_prefix('+').unwrap_or(orig);
    if s.starts_with('-') {
        return Err(format!("units: negative size {orig}"));
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !s.is_empty() {
        let num_len = s
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let num = &s[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        let g: f64 = num.parse().map_err(|_| invalid())?;
        s = &s[num_len..];
        let unit_len = s
            .bytes()
            .take_while(|b| !(b.is_ascii_digit() || *b == b'.'))
            .count();
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let scale = unit_scale(unit, suffix)
            .ok_or_else(|| format!("units: unknown unit {unit} in {orig}"))?;
        total += g * scale;
    }
    if total > i64::MAX as f64 {
        return Err("units: overflow parsing unit".into());
    }
    Ok(total as u64)
}

impl fmt::Display for ByteSize {
    /// As Go prints `Base2Bytes`: `10MiB`, `1GiB512MiB`, `100B`; zero is `0B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = self.0;
        if n == 0 {
            return write!(f, "0B");
        }
        for (m, p) in MAGNITUDES {
            let base = 1024u64.pow(p);
            if n >= base {
                write!(f, "{}{m}iB", n / base)?;
                n %= base;
            }
        }
        if n > 0 {
            write!(f, "{n}B")?;
        }
        Ok(())
    }
}

impl FromNode for ByteSize {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        let NodeKind::Scalar(s) = &node.kind else {
            cx.err(
                node.mark,
                format!("cannot unmarshal {} into a byte size", node.type_name()),
            );
            return None;
        };
        match ByteSize::parse(&s.text) {
            Ok(v) => Some(v),
            Err(e) => {
                cx.err(
                    node.mark,
                    format!("{e} (expected a size with a unit such as 100MB, 512KiB, 1GB)"),
                );
                None
            }
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A password, token or key. It never appears in `Debug` output, and it is
/// written as `<secret>` when the configuration is serialized back.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the code that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<secret>"
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

impl FromNode for Secret {
    fn from_node(node: &Node, cx: &mut Ctx) -> Option<Self> {
        String::from_node(node, cx).map(Secret)
    }
}

/// Serializes a duration the way Prometheus writes it (`1m30s`).
pub(crate) fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&sonde_model::format_duration(*d))
}

pub(crate) fn is_zero_duration(d: &Duration) -> bool {
    d.is_zero()
}

pub(crate) fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

pub(crate) fn is_false(v: &bool) -> bool {
    !*v
}

/// Go's `config.JoinDir`: a relative, non-empty `path` is joined to `dir`
/// and cleaned; empty and absolute paths are kept.
pub(crate) fn join_dir(dir: &Path, path: &mut String) {
    if path.is_empty() || Path::new(path.as_str()).is_absolute() || dir.as_os_str().is_empty() {
        return;
    }
    *path = clean(&dir.join(path.as_str()))
        .to_string_lossy()
        .into_owned();
}

/// Lexical cleaning like Go's `filepath.Clean` (`a/./b/../c` -> `a/c`).
pub(crate) fn clean(p: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_go_units() {
        assert_eq!(ByteSize::parse("10MB"), Ok(ByteSize(10 << 20)));
        assert_eq!(ByteSize::parse("10MiB"), Ok(ByteSize(10 << 20)));
        assert_eq!(ByteSize::parse("1KB512B"), Ok(ByteSize(1536)));
        assert_eq!(ByteSize::parse("0"), Ok(ByteSize(0)));
        assert_eq!(ByteSize::parse("1.5KB"), Ok(ByteSize(1536)));
        assert_eq!(
            ByteSize::parse("100").unwrap_err(),
            "units: unknown unit  in 100"
        );
        assert!(ByteSize::parse("MB").is_err());
        assert!(ByteSize::parse("10XB").is_err());
    }

    #[test]
    fn sizes_print_like_go_units() {
        assert_eq!(ByteSize(10 << 20).to_string(), "10MiB");
        assert_eq!(ByteSize((1 << 30) + (512 << 20)).to_string(), "1GiB512MiB");
        assert_eq!(ByteSize(100).to_string(), "100B");
    }

    #[test]
    fn secrets_do_not_leak() {
        let s = Secret::new("mysecret");
        assert_eq!(format!("{s:?}"), "<secret>");
        assert_eq!(serde_yaml::to_string(&s).unwrap().trim(), "<secret>");
        assert_eq!(s.expose(), "mysecret");
    }

    #[test]
    fn join_dir_cleans() {
        let mut p = String::from("rules/../first.rules");
        join_dir(Path::new("testdata"), &mut p);
        assert_eq!(p, "testdata/first.rules");
        let mut abs = String::from("/abs/x");
        join_dir(Path::new("testdata"), &mut abs);
        assert_eq!(abs, "/abs/x");
    }
}
