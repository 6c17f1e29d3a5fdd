//! Test results a CI reads: KTAP and TAP read into a tree of tests ([`ktap`]), then a summary
//! for the terminal, JUnit XML (GitLab, Jenkins and GitHub's test reporters read it) and JSON,
//! and the exit code. Pure: strings in, strings out.
//!
//! The three reports and the exit code tell one story: what did not add up (a plan the output
//! fell short of or lacks, `Bail out!`, a broken machine, a problem the caller found, no test at
//! all) is a failing case of its own in each, counted alike, so that a CI reading only the JUnit
//! fails when the exit code does.

pub mod ktap;

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::{Serialize, Serializer};

pub use ktap::{parse, Counts, Results, Status, Test};

/// The exit code when every case passed.
pub const PASSED: u8 = 0;
/// The exit code when a case failed (or none ran, or the output did not add up).
pub const FAILED: u8 = 1;

/// One run's results: what was tested, what the output held, and whether the machine failed
/// under it (a panic, silence, the timeout). Serialised as [`Run::json`] writes it.
#[derive(Debug, Clone)]
pub struct Run {
    /// what ran (`kunit`, or the command), the name of its JUnit report
    pub name: String,
    pub passed: bool,
    /// the output's cases; the reports count [`Run::totals`], these and the cases they add
    pub counts: Counts,
    pub machine_failure: Option<String>,
    pub problems: Vec<String>,
    pub tests: Vec<Test>,
}

/// The JSON of a run: its fields, with the counts the JUnit and the summary show.
#[derive(Serialize)]
struct RunJson<'a> {
    name: &'a str,
    passed: bool,
    counts: Counts,
    #[serde(skip_serializing_if = "Option::is_none")]
    machine_failure: &'a Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: &'a Vec<String>,
    tests: &'a Vec<Test>,
}

impl Serialize for Run {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RunJson {
            name: &self.name,
            passed: self.green(),
            counts: self.totals(),
            machine_failure: &self.machine_failure,
            problems: &self.problems,
            tests: &self.tests,
        }
        .serialize(serializer)
    }
}

/// A case the reports add to the output's: its name, how it ended, what it says.
struct Added {
    name: String,
    status: Status,
    message: String,
    /// the summary says it on a line of its own (what the problems and the machine's line
    /// do not already say)
    said: bool,
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

    /// 0 when every case passed; 1 when one failed, none ran or something did not add up (a
    /// problem); `machine_failed` (the tool's code for a broken machine) when the machine
    /// failed, whatever ran before.
    pub fn exit_code(&self, machine_failed: u8) -> u8 {
        match (&self.machine_failure, self.green()) {
            (Some(_), _) => machine_failed,
            (None, true) => PASSED,
            (None, false) => FAILED,
        }
    }

    /// The run passed: what the exit code, the JUnit and the JSON's `passed` say alike.
    fn green(&self) -> bool {
        self.passed && self.problems.is_empty() && self.machine_failure.is_none()
    }

    /// The cases the reports count: the output's, and those they add for what did not add up.
    pub fn totals(&self) -> Counts {
        self.totals_with(&self.added())
    }

    /// [`Run::totals`], the added cases already made.
    fn totals_with(&self, added: &[Added]) -> Counts {
        let mut counts = self.counts;
        added.iter().for_each(|a| counts.add(Counts::one(a.status)));
        counts
    }

    /// The cases the reports add to the output's: the machine's failure (an error), a problem
    /// no case of the output's shows (`plan`, `bail out`, or the problem itself), and, when the
    /// run failed with no case failing, one that says so (no test ran).
    fn added(&self) -> Vec<Added> {
        let mut added = Vec::new();
        if let Some(reason) = &self.machine_failure {
            let message = reason.lines().next().unwrap_or("the machine failed").to_string();
            added.push(Added {
                name: "machine".into(),
                status: Status::Error,
                message,
                said: false,
            });
        }
        for problem in self.problems.iter().filter(|p| !shown(p, &self.tests)) {
            let (name, status) = if problem.starts_with("Bail out!") {
                ("bail out", Status::Error)
            } else if problem.starts_with("planned ") || problem.starts_with("no plan") {
                ("plan", Status::Fail)
            } else {
                (problem.as_str(), Status::Fail)
            };
            let message = problem.clone();
            added.push(Added { name: name.into(), status, message, said: false });
        }
        let red = |c: Counts| c.fail + c.error > 0;
        let read = self.counts;
        if !self.green() && !red(read) && added.is_empty() {
            let message = match read.total() {
                0 => "no test ran",
                _ => "the run did not pass",
            };
            added.push(Added {
                name: "tests".into(),
                status: Status::Fail,
                message: message.into(),
                said: true,
            });
        }
        added
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialise") + "\n"
    }

    /// The run as JUnit XML: a test suite per top-level test with subtests (a KUnit suite), its
    /// leaf cases as test cases (a parameterised case's parameters as `case.parameter`), and one
    /// suite named after the run for top-level cases (plain TAP), a broken machine and what did
    /// not add up, each as a case of its own ([`Run::totals`]).
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
            if own_case(test) {
                let alone = Test { subtests: Vec::new(), ..test.clone() };
                suite.add_test_case(case(&alone, &test.name, &test.name));
            }
            report.add_test_suite(suite);
        }
        for added in self.added() {
            let kind = match added.status {
                Status::Error => NonSuccessKind::Error,
                _ => NonSuccessKind::Failure,
            };
            let mut status = TestCaseStatus::non_success(kind);
            status.set_message(added.message.as_str());
            let description = match added.name.as_str() {
                "machine" => self.machine_failure.as_deref().unwrap_or_default(),
                _ => added.message.as_str(),
            };
            status.set_description(description);
            let mut case = TestCase::new(added.name.as_str(), status);
            if added.name != "machine" {
                case.set_classname(self.name.as_str());
            }
            own.add_test_case(case);
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
        let added = self.added();
        added.iter().for_each(|a| loose.add(Counts::one(a.status)));
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
            if !test.subtests.is_empty() && own_case(test) {
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
        let said: Vec<&String> = added.iter().filter(|a| a.said).map(|a| &a.message).collect();
        if !self.problems.is_empty() || !said.is_empty() {
            out += "\n";
            for problem in self.problems.iter().chain(said) {
                out += &format!("problem: {problem}\n");
            }
        }
        if let Some(reason) = &self.machine_failure {
            out += &format!("\nthe machine failed: {}\n", reason.lines().next().unwrap_or(""));
        }
        let c = self.totals_with(&added);
        out += &format!(
            "\n{} cases: {} passed, {} failed, {} skipped, {} errors{}\n",
            c.total(),
            c.pass,
            c.fail,
            c.skip,
            c.error,
            if self.green() { "" } else { " — FAILED" }
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
            if own_case(sub) {
                out.push((name, sub));
            }
        }
    }
}

/// A test with subtests that is a case of its own (as [`Test::counts`] counts it): it did not
/// finish, or it failed with no failing case.
fn own_case(test: &Test) -> bool {
    let failing = test.subtests.iter().any(|t| {
        let c = t.counts();
        c.fail + c.error > 0
    });
    test.status == Status::Error || (test.status == Status::Fail && !failing)
}

/// A problem a failing test of the output's already shows: one that did not finish, or one
/// whose plan did not match.
fn shown(problem: &str, tests: &[Test]) -> bool {
    tests.iter().any(|t| {
        let by_this = match t.status {
            Status::Error => {
                problem.strip_suffix(" did not finish") == Some(t.name.as_str())
                    || t.diagnostics.iter().any(|d| d.strip_prefix("# ") == Some(problem))
            }
            Status::Fail => t.diagnostics.iter().any(|d| d.strip_prefix("# ") == Some(problem)),
            _ => false,
        };
        by_this || shown(problem, &t.subtests)
    })
}

fn case(test: &Test, name: &str, classname: &str) -> TestCase {
    let details = test.diagnostics.join("\n");
    let status = match test.status {
        Status::Pass => TestCaseStatus::success(),
        Status::Skip => {
            let mut status = TestCaseStatus::skipped();
            match &test.directive {
                // `TODO reason` as it is: a failure expected, not a skip
                Some(todo) if ktap::is_todo(Some(todo)) => status.set_message(todo.as_str()),
                // `SKIP reason`: the reason
                Some(skip) => {
                    let reason = skip.get(4..).filter(|_| skip.len() > 4).unwrap_or("");
                    status.set_message(reason.trim())
                }
                None => &mut status,
            };
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
                .find(|l| {
                    l.contains("FAILED") || l.contains("no result") || l.contains(": planned ")
                })
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

#[cfg(test)]
mod tests;
