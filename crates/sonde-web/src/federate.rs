//! `/federate`: the latest sample of every series matching `match[]`, in
//! the Prometheus text format, with the server's external labels added to
//! series that lack them, as Prometheus 2.42 serves it: families sorted by
//! name, each announced as `# TYPE name untyped`, samples with timestamps.
//! Stale series (last sample a staleness marker, or older than the lookback
//! delta) are left out.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sonde_exposition::{encode, Format};
use sonde_model::{is_stale_nan, Labels, MetricType, SelectHints, METRIC_NAME};

use crate::api::{ApiError, ErrorType};
use crate::params::Params;
use crate::series::matcher_sets;
use crate::WebContext;

pub(crate) async fn federate(
    State(ctx): State<Arc<WebContext>>,
    params: Params,
) -> Result<Response, ApiError> {
    let sets = matcher_sets(&params)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let query = ctx
        .query
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorType::Unavailable, "this server has no storage"))?;
    let storage = query.storage.clone();
    let lookback = query.engine.options().lookback_delta.as_millis() as i64;
    let now = chrono::Utc::now().timestamp_millis();
    let external = ctx.control.external_labels();
    let text = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let (start, end) = (now - lookback, now);
        let querier = storage.querier(start, end).map_err(|e| {
            ApiError::new(ErrorType::Internal, format!("error reading storage: {e}"))
        })?;
        let hints = SelectHints {
            start,
            end,
            func: "federate".into(),
            ..Default::default()
        };
        // Latest sample per series, deduplicated across the match[] sets.
        let mut latest: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
        for matchers in &sets {
            let set = querier.select(&hints, matchers).map_err(|e| {
                ApiError::new(ErrorType::Internal, format!("error reading storage: {e}"))
            })?;
            for series in set {
                let series = series.map_err(|e| {
                    ApiError::new(ErrorType::Internal, format!("error reading storage: {e}"))
                })?;
                let mut it = series.samples();
                let mut last = None;
                while let Some(s) = it.next() {
                    if s.t > end {
                        break;
                    }
                    last = Some(s);
                }
                if let Some(s) = last.filter(|s| !is_stale_nan(s.v)) {
                    latest.insert(series.labels().clone(), (s.t, s.v));
                }
            }
        }
        Ok(render(&latest, &external))
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, format!("federation task failed: {e}")))??;
    Ok((
        [(header::CONTENT_TYPE, Format::PrometheusText.content_type())],
        text,
    )
        .into_response())
}

/// Writes the series grouped by metric name, external labels merged in.
fn render(latest: &BTreeMap<Labels, (i64, f64)>, external: &Labels) -> Vec<u8> {
    let mut by_name: BTreeMap<&str, Vec<(&Labels, i64, f64)>> = BTreeMap::new();
    for (labels, (t, v)) in latest {
        by_name
            .entry(labels.metric_name())
            .or_default()
            .push((labels, *t, *v));
    }
    let mut out = Vec::with_capacity(latest.len() * 64);
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for (name, series) in by_name {
        encode::type_line(&mut out, Format::PrometheusText, name, MetricType::Unknown);
        for (labels, t, v) in series {
            pairs.clear();
            pairs.extend(labels.iter().filter(|(n, _)| *n != METRIC_NAME));
            pairs.extend(external.iter().filter(|(n, _)| !labels.contains(n)));
            pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
            encode::sample(
                &mut out,
                Format::PrometheusText,
                name,
                pairs.iter().copied(),
                v,
                Some(t),
                None,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_sorted_and_external_labels_added_when_missing() {
        let mut latest = BTreeMap::new();
        latest.insert(
            Labels::from_pairs(&[("__name__", "up"), ("job", "b")]),
            (2000, 1.0),
        );
        latest.insert(
            Labels::from_pairs(&[("__name__", "a_total"), ("region", "local")]),
            (1000, 5.5),
        );
        let external = Labels::from_pairs(&[("region", "eu"), ("zone", "z1")]);
        let text = String::from_utf8(render(&latest, &external)).unwrap();
        assert_eq!(
            text,
            "# TYPE a_total untyped\na_total{region=\"local\",zone=\"z1\"} 5.5 1000\n\
             # TYPE up untyped\nup{job=\"b\",region=\"eu\",zone=\"z1\"} 1 2000\n"
        );
    }
}
