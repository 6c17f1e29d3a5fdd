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
        (&results.tests[1].diagnostics[..], &results.tests[2].diagnostics[..]),
        (&["# it broke".to_string()][..], &[][..]),
        "in TAP a diagnostic goes with the result before it"
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
    assert_eq!(results.problems, ["Bail out! no disk"]);
}

#[test]
fn a_whole_skipped_plan_is_no_mismatch() {
    let results =
        parse("TAP version 13\n1..1\n    1..0 # SKIP no device\nok 1 s # SKIP no device\n");
    assert!(results.problems.is_empty(), "{:?}", results.problems);
    assert_eq!(results.counts().skip, 1);
}

fn names(results: &Results) -> Vec<&str> {
    results.tests.iter().map(|t| t.name.as_str()).collect()
}

fn diagnostics(results: &Results) -> Vec<Vec<String>> {
    results.tests.iter().map(|t| t.diagnostics.clone()).collect()
}

#[test]
fn tap_diagnostics_and_yaml_follow_their_case() {
    let text = "TAP version 14\n1..2\nnot ok 1 - a\n# why a\n  ---\n  got: |\n    not ok 9 in yaml\n  ...\nok 2 - b\n";
    let results = parse(text);
    assert_eq!(names(&results), ["a", "b"]);
    assert_eq!(
        diagnostics(&results),
        [vec!["# why a", "---", "got: |", "  not ok 9 in yaml", "..."], vec![]]
    );
    assert!(results.problems.is_empty(), "{:?}", results.problems);
}

#[test]
fn tap_with_no_version_line_has_its_diagnostics_after_the_case() {
    let results = parse("1..2\nnot ok 1 a\n# a broke\nok 2 b\n");
    assert_eq!(diagnostics(&results), [vec!["# a broke"], vec![]]);
}

#[test]
fn a_large_diagnostic_stays_with_its_case() {
    let big = format!("# {}", "x".repeat(1 << 20));
    let results = parse(&format!("TAP version 13\n1..2\nnot ok 1 a\n{big}\nok 2 b\n"));
    let sizes: Vec<Vec<usize>> =
        diagnostics(&results).iter().map(|d| d.iter().map(String::len).collect()).collect();
    assert_eq!(sizes, [vec![big.len()], vec![]], "the megabyte goes with case 1, none with 2");
}

#[test]
fn an_unfinished_yaml_block_ends_at_the_next_test_line() {
    let results = parse("1..2\nnot ok 1 a\n  --- \n  message: cut\nok 2 b\n");
    assert_eq!(diagnostics(&results), [vec!["---", "message: cut"], vec![]]);
}

#[test]
fn ktap_diagnostics_precede_their_case() {
    let text = "KTAP version 1\n1..2\n# a: EXPECTATION FAILED\nnot ok 1 a\n# b: fine\nok 2 b\n";
    assert_eq!(diagnostics(&parse(text)), [vec!["# a: EXPECTATION FAILED"], vec!["# b: fine"]]);
}

#[test]
fn a_failing_todo_is_not_a_failure() {
    let results = parse("TAP version 13\n1..2\nok 1 a\nnot ok 2 b # TODO not yet\n");
    assert_eq!(results.tests[1].status, Status::Skip);
    assert_eq!(results.tests[1].directive.as_deref(), Some("TODO not yet"));
    assert_eq!(results.counts(), Counts { pass: 1, fail: 0, skip: 1, error: 0 });
    assert!(results.passed());
}

#[test]
fn an_unnamed_case_is_named_by_its_number() {
    let results = parse("1..3\nok 1\nnot ok 2 - # TODO\nok\n");
    assert_eq!(names(&results), ["test 1", "test 2", "test 3"]);
}

#[test]
fn nothing_after_bail_out_counts() {
    let results = parse("TAP version 13\n1..3\nok 1 a\nBail out! no disk\nok 2 b\nok 3 c\n");
    assert_eq!(names(&results), ["a"]);
    assert_eq!(results.problems, ["Bail out! no disk"]);
    assert!(!results.passed());
}

#[test]
fn tap_with_no_plan_is_a_problem() {
    assert_eq!(parse("TAP version 13\nok 1 a\n").problems, ["no plan: 1 tests ran, no 1..N line"]);
    assert_eq!(parse("ok 1 a\nok 2 b\n1..2\n").problems, [""; 0], "a plan at the end");
    let module = "    KTAP version 1\n    # Subtest: m\n    1..1\n    ok 1 y\nok 1 m\n";
    assert_eq!(parse(module).problems, [""; 0], "KUnit's module has a plan for its suite only");
}

#[test]
fn the_kernels_tap_14_has_its_diagnostics_before_the_case() {
    // KUnit before KTAP (Linux 5.15) printed `TAP version 14`; its lines carry the kernel's times
    let text = "[    1.0] TAP version 14\n[    1.0] 1..1\n[    1.0]     # Subtest: s\n[    1.0]     1..2\n\
                [    1.1]     ok 1 - a\n[    1.2]     # b: EXPECTATION FAILED at b.c:3\n[    1.2]     Expected 1 == 2\n\
                [    1.3]     not ok 2 - b\n[    1.4] not ok 1 - s\n";
    let results = parse(text);
    let cases: Vec<&Vec<String>> =
        results.tests[0].subtests.iter().map(|t| &t.diagnostics).collect();
    assert_eq!(cases, [&vec![], &vec!["# b: EXPECTATION FAILED at b.c:3", "Expected 1 == 2"]]);
    let module = "[    2.0]     # Subtest: m\n[    2.0]     1..1\n[    2.1]     ok 1 - y\n[    2.2] ok 1 - m\n";
    assert_eq!(parse(module).problems, [""; 0], "a module's document of 5.15 plans its suite only");
}
