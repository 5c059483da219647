//! One hash stripe of the head's series map (`head.rs`): the series whose
//! label hashes fall in it, in an open-addressing table whose slot for a
//! hash can be prefetched before the stripe is locked.
//!
//! Most hashes name one series, held in the hash's slot (no bucket of its
//! own to chase); the rare other series of a colliding hash wait in
//! `collided`, and only while the hash also has a slot. Slots are probed
//! linearly from the hash's home and the table is at most 3/4 full, so a
//! probe ends at the hash's slot or at an empty one.
//!
//! Thread safety: the table is behind the stripe's `RwLock`. `slots_at`
//! and `slots_mask` repeat where its slots are, written under the write
//! lock and read without it by [`Stripe::prefetch_slot`]: a stale value
//! only makes a prefetch useless, never wrong.

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::head::IdMap;
use crate::prefetch::{prefetch, prefetch_lines};
use crate::series::MemSeries;

type Slot = Option<(u64, Arc<MemSeries>)>;

/// The series of one stripe. See the module documentation.
#[derive(Default)]
pub(crate) struct Table {
    /// Empty, or a power of two long.
    slots: Box<[Slot]>,
    len: usize,
    collided: Option<Box<IdMap<u64, Vec<Arc<MemSeries>>>>>,
}

/// The home slot of `hash` in a table of `mask + 1` slots. The stripe was
/// picked by the hash's low bits, so the slot takes others.
#[inline]
fn home(hash: u64, mask: usize) -> usize {
    (hash.rotate_left(24) as usize) & mask
}

impl Table {
    /// The series in the slot of `hash`: the first of that hash.
    #[inline]
    pub(crate) fn first(&self, hash: u64) -> Option<&Arc<MemSeries>> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut i = home(hash, mask);
        // Ends: the table always has an empty slot.
        loop {
            match self.slots.get(i)? {
                Some((h, s)) if *h == hash => return Some(s),
                Some(_) => i = (i + 1) & mask,
                None => return None,
            }
        }
    }

    /// The series of `hash` that `same` accepts.
    pub(crate) fn find(
        &self,
        hash: u64,
        same: impl Fn(&MemSeries) -> bool,
    ) -> Option<Arc<MemSeries>> {
        let s = self.first(hash)?;
        if same(s) {
            return Some(s.clone());
        }
        self.collided
            .as_ref()?
            .get(&hash)?
            .iter()
            .find(|s| same(s))
            .cloned()
    }

    fn insert(&mut self, hash: u64, s: Arc<MemSeries>) {
        if self.first(hash).is_some() {
            let collided = self.collided.get_or_insert_with(Box::default);
            collided.entry(hash).or_default().push(s);
            return;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let entries = self.take_all();
            self.rebuild(entries, (self.len + 1) * 2);
        }
        self.place(hash, s);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, s: Arc<MemSeries>) {
        let mask = self.slots.len() - 1;
        let mut i = home(hash, mask);
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some((hash, s));
    }

    fn take_all(&mut self) -> Vec<(u64, Arc<MemSeries>)> {
        std::mem::take(&mut self.slots)
            .into_vec()
            .into_iter()
            .flatten()
            .collect()
    }

    /// Places `entries` (one per hash) in a new table with room for `room`
    /// series at most 3/4 full.
    fn rebuild(&mut self, entries: Vec<(u64, Arc<MemSeries>)>, room: usize) {
        self.len = entries.len();
        if room == 0 {
            self.slots = Box::default();
            return;
        }
        let cap = (room * 4 / 3 + 1).next_power_of_two().max(8);
        self.slots = (0..cap).map(|_| None).collect();
        for (h, s) in entries {
            self.place(h, s);
        }
    }

    /// Removes the series `dead` says so of (asked once per series); a
    /// collided series takes the slot of a removed first one.
    fn remove_where(&mut self, mut dead: impl FnMut(&MemSeries) -> bool) {
        if let Some(c) = &mut self.collided {
            c.retain(|_, bucket| {
                bucket.retain(|s| !dead(s));
                !bucket.is_empty()
            });
        }
        let died: Vec<bool> = self
            .slots
            .iter()
            .map(|slot| slot.as_ref().is_some_and(|(_, s)| dead(s)))
            .collect();
        if !died.contains(&true) {
            return;
        }
        let mut keep = Vec::with_capacity(self.len);
        let slots = std::mem::take(&mut self.slots).into_vec();
        for (slot, died) in slots.into_iter().zip(died) {
            let Some((h, s)) = slot else { continue };
            if !died {
                keep.push((h, s));
            } else if let Some(next) = self.take_collided(h) {
                keep.push((h, next));
            }
        }
        if self.collided.as_ref().is_some_and(|c| c.is_empty()) {
            self.collided = None;
        }
        let n = keep.len();
        self.rebuild(keep, n);
    }

    fn take_collided(&mut self, hash: u64) -> Option<Arc<MemSeries>> {
        let c = self.collided.as_mut()?;
        let bucket = c.get_mut(&hash)?;
        let s = bucket.pop();
        if bucket.is_empty() {
            c.remove(&hash);
        }
        s
    }
}

/// A stripe: its table behind a lock, and where the table's slots are.
/// One cache line, so the lock and the slot address arrive together.
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct Stripe {
    table: RwLock<Table>,
    slots_at: AtomicUsize,
    slots_mask: AtomicUsize,
}

/// A stripe locked for writing; every change republishes where the slots
/// are.
pub(crate) struct StripeWrite<'a> {
    table: RwLockWriteGuard<'a, Table>,
    stripe: &'a Stripe,
}

impl Deref for StripeWrite<'_> {
    type Target = Table;
    fn deref(&self) -> &Table {
        &self.table
    }
}

impl StripeWrite<'_> {
    pub(crate) fn insert(&mut self, hash: u64, s: Arc<MemSeries>) {
        self.table.insert(hash, s);
        self.publish();
    }

    pub(crate) fn remove_where(&mut self, dead: impl FnMut(&MemSeries) -> bool) {
        self.table.remove_where(dead);
        self.publish();
    }

    fn publish(&self) {
        let slots = &self.table.slots;
        let at = if slots.is_empty() {
            0
        } else {
            slots.as_ptr() as usize
        };
        self.stripe.slots_at.store(at, Ordering::Relaxed);
        let mask = slots.len().saturating_sub(1);
        self.stripe.slots_mask.store(mask, Ordering::Relaxed);
    }
}

impl Stripe {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read()
    }

    pub(crate) fn write(&self) -> StripeWrite<'_> {
        StripeWrite {
            table: self.table.write(),
            stripe: self,
        }
    }

    /// Starts loading this stripe's cache line.
    #[inline]
    pub(crate) fn prefetch(&self) {
        prefetch(self as *const Stripe as usize);
    }

    /// Starts loading the slot of `hash`, without the lock (so from
    /// possibly stale slot addresses: see the module documentation). The
    /// stripe's own line should have arrived for this to pay.
    #[inline]
    pub(crate) fn prefetch_slot(&self, hash: u64) {
        let at = self.slots_at.load(Ordering::Relaxed);
        if at != 0 {
            let mask = self.slots_mask.load(Ordering::Relaxed);
            prefetch(at.wrapping_add(home(hash, mask) * std::mem::size_of::<Slot>()));
        }
    }

    /// Starts loading the series in the slot of `hash` (its lines, and its
    /// labels' first ones) under a short read lock; the slot should have
    /// arrived for this to pay.
    #[inline]
    pub(crate) fn prefetch_series(&self, hash: u64) {
        if let Some(s) = self.table.read().first(hash) {
            // The Arc's counts sit just before the series.
            let start = (Arc::as_ptr(s) as usize).wrapping_sub(16);
            let len = 16 + std::mem::size_of::<MemSeries>();
            prefetch_lines(start, (start % 64 + len).div_ceil(64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonde_model::Labels;

    fn series(id: u32) -> Arc<MemSeries> {
        let v = id.to_string();
        Arc::new(MemSeries::new(id, Labels::from_pairs(&[("i", v.as_str())])))
    }

    /// Grows, finds, collides and removes like a map of hash to series,
    /// with hashes crowding one home slot and spread ones, and keeps
    /// `slots_at` pointing at the live slots.
    #[test]
    fn behaves_as_a_map_through_growth_collisions_and_removal() {
        let stripe = Stripe::default();
        let hash_of = |id: u32| -> u64 {
            if id % 3 == 0 {
                // Same home slot (differ only in bits `home` masks away).
                (id as u64) << 48
            } else {
                (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            }
        };
        let mut all = Vec::new();
        for id in 1..=300u32 {
            let s = series(id);
            stripe.write().insert(hash_of(id), s.clone());
            all.push(s);
            // Every tenth hash also names a second series.
            if id % 10 == 0 {
                let c = series(id + 1000);
                stripe.write().insert(hash_of(id), c.clone());
                all.push(c);
            }
        }
        let by_id = |id: u32| move |s: &MemSeries| s.id == id;
        {
            let t = stripe.read();
            assert_eq!(t.len, 300);
            assert_eq!(
                stripe.slots_at.load(Ordering::Relaxed),
                t.slots.as_ptr() as usize
            );
            for id in 1..=300u32 {
                assert_eq!(t.find(hash_of(id), by_id(id)).unwrap().id, id);
                assert_eq!(t.first(hash_of(id)).unwrap().id, id);
                if id % 10 == 0 {
                    assert_eq!(t.find(hash_of(id), by_id(id + 1000)).unwrap().id, id + 1000);
                }
                assert!(t.find(hash_of(id), by_id(5000)).is_none());
            }
            assert!(t.first(12345).is_none());
        }
        // Remove the even ids: the collided series of a removed first one
        // takes its slot.
        let mut asked = Vec::new();
        stripe.write().remove_where(|s| {
            asked.push(s.id);
            s.id % 2 == 0 && s.id < 1000
        });
        asked.sort_unstable();
        let mut expect: Vec<u32> = all.iter().map(|s| s.id).collect();
        expect.sort_unstable();
        assert_eq!(asked, expect, "each series asked once");
        let t = stripe.read();
        for id in 1..=300u32 {
            let found = t.find(hash_of(id), by_id(id)).map(|s| s.id);
            assert_eq!(found, (id % 2 == 1).then_some(id));
            if id % 10 == 0 {
                assert_eq!(t.first(hash_of(id)).unwrap().id, id + 1000);
            }
        }
        assert_eq!(
            stripe.slots_at.load(Ordering::Relaxed),
            t.slots.as_ptr() as usize
        );
        drop(t);
        stripe.write().remove_where(|_| true);
        let t = stripe.read();
        assert_eq!(t.len, 0);
        assert!(t.collided.is_none());
        assert_eq!(stripe.slots_at.load(Ordering::Relaxed), 0);
        // Prefetching from an emptied stripe, or any hash, is harmless.
        stripe.prefetch_slot(7);
        stripe.prefetch_series(7);
    }
}
