//! Test results a CI reads: KTAP and TAP read into a tree of tests ([`ktap`]), then a summary
//! for the terminal, JUnit XML (GitLab, Jenkins and GitHub's test reporters read it) and JSON,
//! and the exit code. Pure: strings in, strings out.

pub mod ktap;

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

pub use ktap::{parse, Counts, Results, Status, Test};

/// The exit code when every case passed.
pub const PASSED: u8 = 0;
/// The exit code when a case failed (or none ran, or the output did not add up).
pub const FAILED: u8 = 1;

/// One run's results: what was tested, what the output held, and whether the machine failed
/// under it (a panic, silence, the timeout).
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// what ran (`kunit`, or the command), the name of its JUnit report
    pub name: String,
    pub passed: bool,
    pub counts: Counts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_failure: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub tests: Vec<Test>,
}

impl Run {
    pub fn new(name: &str, results: Results, machine_failure: Option<String>) -> Run {
        Run {
            name: name.to_string(),
            passed: results.passed() && machine_failure.is_none(),
            counts: results.counts(),
            machine_failure,
            problems: results.problems,
            tests: results.tests,
        }
    }

    /// 0 when every case passed; 1 when one failed or none ran; `machine_failed` (the tool's
    /// code for a broken machine) when the machine failed, whatever ran before.
    pub fn exit_code(&self, machine_failed: u8) -> u8 {
        match (&self.machine_failure, self.passed) {
            (Some(_), _) => machine_failed,
            (None, true) => PASSED,
            (None, false) => FAILED,
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialise") + "\n"
    }

    /// The run as JUnit XML: a test suite per top-level test with subtests (a KUnit suite), its
    /// leaf cases as test cases (a parameterised case's parameters as `case.parameter`), and one
    /// suite named after the run for top-level cases (plain TAP), a broken machine and what did
    /// not add up.
    pub fn junit(&self) -> String {
        let mut report = Report::new(self.name.as_str());
        let mut own = TestSuite::new(self.name.as_str());
        for test in &self.tests {
            if test.subtests.is_empty() {
                own.add_test_case(case(test, &test.name, &self.name));
                continue;
            }
            let mut suite = TestSuite::new(test.name.as_str());
            if let Some(seconds) = test.seconds {
                suite.set_time(Duration::from_secs_f64(seconds));
            }
            let mut cases = Vec::new();
            leaves(test, None, &mut cases);
            for (name, leaf) in cases {
                suite.add_test_case(case(leaf, &name, &test.name));
            }
            // a suite that did not finish, or failed with no failing case, is a case of its own
            let failing_case = test.subtests.iter().any(|t| {
                let c = t.counts();
                c.fail + c.error > 0
            });
            if test.status == Status::Error || (test.status == Status::Fail && !failing_case) {
                let alone = Test { subtests: Vec::new(), ..test.clone() };
                suite.add_test_case(case(&alone, &test.name, &test.name));
            }
            report.add_test_suite(suite);
        }
        if let Some(reason) = &self.machine_failure {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(reason.lines().next().unwrap_or("the machine failed"));
            status.set_description(reason.as_str());
            own.add_test_case(TestCase::new("machine", status));
        }
        if !self.problems.is_empty() {
            own.set_system_err(self.problems.join("\n"));
        }
        if !own.test_cases.is_empty() || !self.problems.is_empty() {
            report.add_test_suite(own);
        }
        report.to_string().expect("a JUnit report serialises")
    }

    /// A table of suites, the failures with their diagnostics, and a line of totals.
    pub fn summary(&self) -> String {
        let mut rows: Vec<(String, Counts, Option<f64>)> = Vec::new();
        let mut loose = Counts::default();
        for test in &self.tests {
            if test.subtests.is_empty() {
                loose.add(test.counts());
            } else {
                rows.push((test.name.clone(), test.counts(), test.seconds));
            }
        }
        if loose.total() > 0 {
            rows.push((self.name.clone(), loose, None));
        }
        let width = rows.iter().map(|(n, ..)| n.len()).max().unwrap_or(5).max(5);
        let mut out = format!(
            "{:<width$}  {:>5} {:>5} {:>5} {:>5} {:>8}\n",
            "suite", "pass", "fail", "skip", "error", "time"
        );
        for (name, c, seconds) in &rows {
            let time = seconds.map(|s| format!("{s:.3}s")).unwrap_or_default();
            out += &format!(
                "{name:<width$}  {:>5} {:>5} {:>5} {:>5} {time:>8}\n",
                c.pass, c.fail, c.skip, c.error
            );
        }
        let mut failures = Vec::new();
        for test in &self.tests {
            let mut cases = Vec::new();
            leaves(test, None, &mut cases);
            if test.subtests.is_empty() {
                cases = vec![(test.name.clone(), test)];
            }
            for (name, leaf) in cases {
                if matches!(leaf.status, Status::Fail | Status::Error) {
                    let shown = match test.subtests.is_empty() {
                        true => name,
                        false => format!("{}.{name}", test.name),
                    };
                    failures.push((shown, leaf));
                }
            }
            if test.status == Status::Error && !test.subtests.is_empty() {
                failures.push((test.name.clone(), test));
            }
        }
        for (name, test) in failures {
            let word = if test.status == Status::Error { "ERROR" } else { "FAIL" };
            out += &format!("\n{word} {name}\n");
            for line in &test.diagnostics {
                out += &format!("    {line}\n");
            }
        }
        if !self.problems.is_empty() {
            out += "\n";
            for problem in &self.problems {
                out += &format!("problem: {problem}\n");
            }
        }
        if let Some(reason) = &self.machine_failure {
            out += &format!("\nthe machine failed: {}\n", reason.lines().next().unwrap_or(""));
        }
        let c = self.counts;
        out += &format!(
            "\n{} cases: {} passed, {} failed, {} skipped, {} errors{}\n",
            c.total(),
            c.pass,
            c.fail,
            c.skip,
            c.error,
            if self.passed { "" } else { " — FAILED" }
        );
        out
    }
}

/// A test's leaf cases with their names below it (`case`, or `case.parameter`).
fn leaves<'a>(test: &'a Test, prefix: Option<&str>, out: &mut Vec<(String, &'a Test)>) {
    for sub in &test.subtests {
        let name = match prefix {
            Some(prefix) => format!("{prefix}.{}", sub.name),
            None => sub.name.clone(),
        };
        if sub.subtests.is_empty() {
            out.push((name, sub));
        } else {
            leaves(sub, Some(&name), out);
            if sub.status == Status::Error {
                out.push((name, sub));
            }
        }
    }
}

fn case(test: &Test, name: &str, classname: &str) -> TestCase {
    let details = test.diagnostics.join("\n");
    let status = match test.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Skip => {
            let mut status = TestCaseStatus::skipped();
            if let Some(directive) = &test.directive {
                // `SKIP reason`: the reason
                let reason = directive.get(4..).filter(|_| directive.len() > 4).unwrap_or("");
                status.set_message(reason.trim());
            }
            status
        }
        Status::Fail | Status::Error => {
            let (kind, fallback) = match test.status {
                Status::Fail => (NonSuccessKind::Failure, "failed"),
                _ => (NonSuccessKind::Error, "did not finish"),
            };
            let mut status = TestCaseStatus::non_success(kind);
            // the line that says what went wrong: KUnit's "EXPECTATION FAILED at file:line"
            let message = test
                .diagnostics
                .iter()
                .find(|l| l.contains("FAILED") || l.contains("no result"))
                .or(test.diagnostics.first())
                .map(|l| l.trim_start_matches('#').trim())
                .unwrap_or(fallback);
            status.set_message(message);
            status.set_description(details.as_str());
            status
        }
    };
    let mut case = TestCase::new(name, status);
    case.set_classname(classname);
    if let Some(seconds) = test.seconds {
        case.set_time(Duration::from_secs_f64(seconds));
    }
    case
}
