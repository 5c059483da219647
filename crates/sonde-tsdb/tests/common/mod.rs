#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sonde_model::{Appendable, Labels, Matcher, Queryable, SelectHints};
use sonde_tsdb::{Db, DbOptions, FsyncPolicy};

pub const H: i64 = 3_600_000;

/// Tests simulate crashes with `mem::forget`, which keeps the lock file's
/// descriptor open, so they run without the lock (tested on its own).
pub fn opts() -> DbOptions {
    DbOptions {
        background: false,
        wal_fsync: FsyncPolicy::Never,
        no_lockfile: true,
        ..Default::default()
    }
}

pub fn open(dir: &Path, o: DbOptions) -> Arc<Db> {
    Db::open(dir, o).expect("open db")
}

pub fn series(name: &str, extra: &[(&str, &str)]) -> Labels {
    let mut pairs: Vec<(&str, &str)> = vec![("__name__", name)];
    pairs.extend_from_slice(extra);
    Labels::from_pairs(&pairs)
}

/// Appends and commits one batch.
pub fn append(db: &Db, samples: &[(&Labels, i64, f64)]) {
    let mut app = db.appender();
    for (l, t, v) in samples {
        app.append(0, l, *t, *v).expect("append");
    }
    app.commit().expect("commit");
}

/// Every sample of every series matching `ms`, as (labels, [(t, bits)]).
pub fn dump(db: &Db, ms: &[Matcher]) -> BTreeMap<String, Vec<(i64, u64)>> {
    let q = db.querier(i64::MIN, i64::MAX).expect("querier");
    let set = q.select(&SelectHints::default(), ms).expect("select");
    let mut out = BTreeMap::new();
    let mut prev: Option<Labels> = None;
    for s in set {
        let s = s.expect("series");
        if let Some(p) = &prev {
            assert!(
                *p < *s.labels(),
                "series not sorted: {p} then {}",
                s.labels()
            );
        }
        prev = Some(s.labels().clone());
        let mut it = s.samples();
        let mut v = Vec::new();
        while let Some(x) = it.next() {
            v.push((x.t, x.v.to_bits()));
        }
        out.insert(s.labels().to_string(), v);
    }
    out
}

pub fn all() -> Vec<Matcher> {
    vec![Matcher::new(sonde_model::MatchOp::Regex, "__name__", ".+").expect("matcher")]
}
