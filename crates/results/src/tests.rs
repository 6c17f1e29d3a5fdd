use expect_test::{expect, Expect};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

use super::*;

/// The JUnit's cases (kind, suite/case, message) and its totals, with the exit code; the
/// summary and the JSON must count as the JUnit does, and the JUnit fail when the exit code does.
#[track_caller]
fn check(text: &str, machine: Option<&str>, expected: Expect) {
    let run = Run::new("cmd", parse(text), machine.map(str::to_string));
    let report = Report::deserialize_from_str(&run.junit()).expect("the JUnit reads back");
    let (mut out, mut skipped) = (String::new(), 0);
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            let (kind, message) = match &case.status {
                TestCaseStatus::Success { .. } => ("pass", None),
                TestCaseStatus::NonSuccess { kind, message, .. } => match kind {
                    NonSuccessKind::Failure => ("failure", message.as_ref()),
                    NonSuccessKind::Error => ("error", message.as_ref()),
                },
                TestCaseStatus::Skipped { message, .. } => ("skipped", message.as_ref()),
            };
            skipped += usize::from(kind == "skipped");
            let message = message.map(|m| format!(": {}", m.as_str())).unwrap_or_default();
            out += &format!("{kind} {}/{}{message}\n", suite.name.as_str(), case.name.as_str());
        }
    }
    let (tests, failures, errors) = (report.tests, report.failures, report.errors);
    let code = run.exit_code(125);
    out += &format!(
        "{tests} tests, {failures} failures, {errors} errors, {skipped} skipped; exit {code}\n"
    );
    let passed = tests - failures - errors - skipped;
    let totals = format!(
        "{tests} cases: {passed} passed, {failures} failed, {skipped} skipped, {errors} errors"
    );
    assert!(run.summary().contains(&totals), "the summary counts as the JUnit:\n{}", run.summary());
    let json: serde_json::Value = serde_json::from_str(&run.json()).unwrap();
    let c = &json["counts"];
    assert_eq!(
        [&c["pass"], &c["fail"], &c["skip"], &c["error"]],
        [passed, failures, skipped, errors],
        "the JSON counts as the JUnit"
    );
    assert_eq!(failures + errors > 0, code != PASSED, "the JUnit fails when the exit code does");
    assert_eq!(json["passed"], code == PASSED, "the JSON passes when the exit code does");
    expected.assert_eq(&out);
}

#[test]
fn a_short_plan_is_a_failing_case() {
    check(
        "1..3\nok 1 a\nok 2 b\n",
        None,
        expect![[r#"
        pass cmd/a
        pass cmd/b
        failure cmd/plan: planned 3 tests, 2 ran
        3 tests, 1 failures, 0 errors, 0 skipped; exit 1
    "#]],
    );
}

#[test]
fn a_missing_plan_is_a_failing_case() {
    check(
        "TAP version 14\nok 1 a\n",
        None,
        expect![[r#"
        pass cmd/a
        failure cmd/plan: no plan: 1 tests ran, no 1..N line
        2 tests, 1 failures, 0 errors, 0 skipped; exit 1
    "#]],
    );
}

#[test]
fn no_test_at_all_is_a_failing_case() {
    check(
        "nothing here\n",
        None,
        expect![[r#"
        failure cmd/tests: no test ran
        1 tests, 1 failures, 0 errors, 0 skipped; exit 1
    "#]],
    );
}

#[test]
fn bail_out_is_an_error_case_and_ends_the_output() {
    check(
        "TAP version 13\n1..3\nok 1 a\nBail out! no disk\nok 2 b\nok 3 c\n",
        None,
        expect![[r#"
            pass cmd/a
            error cmd/bail out: Bail out! no disk
            2 tests, 0 failures, 1 errors, 0 skipped; exit 1
        "#]],
    );
}

#[test]
fn a_suite_running_more_than_its_plan_is_a_failing_case() {
    let text = "KTAP version 1\n1..1\n    # Subtest: s\n    1..1\n    ok 1 a\n    ok 2 b\nok 1 s\n";
    check(
        text,
        None,
        expect![[r#"
        pass s/a
        pass s/b
        failure s/s: s: planned 1 subtests, 2 ran
        3 tests, 1 failures, 0 errors, 0 skipped; exit 1
    "#]],
    );
}

#[test]
fn a_panic_mid_suite_counts_alike_in_every_report() {
    let text = "KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: s\n    1..2\n    ok 1 a\n";
    check(
        text,
        Some("Kernel panic - not syncing\nmore"),
        expect![[r#"
        pass s/a
        error s/s: no result for s: its output ended after 1 of 2 subtests (a crash or a timeout in it)
        error cmd/machine: Kernel panic - not syncing
        3 tests, 0 failures, 2 errors, 0 skipped; exit 125
    "#]],
    );
}

#[test]
fn a_failing_todo_passes_and_a_skip_keeps_its_reason() {
    let text = "TAP version 13\n1..3\nok 1 a\nnot ok 2 b # TODO not yet\nok 3 c # SKIP no disk\n";
    check(
        text,
        None,
        expect![[r#"
        pass cmd/a
        skipped cmd/b: TODO not yet
        skipped cmd/c: no disk
        3 tests, 0 failures, 0 errors, 2 skipped; exit 0
    "#]],
    );
}

#[test]
fn an_unnamed_case_is_named_by_its_number() {
    check(
        "1..2\nok 1\nnot ok 2\n",
        None,
        expect![[r#"
        pass cmd/test 1
        failure cmd/test 2: failed
        2 tests, 1 failures, 0 errors, 0 skipped; exit 1
    "#]],
    );
}

#[test]
fn a_problem_added_after_the_run_is_read_is_a_failing_case() {
    let mut run = Run::new("cmd", parse("1..1\nok 1 a\n"), None);
    run.passed = false;
    run.problems.push("the command exited with 2".into());
    let junit = run.junit();
    assert!(junit.contains(r#"<failure message="the command exited with 2""#), "{junit}");
    assert!(run.summary().contains("2 cases: 1 passed, 1 failed"), "{}", run.summary());
    // a problem fails the run even when its caller left `passed` as it was
    run.passed = true;
    assert_eq!((run.exit_code(125), run.json().contains("\"passed\": false")), (FAILED, true));
}

#[test]
fn a_parameterised_case_failing_with_no_failing_parameter_is_a_case() {
    let text = "KTAP version 1\n1..1\n    # Subtest: s\n    1..1\n        # Subtest: p\n        1..1\n        ok 1 x\n    not ok 1 p\nnot ok 1 s\n";
    check(
        text,
        None,
        expect![[r#"
        pass s/p.x
        failure s/p: failed
        2 tests, 1 failures, 0 errors, 0 skipped; exit 1
    "#]],
    );
}

#[test]
fn bail_out_before_any_test_is_an_error_case() {
    check(
        "Bail out! no compiler\n",
        None,
        expect![[r#"
        error cmd/bail out: Bail out! no compiler
        1 tests, 0 failures, 1 errors, 0 skipped; exit 1
    "#]],
    );
}
