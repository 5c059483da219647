//! Appends by label pairs as a remote-write receiver makes them: a whole
//! request's series looked up at once (`lookup_known`), then appended by
//! the refs found, in order or not, with series skipped, repeated, or new.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use sonde_model::{Appendable, Labels};

fn pairs(l: &Labels) -> Vec<(&str, &str)> {
    l.iter().collect()
}

#[test]
fn looked_up_series_take_their_samples_whatever_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let sets: Vec<Labels> = (0..50)
        .map(|i| series("m", &[("i", &i.to_string())]))
        .collect();
    // Half the series exist before the request.
    append(
        &db,
        &sets
            .iter()
            .step_by(2)
            .map(|l| (l, 1000, 0.0))
            .collect::<Vec<_>>(),
    );
    let ps: Vec<Vec<(&str, &str)>> = sets.iter().map(pairs).collect();
    let mut req: Vec<&[(&str, &str)]> = ps.iter().map(|p| p.as_slice()).collect();
    // A series sent twice, and one unsorted (no stored set matches it).
    req.push(&ps[4]);
    let unsorted = [("i", "6"), ("__name__", "m")];
    req.push(&unsorted);
    let mut app = db.appender();
    let mut refs = Vec::new();
    app.lookup_known(&req, &mut refs);
    assert_eq!(refs.len(), req.len());
    for (i, r) in refs.iter().enumerate().take(50) {
        assert_eq!(*r != 0, i % 2 == 0, "series {i}");
    }
    assert_eq!(refs[50], refs[4]);
    assert_eq!(refs[51], 0);
    // Appended backwards, every third series skipped, two samples each;
    // new series through their labels.
    for i in (0..50).rev().filter(|i| i % 3 != 0) {
        let mut r = refs[i];
        for k in 0..2 {
            let t = 2000 + k * 1000;
            let v = i as f64 + k as f64;
            match app.append_known(r, &ps[i], t, v).unwrap() {
                Some(got) => {
                    assert!(refs[i] == 0 || got == refs[i]);
                    r = got;
                }
                None => {
                    assert_eq!(refs[i], 0);
                    r = app.append(0, &sets[i], t, v).unwrap();
                }
            }
        }
    }
    // The repeated series by its second entry's ref; the unsorted one is
    // not known.
    assert!(app
        .append_known(refs[50], req[50], 5000, 4.5)
        .unwrap()
        .is_some());
    assert!(app.append_known(0, req[51], 5000, 1.0).unwrap().is_none());
    app.commit().unwrap();
    let got = dump(&db, &all());
    for (i, l) in sets.iter().enumerate() {
        let mut want = Vec::new();
        if i % 2 == 0 {
            want.push((1000, 0f64.to_bits()));
        }
        if i % 3 != 0 {
            want.push((2000, (i as f64).to_bits()));
            want.push((3000, (i as f64 + 1.0).to_bits()));
        }
        if i == 4 {
            want.push((5000, 4.5f64.to_bits()));
        }
        assert_eq!(
            got.get(&l.to_string()).cloned().unwrap_or_default(),
            want,
            "{l}"
        );
    }
}

/// A ref from the lookup given with other pairs than the slice it was
/// looked up with is checked, not trusted: a copy of the same pairs finds
/// the series, another series' pairs go to that series.
#[test]
fn refs_with_other_pairs_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let a = series("m", &[("k", "a")]);
    let b = series("m", &[("k", "b")]);
    append(&db, &[(&a, 1000, 1.0), (&b, 1000, 1.0)]);
    let (pa, pb) = (pairs(&a), pairs(&b));
    let mut app = db.appender();
    let mut refs = Vec::new();
    app.lookup_known(&[&pa, &pb], &mut refs);
    let copy = pa.clone();
    assert_eq!(
        app.append_known(refs[0], &copy, 2000, 2.0).unwrap(),
        Some(refs[0])
    );
    // The ref of b with a's pairs: a's series, not b's.
    assert_eq!(
        app.append_known(refs[1], &pa, 3000, 3.0).unwrap(),
        Some(refs[0])
    );
    app.commit().unwrap();
    let got = dump(&db, &all());
    assert_eq!(got[&a.to_string()].len(), 3);
    assert_eq!(got[&b.to_string()].len(), 1);
}

/// Series looked up and never appended to are released at commit and at
/// rollback: garbage collection can take them once they hold no data.
#[test]
fn unused_lookups_do_not_pin_series() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let a = series("m", &[("k", "a")]);
    append(&db, &[(&a, 1000, 1.0)]);
    let pa = pairs(&a);
    for commit in [true, false] {
        let mut app = db.appender();
        let mut refs = Vec::new();
        app.lookup_known(&[&pa, &pa], &mut refs);
        assert!(refs[0] != 0 && refs[0] == refs[1]);
        if commit {
            app.commit().unwrap();
        } else {
            app.rollback();
        }
    }
    // The head's data goes to a block; the series, now empty and not
    // pinned, is collected.
    db.cut_block(i64::MAX).unwrap();
    assert_eq!(db.metrics().head_series, 0);
    let mut app = db.appender();
    let mut refs = Vec::new();
    app.lookup_known(&[&pa], &mut refs);
    assert_eq!(refs, vec![0]);
    app.rollback();
}
