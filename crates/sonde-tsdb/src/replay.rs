//! Opening a database: the lock file, the blocks on disk, and the replay
//! of the WAL into the head.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::block::Block;
use crate::error::TsdbError;
use crate::exemplars::ExemplarStore;
use crate::head::Head;
use crate::series::MemSeries;
use crate::wal_record::Record;

/// Takes an exclusive `flock` on `<dir>/lock`; it is released when the
/// file is closed, including by the death of the process.
pub(crate) fn lock_dir(dir: &Path) -> Result<fs::File, TsdbError> {
    let path = dir.join("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| TsdbError::io("create lock file", &path, e))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(TsdbError::io(
            "lock",
            &path,
            std::io::Error::other(
                "the data directory is in use by another Sonde process or database \
                 (or disable the lock file with no_lockfile)",
            ),
        )),
        Err(e) => Err(TsdbError::io("lock", &path, e.into())),
    }
}

/// Loads every complete block under `dir`, removing leftovers of
/// interrupted writes (`*.tmp`) when `remove_incomplete` (a read-only open
/// skips them instead).
pub(crate) fn load_blocks(dir: &Path, remove_incomplete: bool) -> Result<Vec<Block>, TsdbError> {
    let mut blocks = block_dirs(dir, remove_incomplete)?
        .iter()
        .map(|p| Block::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    blocks.sort_by_key(|b| b.meta.min_time);
    Ok(blocks)
}

/// The complete block directories under `dir` (those with a `meta.json`):
/// not the WAL, not `*.tmp` (a block or an import being written; removed
/// when `remove_incomplete`, which only an opening writer may do).
pub(crate) fn block_dirs(dir: &Path, remove_incomplete: bool) -> Result<Vec<PathBuf>, TsdbError> {
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| TsdbError::io("list", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| TsdbError::io("list", dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_dir() || name == "wal" {
            continue;
        }
        if name.ends_with(".tmp") {
            if !remove_incomplete {
                continue;
            }
            tracing::warn!(path = %path.display(), "removing incomplete block");
            fs::remove_dir_all(&path).map_err(|e| TsdbError::io("remove", &path, e))?;
            continue;
        }
        if path.join("meta.json").exists() {
            out.push(path);
        }
    }
    Ok(out)
}

/// Applies WAL records to the head during open.
pub(crate) struct Replay<'a> {
    head: &'a Head,
    exemplars: &'a ExemplarStore,
    range: i64,
    /// WAL series id -> series (ids of one label set can differ across
    /// checkpoints when a series was collected and created again).
    refs: HashMap<u32, Arc<MemSeries>>,
    pub(crate) samples: u64,
    pub(crate) exemplars_added: u64,
    pub(crate) unknown: u64,
}

impl<'a> Replay<'a> {
    pub(crate) fn new(head: &'a Head, exemplars: &'a ExemplarStore, range: i64) -> Self {
        Replay {
            head,
            exemplars,
            range,
            refs: HashMap::new(),
            samples: 0,
            exemplars_added: 0,
            unknown: 0,
        }
    }

    fn put(&mut self, id: u32, t: i64, v: f64) {
        let Some(s) = self.refs.get(&id) else {
            self.unknown += 1;
            return;
        };
        let mut d = s.data.lock();
        if let Ok(p) = d.placement(t, v, true) {
            d.insert(t, v, p, self.range);
            self.head.observe_time(t);
            self.samples += 1;
        }
    }

    pub(crate) fn apply(&mut self, rec: Record) {
        match rec {
            Record::Series(list) => {
                for (id, labels) in list {
                    let s = self.head.restore(id, labels);
                    s.logged.store(true, Ordering::Release);
                    self.refs.insert(id, s);
                }
            }
            Record::Samples(list) => {
                for (id, t, v) in list {
                    self.put(id, t, v);
                }
            }
            Record::Chunk(id, c) => {
                for (t, v) in c.iter() {
                    self.put(id, t, v);
                }
            }
            Record::Exemplars(list) => {
                for (id, e) in list {
                    match self.refs.get(&id) {
                        // A copy in a checkpoint and a later segment is a
                        // duplicate, a no-op; refusals were refusals then.
                        Some(s) => {
                            if self.exemplars.add(&s.labels, e).is_ok() {
                                self.exemplars_added += 1;
                            }
                        }
                        None => self.unknown += 1,
                    }
                }
            }
            Record::Tombstones(list) => {
                for (id, a, b) in list {
                    match self.refs.get(&id) {
                        Some(s) => s.data.lock().add_tombstone(a, b),
                        None => self.unknown += 1,
                    }
                }
            }
        }
    }
}
