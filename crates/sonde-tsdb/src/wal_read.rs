//! Reading WAL files at open: frames are checked one by one; a bad frame
//! ends the good prefix, and whether that is a torn write or corruption is
//! decided here (`docs/storage.md` section "Opening and corruption").

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::error::TsdbError;
use crate::wal::{WalStats, FRAME_HEADER};
use crate::wal_record::{self, Record};

/// Feeds the good records of one file to `on_record` and returns the length
/// of its good prefix. In the last segment, zeros after the last record are
/// the unwritten part of its preallocated space: the clean end. A bad record
/// followed only by zeros or running past the end is a torn tail (allowed in
/// the last segment); anything else is corruption, an error unless `repair`.
/// When `on_record` breaks, reading stops before the next record and the
/// offset of the record it was given is returned (the caller must then not
/// take it for the end of the good prefix).
pub(crate) fn scan(
    path: &Path,
    data: &[u8],
    is_last: bool,
    repair: bool,
    stats: &WalStats,
    on_record: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> Result<usize, TsdbError> {
    let mut off = 0usize;
    while off < data.len() {
        // A frame never starts with kind 0, so the tail is checked once.
        if is_last && data[off] == 0 && is_zero(&data[off..]) {
            break;
        }
        match frame_at(data, off) {
            Ok((kind, payload, next)) => match wal_record::decode(kind, payload) {
                Some(rec) => {
                    if on_record(rec).is_break() {
                        break;
                    }
                    off = next;
                }
                None => return bad(path, data, off, "undecodable record", false, repair, stats),
            },
            Err((reason, torn)) => {
                return bad(path, data, off, reason, torn && is_last, repair, stats);
            }
        }
    }
    Ok(off)
}

/// Whether `rest` is all zero bytes: preallocated space never written.
pub(crate) fn is_zero(rest: &[u8]) -> bool {
    rest.iter().all(|b| *b == 0)
}

fn bad(
    path: &Path,
    data: &[u8],
    off: usize,
    reason: &str,
    torn: bool,
    repair: bool,
    stats: &WalStats,
) -> Result<usize, TsdbError> {
    let dropped = (data.len() - off) as u64;
    if torn {
        tracing::warn!(path = %path.display(), offset = off, dropped_bytes = dropped,
            "WAL ends in a torn record ({reason}); truncating");
    } else if repair {
        tracing::warn!(path = %path.display(), offset = off, dropped_bytes = dropped,
            "repairing corrupt WAL ({reason}); truncating, later records are lost");
    } else {
        return Err(TsdbError::WalCorruption {
            path: path.to_path_buf(),
            offset: off as u64,
            reason: reason.to_string(),
        });
    }
    stats
        .records_dropped_at_open
        .fetch_add(1, Ordering::Relaxed);
    stats
        .bytes_dropped_at_open
        .fetch_add(dropped, Ordering::Relaxed);
    Ok(off)
}

/// The frame at `off`: (kind, payload, offset of the next frame), or why it
/// is bad and whether it looks torn (nothing but zeros after it, or cut
/// short by the end of the file).
#[allow(clippy::type_complexity)]
fn frame_at(data: &[u8], off: usize) -> Result<(u8, &[u8], usize), (&'static str, bool)> {
    let rest_is_zero = |from: usize| data.get(from..).is_none_or(is_zero);
    let Some(h) = data.get(off..off + FRAME_HEADER) else {
        return Err(("truncated record header", true));
    };
    let kind = h[0];
    let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
    let crc = u32::from_le_bytes([h[5], h[6], h[7], h[8]]);
    if kind == 0 {
        return Err(("zero record type", rest_is_zero(off)));
    }
    let start = off + FRAME_HEADER;
    let Some(payload) = data.get(start..start + len) else {
        return Err(("record length runs past the end of the file", true));
    };
    if crc32c::crc32c_append(crc32c::crc32c(&[kind]), payload) != crc {
        return Err(("checksum mismatch", rest_is_zero(start + len)));
    }
    Ok((kind, payload, start + len))
}
