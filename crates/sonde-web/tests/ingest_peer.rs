//! Peer test: a real Prometheus 2.42 scrapes a static target served here and
//! remote-writes to a Sonde router running in this process; every sample
//! Prometheus stored must arrive in Sonde. Compared through both read APIs
//! of both servers: the PromQL query API (a range selector returns raw
//! samples) and remote read (SAMPLES).
//!
//! Skips with a printed reason when the `prometheus` binary is absent,
//! unless `SONDE_REQUIRE_PEERS=1`, in which case it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use prost::Message;
use serde_json::Value as Json;
use sonde_remote::proto;

/// A target whose counter grows by a varying step on every scrape.
async fn start_target() -> String {
    let scrapes = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let n = scrapes.fetch_add(1, Ordering::Relaxed);
            async move {
                format!(
                    "# TYPE jobs_total counter\njobs_total{{queue=\"a\"}} {}\njobs_total{{queue=\"b\"}} {}\n\
                     # TYPE temperature gauge\ntemperature {}\n\
                     # TYPE latency_seconds histogram\n\
                     latency_seconds_bucket{{le=\"0.1\"}} {n}\nlatency_seconds_bucket{{le=\"+Inf\"}} {}\n\
                     latency_seconds_sum {}\nlatency_seconds_count {}\n",
                    n * 3,
                    n * n,
                    20.0 + (n as f64) / 7.0,
                    2 * n,
                    n as f64 * 0.137,
                    2 * n
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

/// `{job="static"}[1h]` at `t` (seconds) as {series: [(t, value)]}.
async fn raw_samples(
    http: &reqwest::Client,
    base: &str,
    t: f64,
) -> BTreeMap<String, Vec<(f64, String)>> {
    common::query_at(http, base, r#"{job="static"}[1h]"#, t)
        .await
        .iter()
        .map(|r| {
            let m: BTreeMap<String, String> = serde_json::from_value(r["metric"].clone()).unwrap();
            let vals = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| (v[0].as_f64().unwrap(), v[1].as_str().unwrap().to_string()))
                .collect();
            (format!("{m:?}"), vals)
        })
        .collect()
}

fn read_request(start: i64, end: i64, streamed: bool) -> Vec<u8> {
    let req = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: start,
            end_timestamp_ms: end,
            matchers: vec![proto::LabelMatcher {
                r#type: proto::MatcherType::Eq as i32,
                name: "job".into(),
                value: "static".into(),
            }],
            hints: None,
        }],
        accepted_response_types: if streamed { vec![1] } else { vec![] },
    };
    let mut body = Vec::new();
    sonde_remote::snappy::compress_into(&req.encode_to_vec(), &mut body);
    body
}

/// Remote read (STREAMED_XOR_CHUNKS) of `{job="static"}` over `[start,
/// end]` ms: every frame's series with its chunks.
async fn streamed_read(
    http: &reqwest::Client,
    base: &str,
    start: i64,
    end: i64,
) -> Vec<proto::ChunkedSeries> {
    let resp = http
        .post(format!("{base}/api/v1/read"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(read_request(start, end, true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{base}");
    assert_eq!(
        resp.headers()["content-type"],
        sonde_remote::frame::STREAMED_CONTENT_TYPE,
        "{base}"
    );
    let body = resp.bytes().await.unwrap();
    let mut rest: &[u8] = &body;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (msg, r) = sonde_remote::frame::read_frame(rest, 16 << 20).unwrap();
        rest = r;
        let frame = proto::ChunkedReadResponse::decode(msg).unwrap();
        assert_eq!(frame.query_index, 0);
        out.extend(frame.chunked_series);
    }
    out
}

/// Remote read (SAMPLES) of `{job="static"}` over `[start, end]` ms.
async fn remote_read(
    http: &reqwest::Client,
    base: &str,
    start: i64,
    end: i64,
) -> proto::ReadResponse {
    let req = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: start,
            end_timestamp_ms: end,
            matchers: vec![proto::LabelMatcher {
                r#type: proto::MatcherType::Eq as i32,
                name: "job".into(),
                value: "static".into(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![],
    };
    let mut body = Vec::new();
    sonde_remote::snappy::compress_into(&req.encode_to_vec(), &mut body);
    let resp = http
        .post(format!("{base}/api/v1/read"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{base}");
    let body = resp.bytes().await.unwrap();
    let mut raw = Vec::new();
    sonde_remote::snappy::decompress_into(&body, 64 << 20, &mut raw).unwrap();
    let mut r = proto::ReadResponse::decode(raw.as_slice()).unwrap();
    for res in &mut r.results {
        res.timeseries.sort_by(|a, b| {
            let key = |t: &proto::TimeSeries| {
                t.labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect::<Vec<_>>()
            };
            key(a).cmp(&key(b))
        });
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_write_delivers_every_sample() {
    let bin = "prometheus";
    if !common::peer_present(bin, "--version", "prometheus, 2.42") {
        return;
    }
    let sonde_dir = tempfile::tempdir().unwrap();
    let prom_dir = tempfile::tempdir().unwrap();
    let sonde = format!(
        "127.0.0.1:{}",
        common::serve_db(sonde_dir.path()).await.port()
    );
    let target = start_target().await;
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: static\n    static_configs:\n      - targets: ['{target}']\n\
         remote_write:\n  - url: http://{sonde}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n"
    );
    let peer = common::start_prometheus(prom_dir.path(), &config, &[]);
    let prom = peer.url.clone();
    let sonde_url = format!("http://{sonde}");
    let http = reqwest::Client::new();

    // Let Prometheus scrape several times.
    let deadline = Instant::now() + Duration::from_secs(60);
    let t_end = loop {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape 5 times within 60s; its log: {}",
            peer.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as f64
            / 1000.0;
        let Ok(resp) = http
            .get(format!("{prom}/api/v1/query"))
            .query(&[
                ("query", r#"count_over_time(up{job="static"}[1h])"#),
                ("time", &now.to_string()),
            ])
            .send()
            .await
        else {
            continue;
        };
        let Ok(j) = resp.json::<Json>().await else {
            continue;
        };
        let n: f64 = j["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        if n >= 5.0 {
            break now;
        }
    };

    let want = raw_samples(&http, &prom, t_end).await;
    assert!(
        want.len() >= 8,
        "Prometheus stored too few series: {want:?}"
    );
    let start_ms = ((t_end - 3600.0) * 1000.0) as i64;
    let end_ms = (t_end * 1000.0) as i64;
    let want_read = remote_read(&http, &prom, start_ms, end_ms).await;

    // Remote write is asynchronous: wait until Sonde has caught up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got;
    loop {
        got = raw_samples(&http, &sonde_url, t_end).await;
        if got == want || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        got, want,
        "the query APIs of Sonde (left) and Prometheus (right) differ"
    );
    let got_read = remote_read(&http, &sonde_url, start_ms, end_ms).await;
    assert_eq!(
        got_read.encode_to_vec(),
        want_read.encode_to_vec(),
        "remote read of Sonde {got_read:?} and of Prometheus {want_read:?} differ"
    );

    // Streamed chunks: Prometheus' chunks decode with Sonde's XOR decoder,
    // re-encode with Sonde's encoder to the very same bytes, and hold the
    // samples Sonde's chunks hold (Prometheus sends whole head chunks, which
    // may reach past `end`, so samples are compared within the range).
    let decoded = |series: Vec<proto::ChunkedSeries>| -> BTreeMap<String, Vec<(i64, u64)>> {
        let mut out: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
        for cs in series {
            let key = format!("{:?}", cs.labels);
            for c in cs.chunks {
                assert_eq!(c.r#type, proto::ChunkEncoding::Xor as i32);
                let samples = sonde_remote::xor::decode_xor(&c.data).expect("decodable chunk");
                assert_eq!(samples.first().map(|s| s.0), Some(c.min_time_ms));
                assert_eq!(samples.last().map(|s| s.0), Some(c.max_time_ms));
                out.entry(key.clone()).or_default().extend(
                    samples
                        .into_iter()
                        .filter(|(t, _)| (start_ms..=end_ms).contains(t))
                        .map(|(t, v)| (t, v.to_bits())),
                );
            }
        }
        out
    };
    let prom_chunks = streamed_read(&http, &prom, start_ms, end_ms).await;
    let mut reencoded = 0;
    for cs in &prom_chunks {
        for c in &cs.chunks {
            let mut enc = sonde_remote::xor::XorEncoder::new();
            for (t, v) in sonde_remote::xor::decode_xor(&c.data).unwrap() {
                enc.append(t, v);
            }
            assert_eq!(
                enc.finish(),
                c.data,
                "XOR chunk of {:?} re-encoded differently",
                cs.labels
            );
            reencoded += 1;
        }
    }
    assert!(reencoded >= 8);
    let sonde_chunks = streamed_read(&http, &sonde_url, start_ms, end_ms).await;
    assert_eq!(decoded(sonde_chunks), decoded(prom_chunks));

    // Sonde as a remote-read server for a real client: a second Prometheus
    // with empty local storage reads everything from Sonde (2.42's client
    // asks for SAMPLES) and must answer the query as the first one does.
    let reader_dir = tempfile::tempdir().unwrap();
    let reader = common::start_prometheus(
        reader_dir.path(),
        &format!("remote_read:\n  - url: {sonde_url}/api/v1/read\n    read_recent: true\n"),
        &[],
    );
    let reader_url = reader.url.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http
            .get(format!("{reader_url}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reading Prometheus did not get ready; its log: {}",
            reader.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let via_remote_read = raw_samples(&http, &reader_url, t_end).await;
    assert_eq!(
        via_remote_read, want,
        "Prometheus reading Sonde remotely (left) differs from Prometheus' own data (right)"
    );

    let samples: usize = want.values().map(Vec::len).sum();
    eprintln!("{} series, {samples} samples arrived intact", want.len());
}
