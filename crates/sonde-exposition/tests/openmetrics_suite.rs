//! The OpenMetrics parser suite (shared/reference/openmetrics-tests) in
//! both modes: scrape mode must give each case the verdict a real
//! Prometheus 2.42 scrape gave it (recorded in testdata), strict mode the
//! suite's own verdict.

mod common;

use sonde_exposition::{validate, Format, Mode, Scratch};

#[test]
fn scrape_mode_matches_prometheus_2_42_on_all_cases() {
    let recorded = common::recorded_verdicts();
    let cases = common::om_cases();
    assert_eq!(recorded.len(), cases.len());
    let mut scratch = Scratch::new();
    let mut agree = 0;
    let mut wrong = Vec::new();
    for (case, (name, up)) in cases.iter().zip(&recorded) {
        assert_eq!(
            &case.name, name,
            "testdata and INDEX.tsv list the cases in the same order"
        );
        let got = validate(&case.body, Format::OpenMetrics, Mode::Scrape, &mut scratch);
        if got.is_ok() == *up {
            agree += 1;
        } else {
            wrong.push(format!(
                "{name}: prometheus {} sonde {got:?}",
                if *up { "up" } else { "down" }
            ));
        }
    }
    let spec_agree = cases
        .iter()
        .zip(&recorded)
        .filter(|(c, (_, up))| c.should_parse == *up)
        .count();
    println!("scrape mode: {agree}/{} cases with Prometheus 2.42's verdict (Prometheus agrees with the suite on {spec_agree})", cases.len());
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn strict_mode_gives_every_case_its_expected_verdict() {
    let mut scratch = Scratch::new();
    let mut agree = 0;
    let mut wrong = Vec::new();
    let cases = common::om_cases();
    for case in &cases {
        let got = validate(&case.body, Format::OpenMetrics, Mode::Strict, &mut scratch);
        if got.is_ok() == case.should_parse {
            agree += 1;
        } else {
            wrong.push(format!(
                "{}: expected {} got {got:?}",
                case.name, case.should_parse
            ));
        }
    }
    println!(
        "strict mode: {agree}/{} cases with the suite's expected verdict",
        cases.len()
    );
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn strict_errors_name_the_line() {
    let mut scratch = Scratch::new();
    let e = validate(
        b"# TYPE a counter\na_total 1\na_total{x=\"1\"} -1\n# EOF\n",
        Format::OpenMetrics,
        Mode::Strict,
        &mut scratch,
    )
    .expect_err("negative counter");
    assert_eq!(e.line, 3);
    assert!(
        e.to_string()
            .contains("line 3: counter value -1 is NaN or negative; expected"),
        "{e}"
    );
}
