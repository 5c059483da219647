//! `/api/v1/query_exemplars` (GET, or POST with a form body): the exemplars
//! of the series selected by the vector selectors of `query`, within
//! `[start, end]` (the whole store by default), as Prometheus 2.42 answers:
//!
//! ```json
//! {"status":"success","data":[{"seriesLabels":{"__name__":"x"},
//!   "exemplars":[{"labels":{"trace_id":"a"},"value":"6","timestamp":1600096945.479}]}]}
//! ```
//!
//! A query without selectors (`1 + 1`) answers `"data":null`, as Prometheus
//! does; no matching exemplar answers `[]`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sonde_model::{ExemplarQueryable, ExemplarSeries, Timestamp};
use sonde_promql::value::{write_float, write_labels};

use crate::api::{ApiError, ErrorType};
use crate::params::{Params, MAX_TIME_MS, MIN_TIME_MS};
use crate::query::query_error;
use crate::WebContext;

pub(crate) async fn query_exemplars(
    State(ctx): State<Arc<WebContext>>,
    params: Params,
) -> Result<Response, ApiError> {
    let start = params.time_or("start", MIN_TIME_MS)?;
    let end = params.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start timestamp",
        ));
    }
    let sets =
        sonde_promql::extract_selectors(params.get("query").unwrap_or("")).map_err(query_error)?;
    if sets.is_empty() {
        return Ok(json_response(
            r#"{"status":"success","data":null}"#.to_string(),
        ));
    }
    let store: Arc<dyn ExemplarQueryable> = ctx
        .exemplars
        .clone()
        .ok_or_else(|| ApiError::new(ErrorType::Unavailable, "this server stores no exemplars"))?;
    let found = tokio::task::spawn_blocking(move || store.select_exemplars(start, end, &sets))
        .await
        .map_err(|e| {
            ApiError::new(
                ErrorType::Internal,
                format!("exemplar query task failed: {e}"),
            )
        })?
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("error reading exemplars: {e}")))?;
    let mut body = String::with_capacity(64 + found.len() * 128);
    body.push_str(r#"{"status":"success","data":"#);
    write_result(&mut body, &found);
    body.push('}');
    Ok(json_response(body))
}

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The `data` array: Prometheus' `[]exemplar.QueryResult`.
fn write_result(dst: &mut String, found: &[ExemplarSeries]) {
    dst.push('[');
    for (i, s) in found.iter().enumerate() {
        if i > 0 {
            dst.push(',');
        }
        dst.push_str(r#"{"seriesLabels":"#);
        write_labels(dst, &s.series_labels);
        dst.push_str(r#","exemplars":["#);
        for (j, e) in s.exemplars.iter().enumerate() {
            if j > 0 {
                dst.push(',');
            }
            dst.push_str(r#"{"labels":"#);
            write_labels(dst, &e.labels);
            dst.push_str(r#","value":""#);
            write_value(dst, e.value);
            dst.push_str(r#"","timestamp":"#);
            write_timestamp(dst, e.ts.unwrap_or(0));
            dst.push('}');
        }
        dst.push_str("]}");
    }
    dst.push(']');
}

/// Prometheus' `jsonutil.MarshalValue`: Go's shortest decimal, with an
/// exponent (`1e-07`, `1.5e+21`) below 1e-6 or from 1e21 on.
fn write_value(dst: &mut String, v: f64) {
    let abs = v.abs();
    if !v.is_finite() || abs == 0.0 || (1e-6..1e21).contains(&abs) {
        write_float(dst, v);
        return;
    }
    let s = format!("{v:e}"); // e.g. 1e-7, -1.5e21
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    let _ = write!(dst, "{mantissa}e{sign}{digits:0>2}");
}

/// Prometheus' `jsonutil.MarshalTimestamp`: seconds, then `.` and three
/// digits when the milliseconds are not 0 (`1600096945.479`, `1.500`).
fn write_timestamp(dst: &mut String, t: Timestamp) {
    if t < 0 {
        dst.push('-');
    }
    let abs = t.unsigned_abs();
    let _ = write!(dst, "{}", abs / 1000);
    if abs % 1000 != 0 {
        let _ = write!(dst, ".{:03}", abs % 1000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_model::{Exemplar, Labels};

    #[test]
    fn values_and_timestamps_are_written_as_prometheus_writes_them() {
        let cases = [
            (0.0, "0"),
            (6.0, "6"),
            (-0.25, "-0.25"),
            (1e-7, "1e-07"),
            (1.5e21, "1.5e+21"),
            (-2e300, "-2e+300"),
            (1e20, "100000000000000000000"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            write_value(&mut s, v);
            assert_eq!(s, want, "{v}");
        }
        for (t, want) in [
            (1_600_096_945_479, "1600096945.479"),
            (1500, "1.500"),
            (1005, "1.005"),
            (2000, "2"),
            (-1500, "-1.500"),
            (0, "0"),
        ] {
            let mut s = String::new();
            write_timestamp(&mut s, t);
            assert_eq!(s, want, "{t}");
        }
    }

    #[test]
    fn result_shape_is_prometheus_query_result() {
        let found = vec![ExemplarSeries {
            series_labels: Labels::from_pairs(&[("__name__", "x"), ("job", "a<b")]),
            exemplars: vec![
                Exemplar {
                    labels: Labels::from_pairs(&[("trace_id", "t1")]),
                    value: 6.0,
                    ts: Some(1_600_096_945_479),
                },
                Exemplar {
                    labels: Labels::empty(),
                    value: 0.5,
                    ts: Some(1_600_096_946_000),
                },
            ],
        }];
        // Twice on the same buffer: the writer only appends.
        let mut s = String::new();
        for _ in 0..2 {
            s.clear();
            write_result(&mut s, &found);
            assert_eq!(
                s,
                r#"[{"seriesLabels":{"__name__":"x","job":"a\u003cb"},"exemplars":[{"labels":{"trace_id":"t1"},"value":"6","timestamp":1600096945.479},{"labels":{},"value":"0.5","timestamp":1600096946}]}]"#
            );
        }
        s.clear();
        write_result(&mut s, &[]);
        assert_eq!(s, "[]");
    }
}
