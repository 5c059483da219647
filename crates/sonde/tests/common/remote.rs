//! Exact samples in and out of a server under test: a remote-write sender
//! that records which batches were acknowledged, and a remote-read reader,
//! so durability tests compare bit-exact values, not PromQL output.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use sonde_remote::proto;

/// A series' labels, sorted by name.
pub type SeriesLabels = Vec<(String, String)>;

/// The value every test writes for series `s` at time `t`: a function of
/// both, so a sample that shows up with any other value, or a sample from
/// one series under another, is caught.
pub fn value_of(s: usize, t: i64) -> f64 {
    (s as f64) * 1e9 + (t % 1_000_000_000) as f64 + 0.125
}

/// The labels of test series `s` named `name`.
pub fn series_labels(name: &str, s: usize) -> SeriesLabels {
    vec![
        ("__name__".to_string(), name.to_string()),
        ("instance".to_string(), format!("host-{:04}", s % 97)),
        ("s".to_string(), s.to_string()),
    ]
}

/// Posts one remote-write request holding one sample at `t` for each of
/// `series`; returns the HTTP status and body, or `Err` when the server
/// could not be reached.
pub fn write(
    client: &reqwest::blocking::Client,
    addr: &str,
    name: &str,
    series: std::ops::Range<usize>,
    t: i64,
) -> Result<(u16, String), String> {
    let req = proto::WriteRequest {
        timeseries: series
            .map(|s| proto::TimeSeries {
                labels: series_labels(name, s)
                    .into_iter()
                    .map(|(name, value)| proto::Label { name, value })
                    .collect(),
                samples: vec![proto::Sample {
                    value: value_of(s, t),
                    timestamp: t,
                }],
                ..Default::default()
            })
            .collect(),
        metadata: Vec::new(),
    };
    let resp = client
        .post(format!("http://{addr}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", sonde_remote::PROTOBUF_CONTENT_TYPE)
        .header(
            "X-Prometheus-Remote-Write-Version",
            sonde_remote::REMOTE_WRITE_VERSION,
        )
        .body(sonde_remote::encode_write_request(&req))
        .send()
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().unwrap_or_default()))
}

/// Posts `batches` requests, a second apart from `t0`, each with one sample
/// for each of `series`, and records them in `ledger`; each must be
/// acknowledged.
pub fn write_batches(
    addr: &str,
    ledger: &mut Ledger,
    name: &str,
    series: std::ops::Range<usize>,
    t0: i64,
    batches: i64,
) {
    let client = reqwest::blocking::Client::new();
    for i in 0..batches {
        let t = t0 + i * 1000;
        let (status, body) = write(&client, addr, name, series.clone(), t).unwrap();
        assert_eq!(status, 204, "{body}");
        ledger.record(series.clone(), t, true);
    }
}

/// The current time in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every sample of the series named `name` in `[start, end]`, read back
/// with remote read (SAMPLES response).
pub fn read(
    addr: &str,
    name: &str,
    start: i64,
    end: i64,
) -> BTreeMap<SeriesLabels, Vec<(i64, f64)>> {
    let req = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: start,
            end_timestamp_ms: end,
            matchers: vec![proto::LabelMatcher {
                r#type: proto::MatcherType::Eq as i32,
                name: "__name__".into(),
                value: name.into(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![proto::ResponseType::Samples as i32],
    };
    let mut body = Vec::new();
    sonde_remote::snappy::compress_into(&req.encode_to_vec(), &mut body);
    let resp = reqwest::blocking::Client::new()
        .post(format!("http://{addr}/api/v1/read"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", sonde_remote::PROTOBUF_CONTENT_TYPE)
        .body(body)
        .send()
        .expect("remote read");
    let status = resp.status().as_u16();
    let bytes = resp.bytes().expect("remote read body");
    assert_eq!(
        status,
        200,
        "remote read: {}",
        String::from_utf8_lossy(&bytes)
    );
    let mut raw = Vec::new();
    sonde_remote::snappy::decompress_into(&bytes, 1 << 30, &mut raw).expect("snappy");
    let resp = proto::ReadResponse::decode(raw.as_slice()).expect("ReadResponse");
    let mut out = BTreeMap::new();
    for r in resp.results {
        for ts in r.timeseries {
            let mut labels: SeriesLabels =
                ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
            labels.sort();
            let samples: Vec<(i64, f64)> = ts
                .samples
                .into_iter()
                .map(|s| (s.timestamp, s.value))
                .collect();
            out.insert(labels, samples);
        }
    }
    out
}

/// What was sent and what was acknowledged, per series number.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    pub sent: BTreeMap<usize, BTreeSet<i64>>,
    pub acked: BTreeMap<usize, BTreeSet<i64>>,
}

impl Ledger {
    pub fn record(&mut self, series: std::ops::Range<usize>, t: i64, acked: bool) {
        for s in series {
            self.sent.entry(s).or_default().insert(t);
            if acked {
                self.acked.entry(s).or_default().insert(t);
            }
        }
    }

    pub fn acked_count(&self) -> usize {
        self.acked.values().map(BTreeSet::len).sum()
    }

    /// Checks what the server returned for series named `name`: every
    /// acknowledged sample is there with its exact value, and nothing is
    /// there that was not sent (unacknowledged samples may or may not be).
    /// Returns the number of samples read.
    pub fn check(&self, name: &str, read: &BTreeMap<SeriesLabels, Vec<(i64, f64)>>) -> usize {
        let mut by_series: BTreeMap<usize, &Vec<(i64, f64)>> = BTreeMap::new();
        for (labels, samples) in read {
            let s: usize = labels
                .iter()
                .find(|(n, _)| n == "s")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or_else(|| panic!("a series that was never written: {labels:?}"));
            assert_eq!(labels, &series_labels(name, s), "labels of series {s}");
            let sent = self
                .sent
                .get(&s)
                .unwrap_or_else(|| panic!("series {s} was never sent"));
            for (t, v) in samples.iter() {
                assert!(sent.contains(t), "series {s}: sample at {t} was never sent");
                assert_eq!(
                    v.to_bits(),
                    value_of(s, *t).to_bits(),
                    "series {s} at {t}: value {v} is not the value written"
                );
            }
            assert!(
                samples.windows(2).all(|w| w[0].0 < w[1].0),
                "series {s}: timestamps not strictly increasing"
            );
            by_series.insert(s, samples);
        }
        for (s, acked) in &self.acked {
            let got: BTreeSet<i64> = by_series
                .get(s)
                .map(|v| v.iter().map(|x| x.0).collect())
                .unwrap_or_default();
            let missing: Vec<&i64> = acked.difference(&got).collect();
            assert!(
                missing.is_empty(),
                "series {s}: {} acknowledged samples lost, first at {:?} (of {} acknowledged)",
                missing.len(),
                missing.first(),
                acked.len()
            );
        }
        by_series.values().map(|v| v.len()).sum()
    }
}
