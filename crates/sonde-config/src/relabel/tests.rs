//! The cases of Prometheus 2.42's `model/relabel/relabel_test.go`
//! (`TestRelabel`, `TestTargetLabelValidity`), restated as a table, plus
//! checks of the YAML form and of the hot-path variant.

use sonde_model::{Labels, LabelsBuilder, PromRegex};

use super::config::RelabelConfig;
use super::process::hashmod;
use super::*;

/// A rule built like the upstream test builds its structs: no validation,
/// and empty separator/regex/replacement replaced by the defaults.
fn rule(
    action: Action,
    sources: &[&str],
    regex: &str,
    target: &str,
    replacement: &str,
) -> RelabelConfig {
    RelabelConfig {
        source_labels: sources.iter().map(|s| s.to_string()).collect(),
        separator: ";".into(),
        regex: PromRegex::new(if regex.is_empty() { "(.*)" } else { regex }).unwrap(),
        modulus: 0,
        target_label: target.into(),
        replacement: if replacement.is_empty() {
            "$1"
        } else {
            replacement
        }
        .into(),
        action,
    }
}

fn hash_rule(source: &str, target: &str, modulus: u64) -> RelabelConfig {
    RelabelConfig {
        modulus,
        ..rule(Action::HashMod, &[source], "", target, "")
    }
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

struct Case {
    name: &'static str,
    input: Labels,
    rules: Vec<RelabelConfig>,
    /// `None`: the set must be dropped.
    output: Option<Labels>,
}

fn cases() -> Vec<Case> {
    use Action::*;
    let abc = ls(&[("a", "foo"), ("b", "bar"), ("c", "baz")]);
    let ports = ls(&[
        ("__tmp_port", "1234"),
        ("__port1", "1234"),
        ("__port2", "5678"),
    ]);
    let some = ls(&[("a", "some-name-value")]);
    let some_re = "some-([^-]+)-([^,]+)";
    let tags = "path:/secret,job:some-job,label:foo=bar";
    vec![
        Case {
            name: "replace with two references",
            input: abc.clone(),
            rules: vec![rule(Replace, &["a"], "f(.*)", "d", "ch${1}-ch${1}")],
            output: Some(ls(&[
                ("a", "foo"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "choo-choo"),
            ])),
        },
        Case {
            name: "second rule sees the first rule's result",
            input: abc.clone(),
            rules: vec![
                rule(Replace, &["a", "b"], "f(.*);(.*)r", "a", "b${1}${2}m"),
                rule(Replace, &["c", "a"], "(b).*b(.*)ba(.*)", "d", "$1$2$2$3"),
            ],
            output: Some(ls(&[
                ("a", "boobam"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "boooom"),
            ])),
        },
        Case {
            name: "drop stops processing",
            input: ls(&[("a", "foo")]),
            rules: vec![
                rule(Drop, &["a"], ".*o.*", "", ""),
                rule(Replace, &["a"], "f(.*)", "d", "ch$1-ch$1"),
            ],
            output: None,
        },
        Case {
            name: "drop on match",
            input: ls(&[("a", "foo"), ("b", "bar")]),
            rules: vec![rule(Drop, &["a"], ".*o.*", "", "")],
            output: None,
        },
        Case {
            name: "replace with one group",
            input: ls(&[("a", "abc")]),
            rules: vec![rule(Replace, &["a"], ".*(b).*", "d", "$1")],
            output: Some(ls(&[("a", "abc"), ("d", "b")])),
        },
        Case {
            name: "drop without match keeps",
            input: ls(&[("a", "foo")]),
            rules: vec![rule(Drop, &["a"], "no-match", "", "")],
            output: Some(ls(&[("a", "foo")])),
        },
        Case {
            name: "regex is anchored (f|o does not match foo)",
            input: ls(&[("a", "foo")]),
            rules: vec![rule(Drop, &["a"], "f|o", "", "")],
            output: Some(ls(&[("a", "foo")])),
        },
        Case {
            name: "keep without match drops",
            input: ls(&[("a", "foo")]),
            rules: vec![rule(Keep, &["a"], "no-match", "", "")],
            output: None,
        },
        Case {
            name: "keep on match",
            input: ls(&[("a", "foo")]),
            rules: vec![rule(Keep, &["a"], "f.*", "", "")],
            output: Some(ls(&[("a", "foo")])),
        },
        Case {
            name: "no replacement without a match",
            input: ls(&[("a", "boo")]),
            rules: vec![rule(Replace, &["a"], "f", "b", "bar")],
            output: Some(ls(&[("a", "boo")])),
        },
        Case {
            name: "hashmod of baz",
            input: abc.clone(),
            rules: vec![hash_rule("c", "d", 1000)],
            output: Some(ls(&[
                ("a", "foo"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "976"),
            ])),
        },
        Case {
            name: "hashmod of a value with a newline",
            input: ls(&[("a", "foo\nbar")]),
            rules: vec![hash_rule("a", "b", 1000)],
            output: Some(ls(&[("a", "foo\nbar"), ("b", "734")])),
        },
        Case {
            name: "labelmap copies matching names",
            input: ls(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]),
            rules: vec![rule(LabelMap, &[], "(b.*)", "", "bar_${1}")],
            output: Some(ls(&[
                ("a", "foo"),
                ("b1", "bar"),
                ("b2", "baz"),
                ("bar_b1", "bar"),
                ("bar_b2", "baz"),
            ])),
        },
        Case {
            name: "labelmap of meta labels",
            input: ls(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
            ]),
            rules: vec![rule(LabelMap, &[], "__meta_(my.*)", "", "${1}")],
            output: Some(ls(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb"),
            ])),
        },
        Case {
            name: "templated target label",
            input: some.clone(),
            rules: vec![rule(Replace, &["a"], some_re, "${1}", "${2}")],
            output: Some(ls(&[("a", "some-name-value"), ("name", "value")])),
        },
        Case {
            name: "empty replacement sets nothing",
            input: some.clone(),
            rules: vec![rule(Replace, &["a"], some_re, "${1}", "${3}")],
            output: Some(some.clone()),
        },
        Case {
            name: "invalid expanded target labels are skipped",
            input: some.clone(),
            rules: vec![
                rule(Replace, &["a"], some_re, "${3}", "${1}"),
                rule(Replace, &["a"], some_re, "0${3}", "${1}"),
                rule(Replace, &["a"], some_re, "-${3}", "${1}"),
            ],
            output: Some(some.clone()),
        },
        Case {
            name: "real-life tag parsing",
            input: ls(&[("__meta_sd_tags", tags)]),
            rules: vec![
                rule(
                    Replace,
                    &["__meta_sd_tags"],
                    "(?:.+,|^)path:(/[^,]+).*",
                    "__metrics_path__",
                    "${1}",
                ),
                rule(
                    Replace,
                    &["__meta_sd_tags"],
                    "(?:.+,|^)job:([^,]+).*",
                    "job",
                    "${1}",
                ),
                rule(
                    Replace,
                    &["__meta_sd_tags"],
                    "(?:.+,|^)label:([^=]+)=([^,]+).*",
                    "${1}",
                    "${2}",
                ),
            ],
            output: Some(ls(&[
                ("__meta_sd_tags", tags),
                ("__metrics_path__", "/secret"),
                ("job", "some-job"),
                ("foo", "bar"),
            ])),
        },
        Case {
            name: "labelkeep",
            input: ls(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]),
            rules: vec![rule(LabelKeep, &[], "(b.*)", "", "")],
            output: Some(ls(&[("b1", "bar"), ("b2", "baz")])),
        },
        Case {
            name: "labeldrop",
            input: ls(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]),
            rules: vec![rule(LabelDrop, &[], "(b.*)", "", "")],
            output: Some(ls(&[("a", "foo")])),
        },
        Case {
            name: "uppercase and lowercase",
            input: ls(&[("foo", "bAr123Foo")]),
            rules: vec![
                rule(Uppercase, &["foo"], "", "foo_uppercase", ""),
                rule(Lowercase, &["foo"], "", "foo_lowercase", ""),
            ],
            output: Some(ls(&[
                ("foo", "bAr123Foo"),
                ("foo_lowercase", "bar123foo"),
                ("foo_uppercase", "BAR123FOO"),
            ])),
        },
        Case {
            name: "keepequal with equal values keeps",
            input: ports.clone(),
            rules: vec![rule(KeepEqual, &["__tmp_port"], "", "__port1", "")],
            output: Some(ports.clone()),
        },
        Case {
            name: "dropequal with equal values drops",
            input: ports.clone(),
            rules: vec![rule(DropEqual, &["__tmp_port"], "", "__port1", "")],
            output: None,
        },
        Case {
            name: "dropequal with different values keeps",
            input: ports.clone(),
            rules: vec![rule(DropEqual, &["__tmp_port"], "", "__port2", "")],
            output: Some(ports.clone()),
        },
        Case {
            name: "keepequal with different values drops",
            input: ports.clone(),
            rules: vec![rule(KeepEqual, &["__tmp_port"], "", "__port2", "")],
            output: None,
        },
    ]
}

#[test]
fn prometheus_relabel_cases() {
    let mut scratch = RelabelScratch::default();
    let mut lb = LabelsBuilder::new();
    for case in cases() {
        assert_eq!(
            process(&case.input, &case.rules),
            case.output,
            "case {:?}",
            case.name
        );
        // The hot-path variant on reused buffers, twice, gives the same.
        for _ in 0..2 {
            lb.reset_to(&case.input);
            let kept = process_with(&mut lb, &case.rules, &mut scratch);
            assert_eq!(
                kept.then(|| lb.build()),
                case.output,
                "case {:?} (builder)",
                case.name
            );
        }
    }
}

#[test]
fn target_label_validity() {
    let table = [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
    ];
    for (target, valid) in table {
        let r = RelabelConfig::new(Action::Replace, &["a"], "(.*)", target, "$1");
        assert_eq!(r.is_ok(), valid, "target {target:?}: {r:?}");
    }
}

#[test]
fn hashmod_matches_prometheus() {
    assert_eq!(hashmod(b"baz", 1000), 976);
    assert_eq!(hashmod(b"foo\nbar", 1000), 734);
    // Sharding values are stable: the same input always lands on one shard.
    assert_eq!(hashmod(b"localhost:9090", 8), hashmod(b"localhost:9090", 8));
}

#[test]
fn validation_messages() {
    let bad = [
        (
            Action::HashMod,
            "",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            Action::Replace,
            "",
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            Action::Lowercase,
            "42lab",
            "\"42lab\" is invalid 'target_label' for lowercase action",
        ),
    ];
    for (action, target, msg) in bad {
        let err = RelabelConfig::new(action, &["a"], "(.*)", target, "$1").unwrap_err();
        assert_eq!(err, msg);
    }
    let err = RelabelConfig::new(Action::LabelMap, &[], "(.*)", "", "l-$1").unwrap_err();
    assert_eq!(err, "\"l-$1\" is invalid 'replacement' for labelmap action");
}
