//! Opening a data directory for reading only, for the admin tools
//! (`sonde tsdb stats|dump`) and for looking at the directory of a server
//! that is running.
//!
//! Invariants: nothing under the directory is created, written, truncated
//! or removed: no lock file is taken (so a running server keeps its lock),
//! no WAL segment is opened for writing, a torn tail of the last segment is
//! skipped but left in place, incomplete blocks (`*.tmp`) are ignored, and
//! no compaction or retention runs. Blocks are memory-mapped as by
//! [`crate::Db`]; the WAL (checkpoint, then segments) is replayed into an
//! in-memory head, the same way an open replays it (`docs/storage.md`
//! section "Opening and corruption"), except that corruption before the
//! last segment's tail is always an error (there is no repair).
//!
//! A server writing the directory meanwhile may delete WAL segments after a
//! checkpoint between the listing and the reading; the replay then starts
//! over, a bounded number of times.
//!
//! Thread safety: immutable after [`ReadOnlyDb::open`]; share it freely.

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sonde_model::{Querier, Queryable, StorageError, Timestamp};

use crate::block::Block;
use crate::error::TsdbError;
use crate::head::Head;
use crate::options::DbOptions;
use crate::querier::{DbQuerier, Source};
use crate::replay::{load_blocks, Replay};
use crate::wal::{checkpoint_name, list, segment_name, WalStats};
use crate::wal_read::{is_zero, scan};

/// How often the replay starts over when a WAL file vanished under it (a
/// running server checkpointing); each retry reads less, as the checkpoint
/// replaces the deleted segments.
const REPLAY_ATTEMPTS: usize = 5;

/// What the read-only replay of the WAL found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WalSummary {
    /// Number of the checkpoint read, if any.
    pub checkpoint: Option<u64>,
    /// Segment files read.
    pub segments: u64,
    /// Bytes of the checkpoint and the segments read.
    pub bytes: u64,
    /// Samples put into the head (a sample logged twice counts once).
    pub samples: u64,
    /// Samples and tombstones of series ids never declared (dropped).
    pub unknown_refs: u64,
    /// Bytes after the last good record of the last segment: a torn write,
    /// or a record a running server is writing right now. Left in place.
    pub torn_bytes: u64,
}

/// A data directory opened for reading only. See the module docs.
pub struct ReadOnlyDb {
    dir: PathBuf,
    head: Arc<Head>,
    blocks: Vec<Arc<Block>>,
    wal: WalSummary,
}

impl ReadOnlyDb {
    /// Opens `dir` (which must exist) without changing anything in it.
    pub fn open(dir: &Path) -> Result<ReadOnlyDb, TsdbError> {
        let meta = fs::metadata(dir).map_err(|e| TsdbError::io("open data directory", dir, e))?;
        if !meta.is_dir() {
            return Err(TsdbError::io(
                "open data directory",
                dir,
                std::io::Error::other("not a directory"),
            ));
        }
        let blocks = load_blocks(dir, false)?;
        let opts = DbOptions::default();
        let mut attempt = 1;
        let (head, wal) = loop {
            let head = Head::new(opts.stripes);
            match replay_wal(&dir.join("wal"), &head, opts.block_range_ms) {
                Ok(summary) => break (head, summary),
                Err(TsdbError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && attempt < REPLAY_ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        Ok(ReadOnlyDb {
            dir: dir.to_path_buf(),
            head: Arc::new(head),
            blocks: blocks.into_iter().map(Arc::new).collect(),
            wal,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The blocks, oldest first.
    pub fn blocks(&self) -> &[Arc<Block>] {
        &self.blocks
    }

    /// The head rebuilt from the WAL.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Chunks held by the head (open ones included).
    pub fn head_chunks(&self) -> u64 {
        self.head
            .all_series()
            .iter()
            .map(|s| s.data.lock().num_chunks() as u64)
            .sum()
    }

    pub fn wal(&self) -> &WalSummary {
        &self.wal
    }

    /// The head's `/api/v1/status/tsdb` statistics, as [`crate::Db::stats`].
    pub fn stats(&self, limit: usize) -> crate::stats::TsdbStats {
        crate::stats::head_stats(&self.head, limit)
    }
}

impl Queryable for ReadOnlyDb {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        let head: Arc<dyn Source> = self.head.clone();
        Ok(Box::new(DbQuerier::new(
            head,
            self.blocks.clone(),
            mint,
            maxt,
        )))
    }
}

/// Replays the checkpoint and segments of `dir` into `head` without
/// touching the files. A missing `dir` is an empty WAL.
fn replay_wal(dir: &Path, head: &Head, range: i64) -> Result<WalSummary, TsdbError> {
    let mut sum = WalSummary::default();
    if !dir.is_dir() {
        return Ok(sum);
    }
    let (checkpoint, segments) = list(dir)?;
    // Counters `scan` keeps for a writable open; unused here.
    let stats = WalStats::default();
    // The read-only view serves samples; exemplar records are skipped
    // (a disabled store takes none).
    let no_exemplars = crate::exemplars::ExemplarStore::new(0);
    let mut replay = Replay::new(head, &no_exemplars, range);
    if let Some(cp) = checkpoint {
        let path = dir.join(checkpoint_name(cp));
        let data = fs::read(&path).map_err(|e| TsdbError::io("read", &path, e))?;
        scan(&path, &data, false, false, &stats, &mut |r| {
            replay.apply(r);
            ControlFlow::Continue(())
        })?;
        sum.checkpoint = Some(cp);
        sum.bytes += data.len() as u64;
    }
    let live: Vec<u64> = segments
        .into_iter()
        .filter(|s| checkpoint.is_none_or(|c| *s >= c))
        .collect();
    for (n, seg) in live.iter().enumerate() {
        let path = dir.join(segment_name(*seg));
        let data = fs::read(&path).map_err(|e| TsdbError::io("read", &path, e))?;
        let is_last = n + 1 == live.len();
        let good = scan(&path, &data, is_last, false, &stats, &mut |r| {
            replay.apply(r);
            ControlFlow::Continue(())
        })?;
        sum.segments += 1;
        sum.bytes += data.len() as u64;
        if !is_zero(&data[good..]) {
            sum.torn_bytes += (data.len() - good) as u64;
        }
    }
    sum.samples = replay.samples();
    sum.unknown_refs = replay.unknown;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;
    use sonde_model::{Appendable, Labels, Matcher, SelectHints};

    const HOUR: i64 = 3_600_000;

    fn opts() -> DbOptions {
        DbOptions {
            background: false,
            ..Default::default()
        }
    }

    fn write(db: &Db, name: &str, ts: impl Iterator<Item = i64>) {
        let mut app = db.appender();
        let l = Labels::from_pairs(&[("__name__", name)]);
        for t in ts {
            app.append(0, &l, t, t as f64).unwrap();
        }
        app.commit().unwrap();
    }

    fn samples(q: &dyn Queryable, name: &str) -> Vec<(i64, f64)> {
        let q = q.querier(i64::MIN, i64::MAX).unwrap();
        let mut out = Vec::new();
        for s in q
            .select(&SelectHints::default(), &[Matcher::equal("__name__", name)])
            .unwrap()
        {
            let s = s.unwrap();
            let mut it = s.samples();
            while let Some(x) = it.next() {
                out.push((x.t, x.v));
            }
        }
        out
    }

    /// Every file under `dir` with its length, sorted.
    fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p.clone());
                }
                out.push((p.clone(), fs::metadata(&p).unwrap().len()));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn reads_blocks_and_wal_of_a_database_still_open_and_locked() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), opts()).unwrap();
        write(&db, "old", (0..100).map(|i| i * 60_000));
        db.cut_block(2 * HOUR).unwrap();
        write(&db, "new", (0..10).map(|i| 3 * HOUR + i * 1000));

        let ro = ReadOnlyDb::open(dir.path()).unwrap();
        assert_eq!(ro.blocks().len(), 1);
        assert_eq!(samples(&ro, "old").len(), 100);
        assert_eq!(samples(&ro, "new"), samples(db.as_ref(), "new"));
        assert_eq!(ro.wal().samples, 10);
        assert_eq!(ro.stats(10).head_stats.num_series, 1); // "old" left the head with the cut
                                                           // The writer keeps working with its lock and WAL.
        write(&db, "new", [4 * HOUR].into_iter());
        db.close().unwrap();
    }

    #[test]
    fn changes_nothing_and_tolerates_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Db::open(dir.path(), opts()).unwrap();
            write(&db, "m", (0..50).map(|i| i * 1000));
            db.close().unwrap();
        }
        // A torn record at the end of the newest segment, and an incomplete
        // block directory.
        let wal = dir.path().join("wal");
        let (_, segs) = list(&wal).unwrap();
        let last = wal.join(segment_name(*segs.iter().max().unwrap()));
        let mut data = fs::read(&last).unwrap();
        data.extend_from_slice(&[2, 200, 0, 0, 0, 1, 2]);
        fs::write(&last, &data).unwrap();
        fs::create_dir(dir.path().join("01ABC.tmp")).unwrap();
        let before = listing(dir.path());

        let ro = ReadOnlyDb::open(dir.path()).unwrap();
        assert_eq!(samples(&ro, "m").len(), 50);
        assert_eq!(ro.wal().torn_bytes, 7);
        drop(ro);
        assert_eq!(listing(dir.path()), before);
        // A writable open then repairs the tail as usual.
        let db = Db::open(dir.path(), opts()).unwrap();
        assert_eq!(samples(db.as_ref(), "m").len(), 50);
    }

    #[test]
    fn corruption_before_the_tail_is_an_error_naming_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Db::open(dir.path(), opts()).unwrap();
            write(&db, "m", (0..50).map(|i| i * 1000));
            db.close().unwrap();
        }
        let wal = dir.path().join("wal");
        let (_, segs) = list(&wal).unwrap();
        let first = wal.join(segment_name(segs[0]));
        let mut data = fs::read(&first).unwrap();
        data[12] ^= 0xff;
        fs::write(&first, &data).unwrap();
        // A later segment makes the damaged one not the last.
        fs::write(wal.join(segment_name(segs[segs.len() - 1] + 1)), b"").unwrap();
        let err = ReadOnlyDb::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains(&first.display().to_string()), "{err}");
    }

    #[test]
    fn a_missing_directory_is_an_error_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = ReadOnlyDb::open(&missing).err().unwrap().to_string();
        assert!(err.contains("nope"), "{err}");
        assert!(!missing.exists());
    }
}
