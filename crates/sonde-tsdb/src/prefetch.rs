//! Software prefetch: a hint that a cache line will soon be read, so that
//! the loads of many independent lookups (the series of one remote-write
//! request) overlap instead of waiting for memory one after another.
//!
//! This module holds the crate's only use of `core::arch` and is allowed
//! `unsafe` for it: the intrinsic is an `unsafe fn` because it is declared
//! with `#[target_feature(enable = "sse")]`, not because of what it does.

#![allow(unsafe_code)]

/// Asks the CPU to bring the cache line holding `addr` into all cache
/// levels. No effect on memory or on program behaviour, whatever `addr`
/// is (a freed, stale or null address included); a no-op on targets
/// other than x86_64.
#[inline(always)]
pub(crate) fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline, so the target feature the
    // intrinsic requires is always present; PREFETCHT0 never faults and
    // never reads the line into a register, so any address is allowed.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// [`prefetch`] of the `lines` cache lines from the one holding `addr`.
#[inline(always)]
pub(crate) fn prefetch_lines(addr: usize, lines: usize) {
    for i in 0..lines {
        prefetch(addr.wrapping_add(i * 64));
    }
}
