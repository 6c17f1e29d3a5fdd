use super::*;

fn statuses(results: &Results) -> Vec<(String, Status, usize)> {
    results.tests.iter().map(|t| (t.name.clone(), t.status, t.subtests.len())).collect()
}

#[test]
fn plain_tap_from_a_command() {
    let results = parse("TAP version 13\n1..3\nok 1 - first\nnot ok 2 second\n# it broke\nok 3 third # SKIP not here\n");
    assert_eq!(
        statuses(&results),
        [
            ("first".into(), Status::Pass, 0),
            ("second".into(), Status::Fail, 0),
            ("third".into(), Status::Skip, 0)
        ]
    );
    assert_eq!(results.tests[2].directive.as_deref(), Some("SKIP not here"));
    assert_eq!(
        results.tests[2].diagnostics,
        ["# it broke"],
        "a diagnostic goes with the result after it"
    );
    assert_eq!(results.counts(), Counts { pass: 1, fail: 1, skip: 1, error: 0 });
    assert!(results.problems.is_empty());
    assert!(!results.passed());
}

#[test]
fn a_plan_that_does_not_match_is_a_problem() {
    let results = parse("TAP version 13\n1..3\nok 1 a\nok 2 b\n");
    assert_eq!(results.problems, ["planned 3 tests, 2 ran"]);
    assert!(!results.passed(), "two passes of three planned is not a pass");
}

#[test]
fn nothing_before_the_first_tap_line_counts() {
    let results =
        parse("[    0.100000] ok, booting\nLinux version 6.1\nKTAP version 1\n1..1\nok 1 x\n");
    assert_eq!(statuses(&results), [("x".into(), Status::Pass, 0)]);
    assert!(results.passed());
}

#[test]
fn kernel_times_become_durations() {
    let text = "[    1.000000] KTAP version 1\n[    1.000000] 1..1\n[    1.000001]     KTAP version 1\n\
                [    1.000001]     # Subtest: s\n[    1.000001]     1..1\n[    1.250001]     ok 1 c\n\
                [    1.500000] ok 1 s\n";
    let results = parse(text);
    assert_eq!(results.tests[0].seconds, Some(0.5));
    assert_eq!(results.tests[0].subtests[0].seconds, Some(0.25));
}

#[test]
fn bail_out_is_a_problem() {
    let results = parse("TAP version 13\n1..2\nok 1 a\nBail out! no disk\n");
    assert_eq!(results.problems, ["Bail out! no disk", "planned 2 tests, 1 ran"]);
}

#[test]
fn a_whole_skipped_plan_is_no_mismatch() {
    let results =
        parse("TAP version 13\n1..1\n    1..0 # SKIP no device\nok 1 s # SKIP no device\n");
    assert!(results.problems.is_empty(), "{:?}", results.problems);
    assert_eq!(results.counts().skip, 1);
}
