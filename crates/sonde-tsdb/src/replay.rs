//! Opening a database: the lock file, the blocks on disk, and the replay
//! of the WAL into the head.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::block::Block;
use crate::error::TsdbError;
use crate::exemplars::ExemplarStore;
use crate::head::Head;
use crate::options::CancelOpen;
use crate::series::MemSeries;
use crate::wal_record::Record;

/// How many samples ahead a record's series are prefetched while its
/// samples are put.
const PREFETCH_AHEAD: usize = 8;

/// The exclusive `flock` on `<dir>/lock`; it is released when the file is
/// closed, including by the death of the process.
pub(crate) struct DirLock {
    file: fs::File,
    path: PathBuf,
    /// Whether taking the lock created the file.
    created: bool,
}

impl DirLock {
    /// Releases the lock and removes the file if taking the lock created
    /// it, so that a cancelled open leaves the directory as it found it.
    /// The file is removed while the lock is held: a process that opened
    /// it meanwhile finds it locked, never a second lock file beside it.
    pub(crate) fn undo(self) {
        if self.created {
            let _ = fs::remove_file(&self.path);
        }
        drop(self.file);
    }
}

/// Takes the lock on `dir` (see [`DirLock`]).
pub(crate) fn lock_dir(dir: &Path) -> Result<DirLock, TsdbError> {
    let path = dir.join("lock");
    let created = !path.exists();
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| TsdbError::io("create lock file", &path, e))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(DirLock {
            file,
            path,
            created,
        }),
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
    if remove_incomplete {
        remove_incomplete_blocks(dir)?;
    }
    open_blocks(dir, &CancelOpen::default())
}

/// Opens every complete block under `dir`, sorted by time, checking
/// `cancel` before each one.
pub(crate) fn open_blocks(dir: &Path, cancel: &CancelOpen) -> Result<Vec<Block>, TsdbError> {
    let mut blocks = Vec::new();
    for path in block_dirs(dir, false)? {
        cancel.check(dir, || format!("while loading block {}", path.display()))?;
        blocks.push(Block::open(&path)?);
    }
    blocks.sort_by_key(|b| b.meta.min_time);
    Ok(blocks)
}

/// Removes the leftovers of interrupted block writes (`*.tmp`); only an
/// opening writer may.
pub(crate) fn remove_incomplete_blocks(dir: &Path) -> Result<(), TsdbError> {
    block_dirs(dir, true).map(drop)
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
    /// WAL series id -> series (ids of one label set can differ across
    /// checkpoints when a series was collected and created again). Ids are
    /// small dense integers, so Fx's one multiplication hashes them well.
    refs: rustc_hash::FxHashMap<u32, Arc<MemSeries>>,
    puts: Puts,
    pub(crate) exemplars_added: u64,
    pub(crate) unknown: u64,
}

/// Puts samples into their series, counting them.
struct Puts {
    range: i64,
    /// Time bounds of the samples put in the current record, given to the
    /// head once per record rather than as two atomic updates per sample.
    min_t: i64,
    max_t: i64,
    samples: u64,
}

impl Puts {
    fn put(&mut self, s: &MemSeries, t: i64, v: f64) {
        let mut d = s.data.lock();
        if let Ok(p) = d.placement(t, v, true) {
            d.insert(t, v, p, self.range);
            self.min_t = self.min_t.min(t);
            self.max_t = self.max_t.max(t);
            self.samples += 1;
        }
    }
}

impl<'a> Replay<'a> {
    pub(crate) fn new(head: &'a Head, exemplars: &'a ExemplarStore, range: i64) -> Self {
        Replay {
            head,
            exemplars,
            refs: Default::default(),
            puts: Puts {
                range,
                min_t: i64::MAX,
                max_t: i64::MIN,
                samples: 0,
            },
            exemplars_added: 0,
            unknown: 0,
        }
    }

    /// Samples put into the head (a sample logged twice counts once).
    pub(crate) fn samples(&self) -> u64 {
        self.puts.samples
    }

    /// The samples of one record: each sample of a request is usually of
    /// another series, so the series are looked up and prefetched a few
    /// samples ahead of their puts (each is a cache miss otherwise).
    fn put_samples(&mut self, list: &[(u32, i64, f64)]) {
        let found: Vec<Option<&Arc<MemSeries>>> =
            list.iter().map(|(id, _, _)| self.refs.get(id)).collect();
        for s in found.iter().take(PREFETCH_AHEAD).flatten() {
            s.prefetch();
        }
        for (i, (s, &(_, t, v))) in found.iter().zip(list).enumerate() {
            if let Some(Some(next)) = found.get(i + PREFETCH_AHEAD) {
                next.prefetch();
            }
            match s {
                Some(s) => self.puts.put(s, t, v),
                None => self.unknown += 1,
            }
        }
    }

    /// Gives the head the time bounds of the samples put since the last
    /// call.
    fn publish_times(&mut self) {
        let p = &mut self.puts;
        if p.min_t <= p.max_t {
            self.head.observe_time(p.min_t);
            self.head.observe_time(p.max_t);
        }
        p.min_t = i64::MAX;
        p.max_t = i64::MIN;
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
                self.put_samples(&list);
                self.publish_times();
            }
            Record::Chunk(id, c) => match self.refs.get(&id) {
                Some(s) => {
                    for (t, v) in c.iter() {
                        self.puts.put(s, t, v);
                    }
                    self.publish_times();
                }
                None => self.unknown += u64::from(c.num_samples()),
            },
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
