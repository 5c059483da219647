//! Calendar functions (`hour`, `month`, `days_in_month` ...), all in UTC.
//! Without an argument they use the evaluation time; with one, each
//! element's value is read as Unix seconds.

use promql_parser::parser::Call;
use sonde_model::Labels;

use super::instant::eval_args;
use crate::error::Result;
use crate::eval::{drop_metric_name, Evaluator, OutSample, Val};

/// A UTC calendar date and time of day.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    weekday: u32,
    yearday: u32,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn month_len(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `civil_from_days`).
fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let yearday = (1..month).map(|m| month_len(year, m)).sum::<u32>() + day;
    Civil {
        year,
        month,
        day,
        hour: (sod / 3600) as u32,
        minute: (sod % 3600 / 60) as u32,
        weekday: (days + 4).rem_euclid(7) as u32, // 1970-01-01 was a Thursday
        yearday,
    }
}

/// Go's `int64(f)` for the values that matter; NaN and out-of-range values
/// become i64::MIN as on amd64.
fn to_secs(v: f64) -> i64 {
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

fn date_fn(ev: &Evaluator<'_, '_>, call: &Call, f: fn(&Civil) -> f64) -> Result<Val> {
    let args = eval_args(ev, call)?;
    if args.is_empty() {
        return ev.range_eval(&[], |_, ts| {
            Ok(vec![OutSample {
                labels: Labels::empty(),
                v: f(&civil(ts / 1000)), // Go truncates toward zero
            }])
        });
    }
    ev.range_eval(&args, |a, _| {
        Ok(a[0]
            .vector()
            .iter()
            .map(|s| OutSample {
                labels: drop_metric_name(s.labels),
                v: f(&civil(to_secs(s.v))),
            })
            .collect())
    })
}

pub(crate) fn day_of_month(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    date_fn(ev, call, |c| f64::from(c.day))
}

pub(crate) fn day_of_week(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    date_fn(ev, call, |c| f64::from(c.weekday))
}

pub(crate) fn day_of_year(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    date_fn(ev, call, |c| f64::from(c.yearday))
}

pub(crate) fn days_in_month(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    date_fn(ev, call, |c| f64::from(month_len(c.year, c.month)))
}

pub(crate) fn hour(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    date_fn(ev, call, |c| f64::from(c.hour))
}

pub(crate) fn minute(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    date_fn(ev, call, |c| f64::from(c.minute))
}

pub(crate) fn month(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    date_fn(ev, call, |c| f64::from(c.month))
}

pub(crate) fn year(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    date_fn(ev, call, |c| c.year as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let c = civil(0);
        assert_eq!(
            (c.year, c.month, c.day, c.weekday, c.yearday),
            (1970, 1, 1, 4, 1)
        );
        // 2024-02-29T13:45:00Z
        let c = civil(1_709_214_300);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute),
            (2024, 2, 29, 13, 45)
        );
        assert_eq!((c.weekday, c.yearday), (4, 60));
        assert_eq!(month_len(2024, 2), 29);
        let c = civil(-1);
        assert_eq!((c.year, c.month, c.day, c.hour), (1969, 12, 31, 23));
    }
}
