//! Strict mode's cross-line rules: the metric-family model of OpenMetrics
//! 1.0 (and its Prometheus-text counterpart), checked line by line.
//!
//! A family starts at a metadata line for a new name, or at a sample whose
//! name is not one of the current family's sample names (it then is an
//! untyped family named after the sample). When a family ends, all the
//! names it may use (`x`, `x_total`, `x_bucket`, ...) are claimed; claiming
//! a name twice is an error. That one rule refuses repeated families,
//! metadata after samples, interleaved families and clashing names. Within a
//! family, samples of one label set must be contiguous; histogram label sets
//! are checked as the OpenMetrics reference parser does (ordered,
//! cumulative buckets, a `+Inf` bucket equal to `_count`, `_sum`/`_count`
//! together, no `_sum` with negative buckets); values of counters,
//! histograms and summaries must not be NaN or negative; info values are 1,
//! stateset values 0 or 1; each series' timestamps never go backwards and
//! are either always or never present.
//!
//! The Prometheus text format is checked like `expfmt.TextParser` (what
//! `promtool check metrics` uses) in one respect: a family may resume after
//! other families (its samples need not be together), but metadata may not
//! come after its samples, and names must not clash across families.
//!
//! Invariant: this runs only in strict mode and may allocate per sample.

use std::collections::{HashMap, HashSet};

use sonde_model::MetricType;

use crate::entry::{LabelsRef, Scratch};
use crate::error::{line_of, ParseError};
use crate::family_rules::{
    claimed_names, group_key, hist_checks, hist_sample, sample_suffix, type_rules, unique_labels,
    HistGroup,
};
use crate::negotiate::Format;
use crate::raw::{Raw, RawSample, TextLoc};

/// What strict mode learned about one metric family (used by the linter).
#[derive(Debug, Clone)]
pub struct FamilyInfo {
    pub name: String,
    pub metric_type: MetricType,
    /// A `# TYPE` line was given.
    pub typed: bool,
    pub help: Option<String>,
    pub unit: Option<String>,
    /// Label names used by its samples (sorted, deduplicated).
    pub label_names: Vec<String>,
    /// Line of the family's first line.
    pub line: usize,
    pub samples: usize,
}

struct Family {
    info: FamilyInfo,
    groups_seen: HashSet<Vec<u8>>,
    group: Option<Vec<u8>>,
    hist: HistGroup,
}

pub(crate) struct Validator {
    format: Format,
    cur: Option<Family>,
    /// Claimed name -> the family that claimed it.
    claimed: HashMap<String, String>,
    /// Prometheus format: families that ended but may resume.
    parked: HashMap<String, Family>,
    series_ts: HashMap<Vec<u8>, Option<f64>>,
    done: Vec<FamilyInfo>,
    /// (byte offset, its 1-based line): positions only grow while parsing,
    /// so line numbers are counted incrementally.
    cursor: (usize, usize),
}

type Res = Result<(), ParseError>;

impl Validator {
    pub(crate) fn new(format: Format) -> Self {
        Validator {
            format,
            cur: None,
            claimed: HashMap::new(),
            parked: HashMap::new(),
            series_ts: HashMap::new(),
            done: Vec::new(),
            cursor: (0, 1),
        }
    }

    fn line(&mut self, b: &[u8], pos: usize) -> usize {
        let (at, line) = self.cursor;
        if pos < at {
            return line_of(b, pos);
        }
        let end = pos.min(b.len());
        let n = memchr::memchr_iter(b'\n', &b[at.min(end)..end]).count();
        self.cursor = (end, line + n);
        line + n
    }

    pub(crate) fn families(&self) -> &[FamilyInfo] {
        &self.done
    }

    pub(crate) fn on_entry(&mut self, b: &[u8], raw: &Raw<'_>, s: &Scratch) -> Res {
        match *raw {
            Raw::Type {
                name,
                metric_type,
                at,
            } => {
                let f = self.family_for_metadata(b, name, at)?;
                if f.info.typed {
                    return Err(err(
                        b,
                        at,
                        "second TYPE line for this metric family",
                        "one TYPE line per family",
                    ));
                }
                f.info.typed = true;
                f.info.metric_type = metric_type;
                check_unit_allowed(b, at, f)
            }
            Raw::Help { name, text, at } => {
                let f = self.family_for_metadata(b, name, at)?;
                if f.info.help.is_some() {
                    return Err(err(
                        b,
                        at,
                        "second HELP line for this metric family",
                        "one HELP line per family",
                    ));
                }
                let t = match text {
                    TextLoc::Body(t) => t.as_bytes(),
                    TextLoc::Help((x, y)) => &s.help[x..y],
                };
                f.info.help = Some(String::from_utf8_lossy(t).into_owned());
                Ok(())
            }
            Raw::Unit { name, unit, at } => {
                let f = self.family_for_metadata(b, name, at)?;
                if f.info.unit.is_some() {
                    return Err(err(
                        b,
                        at,
                        "second UNIT line for this metric family",
                        "one UNIT line per family",
                    ));
                }
                f.info.unit = Some(String::from_utf8_lossy(&b[unit.0..unit.1]).into_owned());
                check_unit_allowed(b, at, f)
            }
            Raw::Comment(_) => Ok(()),
            Raw::Sample(ref smp) => self.on_sample(b, smp, s),
        }
    }

    /// Ends the body: closes the last family.
    pub(crate) fn finish(&mut self, b: &[u8]) -> Res {
        self.close(b, b.len())?;
        let mut parked: Vec<Family> = self.parked.drain().map(|(_, f)| f).collect();
        parked.sort_by_key(|f| f.info.line);
        for f in parked {
            self.done_family(b, b.len(), f)?;
        }
        self.done.sort_by_key(|f| f.line);
        Ok(())
    }

    fn done_family(&mut self, b: &[u8], at: usize, mut f: Family) -> Res {
        if is_histogram(f.info.metric_type) {
            hist_checks(&f.hist, &f.info.name).map_err(|e| err(b, at, e, "a valid histogram"))?;
        }
        f.info.label_names.sort();
        f.info.label_names.dedup();
        self.done.push(f.info);
        Ok(())
    }

    fn family_for_metadata(
        &mut self,
        b: &[u8],
        name: (usize, usize),
        at: usize,
    ) -> Result<&mut Family, ParseError> {
        let n = &b[name.0..name.1];
        let same =
            matches!(&self.cur, Some(f) if f.info.name.as_bytes() == n && f.info.samples == 0);
        if !same {
            self.close(b, at)?;
            let line = self.line(b, at);
            self.open(n, line);
        }
        let f = self
            .cur
            .as_mut()
            .ok_or_else(|| err(b, at, "BUG: no current family", "a current family"))?;
        if f.info.samples > 0 {
            return Err(err(
                b,
                at,
                format!("metadata for {:?} after its samples", f.info.name),
                "HELP, TYPE and UNIT before a family's samples",
            ));
        }
        Ok(f)
    }

    fn open(&mut self, name: &[u8], line: usize) {
        if let Some(f) = std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.parked.remove(n))
        {
            self.cur = Some(f);
            return;
        }
        self.cur = Some(Family {
            info: FamilyInfo {
                name: String::from_utf8_lossy(name).into_owned(),
                metric_type: MetricType::Unknown,
                typed: false,
                help: None,
                unit: None,
                label_names: Vec::new(),
                line,
                samples: 0,
            },
            groups_seen: HashSet::new(),
            group: None,
            hist: HistGroup::default(),
        });
    }

    fn close(&mut self, b: &[u8], at: usize) -> Res {
        let Some(f) = self.cur.take() else {
            return Ok(());
        };
        let om = self.format == Format::OpenMetrics;
        for n in claimed_names(self.format, &f.info.name, f.info.metric_type) {
            let owner = self
                .claimed
                .entry(n.clone())
                .or_insert_with(|| f.info.name.clone());
            if *owner != f.info.name || (om && self.done.iter().any(|d| d.name == f.info.name)) {
                return Err(ParseError {
                    line: f.info.line,
                    what: format!(
                        "metric family {:?} uses the name {n:?} that an earlier family already used",
                        f.info.name
                    ),
                    expected: "each metric family once, its lines together, metadata before samples, and no family name clashing with another family's sample names".into(),
                });
            }
        }
        if om {
            self.done_family(b, at, f)
        } else {
            self.parked.insert(f.info.name.clone(), f);
            Ok(())
        }
    }

    /// Prometheus format: the parked family a stray sample resumes, as
    /// `expfmt` finds it (a summary/histogram by its stripped name first).
    fn resumed_family(&self, name: &str) -> Option<String> {
        for suffix in ["_sum", "_count", "_bucket"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(f) = self.parked.get(base) {
                    if sample_suffix(self.format, base, f.info.metric_type, name).is_some() {
                        return Some(base.to_string());
                    }
                }
            }
        }
        None
    }

    fn on_sample(&mut self, b: &[u8], smp: &RawSample, s: &Scratch) -> Res {
        let at = smp.line_start;
        let name = std::str::from_utf8(&b[smp.name.0..smp.name.1]).unwrap_or("");
        let belongs = match &self.cur {
            Some(f) => sample_suffix(self.format, &f.info.name, f.info.metric_type, name).is_some(),
            None => false,
        };
        if !belongs {
            self.close(b, at)?;
            let family = match self.format {
                Format::OpenMetrics => None,
                _ => self.resumed_family(name),
            };
            let line = self.line(b, at);
            self.open(family.as_deref().unwrap_or(name).as_bytes(), line);
        }
        let format = self.format;
        let Some(f) = self.cur.as_mut() else {
            return Err(err(b, at, "BUG: no current family", "a current family"));
        };
        let suffix = sample_suffix(format, &f.info.name, f.info.metric_type, name).unwrap_or("");
        let labels = LabelsRef {
            body: b,
            unescaped: &s.unescaped,
            spans: &s.labels,
        };
        f.info.samples += 1;
        for (n, _) in labels.iter() {
            if !f.info.label_names.iter().any(|x| x == n) {
                f.info.label_names.push(n.to_string());
            }
        }
        let e = |what: String, expected: &'static str| err(b, at, what, expected);
        unique_labels(&labels).map_err(|w| e(w, "each label name once"))?;
        type_rules(
            format,
            f.info.metric_type,
            &f.info.name,
            suffix,
            &labels,
            smp.value,
        )
        .map_err(|w| e(w, "a sample valid for its metric type"))?;
        if let Some(ex) = &smp.exemplar {
            let ok = match f.info.metric_type {
                MetricType::Counter => suffix == "_total",
                MetricType::Histogram | MetricType::GaugeHistogram => suffix == "_bucket",
                _ => false,
            };
            if !ok {
                return Err(e(
                    format!(
                        "exemplar on sample {name:?} of a {} family",
                        f.info.metric_type.as_str()
                    ),
                    "exemplars only on counter _total and histogram _bucket samples",
                ));
            }
            let _ = ex;
        }
        let group = group_key(f.info.metric_type, &f.info.name, &labels);
        if f.group.as_ref() != Some(&group) {
            if format == Format::OpenMetrics && f.groups_seen.contains(&group) {
                return Err(e(
                    format!("samples of label set {labels:?} are not together"),
                    "all samples of one label set of a family on consecutive lines",
                ));
            }
            if let Some(old) = f.group.take() {
                f.groups_seen.insert(old);
            }
            f.group = Some(group.clone());
        }
        if is_histogram(f.info.metric_type) {
            hist_sample(&mut f.hist, group, smp, suffix, &labels)
                .map_err(|w| e(w, "a valid histogram"))?;
        }
        self.series_timestamps(b, name, &labels, smp)
    }

    fn series_timestamps(
        &mut self,
        b: &[u8],
        name: &str,
        labels: &LabelsRef<'_>,
        smp: &RawSample,
    ) -> Res {
        let mut pairs: Vec<(&str, &str)> = labels.iter().collect();
        pairs.sort_unstable();
        let mut key = name.as_bytes().to_vec();
        for (n, v) in pairs {
            key.push(0xff);
            key.extend_from_slice(n.as_bytes());
            key.push(0xfe);
            key.extend_from_slice(v.as_bytes());
        }
        let ts = smp.ts_raw;
        if let Some(prev) = self.series_ts.insert(key, ts) {
            let at = smp.line_start;
            match (prev, ts) {
                (Some(p), Some(t)) if t < p => {
                    return Err(err(
                        b,
                        at,
                        format!("timestamp {t} is before the series' previous timestamp {p}"),
                        "timestamps of a series that never decrease",
                    ));
                }
                (Some(_), None) | (None, Some(_)) => {
                    return Err(err(
                        b,
                        at,
                        "series has samples with and without timestamps",
                        "a timestamp on all or none of a series' samples",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn err(b: &[u8], at: usize, what: impl Into<String>, expected: &'static str) -> ParseError {
    ParseError::at(b, at, what, expected)
}

fn is_histogram(t: MetricType) -> bool {
    matches!(t, MetricType::Histogram | MetricType::GaugeHistogram)
}

fn check_unit_allowed(b: &[u8], at: usize, f: &Family) -> Res {
    if f.info.unit.as_deref().is_some_and(|u| !u.is_empty())
        && matches!(f.info.metric_type, MetricType::Info | MetricType::StateSet)
    {
        return Err(err(
            b,
            at,
            format!("UNIT on a {} family", f.info.metric_type.as_str()),
            "no UNIT on info and stateset families",
        ));
    }
    Ok(())
}
