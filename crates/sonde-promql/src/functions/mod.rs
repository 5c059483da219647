//! Function calls. Functions over a range vector (`rate`, `*_over_time` ...)
//! are in [`range`], functions over instant vectors and scalars in
//! [`instant`]; each family has one lookup table, and a name in neither is
//! not a PromQL 2.42 function.

mod date;
mod histogram;
pub(crate) mod instant;
mod label;
pub(crate) mod range;

use promql_parser::parser::Call;

use crate::error::{QueryError, Result};
use crate::eval::{Evaluator, Val};

/// Whether `name` is a function of PromQL 2.42.
pub(crate) fn is_known(name: &str) -> bool {
    range::lookup(name).is_some() || instant::lookup(name).is_some()
}

/// Evaluates a call through its family's table.
pub(crate) fn eval_call(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    let name = call.func.name;
    if let Some(f) = range::lookup(name) {
        return range::eval(ev, call, f);
    }
    if let Some(f) = instant::lookup(name) {
        return instant::eval(ev, call, f);
    }
    Err(QueryError::BadData(format!(
        "unknown function with name {name:?}"
    )))
}
