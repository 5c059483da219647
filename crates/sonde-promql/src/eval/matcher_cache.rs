//! Compiled matchers of the selectors with a regex, reused from query to
//! query: compiling a label regex (`{device=~"sd.*"}`, `{code=~"5.."}`)
//! took a third of the instructions of a small instant query
//! (`disk_io_regex`: 1.6 M of 9 M per query, docs/benchmarks.md session 4),
//! and dashboards send the same selectors again and again.
//!
//! Thread safety: one mutex, held for a lookup or an insert; compiling
//! happens outside it. Entries are immutable (`Arc`), so a query keeps
//! its matchers when the cache forgets them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::VectorSelector;
use sonde_model::Matcher;

use super::selector::to_matchers;
use crate::error::Result;

/// Selectors remembered; the cache forgets them all when full (a
/// forgotten selector is compiled once more).
const ENTRIES: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct MatcherCache {
    by_selector: Mutex<HashMap<String, Arc<Vec<Matcher>>>>,
}

/// Whether compiling `vs` is worth remembering: it has a regex (other
/// matchers cost a few allocations to build).
fn has_regex(vs: &VectorSelector) -> bool {
    vs.matchers
        .matchers
        .iter()
        .any(|m| matches!(m.op, PMatchOp::Re(_) | PMatchOp::NotRe(_)))
}

/// The selector's metric name and matchers, each part followed by a byte
/// no label name or operator contains, so different selectors give
/// different keys.
fn key_of(vs: &VectorSelector) -> String {
    let mut key = String::new();
    key.push_str(vs.name.as_deref().unwrap_or(""));
    key.push('\0');
    for m in &vs.matchers.matchers {
        let op = match m.op {
            PMatchOp::Equal => '=',
            PMatchOp::NotEqual => '!',
            PMatchOp::Re(_) => '~',
            PMatchOp::NotRe(_) => '^',
        };
        key.push(op);
        key.push_str(&m.name);
        key.push('\0');
        key.push_str(&m.value);
        key.push('\0');
    }
    key
}

impl MatcherCache {
    /// The storage matchers of `vs` (see [`to_matchers`]).
    pub fn get(&self, vs: &VectorSelector) -> Result<Arc<Vec<Matcher>>> {
        if !has_regex(vs) || !vs.matchers.or_matchers.is_empty() {
            return to_matchers(vs).map(Arc::new);
        }
        let key = key_of(vs);
        if let Some(m) = self.lock().get(&key) {
            return Ok(Arc::clone(m));
        }
        let compiled = Arc::new(to_matchers(vs)?);
        let mut map = self.lock();
        if map.len() >= ENTRIES {
            map.clear();
        }
        map.insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Vec<Matcher>>>> {
        self.by_selector.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::parser::{parse, Expr};

    fn selector(q: &str) -> VectorSelector {
        match parse(q).unwrap() {
            Expr::VectorSelector(vs) => vs,
            other => panic!("not a selector: {other:?}"),
        }
    }

    #[test]
    fn same_selector_same_matchers_others_apart() {
        let cache = MatcherCache::default();
        let queries = [
            r#"x{a=~"b.*"}"#,
            r#"x{a!~"b.*"}"#,
            r#"x{a=~"b.*",c="d"}"#,
            r#"y{a=~"b.*"}"#,
            r#"{__name__=~"x|y"}"#,
            r#"x{a=~"b.*c"}"#,
        ];
        for q in queries {
            let vs = selector(q);
            let first = cache.get(&vs).unwrap();
            assert_eq!(*first, to_matchers(&vs).unwrap(), "{q}");
            assert!(Arc::ptr_eq(&first, &cache.get(&vs).unwrap()), "{q} reused");
        }
        assert_eq!(cache.lock().len(), queries.len());
        // No regex: built each time, not remembered.
        let plain = selector(r#"x{a="b"}"#);
        assert_eq!(*cache.get(&plain).unwrap(), to_matchers(&plain).unwrap());
        assert_eq!(cache.lock().len(), queries.len());
    }

    #[test]
    fn bad_regexes_stay_errors() {
        let cache = MatcherCache::default();
        let vs = selector(r#"x{a=~"b"}"#);
        let mut bad = vs.clone();
        bad.matchers.matchers[0].value = "(".to_string();
        for _ in 0..2 {
            assert!(cache.get(&bad).is_err());
        }
        assert!(cache.get(&vs).is_ok());
    }
}
