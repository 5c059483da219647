//! The `global` section: defaults for every scrape config and rule group,
//! and the external labels. Defaults are Prometheus 2.42's: scrape every 1m
//! with a 10s timeout, evaluate rules every 1m.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::de::{Checks, Ctx, Decode, Fields};
use crate::labelset::LabelSet;
use crate::units::{is_zero_u64, join_dir, ser_duration, ByteSize};

pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalConfig {
    #[serde(serialize_with = "ser_duration")]
    pub scrape_interval: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub scrape_timeout: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub evaluation_interval: Duration,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub query_log_file: String,
    #[serde(skip_serializing_if = "LabelSet::is_empty")]
    pub external_labels: LabelSet,
    /// Defaults for the scrape configs' limits (0 = no limit); later
    /// Prometheus versions have them here, 2.42 only per scrape config.
    #[serde(skip_serializing_if = "is_zero_size")]
    pub body_size_limit: ByteSize,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub sample_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_name_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_value_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub target_limit: u64,
}

pub(crate) fn is_zero_size(s: &ByteSize) -> bool {
    s.0 == 0
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            evaluation_interval: DEFAULT_EVALUATION_INTERVAL,
            query_log_file: String::new(),
            external_labels: LabelSet::default(),
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            target_limit: 0,
        }
    }
}

/// The section as written: unset durations are zero until `check` fills them.
#[derive(Default)]
pub(crate) struct RawGlobal(pub GlobalConfig);

impl Decode for RawGlobal {
    const TYPE: &'static str = "global";
    fn fields(&mut self, f: &mut Fields<'_>, cx: &mut Ctx) {
        let g = &mut self.0;
        g.scrape_interval = Duration::ZERO;
        g.scrape_timeout = Duration::ZERO;
        g.evaluation_interval = Duration::ZERO;
        f.take(cx, "scrape_interval", &mut g.scrape_interval);
        f.take(cx, "scrape_timeout", &mut g.scrape_timeout);
        f.take(cx, "evaluation_interval", &mut g.evaluation_interval);
        f.take(cx, "query_log_file", &mut g.query_log_file);
        f.take(cx, "external_labels", &mut g.external_labels);
        f.take(cx, "body_size_limit", &mut g.body_size_limit);
        f.take(cx, "sample_limit", &mut g.sample_limit);
        f.take(cx, "label_limit", &mut g.label_limit);
        f.take(
            cx,
            "label_name_length_limit",
            &mut g.label_name_length_limit,
        );
        f.take(
            cx,
            "label_value_length_limit",
            &mut g.label_value_length_limit,
        );
        f.take(cx, "target_limit", &mut g.target_limit);
    }

    fn check(&mut self, c: &mut Checks) {
        let g = &mut self.0;
        if g.scrape_interval.is_zero() {
            g.scrape_interval = DEFAULT_SCRAPE_INTERVAL;
        }
        if g.scrape_timeout > g.scrape_interval {
            c.fail_at(
                "scrape_timeout",
                format!(
                    "global scrape timeout greater than scrape interval ({} > {})",
                    sonde_model::format_duration(g.scrape_timeout),
                    sonde_model::format_duration(g.scrape_interval)
                ),
            );
        }
        if g.scrape_timeout.is_zero() {
            g.scrape_timeout = DEFAULT_SCRAPE_TIMEOUT.min(g.scrape_interval);
        }
        if g.evaluation_interval.is_zero() {
            g.evaluation_interval = DEFAULT_EVALUATION_INTERVAL;
        }
    }
}

impl GlobalConfig {
    pub(crate) fn set_directory(&mut self, dir: &Path) {
        join_dir(dir, &mut self.query_log_file);
    }

    /// Expands `$VAR`, `${VAR}` and `$$` in external label values from the
    /// environment (Prometheus' `expand-external-labels` feature).
    pub(crate) fn expand_external_labels(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        for v in self.external_labels.0.values_mut() {
            *v = os_expand(v, env);
        }
    }
}

/// Go's `os.Expand` with Prometheus' mapping (`$$` -> `$`, unset -> empty).
pub(crate) fn os_expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            out.push_str(&s[start..i]);
            let (name, width) = shell_name(&s[i + 1..]);
            match name {
                "" if width > 0 => {}
                "" => out.push('$'),
                "$" => out.push('$'),
                n => out.push_str(&env(n).unwrap_or_default()),
            }
            i += 1 + width;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[start..]);
    out
}

fn is_special(c: u8) -> bool {
    matches!(
        c,
        b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9'
    )
}

fn shell_name(s: &str) -> (&str, usize) {
    let b = s.as_bytes();
    if b[0] == b'{' {
        if b.len() > 2 && is_special(b[1]) && b[2] == b'}' {
            return (&s[1..2], 3);
        }
        return match s[1..].find('}') {
            None => ("", 1),
            Some(0) => ("", 2),
            Some(end) => (&s[1..1 + end], end + 2),
        };
    }
    if is_special(b[0]) {
        return (&s[0..1], 1);
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    (&s[..n], n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_expand_like_go() {
        let env = |k: &str| (k == "TEST").then(|| "TestValue".to_string());
        assert_eq!(os_expand("foo${TEST}bar", &env), "fooTestValuebar");
        assert_eq!(os_expand("${TEST}", &env), "TestValue");
        assert_eq!(os_expand("foo$${TEST}", &env), "foo${TEST}");
        assert_eq!(os_expand("foo$$bar", &env), "foo$bar");
        assert_eq!(os_expand("$TEST-x", &env), "TestValue-x");
        assert_eq!(os_expand("a$", &env), "a$");
        assert_eq!(os_expand("a${}b", &env), "ab");
        assert_eq!(os_expand("a${b", &env), "ab");
        assert_eq!(os_expand("x$UNSET.y", &env), "x.y");
    }
}
