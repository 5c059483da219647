//! `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values`:
//! metadata about series, read through the storage querier over
//! `[start, end]` (the whole store by default) and filtered by `match[]`
//! selectors, as Prometheus 2.42 answers them.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value as Json};
use sonde_model::{is_valid_label_name, Labels, Matcher, Queryable, SelectHints};

use crate::api::{success, ApiError, ErrorType};
use crate::params::{Params, MAX_TIME_MS, MIN_TIME_MS};
use crate::WebContext;

/// The `match[]` selectors of a request, each a list of matchers.
pub(crate) fn matcher_sets(params: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    const ALL_EMPTY: &str = "match[] must contain at least one non-empty matcher";
    let invalid = |e: &dyn std::fmt::Display| {
        ApiError::bad_data(format!("invalid parameter \"match[]\": {e}"))
    };
    params
        .all("match[]")
        .into_iter()
        .map(|s| {
            let matchers = sonde_promql::parse_selector(s).map_err(|e| {
                // The PromQL parser refuses a selector whose matchers all
                // match the empty string; Prometheus' selector grammar takes
                // it and the API refuses it, in these words.
                if e.to_string().contains("at least one non-empty matcher") {
                    invalid(&ALL_EMPTY)
                } else {
                    invalid(&e)
                }
            })?;
            if matchers.iter().all(Matcher::matches_empty) {
                return Err(invalid(&ALL_EMPTY));
            }
            Ok(matchers)
        })
        .collect()
}

/// Runs `f` over a querier for the request's time range on a blocking thread.
async fn with_querier<T, F>(ctx: &WebContext, params: &Params, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn sonde_model::Querier, i64, i64) -> Result<T, ApiError> + Send + 'static,
{
    let storage: Arc<dyn Queryable> = ctx
        .query
        .as_ref()
        .map(|q| q.storage.clone())
        .ok_or_else(|| ApiError::new(ErrorType::Unavailable, "this server has no storage"))?;
    let start = params.time_or("start", MIN_TIME_MS)?;
    let end = params.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    tokio::task::spawn_blocking(move || {
        let querier = storage.querier(start, end).map_err(storage_error)?;
        f(querier.as_ref(), start, end)
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, format!("storage task failed: {e}")))?
}

fn storage_error(e: sonde_model::StorageError) -> ApiError {
    ApiError::new(ErrorType::Internal, format!("error reading storage: {e}"))
}

pub(crate) async fn series(
    State(ctx): State<Arc<WebContext>>,
    params: Params,
) -> Result<Response, ApiError> {
    let sets = matcher_sets(&params)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let found = with_querier(&ctx, &params, move |querier, start, end| {
        let hints = SelectHints {
            start,
            end,
            func: "series".to_string(),
            ..Default::default()
        };
        let mut all = BTreeSet::new();
        for matchers in &sets {
            for series in querier.select(&hints, matchers).map_err(storage_error)? {
                all.insert(series.map_err(storage_error)?.labels().clone());
            }
        }
        Ok(all)
    })
    .await?;
    Ok(success(found.iter().map(label_object).collect::<Vec<_>>()))
}

pub(crate) async fn label_names(
    State(ctx): State<Arc<WebContext>>,
    params: Params,
) -> Result<Response, ApiError> {
    let sets = matcher_sets(&params)?;
    let names = with_querier(&ctx, &params, move |querier, _, _| {
        union(&sets, |matchers| {
            querier.label_names(matchers).map_err(storage_error)
        })
    })
    .await?;
    Ok(success(names))
}

pub(crate) async fn label_values(
    State(ctx): State<Arc<WebContext>>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    if !is_valid_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let sets = matcher_sets(&params)?;
    let values = with_querier(&ctx, &params, move |querier, _, _| {
        union(&sets, |matchers| {
            querier.label_values(&name, matchers).map_err(storage_error)
        })
    })
    .await?;
    Ok(success(values))
}

/// The sorted union of `lookup` over every matcher set, or over no matchers
/// when there are no sets.
fn union(
    sets: &[Vec<Matcher>],
    mut lookup: impl FnMut(&[Matcher]) -> Result<Vec<String>, ApiError>,
) -> Result<Vec<String>, ApiError> {
    if sets.is_empty() {
        return lookup(&[]);
    }
    let mut all = BTreeSet::new();
    for matchers in sets {
        all.extend(lookup(matchers)?);
    }
    Ok(all.into_iter().collect())
}

/// A label set as the JSON object Prometheus returns.
pub(crate) fn label_object(labels: &Labels) -> Json {
    let map: Map<String, Json> = labels
        .iter()
        .map(|(n, v)| (n.to_string(), Json::String(v.to_string())))
        .collect();
    Json::Object(map)
}
