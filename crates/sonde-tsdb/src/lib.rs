//! sonde-tsdb: Sonde's storage engine.
//!
//! Samples enter through [`Db`]'s [`Appendable`](sonde_model::Appendable)
//! implementation: each committed batch is written to the WAL
//! ([`wal`]) before it becomes visible in the head ([`head`]), where series
//! keep Gorilla-compressed chunks ([`chunk`]) indexed by label
//! ([`postings`]). The head is periodically cut into immutable,
//! memory-mapped blocks ([`block`]) that are compacted and expired
//! ([`compact`]). Reads go through [`Queryable`](sonde_model::Queryable),
//! merging head and blocks ([`querier`]).
//!
//! On-disk formats are specified byte by byte in `docs/storage.md` at the
//! repository root.
//!
//! ```
//! use sonde_model::{Appendable, Labels, Matcher, Queryable, SelectHints};
//! let dir = tempfile::tempdir().unwrap();
//! let opts = sonde_tsdb::DbOptions { background: false, ..Default::default() };
//! let db = sonde_tsdb::Db::open(dir.path(), opts).unwrap();
//! let mut app = db.appender();
//! app.append(0, &Labels::from_pairs(&[("__name__", "up")]), 1000, 1.0).unwrap();
//! app.commit().unwrap();
//! let q = db.querier(0, 2000).unwrap();
//! let set = q.select(&SelectHints::default(), &[Matcher::equal("__name__", "up")]).unwrap();
//! assert_eq!(set.count(), 1);
//! db.close().unwrap();
//! ```

pub mod bitstream;
pub mod block;
pub mod block_write;
pub mod chunk;
mod chunk_int;
mod chunk_packed;
mod chunk_read;
pub mod compact;
pub mod db;
mod db_maintain;
pub mod error;
pub mod exemplars;
pub mod head;
pub mod head_append;
mod head_order;
mod head_stripe;
pub mod iter;
pub mod metrics;
pub mod mmap;
mod newest;
pub mod options;
pub mod postings;
mod prefetch;
pub mod querier;
pub mod readonly;
mod replay;
pub mod series;
pub mod stats;
pub mod wal;
mod wal_read;
pub mod wal_record;
mod write_state;

pub use db::{Db, Progress};
pub use error::TsdbError;
pub use metrics::MetricsSnapshot;
pub use options::{CancelOpen, DbOptions, FsyncPolicy};
pub use readonly::ReadOnlyDb;
pub use stats::TsdbStats;
