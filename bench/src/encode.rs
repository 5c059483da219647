//! Pre-encodes the whole workload into remote-write request bodies before
//! any timing starts, batched as Prometheus 2.42's remote-write queue sends
//! them with its defaults: series are sharded by hash (here: series index
//! modulo the shard count, so a series always goes through one connection
//! and stays in order), each shard sends batches of up to
//! `max_samples_per_send` = 500 samples, and every sample is its own
//! `TimeSeries` with the full label set (2.42 builds one `TimeSeries` per
//! queued sample). Metadata, which Prometheus sends in separate requests
//! once a minute, is left out.
//!
//! The protobuf is written by hand (label bytes encoded once per series):
//! encoding 14 M samples through prost structs would spend most of the
//! preparation time allocating strings. A test checks the bytes decode with
//! `sonde_remote`'s prost messages to exactly the samples generated.

use bytes::Bytes;

use crate::workload::{Generator, Workload};

/// Prometheus 2.42 `queue_config.max_samples_per_send` default.
pub const PROMETHEUS_MAX_SAMPLES_PER_SEND: usize = 500;

/// Steps of data in one epoch of sending: senders stay within an epoch of
/// each other (see `ingest::EpochGate`). 60 steps of 15 s: 15 minutes.
pub const EPOCH_STEPS: usize = 60;

/// The request bodies of one sender connection, in send order.
pub struct ShardBodies {
    pub bodies: Vec<Bytes>,
    /// Where each epoch's bodies end (exclusive indexes into `bodies`);
    /// every shard has the same number of epochs.
    pub epoch_ends: Vec<usize>,
    pub samples: u64,
}

/// Values of a few series kept while encoding, to check what a server
/// returns against what was sent.
pub struct Probe {
    pub series: usize,
    pub points: Vec<(i64, f64)>,
}

pub struct Encoded {
    pub shards: Vec<ShardBodies>,
    pub probes: Vec<Probe>,
    pub compressed_bytes: u64,
    pub raw_bytes: u64,
}

/// Encodes every sample of `w` into `shards` streams of snappy-compressed
/// `WriteRequest`s of at most `batch` samples. `probe_series` are recorded.
pub fn encode(w: &Workload, shards: usize, batch: usize, probe_series: &[usize]) -> Encoded {
    let label_bytes: Vec<Vec<u8>> = w.series.iter().map(|s| encode_labels(&s.labels)).collect();
    let mut builders: Vec<BatchBuilder> = (0..shards.max(1))
        .map(|_| BatchBuilder::default())
        .collect();
    let mut probes: Vec<Probe> = probe_series
        .iter()
        .map(|&s| Probe {
            series: s,
            points: Vec::with_capacity(w.steps),
        })
        .collect();
    let mut gen = Generator::new(w);
    let n = builders.len();
    for step in 0..w.steps {
        let values = gen.step(w);
        for (s, &v) in values.iter().enumerate() {
            let t = w.timestamp(w.instance_of(s), step);
            builders[s % n].push(&label_bytes[s], t, v, batch);
        }
        for p in &mut probes {
            let t = w.timestamp(w.instance_of(p.series), step);
            p.points.push((t, values[p.series]));
        }
        if (step + 1) % EPOCH_STEPS == 0 && step + 1 < w.steps {
            for b in &mut builders {
                b.epoch_ends.push(b.bodies.len());
            }
        }
    }
    let mut out = Encoded {
        shards: Vec::new(),
        probes,
        compressed_bytes: 0,
        raw_bytes: 0,
    };
    for mut b in builders {
        b.flush();
        b.epoch_ends.push(b.bodies.len());
        out.compressed_bytes += b.bodies.iter().map(|x| x.len() as u64).sum::<u64>();
        out.raw_bytes += b.raw_bytes;
        out.shards.push(ShardBodies {
            bodies: b.bodies.into_iter().map(Bytes::from).collect(),
            epoch_ends: b.epoch_ends,
            samples: b.samples,
        });
    }
    out
}

#[derive(Default)]
struct BatchBuilder {
    raw: Vec<u8>,
    in_batch: usize,
    bodies: Vec<Vec<u8>>,
    epoch_ends: Vec<usize>,
    samples: u64,
    raw_bytes: u64,
    scratch: Vec<u8>,
}

impl BatchBuilder {
    /// Adds one sample as its own `TimeSeries` (field 1 of `WriteRequest`).
    fn push(&mut self, labels: &[u8], t: i64, v: f64, batch: usize) {
        let s = &mut self.scratch;
        s.clear();
        s.extend_from_slice(labels);
        let mut sample = Vec::with_capacity(20);
        sample.push(0x09); // Sample.value: field 1, fixed64
        sample.extend_from_slice(&v.to_le_bytes());
        sample.push(0x10); // Sample.timestamp: field 2, varint
        put_varint(&mut sample, t as u64);
        put_len_field(s, 2, &sample); // TimeSeries.samples
        let body = std::mem::take(s);
        put_len_field(&mut self.raw, 1, &body);
        *s = body;
        self.in_batch += 1;
        self.samples += 1;
        if self.in_batch >= batch {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.in_batch == 0 {
            return;
        }
        let mut body = Vec::new();
        sonde_remote::snappy::compress_into(&self.raw, &mut body);
        self.raw_bytes += self.raw.len() as u64;
        self.bodies.push(body);
        self.raw.clear();
        self.in_batch = 0;
    }
}

/// `TimeSeries.labels` (field 1, repeated `Label{name=1, value=2}`).
fn encode_labels(labels: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut label = Vec::new();
    for (k, v) in labels {
        label.clear();
        put_len_field(&mut label, 1, k.as_bytes());
        put_len_field(&mut label, 2, v.as_bytes());
        put_len_field(&mut out, 1, &label);
    }
    out
}

fn put_len_field(dst: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(dst, u64::from(field << 3 | 2));
    put_varint(dst, bytes.len() as u64);
    dst.extend_from_slice(bytes);
}

fn put_varint(dst: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        dst.push((x as u8) | 0x80);
        x >>= 7;
    }
    dst.push(x as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shard has the same epochs, in order, covering all its bodies,
    /// and no body of an epoch holds a sample of a later one.
    #[test]
    fn epochs_split_every_shard_alike() {
        let w = Workload::new(50, 2 * EPOCH_STEPS + 7, 15_000, 1_000_000_000);
        let enc = encode(&w, 3, 64, &[]);
        // Samples of step k lie in [start + k * interval, start + (k + 1) *
        // interval + 5 ms jitter).
        let epoch_end_t =
            |e: usize| w.start_ms + ((e + 1) * EPOCH_STEPS) as i64 * w.interval_ms + 5;
        for sb in &enc.shards {
            assert_eq!(sb.epoch_ends.len(), 3);
            assert!(sb.epoch_ends.windows(2).all(|p| p[0] <= p[1]));
            assert_eq!(sb.epoch_ends.last(), Some(&sb.bodies.len()));
            let mut start = 0;
            for (e, &end) in sb.epoch_ends.iter().enumerate().take(2) {
                for body in &sb.bodies[start..end] {
                    let req = sonde_remote::decode_write_request(body, 1 << 24).unwrap();
                    let newest = req.timeseries.iter().map(|t| t.samples[0].timestamp).max();
                    assert!(newest.unwrap() < epoch_end_t(e), "epoch {e}");
                }
                start = end;
            }
        }
    }

    #[test]
    fn bodies_decode_to_exactly_the_generated_samples_in_order() {
        let w = Workload::new(100, 7, 15_000, 1_000_000_000);
        let enc = encode(&w, 3, 64, &[5, 70]);
        let total: u64 = enc.shards.iter().map(|s| s.samples).sum();
        assert_eq!(total, w.samples());
        // Rebuild every series' points from the bodies.
        let mut got: Vec<Vec<(i64, f64)>> = vec![Vec::new(); w.series.len()];
        for (shard, sb) in enc.shards.iter().enumerate() {
            for body in &sb.bodies {
                let req = sonde_remote::decode_write_request(body, 1 << 24).unwrap();
                assert!(req.timeseries.len() <= 64);
                for ts in req.timeseries {
                    let labels: Vec<(String, String)> =
                        ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
                    let s = w.series.iter().position(|d| d.labels == labels).unwrap();
                    assert_eq!(s % 3, shard, "series stays on its shard");
                    assert_eq!(ts.samples.len(), 1);
                    got[s].push((ts.samples[0].timestamp, ts.samples[0].value));
                }
            }
        }
        let mut gen = Generator::new(&w);
        let mut want: Vec<Vec<(i64, f64)>> = vec![Vec::new(); w.series.len()];
        for step in 0..w.steps {
            for (s, v) in gen.step(&w).iter().enumerate() {
                want[s].push((w.timestamp(w.instance_of(s), step), *v));
            }
        }
        let bits =
            |p: &Vec<(i64, f64)>| p.iter().map(|(t, v)| (*t, v.to_bits())).collect::<Vec<_>>();
        for (g, wnt) in got.iter().zip(&want) {
            assert_eq!(bits(g), bits(wnt));
        }
        assert_eq!(enc.probes[1].points, got[70]);
    }

    #[test]
    fn varint_matches_protobuf() {
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
    }
}
