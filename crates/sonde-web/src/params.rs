//! Request parameters as the Prometheus API reads them: from the query string
//! and, for POST, from an `application/x-www-form-urlencoded` body, with
//! repeated keys (`match[]`) kept in order. Times are Unix seconds with an
//! optional fraction or RFC 3339; durations are seconds or Prometheus
//! durations (`5m`). Errors use Prometheus' wording.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, Method, Uri};

use crate::api::ApiError;

/// Largest body a form POST may have; a query or selector list is far smaller.
pub const MAX_FORM_BYTES: usize = 8 << 20;

/// Prometheus' `minTime`/`maxTime`: the extremes a time parameter may take,
/// chosen so that milliseconds still fit in an i64 after arithmetic.
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974;
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974;

/// All parameters of one request, in order.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Reads the query string and, for a form POST, the body.
    pub fn from_parts(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Self {
        let mut pairs: Vec<(String, String)> = uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if method == Method::POST && is_form {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        Params { pairs }
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Params {
            pairs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The first value of `key`, if given and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key such as `match[]`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time parameter in milliseconds, or `default` when absent.
    pub fn time_or(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(s) => parse_time(s).map_err(|e| invalid_param(key, e)),
        }
    }

    /// A duration parameter in milliseconds, if present.
    pub fn duration(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|s| parse_duration(s).map_err(|e| invalid_param(key, e)))
            .transpose()
    }
}

/// Handlers take `Params` as their last argument; the body is read within
/// the router's body limit.
impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let (method, uri, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        );
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| ApiError::bad_data(format!("cannot read request body: {e}")))?;
        Ok(Params::from_parts(&method, &uri, &headers, &body))
    }
}

fn invalid_param(key: &str, err: String) -> ApiError {
    ApiError::bad_data(format!("invalid parameter {key:?}: {err}"))
}

/// Parses Unix seconds (`1435781451.781`) or RFC 3339 into milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() {
            let ms = (secs * 1000.0).round();
            if ms >= MIN_TIME_MS as f64 && ms <= MAX_TIME_MS as f64 {
                return Ok(ms as i64);
            }
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    Err(format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses seconds (`15`, `0.5`) or a Prometheus duration (`1m30s`) into
/// milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        let ms = secs * 1000.0;
        if ms.is_finite() && ms.abs() < i64::MAX as f64 {
            return Ok(ms.round() as i64);
        }
        return Err(format!(
            "cannot parse {s:?} to a valid duration. It overflows int64"
        ));
    }
    sonde_model::parse_duration(s)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_forms() {
        assert_eq!(parse_time("1435781451.781").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("1435781451").unwrap(), 1_435_781_451_000);
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00").unwrap(),
            1_435_781_451_781
        );
        let e = parse_time("yesterday").unwrap_err();
        assert_eq!(e, "cannot parse \"yesterday\" to a valid timestamp");
        assert!(parse_time("NaN").is_err());
        assert!(parse_time("1e300").is_err());
    }

    #[test]
    fn durations_in_both_forms() {
        assert_eq!(parse_duration("15").unwrap(), 15_000);
        assert_eq!(parse_duration("0.5").unwrap(), 500);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000);
        assert!(parse_duration("1q").is_err());
    }

    #[test]
    fn repeated_keys_and_form_bodies_are_merged() {
        let uri: Uri = "/api/v1/series?match[]=up&start=1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let body = Bytes::from_static(b"match%5B%5D=node_load1&end=2");
        let p = Params::from_parts(&Method::POST, &uri, &headers, &body);
        assert_eq!(p.all("match[]"), vec!["up", "node_load1"]);
        assert_eq!(p.time_or("start", 0).unwrap(), 1000);
        assert_eq!(p.time_or("end", 0).unwrap(), 2000);
        assert_eq!(p.time_or("time", 7).unwrap(), 7);
        let e = Params::from_pairs(&[("start", "x")])
            .time_or("start", 0)
            .unwrap_err();
        assert_eq!(
            e.message,
            "invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"
        );
    }
}
