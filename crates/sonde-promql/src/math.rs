//! Numeric helpers shared by functions and aggregations, written to give
//! the same results as Prometheus 2.42, including its ordering of ties
//! (Go's `sort.Sort` and `container/heap`).

/// One step of Kahan-Neumaier summation: returns the new sum and the new
/// compensation term.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The φ-quantile of `values` by linear interpolation between the closest
/// ranks; NaN for no values or a NaN φ, ±Inf for φ outside [0, 1].
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    go_sort(values, |a, b| nan_first_less(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Ascending order with NaN first (Prometheus' `vectorByValueHeap`).
pub(crate) fn nan_first_less(a: f64, b: f64) -> bool {
    if a.is_nan() {
        return true;
    }
    a < b
}

/// Descending order with NaN first (`vectorByReverseValueHeap`).
pub(crate) fn nan_first_greater(a: f64, b: f64) -> bool {
    if a.is_nan() {
        return true;
    }
    a > b
}

/// Go's `sort.Sort` for the sizes where it is an insertion sort (12 or
/// fewer elements), so ties come out in the same order as in Prometheus;
/// larger inputs use a stable sort, whose tie order Go does not define.
pub(crate) fn go_sort<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    if v.len() <= 12 {
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && less(&v[j], &v[j - 1]) {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
    } else {
        v.sort_by(|a, b| {
            if less(a, b) {
                std::cmp::Ordering::Less
            } else if less(b, a) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
    }
}

/// Go's `container/heap` push.
pub(crate) fn heap_push<T>(h: &mut Vec<T>, x: T, less: &impl Fn(&T, &T) -> bool) {
    h.push(x);
    let mut j = h.len() - 1;
    while j > 0 {
        let i = (j - 1) / 2;
        if i == j || !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `container/heap` pop (removes the least element).
pub(crate) fn heap_pop<T>(h: &mut Vec<T>, less: &impl Fn(&T, &T) -> bool) -> Option<T> {
    let n = h.len().checked_sub(1)?;
    h.swap(0, n);
    heap_down(&mut h[..n], 0, less);
    h.pop()
}

fn heap_down<T>(h: &mut [T], mut i: usize, less: &impl Fn(&T, &T) -> bool) {
    let n = h.len();
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(&h[j2], &h[j1]) {
            j = j2;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
        assert!(quantile(0.5, &mut []).is_nan());
    }

    #[test]
    fn heap_keeps_least_on_top() {
        let less = |a: &i32, b: &i32| a < b;
        let mut h = Vec::new();
        for x in [5, 3, 8, 1, 9] {
            heap_push(&mut h, x, &less);
        }
        let mut out = Vec::new();
        while let Some(x) = heap_pop(&mut h, &less) {
            out.push(x);
        }
        assert_eq!(out, vec![1, 3, 5, 8, 9]);
    }
}
