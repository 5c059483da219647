//! Test support that other crates may use too: an in-memory storage, the
//! expanding series notation of Prometheus test files (`0+10x100`, `_`,
//! `stale`), and a runner for Prometheus' PromQL test scripts.

mod mem_storage;
pub mod script;
mod series_notation;

pub use mem_storage::MemStorage;
pub use series_notation::{parse_series_line, parse_values, SeriesValue};
