//! Compaction (merging blocks into larger ones), retention and snapshots.
//!
//! Planning follows Prometheus: block ranges grow by factors of 3 from the
//! head's block range (2h, 6h, 18h, 54h, ...) up to
//! [`DbOptions::max_block_range_ms`](crate::DbOptions::max_block_range_ms);
//! overlapping blocks (out-of-order data cut after a later block, or a
//! replay after a crash between cutting a block and checkpointing) are
//! merged first, keeping one sample per timestamp; then the first aligned
//! window of a larger range that holds two or more blocks and does not hold
//! the newest block is merged. A new block is complete on disk before the
//! old ones are removed, so a crash in between leaves overlapping blocks,
//! which the next compaction merges.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::block::Block;
use crate::block_write::write_block;
use crate::chunk::{Chunk, MAX_SAMPLES_PER_CHUNK};
use crate::db::DbInner;
use crate::error::TsdbError;
use crate::querier::merge_sorted;

/// Sorts a series' chunks and, where they overlap, merges them into fresh
/// non-overlapping chunks (one sample per timestamp, the earlier chunk
/// winning).
pub fn normalize(mut chunks: Vec<Chunk>) -> Vec<Chunk> {
    chunks.sort_by_key(|c| c.mint);
    let overlapping = chunks.windows(2).any(|w| w[1].mint <= w[0].maxt);
    if !overlapping {
        return chunks;
    }
    let mut all: Vec<(i64, f64)> = chunks.iter().flat_map(|c| c.iter()).collect();
    all.sort_by_key(|s| s.0);
    all.dedup_by_key(|s| s.0);
    all.chunks(MAX_SAMPLES_PER_CHUNK as usize)
        .map(Chunk::from_samples)
        .collect()
}

/// Writes the union of `blocks` as one block under `parent`; `None` when
/// nothing is left (everything deleted).
pub fn merge_blocks(
    parent: &Path,
    blocks: &[Arc<Block>],
    level: u32,
) -> Result<Option<PathBuf>, TsdbError> {
    let mut lists = Vec::with_capacity(blocks.len());
    let mut sources = Vec::new();
    for b in blocks {
        lists.push(b.read_series(i64::MIN, i64::MAX, &[])?);
        sources.extend(b.meta.compaction.sources.iter().cloned());
    }
    let series: Vec<_> = merge_sorted(lists)
        .into_iter()
        .map(|(l, c)| (l, normalize(c)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    sources.sort();
    sources.dedup();
    write_block(parent, &series, level, sources).map(Some)
}

/// The next set of blocks to merge, if any.
fn plan(blocks: &[Arc<Block>], range: i64, max_range: i64) -> Option<(Vec<Arc<Block>>, u32)> {
    let level = |bs: &[Arc<Block>]| {
        bs.iter()
            .map(|b| b.meta.compaction.level)
            .max()
            .unwrap_or(1)
            + 1
    };
    // Overlaps first: blocks are sorted by min_time.
    let mut group: Vec<Arc<Block>> = Vec::new();
    let mut group_max = i64::MIN;
    for b in blocks {
        if !group.is_empty() && b.meta.min_time < group_max {
            group.push(b.clone());
            group_max = group_max.max(b.meta.max_time);
            continue;
        }
        if group.len() > 1 {
            break;
        }
        group = vec![b.clone()];
        group_max = b.meta.max_time;
    }
    if group.len() > 1 {
        let l = level(&group);
        return Some((group, l));
    }
    let newest = blocks.iter().map(|b| b.meta.max_time).max()?;
    let mut r = range.saturating_mul(3);
    while r <= max_range {
        let mut i = 0;
        while i < blocks.len() {
            let start = blocks[i].meta.min_time.div_euclid(r) * r;
            let end = start + r;
            let members: Vec<Arc<Block>> = blocks
                .iter()
                .filter(|b| b.meta.min_time >= start && b.meta.max_time <= end)
                .cloned()
                .collect();
            let holds_newest = members.iter().any(|b| b.meta.max_time == newest);
            if members.len() > 1 && (!holds_newest || end <= newest) {
                let l = level(&members);
                return Some((members, l));
            }
            i += 1;
        }
        r = r.saturating_mul(3);
    }
    None
}

/// Merges blocks while there is a plan. Caller holds `maintenance`.
pub(crate) fn compact_blocks(db: &DbInner) -> Result<(), TsdbError> {
    loop {
        let blocks = db.blocks.read().clone();
        let Some((group, level)) = plan(
            &blocks,
            db.opts.block_range_ms,
            db.opts.max_block_range_ms(),
        ) else {
            return Ok(());
        };
        tracing::info!(blocks = group.len(), level, "compacting blocks");
        db.replace_blocks(&group, level)?;
        db.metrics.compactions.fetch_add(1, Ordering::Relaxed);
        db.bump(|p| p.compactions += 1);
    }
}

/// Deletes blocks past the time retention, then the oldest blocks while
/// the data exceeds the size retention.
pub(crate) fn retention(db: &DbInner) -> Result<(), TsdbError> {
    let blocks = db.blocks.read().clone();
    let newest = blocks
        .iter()
        .map(|b| b.meta.max_time)
        .max()
        .unwrap_or(i64::MIN)
        .max(db.head.max_time());
    let mut doomed: Vec<Arc<Block>> = Vec::new();
    if db.opts.retention_ms > 0 {
        doomed.extend(
            blocks
                .iter()
                .filter(|b| b.meta.max_time <= newest.saturating_sub(db.opts.retention_ms))
                .cloned(),
        );
    }
    if db.opts.retention_bytes > 0 {
        let mut total: u64 = blocks.iter().map(|b| b.size_bytes).sum::<u64>() + db.wal.disk_bytes();
        for b in &blocks {
            if total <= db.opts.retention_bytes {
                break;
            }
            total = total.saturating_sub(b.size_bytes);
            if !doomed.iter().any(|d| Arc::ptr_eq(d, b)) {
                doomed.push(b.clone());
            }
        }
    }
    if doomed.is_empty() {
        return Ok(());
    }
    db.blocks
        .write()
        .retain(|b| !doomed.iter().any(|d| Arc::ptr_eq(d, b)));
    db.refresh_block_maxt();
    for b in &doomed {
        tracing::info!(block = %b.meta.ulid, max_time = b.meta.max_time, "retention: deleting block");
        fs::remove_dir_all(&b.dir).map_err(|e| TsdbError::io("remove block", &b.dir, e))?;
    }
    let n = doomed.len() as u64;
    db.metrics
        .blocks_deleted_by_retention
        .fetch_add(n, Ordering::Relaxed);
    db.bump(|p| p.retention_deletions += n);
    Ok(())
}

/// Hard-links every block into `dir`, and writes the head as a block there
/// when `with_head`.
pub(crate) fn snapshot(db: &DbInner, dir: &Path, with_head: bool) -> Result<(), TsdbError> {
    fs::create_dir_all(dir).map_err(|e| TsdbError::io("create snapshot directory", dir, e))?;
    for b in db.blocks.read().iter() {
        let target = dir.join(&b.meta.ulid);
        fs::create_dir_all(&target).map_err(|e| TsdbError::io("create", &target, e))?;
        for f in ["meta.json", "index", "chunks", "tombstones"] {
            let (from, to) = (b.dir.join(f), target.join(f));
            if from.exists() {
                fs::hard_link(&from, &to)
                    .or_else(|_| fs::copy(&from, &to).map(|_| ()))
                    .map_err(|e| TsdbError::io("link into snapshot", &to, e))?;
            }
        }
    }
    if with_head {
        let mut data = Vec::new();
        for s in db.head.all_series() {
            let (chunks, tombstones) = {
                let d = s.data.lock();
                (d.chunks_in(i64::MIN, i64::MAX), d.tombstones().to_vec())
            };
            let chunks = normalize(crate::iter::apply_tombstones(chunks, &tombstones));
            if !chunks.is_empty() {
                data.push((s.labels.clone(), chunks));
            }
        }
        data.sort_by(|a, b| a.0.cmp(&b.0));
        if !data.is_empty() {
            write_block(dir, &data, 1, Vec::new())?;
        }
    }
    Ok(())
}
