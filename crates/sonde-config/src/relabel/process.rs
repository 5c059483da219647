//! Applying relabel rules, step by step as Prometheus 2.42's
//! `relabel.Process` does: each rule reads the labels as the previous rule
//! left them; `keep`/`drop`/`keepequal`/`dropequal` may drop the whole set.

use md5::{Digest, Md5};
use sonde_model::{is_valid_label_name, Labels, LabelsBuilder};

use super::config::{Action, RelabelConfig};
use super::expand::expand;

/// Scratch buffers reused across calls on hot paths (one per scrape loop).
#[derive(Debug, Default)]
pub struct RelabelScratch {
    value: String,
    target: String,
    result: String,
    pairs: Vec<(String, String)>,
}

/// Applies `configs` in order to a copy of `labels`; `None` if dropped.
///
/// Leading rules that only filter (`keep`, `drop`, `keepequal`,
/// `dropequal`, the usual metric relabeling) are evaluated on `labels`
/// directly; a builder is made only from the first rule that rewrites.
pub fn process(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut joined = String::new();
    for (i, cfg) in configs.iter().enumerate() {
        let keep = match cfg.action {
            Action::Keep | Action::Drop | Action::KeepEqual | Action::DropEqual => {
                let val = source_value(labels, cfg, &mut joined);
                match cfg.action {
                    Action::Keep => cfg.regex.is_match(val),
                    Action::Drop => !cfg.regex.is_match(val),
                    Action::KeepEqual => labels.get(&cfg.target_label).unwrap_or("") == val,
                    _ => labels.get(&cfg.target_label).unwrap_or("") != val,
                }
            }
            _ => {
                let mut lb = LabelsBuilder::from_labels(labels);
                return process_builder(&mut lb, &configs[i..]).then(|| lb.build());
            }
        };
        if !keep {
            return None;
        }
    }
    Some(labels.clone())
}

/// The source labels' values joined by the separator, borrowing when there
/// is a single source label.
fn source_value<'a>(labels: &'a Labels, cfg: &RelabelConfig, joined: &'a mut String) -> &'a str {
    if let [name] = cfg.source_labels.as_slice() {
        return labels.get(name).unwrap_or("");
    }
    joined.clear();
    for (i, name) in cfg.source_labels.iter().enumerate() {
        if i > 0 {
            joined.push_str(&cfg.separator);
        }
        joined.push_str(labels.get(name).unwrap_or(""));
    }
    joined
}

/// Applies `configs` to the labels held in `lb`, in place. Returns false if
/// the set was dropped (then `lb` holds an unspecified partial result).
pub fn process_builder(lb: &mut LabelsBuilder, configs: &[RelabelConfig]) -> bool {
    let mut scratch = RelabelScratch::default();
    process_with(lb, configs, &mut scratch)
}

/// Like [`process_builder`] with caller-owned scratch space, so that the
/// steady state allocates nothing beyond the label values it writes.
pub fn process_with(
    lb: &mut LabelsBuilder,
    configs: &[RelabelConfig],
    scratch: &mut RelabelScratch,
) -> bool {
    configs.iter().all(|cfg| step(lb, cfg, scratch))
}

/// One rule. Returns false if the label set is dropped.
fn step(lb: &mut LabelsBuilder, cfg: &RelabelConfig, s: &mut RelabelScratch) -> bool {
    s.value.clear();
    for (i, name) in cfg.source_labels.iter().enumerate() {
        if i > 0 {
            s.value.push_str(&cfg.separator);
        }
        s.value.push_str(lb.get(name).unwrap_or(""));
    }
    let val = s.value.as_str();
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(val),
        Action::Keep => return cfg.regex.is_match(val),
        Action::DropEqual => return lb.get(&cfg.target_label).unwrap_or("") != val,
        Action::KeepEqual => return lb.get(&cfg.target_label).unwrap_or("") == val,
        Action::Replace => replace(lb, cfg, s),
        Action::Lowercase => {
            let lowered = go_lower(&s.value);
            lb.set(&cfg.target_label, &lowered);
        }
        Action::Uppercase => {
            let uppered = go_upper(&s.value);
            lb.set(&cfg.target_label, &uppered);
        }
        Action::HashMod => {
            let m = hashmod(val.as_bytes(), cfg.modulus);
            lb.set(&cfg.target_label, &m.to_string());
        }
        Action::LabelMap => label_map(lb, cfg, s),
        Action::LabelDrop => lb.retain(|name, _| !cfg.regex.is_match(name)),
        Action::LabelKeep => lb.retain(|name, _| cfg.regex.is_match(name)),
    }
    true
}

fn replace(lb: &mut LabelsBuilder, cfg: &RelabelConfig, s: &mut RelabelScratch) {
    let re = cfg.regex.inner();
    let Some(caps) = re.captures(&s.value) else {
        return;
    };
    s.target.clear();
    expand(&mut s.target, &cfg.target_label, re, &caps);
    if !is_valid_label_name(&s.target) {
        // Prometheus deletes the label named by the unexpanded template.
        lb.del(&cfg.target_label);
        return;
    }
    s.result.clear();
    expand(&mut s.result, &cfg.replacement, re, &caps);
    if s.result.is_empty() {
        lb.del(&cfg.target_label);
        return;
    }
    lb.set(&s.target, &s.result);
}

/// Copies every label whose name matches to the expanded replacement name,
/// visiting names in sorted order as Prometheus does (a later name wins).
fn label_map(lb: &mut LabelsBuilder, cfg: &RelabelConfig, s: &mut RelabelScratch) {
    let re = cfg.regex.inner();
    s.pairs.clear();
    for (name, value) in lb.pairs() {
        if !value.is_empty() {
            s.pairs.push((name.to_string(), value.to_string()));
        }
    }
    s.pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in &s.pairs {
        if let Some(caps) = re.captures(name) {
            s.target.clear();
            expand(&mut s.target, &cfg.replacement, re, &caps);
            lb.set(&s.target, value);
        }
    }
}

/// Prometheus' hashmod: the md5 of the joined source values, of which Go's
/// `sum64` keeps only the last 8 bytes (big-endian; the shifts of the first
/// 8 bytes are 64 bits or more and yield 0), modulo `modulus`.
pub(crate) fn hashmod(value: &[u8], modulus: u64) -> u64 {
    let digest = Md5::digest(value);
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail) % modulus.max(1)
}

/// Go's `strings.ToLower`: simple per-character mapping (no final sigma rule).
fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut m = c.to_lowercase();
            // A multi-character mapping (`İ` -> `i̇`) keeps Go's simple one.
            m.next().unwrap_or(c)
        })
        .collect()
}

/// Go's `strings.ToUpper`: characters without a single-character uppercase
/// (`ß`) stay as they are.
fn go_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut m = c.to_uppercase();
            match (m.next(), m.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}
