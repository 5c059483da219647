//! sonde-promql: the PromQL evaluator, with Prometheus 2.42's semantics,
//! over any [`sonde_model::Queryable`]. Parsing is done by the
//! `promql-parser` crate; everything after the syntax tree is here.
//!
//! ```
//! use sonde_promql::{Engine, EngineOptions, Value};
//! use sonde_promql::testing::MemStorage;
//! use sonde_model::Labels;
//!
//! let mut storage = MemStorage::new();
//! storage.add(Labels::from_pairs(&[("__name__", "up"), ("job", "a")]), 0, 1.0);
//! let engine = Engine::new(EngineOptions::default());
//! let v = engine.instant_query(&storage, "sum(up)", 10_000).unwrap();
//! assert_eq!(v.to_json(), r#"{"resultType":"vector","result":[{"metric":{},"value":[10,"1"]}]}"#);
//! ```
//!
//! Layout: [`engine`] (entry points), `compat` (where the parser's grammar
//! and 2.42's differ), `eval` (dispatch over syntax-tree nodes, selectors,
//! step-wise evaluation), `functions` (range and instant function
//! families), `aggregate`, `binary`, `math` (Go-compatible numerics),
//! [`value`] (results and their JSON), [`stats`] (counters for `/metrics`),
//! [`testing`] (in-memory storage, series notation and the test-script
//! runner used by the conformance suites).
//!
//! Conformance: Prometheus 2.42's PromQL test scripts pass in full over the
//! in-memory storage and over the `sonde-tsdb` head
//! (`tests/promql_conformance*.rs`), and the binary's
//! `tests/promql_vs_prometheus` compares, over both HTTP APIs, the answers
//! of `sonde` fed by remote write with a real Prometheus 2.42's on
//! thousands of queries.

mod aggregate;
mod binary;
mod compat;
pub mod engine;
pub mod error;
mod eval;
mod functions;
mod hash;
mod math;
mod parse_error;
pub mod stats;
pub mod testing;
pub mod value;

pub use engine::{
    extract_selectors, parse, parse_selector, CancelToken, Engine, EngineOptions, QueryOptions,
};
pub use error::QueryError;
pub use stats::{EngineStats, EngineStatsSnapshot, QueryStats};
pub use value::{format_float, RangeSeries, Value, VectorSample};
