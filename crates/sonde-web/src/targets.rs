//! `/api/v1/targets`, `/api/v1/targets/metadata` and `/api/v1/metadata`: the
//! scrape manager's view of targets and of the metadata they expose, in
//! Prometheus 2.42's JSON shapes.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use sonde_model::{Matcher, MetricMetadata};
use sonde_scrape::{GlobalUrlOptions, ScrapeManager};

use crate::api::{success, ApiError, ErrorType};
use crate::series::label_object;
use crate::WebContext;

fn manager(ctx: &WebContext) -> Result<&ScrapeManager, ApiError> {
    ctx.scrape
        .as_deref()
        .ok_or_else(|| ApiError::new(ErrorType::Unavailable, "this server does not scrape"))
}

#[derive(Debug, Deserialize)]
pub(crate) struct TargetsParams {
    state: Option<String>,
    #[serde(rename = "scrapePool")]
    scrape_pool: Option<String>,
}

pub(crate) async fn targets(
    State(ctx): State<Arc<WebContext>>,
    Query(p): Query<TargetsParams>,
) -> Result<Response, ApiError> {
    let scrape = manager(&ctx)?;
    let state = p.state.as_deref().unwrap_or("any").to_ascii_lowercase();
    let in_pool = |pool: &str| p.scrape_pool.as_deref().is_none_or(|want| want == pool);
    let global = global_url_options(&ctx);
    let active: Vec<Json> = if state == "any" || state == "active" {
        scrape
            .active_targets()
            .iter()
            .filter(|t| in_pool(&t.scrape_pool))
            .map(|t| {
                json!({
                    "discoveredLabels": label_object(&t.discovered_labels),
                    "labels": label_object(&t.labels),
                    "scrapePool": t.scrape_pool,
                    "scrapeUrl": t.scrape_url,
                    "globalUrl": t.global_url(&global),
                    "lastError": t.last_error,
                    "lastScrape": go_time(t.last_scrape),
                    "lastScrapeDuration": t.last_scrape_duration.as_secs_f64(),
                    "health": t.health.as_str(),
                    "scrapeInterval": t.scrape_interval,
                    "scrapeTimeout": t.scrape_timeout,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let dropped: Vec<Json> = if state == "any" || state == "dropped" {
        scrape
            .dropped_targets()
            .iter()
            .filter(|t| in_pool(&t.scrape_pool))
            .map(|t| json!({ "discoveredLabels": label_object(&t.discovered_labels) }))
            .collect()
    } else {
        Vec::new()
    };
    Ok(success(
        json!({ "activeTargets": active, "droppedTargets": dropped }),
    ))
}

/// How a last-scrape time prints: RFC 3339 with nanoseconds, and Go's zero
/// time before the first scrape, as Prometheus prints it.
fn go_time(t: Option<SystemTime>) -> String {
    match t {
        Some(t) => DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

fn global_url_options(ctx: &WebContext) -> GlobalUrlOptions {
    let (scheme, host) = match url::Url::parse(&ctx.options.external_url) {
        Ok(u) => {
            let host = match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                (None, _) => String::new(),
            };
            (u.scheme().to_string(), host)
        }
        Err(_) => ("http".to_string(), String::new()),
    };
    GlobalUrlOptions {
        listen_address: ctx.options.listen_address.clone(),
        host,
        scheme,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct TargetMetadataParams {
    match_target: Option<String>,
    metric: Option<String>,
    limit: Option<String>,
}

pub(crate) async fn targets_metadata(
    State(ctx): State<Arc<WebContext>>,
    Query(p): Query<TargetMetadataParams>,
) -> Result<Response, ApiError> {
    let scrape = manager(&ctx)?;
    let limit = parse_limit(p.limit.as_deref())?;
    let matchers: Vec<Matcher> = match p.match_target.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => sonde_promql::parse_selector(s)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match_target\": {e}")))?,
        None => Vec::new(),
    };
    let metric = p.metric.as_deref().filter(|m| !m.is_empty());
    let mut out = Vec::new();
    for m in scrape.targets_metadata(metric) {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        if matchers
            .iter()
            .all(|matcher| matcher.matches_labels(&m.target))
        {
            let mut entry = metadata_object(&m.metadata);
            entry.insert("target".into(), label_object(&m.target));
            entry.insert("metric".into(), Json::String(m.metric.clone()));
            out.push(Json::Object(entry));
        }
    }
    Ok(success(out))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MetadataParams {
    metric: Option<String>,
    limit: Option<String>,
}

pub(crate) async fn metadata(
    State(ctx): State<Arc<WebContext>>,
    Query(p): Query<MetadataParams>,
) -> Result<Response, ApiError> {
    let scrape = manager(&ctx)?;
    let limit = parse_limit(p.limit.as_deref())?;
    let mut out = Map::new();
    for (name, metas) in scrape.metric_metadata() {
        if p.metric
            .as_deref()
            .is_some_and(|m| !m.is_empty() && m != name)
        {
            continue;
        }
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let list = metas
            .iter()
            .map(|m| Json::Object(metadata_object(m)))
            .collect();
        out.insert(name, Json::Array(list));
    }
    Ok(success(out))
}

fn metadata_object(m: &MetricMetadata) -> Map<String, Json> {
    let mut map = Map::new();
    map.insert("type".into(), Json::String(m.metric_type.as_str().into()));
    map.insert("help".into(), Json::String(m.help.clone()));
    map.insert("unit".into(), Json::String(m.unit.clone()));
    map
}

/// `limit`: a number; negative or absent means no limit, as in Prometheus.
fn parse_limit(s: Option<&str>) -> Result<Option<usize>, ApiError> {
    match s.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let n: i64 = s.parse().map_err(|_| {
                ApiError::bad_data(format!(
                    "invalid parameter \"limit\": {s:?} is not a number"
                ))
            })?;
            Ok(usize::try_from(n).ok())
        }
    }
}
