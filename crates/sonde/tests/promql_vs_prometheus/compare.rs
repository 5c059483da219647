//! Comparing two API `data` objects.

use serde_json::Value as Json;
/// Equal (NaN equal to NaN), within a relative 1e-9, or within 1e-12
/// absolutely: sums whose true value is about zero come out as ±1e-17
/// depending on input order, which Prometheus itself does not fix (Go map
/// order).
fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
        || (a - b).abs() < 1e-12
}

/// Compares two `data` objects; `ordered` for sort/topk-style results.
pub fn same(a: &Json, b: &Json, ordered: bool) -> Result<(), String> {
    let ta = &a["resultType"];
    if ta != &b["resultType"] {
        return Err(format!("result types differ: {ta} vs {}", b["resultType"]));
    }
    let value = |v: &Json| -> f64 {
        match v.as_str().unwrap_or("") {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            s => s.parse().unwrap_or(f64::NAN),
        }
    };
    let points = |p: &Json| -> (f64, f64) { (p[0].as_f64().unwrap_or(f64::NAN), value(&p[1])) };
    match ta.as_str() {
        Some("scalar") => {
            let (pa, pb) = (points(&a["result"]), points(&b["result"]));
            if pa.0 != pb.0 || !close(pa.1, pb.1) {
                return Err(format!("{pa:?} vs {pb:?}"));
            }
            Ok(())
        }
        Some("vector") | Some("matrix") => {
            let ra = a["result"].as_array().cloned().unwrap_or_default();
            let rb = b["result"].as_array().cloned().unwrap_or_default();
            if ra.len() != rb.len() {
                return Err(format!(
                    "{} series vs {}:\n  ours {}\n  prom {}",
                    ra.len(),
                    rb.len(),
                    a,
                    b
                ));
            }
            for (i, sa) in ra.iter().enumerate() {
                let sb = if ordered {
                    &rb[i]
                } else {
                    rb.iter()
                        .find(|s| s["metric"] == sa["metric"])
                        .ok_or_else(|| {
                            format!(
                                "series {} missing from Prometheus' result {b}",
                                sa["metric"]
                            )
                        })?
                };
                if sa["metric"] != sb["metric"] {
                    return Err(format!(
                        "position {i}: {} vs {}",
                        sa["metric"], sb["metric"]
                    ));
                }
                let (va, vb) = if ta == "vector" {
                    (vec![sa["value"].clone()], vec![sb["value"].clone()])
                } else {
                    (
                        sa["values"].as_array().cloned().unwrap_or_default(),
                        sb["values"].as_array().cloned().unwrap_or_default(),
                    )
                };
                if va.len() != vb.len() {
                    return Err(format!(
                        "{}: {} points vs {}",
                        sa["metric"],
                        va.len(),
                        vb.len()
                    ));
                }
                for (pa, pb) in va.iter().zip(&vb) {
                    let (pa, pb) = (points(pa), points(pb));
                    if pa.0 != pb.0 || !close(pa.1, pb.1) {
                        return Err(format!("{}: {pa:?} vs {pb:?}", sa["metric"]));
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
