//! The steady-state scrape path allocates nothing per sample: a counting
//! global allocator (this test binary only) measures the third append of
//! the same body, for two body sizes.

use std::cell::Cell;

use sonde_exposition::Format;
use sonde_model::{AppendError, Appender, Exemplar, Labels, SeriesRef, StorageError, Timestamp};

use crate::append::{append_body, AppendBuffers, AppendContext, AppendStats, Limits};
use crate::cache::ScrapeCache;

#[allow(unsafe_code)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};

    thread_local! {
        pub static COUNT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    pub struct Counting;

    // SAFETY: every call is forwarded unchanged to the system allocator;
    // the counter is a const-initialised thread-local that never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as our caller's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as our caller's.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as our caller's.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

fn allocations() -> u64 {
    counting::COUNT.with(Cell::get)
}

/// Accepts everything without allocating.
struct Sink;

impl Appender for Sink {
    fn append(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: Timestamp,
        _: f64,
    ) -> Result<SeriesRef, AppendError> {
        Ok(if r == 0 { 7 } else { r })
    }
    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        Ok(r)
    }
    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
    fn rollback(self: Box<Self>) {}
}

/// Allocations of the third of three identical appends of `n` series.
fn steady_state_allocations(n: usize) -> u64 {
    let mut body = String::from("# HELP req Requests.\n# TYPE req counter\n");
    for i in 0..n {
        body.push_str(&format!("req{{path=\"/p{i}\",code=\"200\"}} {i}\n"));
    }
    let target = Labels::from_pairs(&[("instance", "h:1"), ("job", "j")]);
    let names = ["instance", "job"];
    let cx = AppendContext {
        target_labels: &target,
        target_label_names: &names,
        honor_labels: false,
        honor_timestamps: true,
        limits: Limits::default(),
        metric_relabel: &[],
    };
    let mut cache = ScrapeCache::default();
    let mut bufs = AppendBuffers::default();
    let mut app = Sink;
    let mut run = |ts| {
        let mut stats = AppendStats::default();
        append_body(
            &mut cache,
            &cx,
            &mut app,
            body.as_bytes(),
            Format::PrometheusText,
            ts,
            &mut bufs,
            &mut stats,
        )
        .unwrap();
        stats
    };
    let first = run(1000);
    assert_eq!(first.series_added, n as u64);
    // The second scrape grows the other half of the current/previous
    // series maps; from the third on, every buffer has its size.
    run(1500);
    let before = allocations();
    let second = run(2000);
    let used = allocations() - before;
    assert_eq!(second.total, n as u64);
    assert_eq!(second.series_added, 0);
    used
}

#[test]
fn steady_state_scrape_does_not_allocate_per_sample() {
    let small = steady_state_allocations(100);
    let large = steady_state_allocations(2000);
    assert_eq!(small, large, "allocations grow with the number of samples");
    assert!(large < 16, "{large} allocations in a steady-state append");
}

/// Not a check: prints the steady-state append rate, for the record.
/// `cargo test --release -p sonde-scrape append_rate -- --ignored --nocapture`
#[test]
#[ignore]
fn append_rate() {
    let n = 10_000;
    let mut body = String::new();
    for i in 0..n {
        body.push_str(&format!(
            "http_requests_total{{path=\"/api/v{i}\",code=\"200\",method=\"GET\"}} {i}\n"
        ));
    }
    let target = Labels::from_pairs(&[("instance", "h:1"), ("job", "j")]);
    let names = ["instance", "job"];
    let cx = AppendContext {
        target_labels: &target,
        target_label_names: &names,
        honor_labels: false,
        honor_timestamps: true,
        limits: Limits::default(),
        metric_relabel: &[],
    };
    let mut cache = ScrapeCache::default();
    let mut bufs = AppendBuffers::default();
    let mut app = Sink;
    let rounds = 200;
    let start = std::time::Instant::now();
    for r in 0..rounds {
        let mut stats = AppendStats::default();
        append_body(
            &mut cache,
            &cx,
            &mut app,
            body.as_bytes(),
            Format::PrometheusText,
            r,
            &mut bufs,
            &mut stats,
        )
        .unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let parse_start = std::time::Instant::now();
    let mut scratch = sonde_exposition::Scratch::new();
    for _ in 0..rounds {
        let mut p = sonde_exposition::Parser::new(
            body.as_bytes(),
            Format::PrometheusText,
            sonde_exposition::Mode::Scrape,
            &mut scratch,
        );
        while let Ok(Some(_)) = p.next() {}
    }
    println!("parsing alone: {:.3}s", parse_start.elapsed().as_secs_f64());
    println!(
        "{} samples in {secs:.3}s: {:.1} M samples/s, {:.1} MB/s of body",
        n * rounds as usize,
        (n * rounds as usize) as f64 / secs / 1e6,
        (body.len() * rounds as usize) as f64 / secs / 1e6
    );
}
