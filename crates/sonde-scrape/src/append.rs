//! Appending one scrape body (Prometheus 2.42 `scrapeLoop.append`): parse,
//! find each series in the cache or build its labels, enforce the limits,
//! append through the [`Appender`], then write staleness markers for series
//! the previous scrape exposed and this one did not.
//!
//! Failures that fail the scrape (the caller rolls the batch back and
//! appends an empty scrape to mark everything stale): a parse error, a series
//! without name or with invalid label names, a label limit, the sample limit
//! (parsing goes on to count every sample), a storage error. Samples the
//! storage refuses as out of order, duplicate or out of bounds are dropped
//! and counted, as in Prometheus.

use std::sync::Arc;
use std::time::Duration;

use sonde_config::relabel::RelabelConfig;
use sonde_exposition::{Entry, Format, Mode, Parser, SampleRef, Scratch};
use sonde_model::{
    is_valid_label_name, is_valid_metric_name, AppendError, Appender, Exemplar, Labels,
    LabelsBuilder, Timestamp, METRIC_NAME, STALE_NAN,
};

use crate::cache::ScrapeCache;
use crate::error::ScrapeError;
use crate::labels_mutate::mutate_sample_labels;

/// Prometheus' `timeLimitAppender`: samples more than 10 minutes in the
/// future are refused as out of bounds.
const MAX_AHEAD: Duration = Duration::from_secs(10 * 60);

/// Limits of one scrape config; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
}

/// What does not change between the scrapes of one loop.
pub(crate) struct AppendContext<'a> {
    /// Target labels without `__` labels.
    pub target_labels: &'a Labels,
    /// Their names, for the parser's duplicate check.
    pub target_label_names: &'a [&'a str],
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub limits: Limits,
    pub metric_relabel: &'a [RelabelConfig],
}

/// Counts of one append.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AppendStats {
    /// Samples in the body (`scrape_samples_scraped`).
    pub total: u64,
    /// Samples after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub added: u64,
    /// New series (`scrape_series_added`).
    pub series_added: u64,
    /// Samples the storage accepted, staleness markers included.
    pub appended: u64,
    pub out_of_order: u64,
    pub duplicates: u64,
    pub out_of_bounds: u64,
}

/// Reusable buffers of one loop.
#[derive(Debug, Default)]
pub(crate) struct AppendBuffers {
    pub scratch: Scratch,
    pub lb: LabelsBuilder,
}

/// Appends one body. On `Err` the caller must roll the batch back.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append_body(
    cache: &mut ScrapeCache,
    cx: &AppendContext<'_>,
    app: &mut dyn Appender,
    body: &[u8],
    format: Format,
    ts: Timestamp,
    bufs: &mut AppendBuffers,
    stats: &mut AppendStats,
) -> Result<(), ScrapeError> {
    let scrape_no = cache.begin();
    let res = append_entries(cache, cx, app, body, format, ts, bufs, stats, scrape_no)
        .and_then(|()| append_stale_markers(cache, app, ts, stats));
    match res {
        Ok(()) => {
            cache.iter_done(!body.is_empty());
            Ok(())
        }
        Err(e) => {
            cache.forget_refs_of(scrape_no);
            cache.forget_current();
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn append_entries(
    cache: &mut ScrapeCache,
    cx: &AppendContext<'_>,
    app: &mut dyn Appender,
    body: &[u8],
    format: Format,
    ts: Timestamp,
    bufs: &mut AppendBuffers,
    stats: &mut AppendStats,
    scrape_no: u64,
) -> Result<(), ScrapeError> {
    let max_t = ts.saturating_add(MAX_AHEAD.as_millis() as i64);
    let names: &[&str] = if cx.honor_labels {
        &[]
    } else {
        cx.target_label_names
    };
    let mut p =
        Parser::new(body, format, Mode::Scrape, &mut bufs.scratch).with_target_labels(names);
    let mut limited = 0u64;
    let mut sample_limit_hit = false;
    loop {
        let entry = match p.next() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => return Err(ScrapeError::Parse(e.to_string())),
        };
        let s = match entry {
            Entry::Type { name, metric_type } => {
                cache.set_type(name, metric_type);
                continue;
            }
            Entry::Help { name, text } => {
                cache.set_help(name, text);
                continue;
            }
            Entry::Unit { name, unit } => {
                cache.set_unit(name, unit);
                continue;
            }
            Entry::Comment(_) => continue,
            Entry::Sample(s) => s,
        };
        stats.total += 1;
        let explicit = if cx.honor_timestamps {
            s.timestamp_ms
        } else {
            None
        };
        let t = explicit.unwrap_or(ts);
        if cache.is_dropped(s.series) {
            continue;
        }
        let (series_ref, labels, hash, cached) = match cache.get_mut(s.series) {
            Some(e) => {
                if e.last_scrape == scrape_no {
                    // The same series twice in one scrape: the first wins,
                    // as in Prometheus' head, where the second sample of a
                    // batch with the same timestamp is dropped on commit.
                    stats.duplicates += 1;
                    stats.added += 1;
                    continue;
                }
                e.last_scrape = scrape_no;
                (e.series_ref, e.labels.clone(), e.hash, true)
            }
            None => {
                let Some(labels) = build_labels(&s, cx, &mut bufs.lb)? else {
                    cache.add_dropped(s.series);
                    continue;
                };
                let labels = Arc::new(labels);
                let hash = labels.stable_hash();
                (0, labels, hash, false)
            }
        };
        // The sample limit counts every sample past relabeling; hitting it
        // fails the scrape, but parsing goes on so `total` is right.
        limited += 1;
        let over_limit = cx.limits.sample_limit > 0 && limited > cx.limits.sample_limit;
        let mut new_ref = series_ref;
        let mut sample_added = false;
        // Whether storage saw the sample (stored or refused): Prometheus
        // 2.42 then appends its exemplar either way.
        let mut reached_storage = false;
        if over_limit {
            sample_limit_hit = true;
        } else if t > max_t {
            stats.out_of_bounds += 1;
        } else {
            reached_storage = true;
            match app.append(series_ref, &labels, t, s.value) {
                Ok(r) => {
                    new_ref = r;
                    sample_added = true;
                    stats.appended += 1;
                }
                Err(AppendError::OutOfOrder) => stats.out_of_order += 1,
                Err(AppendError::DuplicateSampleForTimestamp) => stats.duplicates += 1,
                Err(AppendError::OutOfBounds | AppendError::TooOld) => stats.out_of_bounds += 1,
                Err(e) => return Err(ScrapeError::Storage(e.to_string())),
            }
        }
        if sample_added && explicit.is_none() {
            cache.track_staleness(hash, &labels);
        }
        if cached {
            if new_ref != series_ref {
                if let Some(e) = cache.get_mut(s.series) {
                    e.series_ref = new_ref;
                }
            }
        } else {
            cache.add(s.series, new_ref, labels.clone(), scrape_no);
            if sample_added && !sample_limit_hit {
                stats.series_added += 1;
            }
        }
        stats.added += 1;
        if reached_storage {
            if let Some(ex) = &s.exemplar {
                let exemplar = Exemplar {
                    labels: Labels::from_pairs(&ex.labels.iter().collect::<Vec<_>>()),
                    value: ex.value,
                    ts: ex.timestamp_ms,
                };
                // Exemplar errors never fail a scrape in Prometheus.
                let _ = app.append_exemplar(new_ref, &labels, &exemplar);
            }
        }
    }
    if sample_limit_hit {
        return Err(ScrapeError::SampleLimit);
    }
    Ok(())
}

/// Labels of a series seen for the first time, or `None` when metric
/// relabeling drops it. Checks what Prometheus checks after relabeling.
fn build_labels(
    s: &SampleRef<'_>,
    cx: &AppendContext<'_>,
    lb: &mut LabelsBuilder,
) -> Result<Option<Labels>, ScrapeError> {
    lb.reset();
    lb.set(METRIC_NAME, s.name);
    for (n, v) in s.labels.iter() {
        lb.set(n, v);
    }
    let exposed = lb.build();
    let exposed_empty: Vec<&str> = s
        .labels
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(n, _)| n)
        .collect();
    let Some(labels) = mutate_sample_labels(
        &exposed,
        &exposed_empty,
        cx.target_labels,
        cx.honor_labels,
        cx.metric_relabel,
    ) else {
        return Ok(None);
    };
    if labels.get(METRIC_NAME).is_none() {
        return Err(ScrapeError::NameLabelMandatory);
    }
    let valid = labels.iter().all(|(n, _)| {
        if n == METRIC_NAME {
            true
        } else {
            is_valid_label_name(n)
        }
    }) && is_valid_metric_name(labels.metric_name());
    if !valid {
        return Err(ScrapeError::InvalidLabels(labels.to_string()));
    }
    check_label_limits(&labels, &cx.limits)?;
    Ok(Some(labels))
}

/// Prometheus' `verifyLabelLimits`, with its messages.
fn check_label_limits(labels: &Labels, limits: &Limits) -> Result<(), ScrapeError> {
    let met: String = labels.metric_name().chars().take(50).collect();
    if limits.label_limit > 0 {
        let n = labels.len() as u64;
        if n > limits.label_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_limit exceeded (metric: {met}, number of labels: {n}, limit: {})",
                limits.label_limit
            )));
        }
    }
    for (name, value) in labels.iter() {
        let short_name: String = name.chars().take(50).collect();
        let nl = name.len() as u64;
        if limits.label_name_length_limit > 0 && nl > limits.label_name_length_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_name_length_limit exceeded (metric: {met}, label name: {short_name}, length: {nl}, limit: {})",
                limits.label_name_length_limit
            )));
        }
        let vl = value.len() as u64;
        if limits.label_value_length_limit > 0 && vl > limits.label_value_length_limit {
            let short_value: String = value.chars().take(50).collect();
            return Err(ScrapeError::LabelLimit(format!(
                "label_value_length_limit exceeded (metric: {met}, label name: {short_name}, value: {short_value:?}, length: {vl}, limit: {})",
                limits.label_value_length_limit
            )));
        }
    }
    Ok(())
}

/// Staleness markers for series of the previous scrape missing from this one.
fn append_stale_markers(
    cache: &mut ScrapeCache,
    app: &mut dyn Appender,
    ts: Timestamp,
    stats: &mut AppendStats,
) -> Result<(), ScrapeError> {
    for labels in cache.stale_series() {
        match app.append(0, &labels, ts, STALE_NAN) {
            Ok(_) => stats.appended += 1,
            // Expected when a target went away and came back with a new
            // loop: the marker is older than what is stored.
            Err(AppendError::OutOfOrder | AppendError::DuplicateSampleForTimestamp) => {}
            Err(e) => return Err(ScrapeError::Storage(e.to_string())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_limit_messages_match_prometheus() {
        let l = Labels::from_pairs(&[("__name__", "m"), ("path", "/a/very/long/value")]);
        let lim = |f: fn(&mut Limits)| {
            let mut x = Limits::default();
            f(&mut x);
            check_label_limits(&l, &x).unwrap_err().to_string()
        };
        assert_eq!(
            lim(|x| x.label_value_length_limit = 5),
            "label_value_length_limit exceeded (metric: m, label name: path, value: \"/a/very/long/value\", length: 18, limit: 5)"
        );
        assert_eq!(
            lim(|x| x.label_name_length_limit = 4),
            "label_name_length_limit exceeded (metric: m, label name: __name__, length: 8, limit: 4)"
        );
        assert_eq!(
            lim(|x| x.label_limit = 1),
            "label_limit exceeded (metric: m, number of labels: 2, limit: 1)"
        );
        assert!(check_label_limits(&l, &Limits::default()).is_ok());
    }
}
