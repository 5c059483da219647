//! The ingestion endpoints over HTTP against a real `sonde_tsdb::Db`:
//! remote write, remote read (both response types), Influx line protocol v1
//! and v2, text import; success, every class of bad input (status and error
//! text), and that what was accepted is queryable afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use prost::Message;
use serde_json::Value as Json;
use sonde_promql::{Engine, EngineOptions};
use sonde_remote::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use sonde_tsdb::{Db, DbOptions, FsyncPolicy};
use sonde_web::{Ingest, IngestLimits, QueryService};

struct Server {
    url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A server over a fresh Db; `with_storage` false leaves both the
/// appendable and the query service out.
async fn start(with_storage: bool) -> Server {
    start_with(with_storage, Arc::default()).await
}

/// [`start`] with the given ingest limits and counters.
async fn start_with(with_storage: bool, ingest: Arc<Ingest>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let opts = DbOptions {
        out_of_order_window_ms: 0,
        wal_fsync: FsyncPolicy::Never,
        background: false,
        ..DbOptions::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let (appendable, query): (Option<Arc<dyn sonde_model::Appendable>>, _) = if with_storage {
        (
            Some(db.clone()),
            Some(QueryService::new(
                Engine::new(EngineOptions::default()),
                db,
                2,
            )),
        )
    } else {
        (None, None)
    };
    let external = sonde_model::Labels::from_pairs(&[("cluster", "c1")]);
    let mut ctx = common::context(query, appendable, external);
    Arc::get_mut(&mut ctx).unwrap().ingest = ingest;
    let addr = common::serve(ctx).await;
    Server {
        url: format!("http://{addr}"),
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn label(n: &str, v: &str) -> Label {
    Label {
        name: n.into(),
        value: v.into(),
    }
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|(t, v)| Sample {
                value: *v,
                timestamp: *t,
            })
            .collect(),
        ..Default::default()
    }
}

impl Server {
    async fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
        let mut req = self.http.post(format!("{}{path}", self.url)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    async fn remote_write(&self, req: &WriteRequest) -> (u16, String) {
        self.post(
            "/api/v1/write",
            &[
                ("Content-Encoding", "snappy"),
                ("Content-Type", "application/x-protobuf"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ],
            sonde_remote::encode_write_request(req),
        )
        .await
    }

    /// `query` at `t` (ms) as {labels-string: value}.
    async fn query(&self, query: &str, t: i64) -> BTreeMap<String, f64> {
        common::query_at(&self.http, &self.url, query, t as f64 / 1000.0)
            .await
            .iter()
            .map(|r| {
                let m: BTreeMap<String, String> =
                    serde_json::from_value(r["metric"].clone()).unwrap();
                let v: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
                (format!("{m:?}"), v)
            })
            .collect()
    }

    async fn remote_read(
        &self,
        q: proto::Query,
        streamed: bool,
    ) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let req = proto::ReadRequest {
            queries: vec![q],
            accepted_response_types: if streamed { vec![1, 0] } else { vec![] },
        };
        let mut body = Vec::new();
        sonde_remote::snappy::compress_into(&req.encode_to_vec(), &mut body);
        let resp = self
            .http
            .post(format!("{}/api/v1/read", self.url))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Read-Version", "0.1.0")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let headers = resp.headers().clone();
        (headers, resp.bytes().await.unwrap().to_vec())
    }
}

/// A remote-write error body as Prometheus writes it (`http.Error`): one
/// line of text.
fn one_line(body: &str) -> &str {
    let line = body
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("not a line: {body:?}"));
    assert!(!line.contains('\n'), "{body:?}");
    line
}

fn m(pairs: &[(&str, &str)]) -> String {
    let m: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    format!("{m:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_stores_and_remote_read_returns_it() {
    let s = start(true).await;
    let t0 = now_ms() - 60_000;
    let req = WriteRequest {
        timeseries: vec![
            series(
                &[("__name__", "up"), ("instance", "a:9100"), ("job", "node")],
                &[(t0, 1.0), (t0 + 15_000, 0.0)],
            ),
            // Unsorted labels and an empty value are accepted (sorted, dropped).
            series(
                &[
                    ("job", "node"),
                    ("__name__", "up"),
                    ("instance", "b:9100"),
                    ("zone", ""),
                ],
                &[(t0 + 15_000, 1.0)],
            ),
        ],
        metadata: vec![],
    };
    let mut req = req;
    // An exemplar the storage does not keep does not fail the request.
    req.timeseries[0].exemplars.push(proto::Exemplar {
        labels: vec![label("trace_id", "abc123")],
        value: 1.0,
        timestamp: t0,
    });
    let (status, body) = s.remote_write(&req).await;
    assert_eq!((status, body.as_str()), (204, ""));
    let got = s.query("up", t0 + 20_000).await;
    assert_eq!(
        got,
        BTreeMap::from([
            (
                m(&[("__name__", "up"), ("instance", "a:9100"), ("job", "node")]),
                0.0
            ),
            (
                m(&[("__name__", "up"), ("instance", "b:9100"), ("job", "node")]),
                1.0
            ),
        ])
    );

    // Remote read, SAMPLES.
    let q = proto::Query {
        start_timestamp_ms: t0,
        end_timestamp_ms: t0 + 20_000,
        matchers: vec![
            proto::LabelMatcher {
                r#type: proto::MatcherType::Eq as i32,
                name: "__name__".into(),
                value: "up".into(),
            },
            proto::LabelMatcher {
                r#type: proto::MatcherType::Re as i32,
                name: "instance".into(),
                value: "a.*".into(),
            },
            // An external label: dropped from the selection, as Prometheus does.
            proto::LabelMatcher {
                r#type: proto::MatcherType::Eq as i32,
                name: "cluster".into(),
                value: "c1".into(),
            },
        ],
        hints: Some(proto::ReadHints {
            step_ms: 0,
            func: "rate".into(),
            start_ms: t0,
            end_ms: t0 + 20_000,
            ..Default::default()
        }),
    };
    let (headers, body) = s.remote_read(q.clone(), false).await;
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["content-encoding"], "snappy");
    let mut raw = Vec::new();
    sonde_remote::snappy::decompress_into(&body, 1 << 20, &mut raw).unwrap();
    let resp = proto::ReadResponse::decode(raw.as_slice()).unwrap();
    assert_eq!(resp.results.len(), 1);
    assert_eq!(resp.results[0].timeseries.len(), 1);
    let ts = &resp.results[0].timeseries[0];
    assert_eq!(
        ts.labels,
        vec![
            label("__name__", "up"),
            label("cluster", "c1"),
            label("instance", "a:9100"),
            label("job", "node")
        ]
    );
    assert_eq!(
        ts.samples,
        vec![
            Sample {
                value: 1.0,
                timestamp: t0
            },
            Sample {
                value: 0.0,
                timestamp: t0 + 15_000
            }
        ]
    );

    // Remote read, STREAMED_XOR_CHUNKS.
    let (headers, body) = s.remote_read(q, true).await;
    assert_eq!(
        headers["content-type"],
        "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
    );
    let (msg, rest) = sonde_remote::frame::read_frame(&body, 1 << 20).unwrap();
    assert!(rest.is_empty());
    let frame = proto::ChunkedReadResponse::decode(msg).unwrap();
    assert_eq!(frame.query_index, 0);
    let cs = &frame.chunked_series[0];
    assert_eq!(cs.labels, ts.labels);
    assert_eq!(cs.chunks.len(), 1);
    assert_eq!(cs.chunks[0].r#type, proto::ChunkEncoding::Xor as i32);
    assert_eq!(
        (cs.chunks[0].min_time_ms, cs.chunks[0].max_time_ms),
        (t0, t0 + 15_000)
    );
    assert_eq!(
        sonde_remote::xor::decode_xor(&cs.chunks[0].data).unwrap(),
        vec![(t0, 1.0), (t0 + 15_000, 0.0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_read_cuts_chunks_of_120_samples() {
    let s = start(true).await;
    let t0 = now_ms() - 3_000_000;
    let samples: Vec<(i64, f64)> = (0..300)
        .map(|i| (t0 + i * 10_000, i as f64 * 0.5))
        .collect();
    let req = WriteRequest {
        timeseries: vec![series(&[("__name__", "x"), ("job", "j")], &samples)],
        metadata: vec![],
    };
    assert_eq!(s.remote_write(&req).await.0, 204);
    let q = proto::Query {
        start_timestamp_ms: t0,
        end_timestamp_ms: t0 + 10_000_000,
        matchers: vec![proto::LabelMatcher {
            r#type: proto::MatcherType::Eq as i32,
            name: "job".into(),
            value: "j".into(),
        }],
        hints: None,
    };
    let (_, body) = s.remote_read(q, true).await;
    let (msg, _) = sonde_remote::frame::read_frame(&body, 1 << 20).unwrap();
    let frame = proto::ChunkedReadResponse::decode(msg).unwrap();
    let chunks = &frame.chunked_series[0].chunks;
    assert_eq!(chunks.len(), 3);
    let mut all = Vec::new();
    for c in chunks {
        all.extend(sonde_remote::xor::decode_xor(&c.data).unwrap());
    }
    assert_eq!(all, samples);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_refuses_bad_data_with_400_and_keeps_the_valid_series() {
    let s = start(true).await;
    let t = now_ms() - 10_000;
    let good = series(&[("__name__", "good"), ("job", "j")], &[(t, 1.0)]);
    let cases: Vec<(TimeSeries, &str)> = vec![
        (
            series(&[("__name__", "bad"), ("a-b", "1")], &[(t, 1.0)]),
            r#"series {__name__="bad", a-b="1"}: invalid label name "a-b" (must match [a-zA-Z_][a-zA-Z0-9_]*)"#,
        ),
        (
            series(&[("__name__", "bad"), ("a", "1"), ("a", "2")], &[(t, 1.0)]),
            r#"duplicate label name "a""#,
        ),
        (
            series(&[("job", "nameless")], &[(t, 1.0)]),
            "no metric name (label __name__)",
        ),
        (
            series(&[("__name__", "0bad")], &[(t, 1.0)]),
            r#"invalid metric name "0bad""#,
        ),
        (
            series(&[("__name__", "future")], &[(t + 3_600_000, 1.0)]),
            "more than 10m ahead of the server's clock",
        ),
        (
            series(&[("__name__", "ancient")], &[(i64::MIN, 1.0)]),
            "timestamp -9223372036854775808: before the earliest representable time",
        ),
    ];
    for (i, (bad, want)) in cases.into_iter().enumerate() {
        let mut good = good.clone();
        good.samples[0].timestamp = t + i as i64;
        let req = WriteRequest {
            timeseries: vec![bad, good],
            metadata: vec![],
        };
        let (status, body) = s.remote_write(&req).await;
        assert_eq!(status, 400, "{body}");
        let msg = one_line(&body);
        assert!(msg.contains(want), "case {i}: {msg}");
        assert!(msg.starts_with("1 samples refused, 1 accepted ("), "{msg}");
    }
    // The valid series of every request was stored.
    let r = common::query_at(
        &s.http,
        &s.url,
        "count_over_time(good[1m])",
        (t + 100) as f64 / 1000.0,
    )
    .await;
    assert_eq!(r[0]["value"][1], "6", "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_out_of_order_and_duplicates_are_400_naming_the_series() {
    let s = start(true).await;
    let t = now_ms() - 10_000;
    let first = WriteRequest {
        timeseries: vec![series(&[("__name__", "c"), ("job", "j")], &[(t, 5.0)])],
        metadata: vec![],
    };
    assert_eq!(s.remote_write(&first).await.0, 204);
    // Same sample again: not an error (idempotent retry).
    assert_eq!(s.remote_write(&first).await.0, 204);
    let second = WriteRequest {
        timeseries: vec![
            series(
                &[("__name__", "c"), ("job", "j")],
                &[(t - 1_000, 4.0), (t, 6.0), (t + 1_000, 7.0)],
            ),
            series(&[("__name__", "d")], &[(t, 1.0)]),
        ],
        metadata: vec![],
    };
    let (status, body) = s.remote_write(&second).await;
    assert_eq!(status, 400, "{body}");
    let msg = one_line(&body);
    assert!(
        msg.starts_with(
            "2 samples refused, 2 accepted (out of order: 1, duplicate sample for timestamp: 1): "
        ),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            r#"series {{__name__="c", job="j"}} timestamp {}: out of order sample"#,
            t - 1_000
        )),
        "{msg}"
    );
    assert_eq!(
        s.query("c", t + 1_000).await,
        BTreeMap::from([(m(&[("__name__", "c"), ("job", "j")]), 7.0)])
    );
    assert_eq!(s.query("d", t).await.len(), 1);
}

/// A stored series is found from the pairs as sent (the path that builds
/// no label set); sent unsorted or with an empty value, it is still the
/// same series, and refusals on either path name it the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_known_series_in_any_form_is_one_series() {
    let s = start(true).await;
    let t = now_ms() - 60_000;
    let one = |labels: &[(&str, &str)], t: i64, v: f64| WriteRequest {
        timeseries: vec![series(labels, &[(t, v)])],
        metadata: vec![],
    };
    let forms: [&[(&str, &str)]; 4] = [
        &[("__name__", "k"), ("job", "j")],
        &[("job", "j"), ("__name__", "k")],
        &[("__name__", "k"), ("empty", ""), ("job", "j")],
        &[("__name__", "k"), ("job", "j")],
    ];
    for (i, labels) in forms.iter().enumerate() {
        let (st, body) = s.remote_write(&one(labels, t + i as i64 * 1000, 1.0)).await;
        assert_eq!(st, 204, "{body}");
    }
    assert_eq!(
        s.query("count_over_time(k[5m])", t + 3000).await,
        BTreeMap::from([(m(&[("job", "j")]), 4.0)])
    );
    for labels in [forms[0], forms[1]] {
        let (st, body) = s.remote_write(&one(labels, t + 500, 9.0)).await;
        assert_eq!(st, 400, "{body}");
        assert!(
            body.contains(&format!(
                r#"series {{__name__="k", job="j"}} timestamp {}: out of order sample"#,
                t + 500
            )),
            "{body}"
        );
    }
    // A new series still has its labels checked.
    let (st, body) = s
        .remote_write(&one(
            &[("__name__", "k"), ("job", "j"), ("x-y", "1")],
            t,
            1.0,
        ))
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("invalid label name"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_malformed_bodies_and_limits() {
    let s = start(true).await;
    let snappy_hdr = [
        ("Content-Encoding", "snappy"),
        ("Content-Type", "application/x-protobuf"),
    ];
    let (st, body) = s
        .post("/api/v1/write", &snappy_hdr, b"not snappy at all".to_vec())
        .await;
    assert_eq!(st, 400);
    assert!(
        body.contains("cannot decode remote write request: snappy:"),
        "{body}"
    );

    let mut c = Vec::new();
    sonde_remote::snappy::compress_into(&[0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff], &mut c);
    let (st, body) = s.post("/api/v1/write", &snappy_hdr, c).await;
    assert_eq!(st, 400);
    assert!(
        body.contains(
            "malformed protobuf at byte 6 in timeseries[0].labels: string is not valid UTF-8"
        ),
        "{body}"
    );

    // A million labels in one series: refused while decoding, not stored.
    let huge = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: (0..1_000_000)
                .map(|i| label(&format!("l{i}"), "v"))
                .collect(),
            samples: vec![Sample {
                value: 1.0,
                timestamp: now_ms(),
            }],
            ..Default::default()
        }],
        metadata: vec![],
    };
    let (st, body) = s.remote_write(&huge).await;
    assert_eq!(st, 400);
    assert!(
        body.contains("labels of timeseries[0]: 257 is over the limit of 256"),
        "{body}"
    );

    // Too many series.
    let many = WriteRequest {
        timeseries: (0..100_001)
            .map(|i| series(&[("__name__", "m"), ("i", &i.to_string())], &[]))
            .collect(),
        metadata: vec![],
    };
    let (st, body) = s.remote_write(&many).await;
    assert_eq!(st, 400);
    assert!(
        body.contains("series in one request: 100001 is over the limit of 100000"),
        "{body}"
    );

    // Snappy header claiming a huge body.
    let (st, body) = s
        .post(
            "/api/v1/write",
            &snappy_hdr,
            vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0],
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        body.contains("decompressed body of 4294967295 bytes is over the limit"),
        "{body}"
    );

    // Over the compressed body limit: see
    // `configured_limits_apply_to_every_write_protocol_are_reloaded_and_counted`,
    // which uses a small limit (a 33 MiB body refused early makes the
    // server close the connection while the client is still sending,
    // which the client may see as a reset instead of the 413).

    // Wrong content encoding.
    let (st, body) = s
        .post(
            "/api/v1/write",
            &[("Content-Encoding", "gzip")],
            vec![1, 2, 3],
        )
        .await;
    assert_eq!(st, 415);
    assert!(body.contains("snappy"), "{body}");
    assert!(s.query("m", now_ms()).await.is_empty());

    // Influx and import take gzip or nothing.
    for path in ["/write?db=x", "/api/v1/import/prometheus"] {
        let (st, body) = s
            .post(path, &[("Content-Encoding", "br")], b"m 1".to_vec())
            .await;
        assert_eq!(st, 415, "{path}: {body}");
        assert!(body.contains("gzip"), "{path}: {body}");
    }
}

/// The value of one `sonde_ingest_*` metric with these labels.
fn ingest_metric(ingest: &Ingest, name: &str, labels: &[(&str, &str)]) -> f64 {
    ingest
        .metrics()
        .into_iter()
        .find(|m| {
            m.name == name
                && labels
                    .iter()
                    .all(|(k, v)| m.labels.iter().any(|(mk, mv)| mk == k && mv == v))
        })
        .map_or(0.0, |m| m.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_limits_apply_to_every_write_protocol_are_reloaded_and_counted() {
    let small = IngestLimits {
        max_body_bytes: 1000,
        max_series_per_request: 2,
        max_labels_per_series: 3,
        ..IngestLimits::default()
    };
    let ingest = Arc::new(Ingest::new(small));
    let s = start_with(true, ingest.clone()).await;
    let t = now_ms();
    let three = WriteRequest {
        timeseries: (0..3)
            .map(|i| series(&[("__name__", "lim"), ("i", &i.to_string())], &[(t, 1.0)]))
            .collect(),
        metadata: vec![],
    };
    let (st, body) = s.remote_write(&three).await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body.contains("series in one request: 3 is over the limit of 2"),
        "{body}"
    );
    let wide = WriteRequest {
        timeseries: vec![series(
            &[("__name__", "lim"), ("a", "1"), ("b", "2"), ("c", "3")],
            &[(t, 1.0)],
        )],
        metadata: vec![],
    };
    let (st, body) = s.remote_write(&wide).await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("is over the limit of 3"), "{body}");

    let lines = format!("lim a=1 {t}\nlim b=2 {t}\nlim c=3 {t}\n");
    let (st, body) = s
        .post("/write?db=x&precision=ms", &[], lines.into_bytes())
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("more than 2 lines"), "{body}");
    assert!(body.contains("ingest.max_series_per_request"), "{body}");
    let wide_line = format!("lim,a=1,b=2,c=3 v=1 {t}\nlim,a=1 v=1 {t}\n");
    let (st, body) = s
        .post("/write?precision=ms&db=x", &[], wide_line.into_bytes())
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("ingest.max_labels_per_series"), "{body}");
    let (st, body) = s.post("/write?db=x", &[], vec![b'#'; 1001]).await;
    assert_eq!(st, 413, "{body}");
    assert!(body.contains("ingest.max_body_size"), "{body}");
    let (st, body) = s
        .post(
            "/api/v1/write",
            &[("Content-Encoding", "snappy")],
            vec![0u8; 1001],
        )
        .await;
    assert_eq!(st, 413, "{body}");
    assert!(body.contains("ingest.max_body_size"), "{body}");

    let text = format!("lim 1 {t}\nlim 2 {t}\nlim 3 {t}\n");
    let (st, body) = s
        .post("/api/v1/import/prometheus", &[], text.into_bytes())
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("more than 2 samples in one import"), "{body}");
    // Only the Influx line within every limit was stored.
    assert_eq!(
        s.query("lim_v", t).await,
        BTreeMap::from([(m(&[("__name__", "lim_v"), ("a", "1"), ("db", "x")]), 1.0)])
    );

    // A reload raises the limits; the same request now passes.
    ingest.set_limits(IngestLimits::default());
    let (st, body) = s.remote_write(&three).await;
    assert_eq!(st, 204, "{body}");
    assert_eq!(s.query("count(lim)", t).await.values().sum::<f64>(), 3.0);

    let rw = ("protocol", "remote_write");
    assert_eq!(
        ingest_metric(
            &ingest,
            "sonde_ingest_requests_total",
            &[rw, ("code", "400")]
        ),
        2.0
    );
    assert_eq!(
        ingest_metric(
            &ingest,
            "sonde_ingest_requests_total",
            &[rw, ("code", "204")]
        ),
        1.0
    );
    assert_eq!(
        ingest_metric(&ingest, "sonde_ingest_samples_total", &[rw]),
        3.0
    );
    let influx = ("protocol", "influx");
    assert_eq!(
        ingest_metric(
            &ingest,
            "sonde_ingest_requests_total",
            &[influx, ("code", "413")]
        ),
        1.0
    );
    assert_eq!(
        ingest_metric(&ingest, "sonde_ingest_samples_total", &[influx]),
        1.0
    );
    assert_eq!(
        ingest_metric(
            &ingest,
            "sonde_ingest_samples_refused_total",
            &[influx, ("reason", "invalid")]
        ),
        1.0
    );
    assert!(ingest_metric(&ingest, "sonde_ingest_request_bytes_total", &[influx]) > 0.0);
    assert_eq!(
        ingest_metric(
            &ingest,
            "sonde_ingest_limit",
            &[("limit", "max_series_per_request")]
        ),
        100_000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_beyond_the_gate_wait_and_all_succeed() {
    let s = Arc::new(start(true).await);
    let t = now_ms() - 10_000;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = i.to_string();
            let req = WriteRequest {
                timeseries: vec![series(&[("__name__", "par"), ("i", &id)], &[(t, i as f64)])],
                metadata: vec![],
            };
            s.remote_write(&req).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), (204, String::new()));
    }
    assert_eq!(s.query("par", t).await.len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_storage_every_write_is_503() {
    let s = start(false).await;
    let resp = s
        .http
        .post(format!("{}/api/v1/write", s.url))
        .header("Content-Encoding", "snappy")
        .body(sonde_remote::encode_write_request(&WriteRequest::default()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    // As Prometheus' receiver answers: plain text, not the API's JSON.
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    let body = resp.text().await.unwrap();
    assert!(one_line(&body).contains("no appendable storage"), "{body}");
    assert_eq!(s.post("/write?db=x", &[], b"m v=1".to_vec()).await.0, 503);
    assert_eq!(
        s.post("/api/v2/write?bucket=x", &[], b"m v=1".to_vec())
            .await
            .0,
        503
    );
    assert_eq!(
        s.post("/api/v1/import/prometheus", &[], b"m 1".to_vec())
            .await
            .0,
        503
    );
    assert_eq!(s.post("/api/v1/read", &[], vec![]).await.0, 503);
    let h = s
        .http
        .get(format!("{}/health", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influx_v1_and_v2_write_with_precision_gzip_and_partial_writes() {
    let s = start(true).await;
    let t = now_ms() - 5_000;
    let secs = t / 1000;
    // v1, seconds, gzip.
    let body = format!(
        "cpu,host=h1,cpu-id=0 usage_idle=90.5,usage_user=3i,count=7u,ok=true,msg=\"text\" {secs}\n\
         # comment\n\n\
         disk.io,host=h1 value=2 {secs}\n"
    );
    let mut gz = Vec::new();
    sonde_exposition::gzip::encode(body.as_bytes(), &mut gz);
    let (st, resp) = s
        .post(
            "/write?db=telegraf&precision=s",
            &[("Content-Encoding", "gzip")],
            gz,
        )
        .await;
    assert_eq!((st, resp.as_str()), (204, ""));
    let at = secs * 1000;
    let got = s.query(r#"{host="h1"}"#, at).await;
    let want: BTreeMap<String, f64> = [
        ("cpu_usage_idle", 90.5),
        ("cpu_usage_user", 3.0),
        ("cpu_count", 7.0),
        ("cpu_ok", 1.0),
    ]
    .iter()
    .map(|(n, v)| {
        (
            m(&[
                ("__name__", n),
                ("cpu_id", "0"),
                ("db", "telegraf"),
                ("host", "h1"),
            ]),
            *v,
        )
    })
    .chain([(
        m(&[
            ("__name__", "disk_io_value"),
            ("db", "telegraf"),
            ("host", "h1"),
        ]),
        2.0,
    )])
    .collect();
    assert_eq!(got, want);

    // v2, nanoseconds (default), a bad line among good ones.
    let ns = t as i128 * 1_000_000;
    let body =
        format!("mem,host=h2 used=1 {ns}\nbroken line\nmem,host=h2 free=2 {ns}\nmem v=nan\n");
    let (st, resp) = s
        .post(
            "/api/v2/write?org=o&bucket=b",
            &[("Authorization", "Token x")],
            body.into_bytes(),
        )
        .await;
    assert_eq!(st, 400);
    let err: Json = serde_json::from_str(&resp).unwrap();
    assert_eq!(err["code"], "invalid");
    assert_eq!(
        err["message"],
        "partial write: 2 lines could not be parsed and were dropped, the other lines were stored: \
         line 2: unable to parse 'broken line': missing field key or '='"
            .to_string()
            + "; line 4: unable to parse 'mem v=nan': invalid value \"nan\" of field \"v\" (float, 1i, 1u, true/false or \"string\")"
    );
    let got = s.query(r#"{host="h2"}"#, t).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[&m(&[("__name__", "mem_used"), ("host", "h2")])], 1.0);

    // A line without a timestamp gets the request's time.
    let (st, _) = s
        .post("/write?db=d&precision=ms", &[], b"now_m v=4".to_vec())
        .await;
    assert_eq!(st, 204);
    assert_eq!(s.query("now_m_v", now_ms()).await.len(), 1);

    // Bad precision, missing db / bucket.
    let (st, resp) = s
        .post("/write?db=d&precision=us2", &[], b"m v=1".to_vec())
        .await;
    assert_eq!(
        (st, resp.as_str()),
        (
            400,
            r#"{"error":"invalid precision \"us2\" (use ns, u, ms, s, m or h)"}"#
        )
    );
    let (st, resp) = s
        .post("/api/v2/write?bucket=b&precision=h", &[], b"m v=1".to_vec())
        .await;
    assert_eq!(st, 400);
    assert!(
        resp.contains("invalid precision \\\"h\\\" (use ns, us, ms or s)"),
        "{resp}"
    );
    let (st, resp) = s.post("/write", &[], b"m v=1".to_vec()).await;
    assert_eq!(
        (st, resp.as_str()),
        (
            400,
            r#"{"error":"database is required (query parameter db)"}"#
        )
    );
    let (st, _) = s.post("/api/v2/write?org=o", &[], b"m v=1".to_vec()).await;
    assert_eq!(st, 400);
    // Corrupt gzip.
    let (st, resp) = s
        .post(
            "/write?db=d",
            &[("Content-Encoding", "gzip")],
            b"not gzip".to_vec(),
        )
        .await;
    assert_eq!(st, 400);
    assert!(resp.contains("cannot decode gzip body"), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influx_ping_health_and_create_database_for_telegraf() {
    let s = start(true).await;
    let ping = s.http.get(format!("{}/ping", s.url)).send().await.unwrap();
    assert_eq!(ping.status(), 204);
    assert!(ping.headers().contains_key("x-influxdb-version"));
    let head = s.http.head(format!("{}/ping", s.url)).send().await.unwrap();
    assert_eq!(head.status(), 204);
    let h: Json = s
        .http
        .get(format!("{}/health", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "pass");
    // Telegraf's outputs.influxdb sends CREATE DATABASE as a form POST.
    let r = s
        .http
        .post(format!("{}/query", s.url))
        .form(&[("q", "CREATE DATABASE \"telegraf\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"results":[{"statement_id":0}]}"#
    );
    let r = s
        .http
        .get(format!("{}/query?q=SELECT+1", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_import_with_default_and_own_timestamps() {
    let s = start(true).await;
    let t = now_ms() - 30_000;
    let own = t - 10_000;
    let body = format!(
        "# TYPE jobs_total counter\njobs_total{{queue=\"a\"}} 3\njobs_total{{queue=\"b\"}} 4 {own}\n"
    );
    let mut gz = Vec::new();
    sonde_exposition::gzip::encode(body.as_bytes(), &mut gz);
    let (st, resp) = s
        .post(
            &format!(
                "/api/v1/import/prometheus?timestamp={}&extra_label=env=prod",
                t as f64 / 1000.0
            ),
            &[("Content-Encoding", "gzip")],
            gz,
        )
        .await;
    assert_eq!((st, resp.as_str()), (204, ""));
    let r = common::query_at(&s.http, &s.url, "timestamp(jobs_total)", t as f64 / 1000.0).await;
    let mut got: Vec<(String, String, String)> = r
        .iter()
        .map(|x| {
            (
                x["metric"]["queue"].as_str().unwrap().to_string(),
                x["metric"]["env"].as_str().unwrap().to_string(),
                x["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("a".into(), "prod".into(), format!("{}", t as f64 / 1000.0)),
            (
                "b".into(),
                "prod".into(),
                format!("{}", own as f64 / 1000.0)
            ),
        ]
    );

    // A parse error stores nothing and names the line.
    let (st, resp) = s
        .post(
            "/api/v1/import/prometheus",
            &[],
            b"ok_metric 1\nbad{ 2\n".to_vec(),
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        resp.contains("cannot parse import body, nothing was stored: line 2:"),
        "{resp}"
    );
    assert!(s.query("ok_metric", now_ms()).await.is_empty());
    let (st, resp) = s
        .post(
            "/api/v1/import/prometheus?timestamp=yesterday",
            &[],
            b"x 1".to_vec(),
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        resp.contains("invalid parameter \\\"timestamp\\\""),
        "{resp}"
    );
}

/// Measures remote-write ingestion over HTTP into a Db (WAL without fsync):
/// 20 requests of 10,000 series with one sample each, as a Prometheus with
/// 10,000 active series sends them every scrape. Prints samples/s; asserts
/// only that everything was stored. Run with
/// `cargo test --release -p sonde-web --test ingest -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check; run by hand in release mode"]
async fn measure_remote_write_throughput() {
    let s = start(true).await;
    let t0 = now_ms() - 600_000;
    let names = [
        "node_cpu_seconds_total",
        "node_network_receive_bytes_total",
        "node_filesystem_avail_bytes",
    ];
    let bodies: Vec<Vec<u8>> = (0..20)
        .map(|round| {
            let req = WriteRequest {
                timeseries: (0..10_000)
                    .map(|i| {
                        let host = format!("node-{:03}:9100", i / 500);
                        let idx = (i % 500).to_string();
                        series(
                            &[
                                ("__name__", names[i % 3]),
                                ("instance", &host),
                                ("job", "node"),
                                ("series", &idx),
                            ],
                            &[(t0 + round * 15_000, (i * round as usize) as f64)],
                        )
                    })
                    .collect(),
                metadata: vec![],
            };
            sonde_remote::encode_write_request(&req)
        })
        .collect();
    let wire: usize = bodies.iter().map(Vec::len).sum();
    let start = std::time::Instant::now();
    for body in bodies {
        let (st, resp) = s
            .post("/api/v1/write", &[("Content-Encoding", "snappy")], body)
            .await;
        assert_eq!(st, 204, "{resp}");
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "remote write over HTTP: 200000 samples in {secs:.3}s = {:.0} samples/s, {:.1} MB/s compressed",
        200_000.0 / secs,
        wire as f64 / secs / 1e6
    );
    let n = s.query("count({job=\"node\"})", t0 + 19 * 15_000).await;
    assert_eq!(n.values().next(), Some(&10_000.0));
}
