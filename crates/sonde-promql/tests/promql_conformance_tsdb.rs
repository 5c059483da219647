//! The same PromQL test scripts as `promql_conformance`, over the real
//! storage engine (`sonde-tsdb`, head only) instead of the in-memory test
//! storage: a wrong sample iterator, seek or selection range in the tsdb
//! shows up here as a PromQL failure.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sonde_model::{Labels, Queryable, Timestamp};
use sonde_promql::testing::script::{run_script_on, ScriptStorage};
use sonde_tsdb::{Db, DbOptions, FsyncPolicy};

struct TsdbStorage {
    root: tempfile::TempDir,
    generation: u32,
    db: Arc<Db>,
}

/// Like Prometheus' test storage: a 24h block range, so a later `load`
/// may still add samples from time 0 (the head accepts samples down to
/// half a block range behind its newest).
fn options() -> DbOptions {
    DbOptions {
        block_range_ms: 24 * 3_600_000,
        out_of_order_window_ms: 0,
        wal_fsync: FsyncPolicy::Never,
        background: false,
        retention_ms: 0,
        ..DbOptions::default()
    }
}

impl TsdbStorage {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let db = Db::open(&root.path().join("0"), options()).unwrap();
        TsdbStorage {
            root,
            generation: 0,
            db,
        }
    }
}

impl ScriptStorage for TsdbStorage {
    fn queryable(&self) -> &dyn Queryable {
        self.db.as_ref()
    }

    fn clear(&mut self) -> Result<(), String> {
        self.db.close().map_err(|e| e.to_string())?;
        self.generation += 1;
        let dir = self.root.path().join(self.generation.to_string());
        self.db = Db::open(&dir, options()).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn load(&mut self, series: &[(Labels, Vec<(Timestamp, f64)>)]) -> Result<(), String> {
        use sonde_model::Appendable;
        let mut app = self.db.appender();
        for (labels, samples) in series {
            let mut r = 0;
            for (t, v) in samples {
                r = app
                    .append(r, labels, *t, *v)
                    .map_err(|e| format!("append {labels} @{t}: {e}"))?;
            }
        }
        app.commit().map_err(|e| e.to_string())
    }
}

fn testdata_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SONDE_PROMQL_TESTDATA") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/prometheus-v2.42.0/promql-testdata")
}

#[test]
fn promql_conformance_over_tsdb_head() {
    let dir = testdata_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {} ({e})", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(file).unwrap();
        let mut storage = TsdbStorage::new();
        let outcomes = run_script_on(&text, &mut storage).unwrap_or_else(|e| panic!("{name}: {e}"));
        for o in outcomes {
            match o.failure {
                None => passed += 1,
                Some(why) => {
                    failed += 1;
                    failures.push(format!("{name}:{}: {}: {why}", o.line, o.expr));
                }
            }
        }
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    println!("promql conformance over tsdb: {passed} passed, {failed} failed");
    assert!(
        failures.is_empty(),
        "{} cases fail over the tsdb head",
        failures.len()
    );
}
