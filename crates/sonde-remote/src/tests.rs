//! The zero-copy decoder against prost, on valid, truncated and corrupted
//! payloads.

#![allow(clippy::unwrap_used)]

use prost::Message;

use crate::proto::{Exemplar, Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
use crate::{DecodeError, DecodeLimits, WriteDecoder};

fn label(n: &str, v: &str) -> Label {
    Label {
        name: n.into(),
        value: v.into(),
    }
}

fn request() -> WriteRequest {
    let mut ts = Vec::new();
    for i in 0..20 {
        ts.push(TimeSeries {
            labels: vec![
                label("__name__", "node_cpu_seconds_total"),
                label("cpu", &i.to_string()),
                label("instance", "host-ü:9100"),
                label("mode", "idle"),
            ],
            samples: vec![
                Sample {
                    value: i as f64 * 1.5,
                    timestamp: 1_700_000_000_000 + i,
                },
                Sample {
                    value: f64::NAN,
                    timestamp: -3,
                },
            ],
            exemplars: if i % 5 == 0 {
                vec![Exemplar {
                    labels: vec![label("trace_id", "abc")],
                    value: 2.0,
                    timestamp: 7,
                }]
            } else {
                vec![]
            },
            histograms: vec![],
        });
    }
    WriteRequest {
        timeseries: ts,
        metadata: vec![MetricMetadata {
            r#type: 1,
            metric_family_name: "node_cpu_seconds_total".into(),
            help: "Seconds the CPUs spent in each mode.".into(),
            unit: String::new(),
        }],
    }
}

/// NaN != NaN: compare through the encoding.
fn same(a: &WriteRequest, b: &WriteRequest) -> bool {
    a.encode_to_vec() == b.encode_to_vec()
}

#[test]
fn equals_prost_and_runs_twice_on_the_same_buffers() {
    let req = request();
    let bytes = req.encode_to_vec();
    let mut dec = WriteDecoder::new(DecodeLimits::default());
    for _ in 0..2 {
        let got = dec.decode(&bytes).unwrap();
        assert_eq!(got.len(), 20);
        assert_eq!(got.sample_count(), 40);
        assert!(same(&got.to_owned_proto(), &req));
        let s = got.series().nth(5).unwrap();
        assert_eq!(s.labels()[1], ("cpu", "5"));
        assert_eq!(s.exemplars().next().unwrap().labels, &[("trace_id", "abc")]);
        assert_eq!(
            got.metadata()[0].help,
            "Seconds the CPUs spent in each mode."
        );
        dec.recycle(got);
    }
}

#[test]
fn buffers_are_reused_not_reallocated() {
    let bytes = request().encode_to_vec();
    let mut dec = WriteDecoder::new(DecodeLimits::default());
    let got = dec.decode(&bytes).unwrap();
    let ptr = got.series().next().unwrap().labels().as_ptr() as usize;
    dec.recycle(got);
    let got = dec.decode(&bytes).unwrap();
    assert_eq!(got.series().next().unwrap().labels().as_ptr() as usize, ptr);
}

#[test]
fn every_truncation_agrees_with_prost() {
    let bytes = request().encode_to_vec();
    let mut dec = WriteDecoder::new(DecodeLimits::default());
    for n in 0..bytes.len() {
        let ours = dec.decode(&bytes[..n]).map(|r| r.to_owned_proto());
        let theirs = WriteRequest::decode(&bytes[..n]);
        match (ours, theirs) {
            (Ok(a), Ok(b)) => assert!(same(&a, &b), "prefix {n}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("prefix {n}: ours {a:?}, prost {b:?}"),
        }
    }
}

#[test]
fn corrupted_bytes_agree_with_prost() {
    let bytes = request().encode_to_vec();
    let mut dec = WriteDecoder::new(DecodeLimits::default());
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            let ours = dec.decode(&b).map(|r| r.to_owned_proto());
            let theirs = WriteRequest::decode(b.as_slice());
            match (ours, theirs) {
                (Ok(a), Ok(mut b)) => {
                    // prost keeps native histograms, which Sonde only counts.
                    b.timeseries.iter_mut().for_each(|t| t.histograms.clear());
                    assert!(same(&a, &b), "byte {i} ^ {flip:#x}")
                }
                (Err(_), Err(_)) => {}
                // prost skips deprecated groups; Sonde refuses them.
                (Err(DecodeError::Protobuf { reason, .. }), Ok(_))
                    if reason.starts_with("unsupported wire type") => {}
                (a, b) => panic!("byte {i} ^ {flip:#x}: ours {a:?}, prost {b:?}"),
            }
        }
    }
}

#[test]
fn errors_name_the_place() {
    let mut dec = WriteDecoder::new(DecodeLimits::default());
    // timeseries[0].labels[0].name = "\xff"
    let bad_utf8 = [0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff];
    assert_eq!(
        dec.decode(&bad_utf8).unwrap_err().to_string(),
        "malformed protobuf at byte 6 in timeseries[0].labels: string is not valid UTF-8"
    );
    let wrong_wire = [0x08, 0x01];
    assert_eq!(
        dec.decode(&wrong_wire).unwrap_err().to_string(),
        "malformed protobuf at byte 1 in WriteRequest: field 1 has wire type 0, which its type does not allow"
    );
    let too_long = [0x0a, 0x7f, 0x00];
    assert!(dec
        .decode(&too_long)
        .unwrap_err()
        .to_string()
        .contains("length 127 runs past the end of the message"));
}

#[test]
fn limits_stop_decoding() {
    let mut many_labels = request();
    many_labels.timeseries[3].labels = (0..300).map(|i| label(&format!("l{i}"), "v")).collect();
    let mut dec = WriteDecoder::new(DecodeLimits::default());
    assert_eq!(
        dec.decode(&many_labels.encode_to_vec())
            .unwrap_err()
            .to_string(),
        "labels of timeseries[3]: 257 is over the limit of 256"
    );
    let mut dec = WriteDecoder::new(DecodeLimits {
        max_series: 10,
        max_labels_per_series: 256,
    });
    assert_eq!(
        dec.decode(&request().encode_to_vec())
            .unwrap_err()
            .to_string(),
        "series in one request: 11 is over the limit of 10"
    );
}

#[test]
fn unknown_fields_are_skipped_and_histograms_counted() {
    let mut req = request();
    req.timeseries[0].histograms.push(vec![0x08, 0x01]);
    let mut bytes = req.encode_to_vec();
    // field 15, fixed32; field 14, varint; both unknown at the top level.
    bytes.extend_from_slice(&[0x7d, 1, 2, 3, 4, 0x70, 0x96, 0x01]);
    let mut dec = WriteDecoder::new(DecodeLimits::default());
    let got = dec.decode(&bytes).unwrap();
    assert_eq!(got.series().next().unwrap().histogram_count(), 1);
    assert!(same(&got.to_owned_proto(), &request()));
}

#[test]
fn snappy_and_prost_helpers_round_trip() {
    let req = request();
    let body = crate::encode_write_request(&req);
    let back = crate::decode_write_request(&body, 1 << 20).unwrap();
    assert!(same(&back, &req));
    assert!(matches!(
        crate::decode_write_request(&body, 10),
        Err(DecodeError::TooLarge { .. })
    ));
}

/// Labels in the form Prometheus writes them, then in others (a value of
/// 128 bytes or more, an empty value proto3 leaves out, the fields of a
/// label swapped), in every order: decoded as prost decodes them; and a
/// run of labels that is not UTF-8 names the string.
#[test]
fn label_forms_agree_with_prost() {
    let long = "v".repeat(200);
    let forms: Vec<Vec<u8>> = vec![
        Label::encode_to_vec(&label("a", "1")),
        Label::encode_to_vec(&label("b", &long)),
        Label::encode_to_vec(&label("c", "")),
        // value first, then name
        vec![0x12, 0x01, b'2', 0x0a, 0x01, b'd'],
        Label::encode_to_vec(&label("e", "ü")),
    ];
    let mut dec = WriteDecoder::new(DecodeLimits::default());
    for rot in 0..forms.len() {
        let mut series = Vec::new();
        for f in forms.iter().cycle().skip(rot).take(forms.len() * 2) {
            series.push(0x0a);
            prost::encoding::encode_varint(f.len() as u64, &mut series);
            series.extend_from_slice(f);
        }
        let sample = Sample::encode_to_vec(&Sample {
            value: 1.0,
            timestamp: 5,
        });
        series.push(0x12);
        series.push(sample.len() as u8);
        series.extend_from_slice(&sample);
        let mut body = vec![0x0a];
        prost::encoding::encode_varint(series.len() as u64, &mut body);
        body.extend_from_slice(&series);
        let theirs = WriteRequest::decode(body.as_slice()).unwrap();
        let ours = dec.decode(&body).unwrap();
        assert!(same(&ours.to_owned_proto(), &theirs), "rotation {rot}");
        assert_eq!(ours.series().next().unwrap().labels().len(), 10);
        dec.recycle(ours);
    }
    // timeseries[0]: a good label, then one whose value is "\xff".
    let bad = [
        0x0a, 0x0f, 0x0a, 0x05, 0x0a, 0x01, b'a', 0x12, 0x00, 0x0a, 0x06, 0x0a, 0x01, b'b', 0x12,
        0x01, 0xff,
    ];
    assert_eq!(
        dec.decode(&bad[..]).unwrap_err().to_string(),
        "malformed protobuf at byte 16 in timeseries[0].labels: string is not valid UTF-8"
    );
}
