//! What the query endpoints remember of recent query texts: the parsed
//! expression, and for instant queries how long the last evaluation took.
//! Dashboards send the same texts again and again; parsing one with a
//! label regex compiles the regex (about 2 M instructions, a fifth of a
//! small instant query; docs/benchmarks.md session 4), and the last
//! evaluation's time is the estimate of the next one's, which decides
//! whether it may run on the request's own thread
//! ([`QueryMemory::cheap`]).
//!
//! Thread safety: one mutex, held for a lookup or an insert (parsing
//! happens outside it); expressions are shared immutably (`Arc`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use promql_parser::parser::Expr;

/// An instant query whose previous evaluation took less than this is
/// evaluated on the async thread that serves its request, without the
/// hand-off to a blocking thread: that hop and the wake-ups around it were
/// about 40% of the server's CPU for a trivial query (docs/benchmarks.md,
/// sessions 3 and 4). Holding a runtime thread this long is no worse than
/// encoding a large answer, which those threads already do.
pub(crate) const INLINE_BELOW: Duration = Duration::from_millis(1);

/// Query texts remembered; all are forgotten when full (a forgotten text
/// is parsed once more, and its next run goes to the blocking pool).
const ENTRIES: usize = 1024;

/// Longer texts are not remembered, so the memory stays under about
/// `ENTRIES` x this many bytes of text.
const MAX_TEXT: usize = 4096;

struct Recent {
    expr: Arc<Expr>,
    /// Microseconds the last instant evaluation took, if any.
    micros: Option<u32>,
}

#[derive(Default)]
pub(crate) struct QueryMemory {
    by_text: Mutex<HashMap<String, Recent>>,
}

impl QueryMemory {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Recent>> {
        self.by_text.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `text` parsed: remembered, or by `parse` (and then remembered).
    pub fn parse<E>(
        &self,
        text: &str,
        parse: impl FnOnce(&str) -> Result<Expr, E>,
    ) -> Result<Arc<Expr>, E> {
        if let Some(r) = self.lock().get(text) {
            return Ok(Arc::clone(&r.expr));
        }
        let expr = Arc::new(parse(text)?);
        if text.len() <= MAX_TEXT {
            let mut map = self.lock();
            if map.len() >= ENTRIES {
                map.clear();
            }
            map.entry(text.to_string()).or_insert_with(|| Recent {
                expr: Arc::clone(&expr),
                micros: None,
            });
        }
        Ok(expr)
    }

    /// Whether the last instant evaluation of `text` was quick enough to
    /// run the next one inline. A text never evaluated, or last seen slow,
    /// is not: an evaluation that turns slow runs inline at most once
    /// (its `timeout` and the engine's deadline still apply there).
    pub fn cheap(&self, text: &str) -> bool {
        self.lock()
            .get(text)
            .and_then(|r| r.micros)
            .is_some_and(|us| u128::from(us) < INLINE_BELOW.as_micros())
    }

    /// Records how long an instant evaluation of `text` took (texts not
    /// remembered are ignored).
    pub fn record(&self, text: &str, took: Duration) {
        let us = took.as_micros().min(u128::from(u32::MAX)) as u32;
        if let Some(r) = self.lock().get_mut(text) {
            r.micros = Some(us);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<Expr, String> {
        promql_parser::parser::parse(q)
    }

    #[test]
    fn texts_are_parsed_once_and_errors_never_kept() {
        let m = QueryMemory::default();
        let a = m.parse("sum(up)", parse).unwrap();
        let b = m
            .parse("sum(up)", |_| Err("not parsed again".to_string()))
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(m.parse("sum(", parse).is_err());
        assert!(m.parse("sum(", parse).is_err());
        let long = format!("up{{a=\"{}\"}}", "x".repeat(MAX_TEXT));
        m.parse(&long, parse).unwrap();
        assert!(m.lock().get(&long).is_none(), "long texts are not kept");
    }

    #[test]
    fn only_queries_quick_last_time_run_inline() {
        let m = QueryMemory::default();
        m.parse("up", parse).unwrap();
        m.parse("sum(up)", parse).unwrap();
        assert!(!m.cheap("up"), "never evaluated: blocking pool");
        m.record("up", Duration::from_micros(40));
        assert!(m.cheap("up"));
        assert!(!m.cheap("sum(up)"));
        m.record("up", INLINE_BELOW);
        assert!(!m.cheap("up"), "turned slow: back to the pool");
        m.record("up", Duration::from_secs(u64::from(u32::MAX)));
        assert!(!m.cheap("up"));
        m.record("never parsed", Duration::from_micros(1));
        assert!(!m.cheap("never parsed"));
    }

    #[test]
    fn a_full_memory_forgets() {
        let m = QueryMemory::default();
        let texts: Vec<String> = (0..ENTRIES).map(|i| format!("up{{i=\"{i}\"}}")).collect();
        for t in &texts {
            m.parse(t, parse).unwrap();
            m.record(t, Duration::from_micros(1));
        }
        assert!(m.cheap(&texts[7]));
        m.parse(&texts[7], parse).unwrap(); // known: nothing forgotten
        assert!(m.cheap(&texts[8]));
        m.parse("down", parse).unwrap();
        assert!(!m.cheap(&texts[8]));
        assert_eq!(m.lock().len(), 1);
    }
}
