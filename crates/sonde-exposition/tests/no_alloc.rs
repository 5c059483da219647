//! The scrape hot path allocates nothing per sample: once a scratch has
//! grown to a body's largest line, parsing the body again allocates zero
//! times (counted with a counting global allocator).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use sonde_exposition::{Entry, Format, Mode, Parser, Scratch};

#[allow(unsafe_code)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};

    pub struct Counting;

    // SAFETY: forwards every call unchanged to the system allocator; the
    // only addition is an atomic counter increment.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            super::count();
            // SAFETY: same contract as our caller's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: ptr came from System.alloc with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            super::count();
            // SAFETY: same contract as our caller's.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only the measuring thread counts (the test harness allocates on its
    /// own threads meanwhile).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

fn parse(body: &[u8], format: Format, scratch: &mut Scratch) -> (usize, f64) {
    let mut p = Parser::new(body, format, Mode::Scrape, scratch);
    let (mut n, mut sum) = (0, 0.0);
    while let Some(e) = p.next().expect("valid") {
        if let Entry::Sample(s) = e {
            n += 1;
            sum += s.value
                + s.labels
                    .iter()
                    .map(|(k, v)| (k.len() + v.len()) as f64)
                    .sum::<f64>();
            if let Some(x) = s.exemplar {
                sum += x.value + x.labels.len() as f64;
            }
        }
    }
    (n, sum)
}

#[test]
fn second_parse_on_the_same_scratch_allocates_nothing() {
    let om: &[u8] = b"# TYPE a counter\n# HELP a Escaped \\\\ help.\na_total{x=\"esc\\\"aped\",y=\"2\"} 1 # {t=\"e\\\\x\"} 1 1\n# EOF\n";
    let prom = include_bytes!("../testdata/node_exporter.prom");
    for (body, format) in [
        (&prom[..], Format::PrometheusText),
        (om, Format::OpenMetrics),
    ] {
        let mut scratch = Scratch::new();
        // The counter works: a fresh scratch has to grow.
        let before = ALLOCS.load(Ordering::Relaxed);
        COUNTING.with(|c| c.set(true));
        let first = parse(body, format, &mut scratch);
        COUNTING.with(|c| c.set(false));
        assert!(
            ALLOCS.load(Ordering::Relaxed) > before,
            "{format:?}: first parse grew the scratch"
        );
        let before = ALLOCS.load(Ordering::Relaxed);
        COUNTING.with(|c| c.set(true));
        let second = parse(body, format, &mut scratch);
        COUNTING.with(|c| c.set(false));
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        assert_eq!(first.0, second.0);
        assert_eq!(first.1.to_bits(), second.1.to_bits());
        assert_eq!(
            allocs, 0,
            "{format:?}: {allocs} allocations while re-parsing {} samples",
            second.0
        );
    }
}
