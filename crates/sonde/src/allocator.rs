//! The process's memory allocator: mimalloc, set to give freed memory back
//! to the OS at once.
//!
//! Why: a query that selects thousands of series, and a remote-write request
//! of 500, make several allocations per series; glibc's malloc/free was
//! about 45% of a selector-heavy instant query's instructions. mimalloc's
//! defaults keep freed arena memory committed for a while, which raised
//! peak RSS during ingest from 65 to about 110 MiB. Arenas committed on
//! demand (a build-time default, set in `.cargo/config.toml`: the first
//! arena is reserved before `main`) and purged without delay (set here)
//! bring it back (docs/benchmarks.md).
#![allow(unsafe_code)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Positions in mimalloc 3's `mi_option_e` (include/mimalloc.h of the
/// bundled version, pinned by Cargo.lock); the Rust bindings do not name
/// these two.
#[cfg(test)]
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Purges freed memory without delay; call first thing in `main`.
pub fn configure() {
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table;
    // it takes no pointers and is safe to call at any time.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The positions above name the options they mean in the bundled
    /// mimalloc: eager commit is off by the build-time default set in
    /// `.cargo/config.toml` (mimalloc's own is 2), and the purge delay is
    /// mimalloc 3.3's default, 1000 ms, as `configure` is not called in
    /// tests.
    #[test]
    fn option_positions_match_the_bundled_mimalloc() {
        // SAFETY: reads an integer from mimalloc's option table.
        let (eager, delay) = unsafe {
            (
                libmimalloc_sys::mi_option_get(ARENA_EAGER_COMMIT),
                libmimalloc_sys::mi_option_get(PURGE_DELAY),
            )
        };
        assert_eq!((eager, delay), (0, 1000));
    }
}
