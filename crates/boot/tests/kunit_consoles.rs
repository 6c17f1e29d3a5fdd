//! The KTAP reader against consoles of real `test --kunit` runs (6.1 kernel, tiny profile,
//! x86_64, recorded from this tool's console logs): every built-in suite passing, with skips;
//! a test module with a failing case and a skipped one; a module whose suite panics the kernel
//! in its second case; and the passing console cut off inside a suite, as a timeout leaves it.
//! Each is read as `test` reads it, and its summary and JUnit are held in snapshots.

use boot::kunit::read_console;
use expect_test::{expect_file, ExpectFile};
use results::{Counts, Run, Status};

fn console(name: &str) -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kunit-consoles").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check(run: &Run, summary: ExpectFile, junit: ExpectFile) {
    summary.assert_eq(&run.summary());
    junit.assert_eq(&run.junit());
}

#[test]
fn every_built_in_suite_passes_with_skips() {
    let results = read_console(&console("kunit-builtin-pass.log"));
    assert_eq!(results.tests.len(), 12, "the plan's 12 suites");
    assert!(results.problems.is_empty(), "{:?}", results.problems);
    assert_eq!(results.counts(), Counts { pass: 95, fail: 0, skip: 2, error: 0 });
    let example = results.tests.iter().find(|t| t.name == "example").unwrap();
    let skipped = &example.subtests[1];
    assert_eq!((skipped.name.as_str(), skipped.status), ("example_skip_test", Status::Skip));
    assert_eq!(skipped.directive.as_deref(), Some("SKIP this test should be skipped"));
    let run = Run::new("kunit", results, None);
    assert!(run.passed);
    assert_eq!(run.exit_code(125), 0);
    check(
        &run,
        expect_file!["kunit-consoles/builtin-pass.summary"],
        expect_file!["kunit-consoles/builtin-pass.xml"],
    );
}

#[test]
fn a_modules_failing_case_fails_the_run_with_its_report() {
    let results = read_console(&console("kunit-module-fail.log"));
    // no built-in suite matched the glob (`1..0`), then the module's suite
    assert_eq!(results.tests.len(), 1);
    assert!(results.problems.is_empty(), "{:?}", results.problems);
    let suite = &results.tests[0];
    assert_eq!((suite.name.as_str(), suite.status), ("kardel_example", Status::Fail));
    let failing = &suite.subtests[1];
    assert_eq!(failing.status, Status::Fail);
    assert!(
        failing.diagnostics.iter().any(|l| l.contains("EXPECTATION FAILED")),
        "{:?}",
        failing.diagnostics
    );
    assert!(
        failing.diagnostics.iter().any(|l| l == "this case fails on purpose"),
        "the unindented message: {:?}",
        failing.diagnostics
    );
    let run = Run::new("kunit", results, None);
    assert_eq!(run.exit_code(125), 1);
    check(
        &run,
        expect_file!["kunit-consoles/module-fail.summary"],
        expect_file!["kunit-consoles/module-fail.xml"],
    );
}

#[test]
fn a_panic_mid_suite_is_an_error_never_a_pass() {
    let results = read_console(&console("kunit-module-panic.log"));
    let names: Vec<(&str, Status)> =
        results.tests.iter().map(|t| (t.name.as_str(), t.status)).collect();
    assert_eq!(names, [("kardel_example", Status::Fail), ("kardel_panic", Status::Error)]);
    let panicked = &results.tests[1];
    assert_eq!(panicked.subtests.len(), 1, "the case before the panic keeps its pass");
    assert_eq!(panicked.subtests[0].status, Status::Pass);
    assert!(
        panicked.diagnostics.iter().any(|l| l.contains("Kernel panic")),
        "{:?}",
        panicked.diagnostics
    );
    assert_eq!(results.problems, ["kardel_panic did not finish"]);
    assert_eq!(results.counts(), Counts { pass: 2, fail: 1, skip: 1, error: 1 });
    let run = Run::new(
        "kunit",
        results,
        Some("the guest ended without the command's exit status".into()),
    );
    assert_eq!(run.exit_code(125), 125);
    check(
        &run,
        expect_file!["kunit-consoles/module-panic.summary"],
        expect_file!["kunit-consoles/module-panic.xml"],
    );
}

#[test]
fn a_console_cut_inside_a_suite_falls_short_of_its_plans() {
    let whole = console("kunit-builtin-pass.log");
    // up to the 20th case of list-kunit-test, as a timeout leaves it
    let cut_at = whole.find("    ok 20 ").expect("list-kunit-test's 20th case");
    let cut = &whole[..whole[cut_at..].find('\n').unwrap() + cut_at + 1];
    let results = read_console(cut);
    let last = results.tests.last().unwrap();
    assert_eq!(
        (last.name.as_str(), last.status, last.subtests.len()),
        ("list-kunit-test", Status::Error, 20)
    );
    assert_eq!(results.problems, ["list-kunit-test did not finish", "planned 12 tests, 10 ran"]);
    let run = Run::new("kunit", results, None);
    assert!(!run.passed);
    assert_eq!(run.exit_code(125), 1);
}
