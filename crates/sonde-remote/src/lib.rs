//! Prometheus remote write 1.0 and remote read, the wire side: the protobuf
//! messages ([`proto`]), snappy block compression ([`snappy`]), a zero-copy
//! decoder of write requests that reuses its buffers ([`WriteDecoder`]),
//! Prometheus' XOR chunk encoding ([`xor`]) and the framing of streamed read
//! responses ([`frame`]). No I/O: the HTTP side lives in `sonde-web`. The
//! byte layouts are specified in `docs/format.md` beside this crate.
//!
//! ```
//! use sonde_remote::{proto, encode_write_request, DecodeLimits, WriteDecoder};
//! let req = proto::WriteRequest {
//!     timeseries: vec![proto::TimeSeries {
//!         labels: vec![proto::Label { name: "__name__".into(), value: "up".into() }],
//!         samples: vec![proto::Sample { value: 1.0, timestamp: 1000 }],
//!         ..Default::default()
//!     }],
//!     metadata: vec![],
//! };
//! let body = encode_write_request(&req); // snappy(protobuf)
//! let mut raw = Vec::new();
//! sonde_remote::snappy::decompress_into(&body, 1 << 20, &mut raw).unwrap();
//! let mut dec = WriteDecoder::new(DecodeLimits::default());
//! let got = dec.decode(&raw).unwrap();
//! assert_eq!(got.series().next().unwrap().labels(), &[("__name__", "up")]);
//! dec.recycle(got);
//! ```

mod ascii;
mod decode;
mod error;
pub mod frame;
pub mod proto;
pub mod snappy;
mod wire;
pub mod xor;

pub use decode::{
    DecodeLimits, ExemplarRef, MetadataRef, SampleRef, SeriesRef, WriteDecoder, WriteRequestRef,
};
pub use error::DecodeError;

use prost::Message;

/// Content type of remote write 1.0 and of SAMPLES read requests/responses.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
/// The `X-Prometheus-Remote-Write-Version` a 1.0 sender sets.
pub const REMOTE_WRITE_VERSION: &str = "0.1.0";
/// The `X-Prometheus-Remote-Read-Version` a client sets.
pub const REMOTE_READ_VERSION: &str = "0.1.0";

/// Encodes a write request as a sender does: protobuf, then snappy.
pub fn encode_write_request(req: &proto::WriteRequest) -> Vec<u8> {
    let mut out = Vec::new();
    snappy::compress_into(&req.encode_to_vec(), &mut out);
    out
}

/// Decodes a snappy-compressed write request with prost (owned strings);
/// the slower, simpler path, kept as the reference for [`WriteDecoder`].
pub fn decode_write_request(body: &[u8], limit: usize) -> Result<proto::WriteRequest, DecodeError> {
    let mut raw = Vec::new();
    snappy::decompress_into(body, limit, &mut raw)?;
    Ok(proto::WriteRequest::decode(raw.as_slice())?)
}

/// Decodes a snappy-compressed read request.
pub fn decode_read_request(body: &[u8], limit: usize) -> Result<proto::ReadRequest, DecodeError> {
    let mut raw = Vec::new();
    snappy::decompress_into(body, limit, &mut raw)?;
    Ok(proto::ReadRequest::decode(raw.as_slice())?)
}

/// Encodes a SAMPLES read response: protobuf, then snappy.
pub fn encode_read_response(resp: &proto::ReadResponse) -> Vec<u8> {
    let mut out = Vec::new();
    snappy::compress_into(&resp.encode_to_vec(), &mut out);
    out
}

#[cfg(test)]
mod tests;
