//! `lava-run`'s log read back. Each line is one YAML document (JSON, but with `!` tags on some
//! values): `{dt, lvl, msg}`. `results` lines carry a test case's result (`definition`, `case`,
//! `result`); LAVA's own steps come as cases of the definition `lava`, the job's verdict as its
//! case `job`, and each test definition's run as its case `N_NAME` (`pass` when the definition
//! reached its end, `fail` when it stopped part-way: a step failed under `set -e`, or the guest's
//! shell died); `target` lines are the guest's console. Pure: lines in, [`Outcome`] out.

use serde::Deserialize;
use serde_norway::Value;

use results::{Results, Run, Status, Test};

/// One line of the log.
#[derive(Debug, Clone, Deserialize)]
struct Line {
    lvl: String,
    msg: Value,
}

/// A result LAVA reported.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CaseResult {
    pub definition: String,
    pub case: String,
    pub result: String,
    #[serde(default)]
    pub error_msg: Option<String>,
    #[serde(default)]
    pub error_type: Option<String>,
}

/// What one line of the log said, as far as a run's progress and results go.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// a test case of a definition of the job's
    Case(CaseResult),
    /// one of LAVA's own steps (deploy, boot, the job itself)
    Step(CaseResult),
    /// a line of the guest's console
    Console(String),
    /// an error LAVA logged
    Error(String),
    /// `start: 1 tmpfs-deploy (timeout 00:05:00) [common]` and the like: where the job is
    Info(String),
    Other,
}

/// Reads one line; a line that is not LAVA's (a Python warning) is [`Event::Other`].
pub fn parse_line(line: &str) -> Event {
    let Ok(line) = serde_norway::from_str::<Line>(line) else { return Event::Other };
    match line.lvl.as_str() {
        "results" => match serde_norway::from_value::<CaseResult>(line.msg) {
            Ok(result) if result.definition == "lava" => Event::Step(result),
            Ok(result) => Event::Case(result),
            Err(_) => Event::Other,
        },
        "target" | "feedback" => text(&line.msg).map(Event::Console).unwrap_or(Event::Other),
        "error" => text(&line.msg).map(Event::Error).unwrap_or(Event::Other),
        "info" => text(&line.msg).map(Event::Info).unwrap_or(Event::Other),
        _ => Event::Other,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Tagged(tagged) => text(&tagged.value),
        _ => None,
    }
}

/// Everything a run's report needs, gathered line by line.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub cases: Vec<CaseResult>,
    /// LAVA's steps that failed, in order
    pub failed_steps: Vec<CaseResult>,
    pub job: Option<CaseResult>,
    /// LAVA's record of each test definition's run (`definition: lava`, `case: 0_check`), with
    /// the console's last lines when it came
    pub definitions: Vec<(CaseResult, Vec<String>)>,
    pub console: String,
    /// the console between a case's start and end signals, by case: what it printed
    outputs: Vec<(String, Vec<String>)>,
    /// the case whose start signal came last, until its end signal
    open_case: Option<String>,
    /// the console's lines since the last case ended: where a definition that stopped part-way
    /// shows why
    since_case: Excerpt,
}

/// The first and the last lines of a stretch of console (a failing step's command comes first
/// under LAVA's `set -x`, its last words last), and how many were left out between them.
#[derive(Debug, Clone, Default)]
struct Excerpt {
    first: Vec<String>,
    last: std::collections::VecDeque<String>,
    left_out: usize,
}

impl Excerpt {
    const FIRST: usize = 5;
    const LAST: usize = 10;

    fn push(&mut self, line: &str) {
        if self.first.len() < Self::FIRST {
            self.first.push(line.to_string());
            return;
        }
        self.last.push_back(line.to_string());
        if self.last.len() > Self::LAST {
            self.last.pop_front();
            self.left_out += 1;
        }
    }

    fn clear(&mut self) {
        *self = Excerpt::default();
    }

    fn lines(&self) -> Vec<String> {
        let mut lines = self.first.clone();
        if self.left_out > 0 {
            let plural = if self.left_out == 1 { "" } else { "s" };
            lines.push(format!("[{} line{plural} left out]", self.left_out));
        }
        lines.extend(self.last.iter().cloned());
        lines
    }
}

/// How many lines of a case's output its report keeps (the log has all of them).
const OUTPUT_LINES: usize = 40;

impl Outcome {
    pub fn feed(&mut self, event: &Event) {
        match event {
            Event::Case(result) => self.cases.push(result.clone()),
            Event::Step(result) if result.case == "job" => self.job = Some(result.clone()),
            Event::Step(result) if is_definition_run(&result.case) => {
                self.definitions.push((result.clone(), self.since_case.lines()))
            }
            Event::Step(result) if result.result != "pass" => {
                self.failed_steps.push(result.clone())
            }
            Event::Console(line) => {
                self.console.push_str(line);
                self.console.push('\n');
                self.follow_case(line);
            }
            _ => {}
        }
    }

    /// lava-test-case prints `<LAVA_SIGNAL_STARTTC NAME>` and `<LAVA_SIGNAL_ENDTC NAME>`
    /// around a case's command: what comes between is its output.
    fn follow_case(&mut self, line: &str) {
        if let Some(name) = signal(line, "<LAVA_SIGNAL_STARTTC ") {
            self.outputs.push((name.to_string(), Vec::new()));
            self.open_case = Some(name.to_string());
            self.since_case.clear();
            return;
        }
        let ends = ["<LAVA_SIGNAL_ENDTC ", "<LAVA_SIGNAL_TESTCASE ", "<LAVA_SIGNAL_STARTRUN "];
        if ends.iter().any(|end| signal(line, end).is_some()) {
            self.open_case = None;
            self.since_case.clear();
            return;
        }
        self.since_case.push(line);
        if let (Some(open), Some((name, lines))) = (&self.open_case, self.outputs.last_mut()) {
            if open == name {
                lines.push(line.to_string());
            }
        }
    }

    /// What the case printed, its last lines.
    fn output(&self, case: &str) -> Vec<String> {
        let Some((_, lines)) = self.outputs.iter().rev().find(|(name, _)| name == case) else {
            return Vec::new();
        };
        lines[lines.len().saturating_sub(OUTPUT_LINES)..].to_vec()
    }

    pub fn read(log: &str) -> Outcome {
        let mut outcome = Outcome::default();
        for line in log.lines() {
            outcome.feed(&parse_line(line));
        }
        outcome
    }

    /// Why the machine or LAVA failed, when they did: the job's error, and the kernel's panic
    /// line when the console shows one (the usual reason a boot ends in "Connection closed").
    pub fn machine_failure(&self) -> Option<String> {
        let job = self.job.as_ref();
        let failed = job.is_none_or(|job| job.result != "pass");
        if !failed {
            return None;
        }
        let mut why = match job {
            None => "lava-run ended without the job's result".to_string(),
            Some(job) => format!(
                "LAVA: {} error: {}",
                job.error_type.as_deref().unwrap_or("unknown"),
                job.error_msg.as_deref().unwrap_or("(no message)").trim()
            ),
        };
        if let Some(step) = self.failed_steps.first() {
            why += &format!(" (at its step {})", step.case);
        }
        if let Some(panic) = qemu::panic_line(&self.console) {
            why = format!("{panic}\n{why}");
        }
        Some(why)
    }

    /// The results as a [`Run`]: a suite per test definition (LAVA's `0_` prefix taken off),
    /// a case per `lava-test-case`. `expected` definitions that reported nothing are problems.
    pub fn run(&self, name: &str, expected: &[&str]) -> Run {
        let mut tests: Vec<Test> = Vec::new();
        for result in &self.cases {
            let definition = strip_index(&result.definition);
            let status = status(&result.result);
            let case = Test {
                name: result.case.clone(),
                status,
                directive: None,
                // a failing case's report shows what it printed
                diagnostics: match status {
                    Status::Fail | Status::Error => self.output(&result.case),
                    _ => Vec::new(),
                },
                seconds: None,
                subtests: Vec::new(),
            };
            match tests.iter_mut().find(|t| t.name == definition) {
                Some(suite) => suite.subtests.push(case),
                None => tests.push(Test {
                    name: definition.to_string(),
                    status: Status::Pass,
                    directive: None,
                    diagnostics: Vec::new(),
                    seconds: None,
                    subtests: vec![case],
                }),
            }
        }
        for suite in &mut tests {
            if suite.subtests.iter().any(|t| matches!(t.status, Status::Fail | Status::Error)) {
                suite.status = Status::Fail;
            }
        }
        let problems = expected
            .iter()
            .filter(|name| !tests.iter().any(|t| t.name == **name))
            .map(|name| format!("the test definition {name} reported no results"))
            .collect();
        let unfinished = self.unfinished_definitions(expected);
        if !unfinished.is_empty() {
            tests.push(Test {
                name: LAVA_SUITE.to_string(),
                status: Status::Fail,
                directive: None,
                diagnostics: Vec::new(),
                seconds: None,
                subtests: unfinished,
            });
        }
        Run::new(name, Results { tests, problems }, self.machine_failure())
    }

    /// The test definitions that did not reach their end, as error cases named as LAVA names
    /// them (`0_check`, in its suite `lava`): those LAVA marked failed (a step failed under
    /// `set -e`, the shell died), and those that reported cases but whose end LAVA never
    /// recorded (a definition's record is lost when the next one starts). A definition that
    /// neither reported nor ended is a problem of [`Outcome::run`]'s already.
    fn unfinished_definitions(&self, expected: &[&str]) -> Vec<Test> {
        let mut names: Vec<&str> = expected.to_vec();
        for case in &self.cases {
            let name = strip_index(&case.definition);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let mut unfinished = Vec::new();
        for name in names {
            let records: Vec<&(CaseResult, Vec<String>)> =
                self.definitions.iter().filter(|(r, _)| strip_index(&r.case) == name).collect();
            // a definition LAVA ran again (failure_retry) is judged by its last run
            let (lava_name, why, mut lines) = match records.last() {
                Some((record, _)) if record.result == "pass" => continue,
                Some((record, lines)) => (
                    record.case.clone(),
                    format!(
                        "LAVA marked the test definition {name} {}: it stopped before its last \
                         step (LAVA runs a definition's steps under `set -e`: a step failed, or \
                         the guest's shell died), so the steps after it did not run",
                        match record.result.as_str() {
                            "fail" => "failed",
                            other => other,
                        }
                    ),
                    lines.clone(),
                ),
                None => {
                    let Some(case) = self.cases.iter().find(|c| strip_index(&c.definition) == name)
                    else {
                        continue;
                    };
                    (
                        case.definition.clone(),
                        format!(
                            "LAVA never recorded the end of the test definition {name}: it \
                             stopped before its last step"
                        ),
                        Vec::new(),
                    )
                }
            };
            let mut diagnostics = vec![why];
            if !lines.is_empty() {
                diagnostics.push("the console after its last case:".to_string());
                diagnostics.append(&mut lines);
            }
            unfinished.push(Test {
                name: lava_name,
                status: Status::Error,
                directive: None,
                diagnostics,
                seconds: None,
                subtests: Vec::new(),
            });
        }
        unfinished
    }
}

/// The suite of LAVA's own records in a report: what LAVA calls the results it logs itself.
pub const LAVA_SUITE: &str = "lava";

/// `0_check`: LAVA's record of a test definition's run (its own steps are named with `-`, and
/// never start with an index).
fn is_definition_run(case: &str) -> bool {
    strip_index(case) != case
}

/// The name in `<LAVA_SIGNAL_... NAME>` when `line` is that signal.
fn signal<'a>(line: &'a str, start: &str) -> Option<&'a str> {
    let at = line.find(start)?;
    let rest = &line[at + start.len()..];
    rest.split_once('>').map(|(name, _)| name.trim())
}

/// `0_check` → `check`: LAVA numbers a job's definitions.
pub fn strip_index(definition: &str) -> &str {
    match definition.split_once('_') {
        Some((index, rest))
            if !index.is_empty()
                && !rest.is_empty()
                && index.chars().all(|c| c.is_ascii_digit()) =>
        {
            rest
        }
        _ => definition,
    }
}

fn status(result: &str) -> Status {
    match result {
        "pass" => Status::Pass,
        "fail" => Status::Fail,
        "skip" => Status::Skip,
        _ => Status::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of a real `lava-run` 2023.01 log (this project's tiny kernel and initramfs).
    const PASSED: &str = r#"{"dt": "2026-12-02T17:50:30.927518", "lvl": "results", "msg": {"case": "validate", "definition": "lava", "result": "pass"}}
{"dt": "2026-12-02T17:50:30.955997", "lvl": "results", "msg": {"case": "file-download", "definition": "lava", "duration": "0.01", "extra": {"label": "kernel", "size": ! "2339840"}, "level": "1.4.1", "namespace": "common", "result": "pass"}}
{"dt": "2026-12-02T17:50:31.449874", "lvl": "target", "msg": "Booting from ROM..Linux version 6.1.192 (kardel@kardel)"}
{"dt": "2026-12-02T17:50:32.551779", "lvl": "results", "msg": {"case": "uname", "definition": "0_check", "endtc": ! "379", "result": "fail", "starttc": ! "377"}}
{"dt": "2026-12-02T17:50:32.562564", "lvl": "results", "msg": {"case": "devnull", "definition": "0_check", "endtc": ! "387", "result": "pass", "starttc": ! "386"}}
{"dt": "2026-12-02T17:50:32.572180", "lvl": "results", "msg": {"case": "0_check", "definition": "lava", "duration": "0.04", "namespace": "common", "result": "pass", "revision": "unspecified", "uuid": "1_1.1.3.1"}}
{"dt": "2026-12-02T17:50:33.789078", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}
"#;

    const PANICKED: &str = r#"{"dt": "2026-12-02T17:51:28.185420", "lvl": "target", "msg": "Kernel panic - not syncing: Requested init /nope failed (error -2)."}
{"dt": "2026-12-02T17:51:28.191906", "lvl": "results", "msg": {"case": "auto-login-action", "definition": "lava", "duration": "0.93", "extra": {"fail": "Connection closed"}, "level": "2.2", "namespace": "common", "result": "fail"}}
{"dt": "2026-12-02T17:51:28.304797", "lvl": "error", "msg": "InfrastructureError: The Infrastructure is not working correctly. Please report this error to LAVA admins."}
{"dt": "2026-12-02T17:51:28.305070", "lvl": "results", "msg": {"case": "job", "definition": "lava", "error_msg": "Connection closed", "error_type": "Infrastructure", "result": "fail"}}
"#;

    #[test]
    fn cases_become_a_suite_per_definition() {
        let run = Outcome::read(PASSED).run("check", &["check"]);
        assert_eq!(run.machine_failure, None);
        assert_eq!(run.tests.len(), 1);
        assert_eq!(run.tests[0].name, "check");
        let cases: Vec<_> =
            run.tests[0].subtests.iter().map(|t| (t.name.as_str(), t.status)).collect();
        assert_eq!(cases, [("uname", Status::Fail), ("devnull", Status::Pass)]);
        assert_eq!(run.exit_code(125), 1);
        assert!(Outcome::read(PASSED).console.contains("Linux version 6.1.192"));
    }

    #[test]
    fn a_failing_case_shows_what_it_printed() {
        let log = r#"{"dt": "1", "lvl": "target", "msg": "+ lava-test-case command --shell 'false'"}
{"dt": "2", "lvl": "target", "msg": "<LAVA_SIGNAL_STARTTC command>"}
{"dt": "3", "lvl": "target", "msg": "hello world"}
{"dt": "4", "lvl": "target", "msg": "<LAVA_SIGNAL_ENDTC command>"}
{"dt": "5", "lvl": "target", "msg": "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=command RESULT=fail>"}
{"dt": "6", "lvl": "results", "msg": {"case": "command", "definition": "0_run", "result": "fail"}}
{"dt": "7", "lvl": "results", "msg": {"case": "0_run", "definition": "lava", "result": "pass", "uuid": "1_1.1.3.1"}}
{"dt": "8", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}
"#;
        let run = Outcome::read(log).run("run", &["run"]);
        assert_eq!(run.tests[0].subtests[0].diagnostics, ["hello world"]);
        assert!(run.summary().contains("FAIL run.command\n    hello world\n"), "{}", run.summary());
    }

    #[test]
    fn a_panic_is_the_machine_failing() {
        let run = Outcome::read(PANICKED).run("check", &["check"]);
        let why = run.machine_failure.clone().unwrap();
        assert_eq!(
            why,
            "Kernel panic - not syncing: Requested init /nope failed (error -2).\nLAVA: \
             Infrastructure error: Connection closed (at its step auto-login-action)"
        );
        assert_eq!(run.exit_code(125), 125);
        assert_eq!(run.problems, ["the test definition check reported no results"]);
    }

    #[test]
    fn a_log_without_the_job_result_failed() {
        let cut = PASSED.lines().take(5).collect::<Vec<_>>().join("\n");
        let run = Outcome::read(&cut).run("check", &["check"]);
        assert_eq!(run.machine_failure.as_deref(), Some("lava-run ended without the job's result"));
    }

    /// Lines of a real `lava-run` 2023.01 log of a definition whose steps were `lava-test-case
    /// before --shell true`, then `rm -rf / ; lava-test-case after --shell true`: the second step
    /// failed, `set -e` ended the definition, lava-test-runner went on to its end, and LAVA marked
    /// the definition's run failed (its record in the suite `lava`) while the job itself passed.
    /// (Of its 3544 lines: the definition's start, its case, some of rm's, and its end.)
    const STOPPED_PART_WAY: &str = r#"{"dt": "2026-12-06T16:19:10.919101", "lvl": "target", "msg": "<LAVA_SIGNAL_STARTRUN 0_run 28339_1.1.3.1>"}
{"dt": "2026-12-06T16:19:10.919379", "lvl": "debug", "msg": "Received signal: <STARTRUN> 0_run 28339_1.1.3.1"}
{"dt": "2026-12-06T16:19:10.919437", "lvl": "info", "msg": "Starting test lava.0_run (28339_1.1.3.1)"}
{"dt": "2026-12-06T16:19:10.919512", "lvl": "info", "msg": "Skipping test definition patterns."}
{"dt": "2026-12-06T16:19:10.919592", "lvl": "target", "msg": "+ lava-test-case before --shell true"}
{"dt": "2026-12-06T16:19:10.921639", "lvl": "target", "msg": "<LAVA_SIGNAL_STARTTC before>"}
{"dt": "2026-12-06T16:19:10.921873", "lvl": "debug", "msg": "Received signal: <STARTTC> before"}
{"dt": "2026-12-06T16:19:10.922160", "lvl": "target", "msg": "<LAVA_SIGNAL_ENDTC before>"}
{"dt": "2026-12-06T16:19:10.922394", "lvl": "debug", "msg": "Received signal: <ENDTC> before"}
{"dt": "2026-12-06T16:19:10.925194", "lvl": "debug", "msg": "Received signal: <TESTCASE> TEST_CASE_ID=before RESULT=pass"}
{"dt": "2026-12-06T16:19:10.925278", "lvl": "results", "msg": {"case": "before", "definition": "0_run", "endtc": ! "379", "result": "pass", "starttc": ! "377"}}
{"dt": "2026-12-06T16:19:10.925392", "lvl": "target", "msg": "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=before RESULT=pass>"}
{"dt": "2026-12-06T16:19:10.925630", "lvl": "target", "msg": "+ rm -rf /"}
{"dt": "2026-12-06T16:19:10.938228", "lvl": "target", "msg": "rm: can't remove '/tmp': Device or resource busy"}
{"dt": "2026-12-06T16:19:10.940373", "lvl": "target", "msg": "rm: can't remove '/sys/kernel/warn_count': Operation not permitted"}
{"dt": "2026-12-06T16:19:10.940418", "lvl": "target", "msg": "rm: can't remove '/sys/kernel/notes': Operation not permitted"}
{"dt": "2026-12-06T16:19:10.941207", "lvl": "target", "msg": "rm: can't remove '/sys/kernel/mm/swap/vma_ra_enabled': Operation not permitted"}
{"dt": "2026-12-06T16:19:10.942983", "lvl": "target", "msg": "rm: can't remove '/sys/kernel/uevent_seqnum': Operation not permitted"}
{"dt": "2026-12-06T16:19:11.859486", "lvl": "target", "msg": "rm: can't remove '/proc/38/mountinfo': Operation not permitted"}
{"dt": "2026-12-06T16:19:11.859700", "lvl": "target", "msg": "rm: can't remove '/proc/38/mountstats': Operation not permitted"}
{"dt": "2026-12-06T16:19:11.859891", "lvl": "target", "msg": "rm: can't remove '/proc/38/clear_refs': Operation not permitted"}
{"dt": "2026-12-06T16:19:11.860098", "lvl": "target", "msg": "rm: can't remove '/proc/38/smaps': Operation not permitted"}
{"dt": "2026-12-06T16:19:11.860284", "lvl": "target", "msg": "rm: can't remove '/proc/38/smaps_rollup': Operation not permitted"}
{"dt": "2026-12-06T16:19:11.860480", "lvl": "target", "msg": "rm: can't remove '/proc/38/pagemap': Operation not permitted"}
{"dt": "2026-12-06T16:19:11.860657", "lvl": "target", "msg": "rm: can't remove '/proc/38/oom_score': Operation not permitted"}
{"dt": "2026-12-06T16:19:11.862954", "lvl": "target", "msg": "rm: can't remove '/dev': Device or resource busy"}
{"dt": "2026-12-06T16:19:11.865333", "lvl": "target", "msg": "/lava-28339/0/../bin/lava-test-shell: line 12: can't create /lava-28339/0/results/0_run-1796573950/return_code: nonexistent directory"}
{"dt": "2026-12-06T16:19:11.866197", "lvl": "target", "msg": "<LAVA_TEST_RUNNER EXIT>"}
{"dt": "2026-12-06T16:19:11.866692", "lvl": "info", "msg": "ok: lava_test_shell seems to have completed"}
{"dt": "2026-12-06T16:19:11.866757", "lvl": "error", "msg": "Marking unfinished test run as failed"}
{"dt": "2026-12-06T16:19:11.866810", "lvl": "results", "msg": {"case": "0_run", "definition": "lava", "duration": "0.95", "result": "fail", "uuid": "28339_1.1.3.1"}}
{"dt": "2026-12-06T16:19:11.867105", "lvl": "info", "msg": "end: 3 lava-test-retry (duration 00:00:01) [common]"}
{"dt": "2026-12-06T16:19:13.080595", "lvl": "info", "msg": "Job finished correctly"}
{"dt": "2026-12-06T16:19:13.080679", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}
"#;

    #[test]
    fn a_definition_that_stopped_part_way_is_an_error_not_a_pass() {
        let run = Outcome::read(STOPPED_PART_WAY).run("run", &["run"]);
        assert_eq!(run.machine_failure, None);
        assert!(!run.passed);
        assert_eq!(run.exit_code(125), 1);
        let suites: Vec<&str> = run.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(suites, ["run", "lava"]);
        assert_eq!(run.tests[0].subtests[0].status, Status::Pass);
        let definition = &run.tests[1].subtests[0];
        assert_eq!((definition.name.as_str(), definition.status), ("0_run", Status::Error));
        assert!(definition.diagnostics[0].contains("stopped before its last step"));
        // the failing step's command first (LAVA's `set -x`), the console's last words last
        assert_eq!(definition.diagnostics[2], "+ rm -rf /", "{definition:?}");
        assert!(definition.diagnostics.iter().any(|l| l == "[1 line left out]"), "{definition:?}");
        assert_eq!(definition.diagnostics.last().unwrap(), "<LAVA_TEST_RUNNER EXIT>");
        assert_eq!((run.counts.pass, run.counts.error), (1, 1));
        assert!(run.summary().contains("ERROR lava.0_run\n"), "{}", run.summary());
        assert!(run.junit().contains("0_run"));
    }

    #[test]
    fn a_definition_whose_end_never_came_is_an_error() {
        // LAVA forgets a definition's run when the next one starts before it ended
        let log = r#"{"dt": "1", "lvl": "results", "msg": {"case": "a1", "definition": "0_first", "result": "pass"}}
{"dt": "2", "lvl": "results", "msg": {"case": "b1", "definition": "1_second", "result": "pass"}}
{"dt": "3", "lvl": "results", "msg": {"case": "1_second", "definition": "lava", "result": "pass", "uuid": "1_1.1.3.2"}}
{"dt": "4", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}
"#;
        let run = Outcome::read(log).run("job", &["first", "second"]);
        assert_eq!(run.exit_code(125), 1);
        let lava = run.tests.iter().find(|t| t.name == "lava").expect("a lava suite");
        let names: Vec<&str> = lava.subtests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["0_first"]);
        // a definition LAVA ran twice (failure_retry) is judged by its last run
        let retried = log.replace(
            r#"{"dt": "3""#,
            r#"{"dt": "2", "lvl": "results", "msg": {"case": "0_first", "definition": "lava", "result": "fail"}}
{"dt": "2", "lvl": "results", "msg": {"case": "0_first", "definition": "lava", "result": "pass"}}
{"dt": "3""#,
        );
        assert_eq!(Outcome::read(&retried).run("job", &["first", "second"]).exit_code(125), 0);
    }

    #[test]
    fn a_job_lava_did_not_pass_is_never_a_pass() {
        for result in ["fail", "incomplete", "canceled"] {
            let log = PASSED.replace(
                r#"{"case": "job", "definition": "lava", "result": "pass"}"#,
                &format!(r#"{{"case": "job", "definition": "lava", "result": "{result}"}}"#),
            );
            let run = Outcome::read(&log).run("check", &["check"]);
            assert!(run.machine_failure.is_some(), "{result}");
            assert_eq!(run.exit_code(125), 125, "{result}");
        }
    }

    #[test]
    fn lines_that_are_not_lavas_are_passed_over() {
        assert_eq!(parse_line("Traceback (most recent call last):"), Event::Other);
        assert_eq!(parse_line(""), Event::Other);
        assert_eq!(parse_line("{\"lvl\": \"results\", \"msg\": 3}"), Event::Other);
    }
}
