//! The per-sample checks Prometheus 2.42's scrape loop makes after parsing
//! (`scrapeLoop.append`, `mutateSampleLabels` and the head appender), which
//! fail the whole scrape:
//!
//! * the metric name must be valid: the Prometheus text parser takes blanks
//!   before a name into it, so `  up 1` fails here;
//! * label names must be unique. Before that check, the label builder drops
//!   *every* label of a name if any label of that name has an empty value,
//!   and (with `honor_labels: false`, the default) replaces every exposed
//!   label whose name is a target label (`job`, `instance`, ...), so
//!   duplicates of those do not fail;
//! * the series must keep a `__name__` (dropping `__name__=""` drops the
//!   metric name too).
//!
//! Not failures in 2.42: duplicate series, out-of-order or out-of-bounds
//! timestamps, anything about exemplars.
//!
//! Invariant: allocation-free for up to 16 labels; beyond that the scratch's
//! sort buffer is reused.

use crate::entry::{LabelSpan, Scratch};

/// Which exposed label names the scrape engine overwrites with target
/// labels. Prometheus' defaults for a static target are `instance` and
/// `job`.
pub const DEFAULT_TARGET_LABELS: &[&str] = &["instance", "job"];

const NAME: &[u8] = b"__name__";

/// A failure of the per-sample checks, with what was wrong.
pub(crate) fn check_series(
    body: &[u8],
    leading_blank: bool,
    s: &mut Scratch,
    target_labels: &[&str],
) -> Result<(), String> {
    if leading_blank {
        return Err("invalid metric name: blanks before the name become part of it".into());
    }
    let labels = &s.labels;
    let key = |sp: &LabelSpan| &body[sp.name.0..sp.name.1];
    let is_target = |n: &[u8]| target_labels.iter().any(|t| t.as_bytes() == n);
    // Fast path: no empty values, no target labels, no explicit __name__.
    let special = labels
        .iter()
        .any(|l| l.value.0 == l.value.1 || key(l) == NAME || is_target(key(l)));
    let dropped = |n: &[u8]| {
        special && (is_target(n) || labels.iter().any(|o| key(o) == n && o.value.0 == o.value.1))
    };
    if dropped(NAME) {
        return Err(
            "missing metric name (__name__ label): an empty __name__ label drops it".into(),
        );
    }
    if labels.len() <= 16 {
        for (i, a) in labels.iter().enumerate() {
            let n = key(a);
            if (n == NAME || labels[..i].iter().any(|b| key(b) == n)) && !dropped(n) {
                return Err(dup(n));
            }
        }
        return Ok(());
    }
    s.sort.clear();
    s.sort.extend(labels.iter().map(|sp| sp.name));
    s.sort.push((usize::MAX, usize::MAX)); // stands for the metric name
    let get = |r: &(usize, usize)| {
        if r.0 == usize::MAX {
            NAME
        } else {
            &body[r.0..r.1]
        }
    };
    s.sort.sort_unstable_by(|a, b| get(a).cmp(get(b)));
    for w in s.sort.windows(2) {
        let n = get(&w[0]);
        if n == get(&w[1]) && !dropped(n) {
            return Err(dup(n));
        }
    }
    Ok(())
}

fn dup(n: &[u8]) -> String {
    format!("label name {:?} is not unique", String::from_utf8_lossy(n))
}
