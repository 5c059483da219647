//! CPU time of this process, for the examples that measure a cost per item
//! (included by path, like `workload.rs`).

/// User + system CPU seconds of this process so far (`/proc/self/stat`,
/// clock ticks of 1/100 s); 0 where it cannot be read.
pub fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
