//! Maintenance of the database: cutting the head into blocks, WAL
//! checkpoints, deletion, and swapping compacted blocks in. Every function
//! here runs with `DbInner::maintenance` held, so at most one runs at a time.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use sonde_model::{Matcher, StorageError};

use crate::block::Block;
use crate::db::DbInner;
use crate::error::TsdbError;
use crate::wal::append_frame;
use crate::wal_record;

impl DbInner {
    pub(crate) fn maintain(&self) -> Result<(), TsdbError> {
        let _m = self.maintenance.lock();
        self.adopt_new_blocks()?;
        let range = self.opts.block_range_ms;
        while self.head_due() {
            let min = self.head.min_time();
            let cut = (min.div_euclid(range) + 1) * range;
            self.cut_head(cut)?;
        }
        let res =
            crate::compact::compact_blocks(self).and_then(|_| crate::compact::retention(self));
        if res.is_err() {
            self.metrics
                .compaction_failures
                .fetch_add(1, Ordering::Relaxed);
        }
        self.bump(|p| p.maintenance_runs += 1);
        res
    }

    /// Opens the block directories that appeared under the data directory
    /// since the blocks were listed (`sonde tsdb import`, blocks copied in),
    /// as Prometheus' periodic reload does: they are queried, compacted
    /// (merged where they overlap) and subject to retention from now on.
    /// Every block this database writes is added under `maintenance`, which
    /// the caller holds, so only blocks from outside are new here. One that
    /// cannot be opened is logged and tried again at the next pass.
    fn adopt_new_blocks(&self) -> Result<(), TsdbError> {
        let known: HashSet<OsString> = self
            .blocks
            .read()
            .iter()
            .filter_map(|b| b.dir.file_name().map(OsString::from))
            .collect();
        let mut added = Vec::new();
        for dir in crate::replay::block_dirs(&self.dir, false)? {
            if dir.file_name().is_some_and(|n| known.contains(n)) {
                continue;
            }
            match Block::open(&dir) {
                Ok(block) => {
                    tracing::info!(block = %block.meta.ulid, min_time = block.meta.min_time,
                        max_time = block.meta.max_time, "new block found in the data directory");
                    added.push(Arc::new(block));
                }
                Err(e) => {
                    tracing::warn!(path = %dir.display(), error = %e,
                        "a new block in the data directory cannot be opened; skipped until the next pass");
                }
            }
        }
        if added.is_empty() {
            return Ok(());
        }
        {
            let mut blocks = self.blocks.write();
            blocks.extend(added);
            blocks.sort_by_key(|b| b.meta.min_time);
        }
        self.refresh_block_maxt();
        Ok(())
    }

    /// Moves head data older than `cut` into a new block, then checkpoints
    /// the WAL. Caller holds `maintenance`.
    pub(crate) fn cut_head(&self, cut: i64) -> Result<(), TsdbError> {
        let series = self.head.all_series();
        let mut data = Vec::new();
        for s in &series {
            let mut d = s.data.lock();
            let frozen = d.freeze(cut);
            let tombstones = d.tombstones().to_vec();
            drop(d);
            let chunks = crate::iter::apply_tombstones(frozen, &tombstones);
            if !chunks.is_empty() {
                data.push((s.labels.clone(), crate::compact::normalize(chunks)));
            }
        }
        data.sort_by(|a, b| a.0.cmp(&b.0));
        if !data.is_empty() {
            let dir = crate::block_write::write_block(&self.dir, &data, 1, Vec::new())?;
            let block = Block::open(&dir)?;
            tracing::info!(block = %block.meta.ulid, min_time = block.meta.min_time,
                max_time = block.meta.max_time, series = data.len(), "head cut into block");
            let mut blocks = self.blocks.write();
            blocks.push(Arc::new(block));
            blocks.sort_by_key(|b| b.meta.min_time);
            drop(blocks);
            self.refresh_block_maxt();
        }
        let mut min_t = i64::MAX;
        for s in &series {
            let mut d = s.data.lock();
            d.drop_frozen(cut);
            if let Some(t) = d.min_time() {
                min_t = min_t.min(t);
            }
        }
        self.head.set_min_time(min_t);
        let removed = self.head.gc();
        self.metrics
            .series_removed
            .fetch_add(removed as u64, Ordering::Relaxed);
        self.metrics.blocks_cut.fetch_add(1, Ordering::Relaxed);
        self.checkpoint()?;
        self.bump(|p| p.blocks_cut += 1);
        Ok(())
    }

    /// Rewrites the head's state into `checkpoint.N` and drops the segments
    /// before N. The WAL writer applies each batch to the head before a
    /// segment can be cut after it, so once segment N is started, all
    /// records of older segments are in the head and in the checkpoint.
    pub(crate) fn checkpoint(&self) -> Result<(), TsdbError> {
        let first = self.wal.cut_segment()?;
        let mut cp = self.wal.checkpoint(first)?;
        let mut buf = Vec::with_capacity(1 << 16);
        for s in self.head.all_series() {
            let (chunks, tombstones) = {
                let d = s.data.lock();
                (d.chunks_in(i64::MIN, i64::MAX), d.tombstones().to_vec())
            };
            buf.clear();
            append_frame(&mut buf, wal_record::REC_SERIES, |dst| {
                wal_record::encode_series(dst, std::iter::once((s.id, &s.labels)));
            });
            for c in &chunks {
                append_frame(&mut buf, wal_record::REC_CHUNK, |dst| {
                    wal_record::encode_chunk(dst, s.id, c);
                });
            }
            if !tombstones.is_empty() {
                append_frame(&mut buf, wal_record::REC_TOMBSTONES, |dst| {
                    wal_record::encode_tombstones(
                        dst,
                        tombstones.iter().map(|(a, b)| (s.id, *a, *b)),
                    );
                });
            }
            cp.write(&buf)?;
            s.logged.store(true, Ordering::Release);
        }
        crate::exemplars::write_checkpoint(&self.exemplars, &self.head, &mut cp)?;
        cp.finish()?;
        self.metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn delete_in_head(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<(), TsdbError> {
        let ids = self.head.select_ids(matchers);
        let series = self.head.series_sorted(&ids);
        if series.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        append_frame(&mut buf, wal_record::REC_SERIES, |dst| {
            wal_record::encode_series(dst, series.iter().map(|s| (s.id, &s.labels)));
        });
        append_frame(&mut buf, wal_record::REC_TOMBSTONES, |dst| {
            wal_record::encode_tombstones(dst, series.iter().map(|s| (s.id, mint, maxt)));
        });
        // Applied by the WAL writer right after the write, so that a
        // checkpoint's segment cut cannot fall between the two.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.submit_wal(
            &buf,
            Box::new(move |res| {
                if res.is_ok() {
                    for s in &series {
                        s.data.lock().add_tombstone(mint, maxt);
                    }
                }
                let _ = tx.send(res);
            }),
            None,
        );
        let res = rx.recv().unwrap_or_else(|_| {
            Err(StorageError::Other(
                "BUG: the WAL writer dropped a batch".into(),
            ))
        });
        res.map_err(|e| {
            TsdbError::io(
                "write WAL in",
                &self.dir.join("wal"),
                std::io::Error::other(e),
            )
        })
    }

    /// Compacts `old` into one new block and swaps it in.
    pub(crate) fn replace_blocks(&self, old: &[Arc<Block>], level: u32) -> Result<(), TsdbError> {
        let dir = crate::compact::merge_blocks(&self.dir, old, level)?;
        let new = dir.map(|d| Block::open(&d)).transpose()?;
        {
            let mut blocks = self.blocks.write();
            blocks.retain(|b| !old.iter().any(|o| Arc::ptr_eq(o, b)));
            if let Some(n) = new {
                blocks.push(Arc::new(n));
            }
            blocks.sort_by_key(|b| b.meta.min_time);
        }
        self.refresh_block_maxt();
        for b in old {
            fs::remove_dir_all(&b.dir).map_err(|e| TsdbError::io("remove block", &b.dir, e))?;
        }
        Ok(())
    }
}
