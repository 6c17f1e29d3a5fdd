//! kselftests in the guest: the command that runs the tree's own runner there, and its output
//! read back as results, a suite per collection (target), a case per test. Pure.

use results::{Results, Status, Test};
use stages::kselftest::{BuildFailure, GUEST_DIR};

/// The guest's command: `run_kselftest.sh` over every collection built, each test limited to
/// `timeout` seconds when given (else the collections' own `settings`, 45 s by default).
pub fn command(timeout: Option<u64>) -> Vec<String> {
    let limit = timeout.map(|secs| format!("KSELFTEST_TIMEOUT={secs} ")).unwrap_or_default();
    // through a pipe: the runner opens /dev/stdout again for its log, which a port (one opener
    // at a time) refuses
    // debugfs where tests look for it (sync's sw_sync), as a distribution mounts it
    let debugfs = "mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null; ";
    vec!["sh".into(), "-c".into(), format!("{debugfs}{limit}{GUEST_DIR}/run_kselftest.sh | cat")]
}

/// The runner's stdout (a TAP document per collection) and the targets that did not build, as
/// one tree of results: a test per collection with its tests as cases; a target that did not
/// build is a collection with one case, `build`, an error with the end of its log.
pub fn read_output(stdout: &str, failures: &[BuildFailure]) -> Results {
    let mut results = Results::default();
    for document in documents(stdout) {
        // the runner writes a test's output before its result line, as KTAP does (TAP 13 would
        // put it after)
        let ktap = document.replacen("TAP version 13", "KTAP version 1", 1);
        let parsed = results::parse(&ktap);
        let Some(collection) = parsed.tests.iter().find_map(|t| collection_of(&t.name)) else {
            results.problems.extend(parsed.problems);
            continue;
        };
        let mut cases = parsed.tests;
        for case in &mut cases {
            if let Some(name) = case.name.strip_prefix(&format!("selftests: {collection}: ")) {
                case.name = name.to_string();
            }
            explain_directive(case);
        }
        let failed = cases.iter().any(|c| matches!(c.status, Status::Fail | Status::Error));
        results.problems.extend(parsed.problems.into_iter().map(|p| format!("{collection}: {p}")));
        results.tests.push(Test {
            name: collection,
            status: if failed { Status::Fail } else { Status::Pass },
            directive: None,
            diagnostics: Vec::new(),
            seconds: None,
            subtests: cases,
        });
    }
    for failure in failures {
        let mut diagnostics =
            vec![format!("# the target did not build (its log: {})", failure.log.display())];
        diagnostics.extend(failure.tail.lines().map(|l| format!("# {l}")));
        results.tests.push(Test {
            name: failure.target.clone(),
            status: Status::Fail,
            directive: None,
            diagnostics: Vec::new(),
            seconds: None,
            subtests: vec![Test {
                name: "build".into(),
                status: Status::Error,
                directive: None,
                diagnostics,
                seconds: None,
                subtests: Vec::new(),
            }],
        });
    }
    results
}

/// The runner's documents, each from its `TAP version` line.
fn documents(stdout: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in stdout.lines() {
        if line.starts_with("TAP version") || out.is_empty() {
            out.push(String::new());
        }
        let current = out.last_mut().expect("one pushed");
        current.push_str(line);
        current.push('\n');
    }
    out.retain(|d| d.starts_with("TAP version"));
    out
}

/// `futex` of `selftests: futex: run.sh`.
fn collection_of(name: &str) -> Option<String> {
    let rest = name.strip_prefix("selftests: ")?;
    Some(rest.split_once(": ")?.0.to_string())
}

/// The runner's own directives on a failing case (`# TIMEOUT 45 seconds`, `# exit=1`) said first
/// among its diagnostics, so that a report's message names them.
fn explain_directive(case: &mut Test) {
    let Some(directive) = case.directive.clone() else { return };
    let said = if let Some(limit) = directive.strip_prefix("TIMEOUT") {
        format!("# timed out: the test ran past its limit of{limit} and was stopped")
    } else if let Some(code) = directive.strip_prefix("exit=") {
        format!("# the test exited with {code}")
    } else {
        return;
    };
    case.status = Status::Fail;
    case.diagnostics.insert(0, said);
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// The shape `run_kselftest.sh` (Linux 6.1) prints, a document per collection.
    const OUTPUT: &str = "TAP version 13
1..1
# selftests: futex: run.sh
# futex_requeue_pi: ok
ok 1 selftests: futex: run.sh
TAP version 13
1..3
# selftests: pidfd: pidfd_test
# a line of its own
ok 1 selftests: pidfd: pidfd_test
# selftests: pidfd: pidfd_wait
# Bail out? no: its output
not ok 2 selftests: pidfd: pidfd_wait # exit=1
# selftests: pidfd: pidfd_poll_test
#
not ok 3 selftests: pidfd: pidfd_poll_test # TIMEOUT 45 seconds
TAP version 13
1..1
# selftests: rtc: rtctest
ok 1 selftests: rtc: rtctest # SKIP
";

    #[test]
    fn each_collection_is_a_suite_and_each_test_a_case() {
        let failure = BuildFailure {
            target: "timers".into(),
            log: PathBuf::from("/t/kselftest-timers.log"),
            tail: "posix_timers.c:1: error: conflicting types for 'clock_adjtime'".into(),
        };
        let results = read_output(OUTPUT, &[failure]);
        assert_eq!(results.problems, Vec::<String>::new());
        let names: Vec<&str> = results.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["futex", "pidfd", "rtc", "timers"]);
        let pidfd = &results.tests[1];
        assert_eq!(pidfd.status, Status::Fail);
        let cases: Vec<(&str, Status)> =
            pidfd.subtests.iter().map(|c| (c.name.as_str(), c.status)).collect();
        assert_eq!(
            cases,
            [
                ("pidfd_test", Status::Pass),
                ("pidfd_wait", Status::Fail),
                ("pidfd_poll_test", Status::Fail)
            ]
        );
        assert_eq!(pidfd.subtests[1].diagnostics[0], "# the test exited with 1");
        assert_eq!(
            pidfd.subtests[2].diagnostics[0],
            "# timed out: the test ran past its limit of 45 seconds and was stopped"
        );
        // its output is its own, not the next test's
        assert!(pidfd.subtests[0].diagnostics.iter().any(|d| d.contains("a line of its own")));
        assert_eq!(results.tests[2].subtests[0].status, Status::Skip);
        let timers = &results.tests[3];
        assert_eq!(timers.subtests[0].name, "build");
        assert_eq!(timers.subtests[0].status, Status::Error);
        assert!(timers.subtests[0].diagnostics.iter().any(|d| d.contains("clock_adjtime")));
        let run = results::Run::new("kselftest", results, None);
        assert!(!run.passed);
        let totals = run.totals();
        assert_eq!((totals.pass, totals.fail, totals.skip, totals.error), (2, 2, 1, 1));
        let junit = run.junit();
        assert!(junit.contains("ran past its limit of 45 seconds"), "{junit}");
        assert!(junit.contains("testsuite name=\"timers\""), "{junit}");
    }

    #[test]
    fn the_command_runs_the_trees_runner_with_a_limit_when_asked() {
        assert!(command(None)[2].ends_with("; /opt/kselftests/run_kselftest.sh | cat"));
        assert!(command(Some(5))[2]
            .ends_with("; KSELFTEST_TIMEOUT=5 /opt/kselftests/run_kselftest.sh | cat"));
    }
}
