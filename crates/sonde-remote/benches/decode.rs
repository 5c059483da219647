//! Decoding a remote-write request as Prometheus sends it: 10,000
//! node_exporter-like series (20 hosts x 500 series, one sample each,
//! 4-7 labels), snappy-compressed. Compares prost's owned decoding with the
//! zero-copy `WriteDecoder` reusing its buffers. Throughput is reported in
//! samples and in decompressed bytes.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use sonde_remote::proto::{Label, Sample, TimeSeries, WriteRequest};
use sonde_remote::{snappy, DecodeLimits, WriteDecoder};

fn label(n: &str, v: &str) -> Label {
    Label {
        name: n.into(),
        value: v.into(),
    }
}

/// One host's 500 series, named and labelled like node_exporter 1.5's.
fn host_series(host: usize, ts: i64, out: &mut Vec<TimeSeries>) {
    let instance = format!("node-{host:03}.prod.example.com:9100");
    let mut push = |name: &str, extra: &[(&str, String)], v: f64| {
        let mut labels = vec![label("__name__", name)];
        for (n, val) in extra {
            labels.push(label(n, val));
        }
        labels.push(label("instance", &instance));
        labels.push(label("job", "node"));
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        out.push(TimeSeries {
            labels,
            samples: vec![Sample {
                value: v,
                timestamp: ts,
            }],
            ..Default::default()
        });
    };
    let modes = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    for cpu in 0..32 {
        for m in modes {
            push(
                "node_cpu_seconds_total",
                &[("cpu", cpu.to_string()), ("mode", m.to_string())],
                12345.67 + cpu as f64,
            );
        }
    }
    for dev in 0..12 {
        for metric in [
            "node_network_receive_bytes_total",
            "node_network_transmit_bytes_total",
            "node_network_receive_packets_total",
            "node_network_transmit_packets_total",
            "node_network_receive_errs_total",
            "node_network_transmit_errs_total",
            "node_network_receive_drop_total",
            "node_network_transmit_drop_total",
        ] {
            push(
                metric,
                &[("device", format!("eth{dev}"))],
                9.87e9 + dev as f64,
            );
        }
    }
    for fs in 0..16 {
        for metric in [
            "node_filesystem_avail_bytes",
            "node_filesystem_size_bytes",
            "node_filesystem_free_bytes",
            "node_filesystem_files",
            "node_filesystem_files_free",
            "node_filesystem_readonly",
        ] {
            push(
                metric,
                &[
                    ("device", format!("/dev/nvme{fs}n1p1")),
                    ("fstype", "ext4".into()),
                    ("mountpoint", format!("/data/{fs}")),
                ],
                1.2e12,
            );
        }
    }
    // 448 series so far; node_memory_*-like gauges fill the host to 500.
    for i in 0..52 {
        push(
            "node_memory_bytes",
            &[("kind", format!("Kind{i}"))],
            4.1e9 + i as f64,
        );
    }
}

fn request() -> WriteRequest {
    let mut timeseries = Vec::with_capacity(10_000);
    for host in 0..20 {
        host_series(host, 1_700_000_000_000 + host as i64, &mut timeseries);
    }
    assert_eq!(timeseries.len(), 10_000);
    WriteRequest {
        timeseries,
        metadata: vec![],
    }
}

fn bench(c: &mut Criterion) {
    let raw = request().encode_to_vec();
    let mut compressed = Vec::new();
    snappy::compress_into(&raw, &mut compressed);
    eprintln!(
        "request: 10000 series, {} bytes protobuf, {} bytes snappy",
        raw.len(),
        compressed.len()
    );

    let mut g = c.benchmark_group("remote_write_decode_samples");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("prost", |b| {
        b.iter(|| WriteRequest::decode(black_box(raw.as_slice())).map(|r| r.timeseries.len()))
    });
    let mut dec = WriteDecoder::new(DecodeLimits::default());
    g.bench_function("zero_copy_reused", |b| {
        b.iter(|| {
            if let Ok(r) = dec.decode(black_box(&raw)) {
                black_box(r.len());
                dec.recycle(r);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("remote_write_decode_bytes");
    g.throughput(Throughput::Bytes(raw.len() as u64));
    let mut buf = Vec::new();
    g.bench_function("snappy_only", |b| {
        b.iter(|| snappy::decompress_into(black_box(&compressed), 64 << 20, &mut buf))
    });
    g.bench_function("snappy_then_prost", |b| {
        b.iter(|| {
            snappy::decompress_into(black_box(&compressed), 64 << 20, &mut buf).ok();
            WriteRequest::decode(buf.as_slice()).map(|r| r.timeseries.len())
        })
    });
    let mut dec = WriteDecoder::new(DecodeLimits::default());
    g.bench_function("snappy_then_zero_copy_reused", |b| {
        b.iter(|| {
            snappy::decompress_into(black_box(&compressed), 64 << 20, &mut buf).ok();
            if let Ok(r) = dec.decode(&buf) {
                black_box(r.len());
                dec.recycle(r);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
