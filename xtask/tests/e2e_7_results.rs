//! Results a CI reads: KUnit's suites in the guest (`test --kunit`) on x86_64 and riscv64, a test
//! module with a failing case and with a panic, a command's TAP (`run --tap`), each read back
//! from the JUnit and JSON the tool wrote and held to what the console's KTAP says.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`. It builds
//! the tiny profile's KUnit kernel (`tiny+kunit+modules`) for each architecture.

mod common;

use std::path::{Path, PathBuf};

use common::{enabled, repo, run, serial, target_dir, tempdir, xtask};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

#[test]
fn kunit_on_x86_64() {
    if !enabled("e2e_7_results, x86_64 (its KUnit kernel built, KUnit's suites run in QEMU)") {
        return;
    }
    let _one = serial();
    every_case_reported("x86_64");
    let example = repo().join("examples/modules/kunit_example");
    let panic = repo().join("examples/modules/kunit_panic");

    // a glob picks suites: only the linked-list suite
    let dir = tempdir("kunit-glob");
    let junit = dir.join("list.xml");
    run(xtask(&["test", "--kunit", "list*", "--junit", path(&junit)])).ok();
    let report = read_junit(&junit);
    let suites: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(suites, ["list-kunit-test"]);
    assert!(report.test_suites[0].tests > 10, "list-kunit-test has its dozens of cases");

    // a module of your own, with a case that fails on purpose: exit 1, the failure and its
    // diagnostic in the JUnit; the built-in suites filtered out
    let junit = dir.join("example.xml");
    let failing = run(xtask(&[
        "test",
        "--kunit",
        "kardel*",
        "--module",
        path(&example),
        "--junit",
        path(&junit),
    ]));
    assert_eq!(failing.output.status.code(), Some(1), "{}\n{}", failing.stdout(), failing.stderr());
    let report = read_junit(&junit);
    let suite = only_suite(&report, "kardel_example");
    let cases: Vec<(&str, Kind)> =
        suite.test_cases.iter().map(|c| (c.name.as_str(), kind(&c.status))).collect();
    assert_eq!(
        cases,
        [("adds_up", Kind::Pass), ("fails_on_purpose", Kind::Failure), ("skips", Kind::Skipped)]
    );
    let TestCaseStatus::NonSuccess { message, description, .. } = &suite.test_cases[1].status
    else {
        unreachable!()
    };
    assert!(message.as_ref().is_some_and(|m| m.contains("EXPECTATION FAILED")), "{message:?}");
    assert!(
        description.as_ref().is_some_and(|d| d.contains("this case fails on purpose")),
        "the failure's own message: {description:?}"
    );
    assert!(
        failing.stdout().contains("FAIL fails_on_purpose")
            || failing.stdout().contains("FAIL kardel_example.fails_on_purpose"),
        "{}",
        failing.stdout()
    );

    // a second module whose suite panics the kernel in its second case: the machine failed
    // (125), the suite that was running is an error, never a pass, and what ran before it, in
    // that suite and in the first module's, is kept
    let json = dir.join("panic.json");
    let crashed = run(xtask(&[
        "test",
        "--kunit",
        "kardel*",
        "--module",
        path(&example),
        "--module",
        path(&panic),
        "--json",
        path(&json),
    ]));
    assert_eq!(
        crashed.output.status.code(),
        Some(125),
        "{}\n{}",
        crashed.stdout(),
        crashed.stderr()
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let suites: Vec<(&str, &str)> = results["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(suites, [("kardel_example", "fail"), ("kardel_panic", "error")], "{results:#}");
    let ran = &results["tests"][1]["subtests"];
    assert_eq!(
        (ran[0]["name"].as_str(), ran[0]["status"].as_str()),
        (Some("passes_first"), Some("pass"))
    );
    assert_eq!(ran.as_array().unwrap().len(), 1, "{results:#}");
    let failure = results["machine_failure"].as_str().unwrap_or_default();
    assert!(failure.contains("Kernel panic - not syncing"), "the panic named first: {failure}");
    assert!(crashed.stdout().contains("ERROR kardel_panic"), "{}", crashed.stdout());

    // test modules load into the same KUnit kernel: no second flavour was built for them
    let builds: Vec<String> = std::fs::read_dir(target_dir().join("kardel/build/x86_64"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("kunit"))
        .collect();
    assert!(
        builds.len() == 1 && builds[0].starts_with("kernel-tiny+kunit+modules"),
        "one KUnit kernel: {builds:?}"
    );

    module_edit_loop(&dir, &example);
    tap_from_a_command(&dir);

    // README's examples as written: the example module's suite fails one case on purpose
    let examples = common::readme_examples("Test results a CI reads");
    let here = tempdir("kunit-readme");
    common::run_readme_examples(&examples, &[0, 0, 1, 0], &here);
    for report in ["kunit.xml", "kunit.json", "tap.xml"] {
        assert!(here.join(report).is_file(), "README's example wrote no {report}");
    }
}

/// A KUnit author's loop: a test module edited, then its results again. The module is rebuilt
/// alone and sent to the saved KUnit machine (whose boot ran the built-in suites), and the
/// results are a boot's: the same cases with the same verdicts as `--cold`, built-in suites
/// included.
fn module_edit_loop(dir: &Path, example: &Path) {
    let module = dir.join("kunit_example");
    std::fs::create_dir_all(&module).unwrap();
    for file in ["Kbuild", "kardel_kunit_example.c"] {
        std::fs::copy(example.join(file), module.join(file)).unwrap();
    }
    // the cases and their verdicts, and whether the run restored a saved machine
    let results = |name: &str, cold: bool, code: i32| {
        let (json, timings) = (dir.join(format!("{name}.json")), dir.join(format!("{name}.times")));
        let mut command = xtask(&["test", "--kunit", "--module", path(&module), "--json"]);
        command.arg(&json).env("KARDEL_TIMINGS", &timings);
        if cold {
            command.arg("--cold");
        }
        let done = run(command);
        assert_eq!(done.output.status.code(), Some(code), "{}\n{}", done.stdout(), done.stderr());
        let results: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let mut cases = Vec::new();
        for suite in results["tests"].as_array().unwrap() {
            for case in suite["subtests"].as_array().into_iter().flatten() {
                cases.push(format!("{}.{} {}", suite["name"], case["name"], case["status"]));
            }
        }
        let restored =
            std::fs::read_to_string(&timings).unwrap_or_default().contains("\"what\":\"restore\"");
        (cases, restored)
    };
    let (cold, _) = results("cold", true, 1);
    assert!(cold.len() > 90, "the built-in suites and the module's: {cold:?}");
    assert!(cold.contains(&r#""kardel_example"."fails_on_purpose" "fail""#.to_string()));
    // the first warm run saves the machine (or restores one an earlier run saved)
    let (saving, _) = results("save", false, 1);
    let (warm, restored) = results("warm", false, 1);
    assert!(restored, "the second warm run restored the saved machine");
    assert_eq!(saving, cold);
    assert_eq!(warm, cold, "a restored machine's results are a boot's");

    // the edit: the failing case now expects the right sum
    let source = module.join("kardel_kunit_example.c");
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, text.replace("add(2, 2), 5,", "add(2, 2), 4,")).unwrap();
    let (edited, restored) = results("edited", false, 0);
    assert!(restored, "an edited module is sent to the same saved machine");
    let expected: Vec<String> = cold
        .iter()
        .map(|c| c.replace("fails_on_purpose\" \"fail", "fails_on_purpose\" \"pass"))
        .collect();
    assert_eq!(edited, expected);
}

#[test]
fn kunit_on_riscv64() {
    if !enabled("e2e_7_results, riscv64 (its KUnit kernel built, KUnit's suites run in QEMU)") {
        return;
    }
    let _one = serial();
    every_case_reported("riscv64");
}

/// Every built-in suite's every case in the JUnit and the JSON, as many as each suite's plan on
/// the console says, the skips KUnit counted, and exit 0.
#[track_caller]
fn every_case_reported(arch: &str) {
    let dir = tempdir(&format!("kunit-{arch}"));
    let (junit, json) = (dir.join("kunit.xml"), dir.join("kunit.json"));
    let tested = run(xtask(&[
        "test",
        "--arch",
        arch,
        "--kunit",
        "--junit",
        path(&junit),
        "--json",
        path(&json),
    ]))
    .ok();
    eprintln!("{arch}:\n{}", tested.stdout());
    let log = target_dir().join(format!("kardel/logs/{arch}/kunit.log"));
    let console = std::fs::read_to_string(&log).unwrap();
    // KUnit's own word: each suite's "# Subtest: NAME" and its plan "1..N" on the next line, and
    // "# Totals: pass:P fail:F skip:S total:T" after suites of more than one case
    let lines: Vec<&str> = console.lines().collect();
    let mut plans = std::collections::BTreeMap::new();
    for (at, line) in lines.iter().enumerate() {
        if let Some((_, name)) = line.split_once("    # Subtest: ") {
            let plan = lines[at + 1].split_once("    1..").expect("a plan after the header").1;
            plans.insert(name.to_string(), plan.parse::<usize>().unwrap());
        }
    }
    let skip: usize = lines
        .iter()
        .filter_map(|l| l.split_once("# Totals: ").map(|(_, t)| t))
        .map(|t| {
            t.split_whitespace()
                .find_map(|w| w.strip_prefix("skip:"))
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    let total: usize = plans.values().sum();
    assert!(plans.len() >= 10 && total > 50 && skip > 0, "{arch}: {plans:?}, {skip} skipped");

    let report = read_junit(&junit);
    let junit_plans: std::collections::BTreeMap<String, usize> =
        report.test_suites.iter().map(|s| (s.name.to_string(), s.test_cases.len())).collect();
    assert_eq!(
        junit_plans, plans,
        "{arch}: a JUnit suite for each suite, a case for each planned case"
    );
    let skipped = report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .filter(|c| kind(&c.status) == Kind::Skipped)
        .count();
    assert_eq!(skipped, skip, "{arch}");

    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(results["passed"], true);
    assert_eq!(results["counts"]["skip"].as_u64(), Some(skip as u64), "{arch}");
    assert_eq!(results["counts"]["pass"].as_u64(), Some((total - skip) as u64), "{arch}");
    let totals =
        format!("{total} cases: {} passed, 0 failed, {skip} skipped, 0 errors", total - skip);
    assert!(tested.stdout().contains(&totals), "{}", tested.stdout());
}

/// A command's TAP read as KUnit's is: a failing case fails the run with 1, a passing one 0;
/// the command's stdout stays the command's.
fn tap_from_a_command(dir: &Path) {
    let junit = dir.join("tap.xml");
    let tap = "printf 'TAP version 13\\n1..3\\nok 1 - boots\\nnot ok 2 - sums\\n# 2 + 2 = 5\\nok 3 - later # SKIP not yet\\n'";
    let failed = run(xtask(&["run", "--junit", path(&junit), "--", "sh", "-c", tap]));
    assert_eq!(failed.output.status.code(), Some(1), "{}", failed.stderr());
    assert!(
        failed.stdout().starts_with("TAP version 13\n1..3\nok 1 - boots\n"),
        "{}",
        failed.stdout()
    );
    let report = read_junit(&junit);
    assert_eq!(
        cases(&report),
        [("boots", Kind::Pass), ("sums", Kind::Failure), ("later", Kind::Skipped)]
    );
    let passing = run(xtask(&[
        "run",
        "--tap",
        "--",
        "sh",
        "-c",
        "printf 'TAP version 13\\n1..1\\nok 1 - fine\\n'",
    ]))
    .ok();
    assert!(passing.stderr().contains("1 cases: 1 passed"), "{}", passing.stderr());
    reports_land_where_the_user_said(dir);
    // a plan the output falls short of is not a pass, whatever the command's exit code
    // ... and the JUnit a CI reads says so: a failing case of its own, as Bail out! is an error
    let junit = dir.join("short.xml");
    for (tap, case, expected) in [
        ("printf '1..2\\nok 1 - one\\n'", "plan", Kind::Failure),
        ("printf '1..2\\nok 1 - one\\nBail out! no disk\\nok 2 - two\\n'", "bail out", Kind::Error),
    ] {
        let short = run(xtask(&["run", "--tap", "--junit", path(&junit), "--", "sh", "-c", tap]));
        assert_eq!(short.output.status.code(), Some(1), "{}", short.stderr());
        let report = read_junit(&junit);
        assert_eq!(cases(&report), [("one", Kind::Pass), (case, expected)], "{tap}");
    }
}

/// The report paths a user gives: a symlink to the real report stays a link and the report is
/// written where it points; a device (a twin of /dev/null, made where the test runs as root, as CI
/// does) stays a device; a full device is an error naming it, the results still printed, and an
/// exit code of its own (74), not a machine failure's (125).
fn reports_land_where_the_user_said(dir: &Path) {
    let fine = "printf '1..1\\nok 1 - fine\\n'";
    let link = dir.join("link.xml");
    std::os::unix::fs::symlink("real.xml", &link).unwrap();
    let null = dir.join("null");
    let made = std::process::Command::new("mknod").arg(&null).args(["c", "1", "3"]).status();
    let null = if made.is_ok_and(|s| s.success()) { null } else { PathBuf::from("/dev/null") };
    run(xtask(&[
        "run",
        "--tap",
        "--junit",
        path(&link),
        "--json",
        path(&null),
        "--",
        "sh",
        "-c",
        fine,
    ]))
    .ok();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(read_junit(&dir.join("real.xml")).test_suites[0].tests, 1);
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&null).unwrap().file_type().is_char_device(), "{null:?}");

    let full = run(xtask(&["run", "--tap", "--junit", "/dev/full", "--", "sh", "-c", fine]));
    assert_eq!(full.output.status.code(), Some(74), "{}", full.stderr());
    assert!(full.stderr().contains("1 cases: 1 passed"), "{}", full.stderr());
    assert!(
        full.stderr().contains("--junit: the report was not written: writing /dev/full"),
        "{}",
        full.stderr()
    );
}

/// `run --all-targets` with a settings file of three named targets: a suite per target in the
/// JUnit, the failing one with its exit code, each target's output on stdout.
#[test]
fn named_targets_reported_as_suites() {
    if !enabled("e2e_7_results, named targets (three command runs, one in the host's root)") {
        return;
    }
    let _one = serial();
    let dir = tempdir("kardel-e2e-targets");
    let settings = dir.join("kardel.toml");
    std::fs::write(
        &settings,
        "[target.plain]\ncommand = [\"sh\", \"-c\", \"echo plain\"]\n\n\
         [target.failing]\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n\n\
         [target.host]\nrootfs = \"/\"\ncommand = [\"python3\", \"-c\", \"print(6*7)\"]\n",
    )
    .unwrap();
    let junit = dir.join("targets.xml");
    let mut all = xtask(&["run", "--all-targets", "--junit", path(&junit)]);
    all.env("KARDEL_CONFIG", &settings);
    let ran = run(all);
    assert_eq!(ran.output.status.code(), Some(1), "{}", ran.stderr());
    let stdout = ran.stdout();
    assert!(stdout.contains("plain\n") && stdout.contains("42\n"), "{stdout}");
    let report = read_junit(&junit);
    for (target, expected) in
        [("plain", Kind::Pass), ("failing", Kind::Failure), ("host", Kind::Pass)]
    {
        let suite = only_suite(&report, target);
        assert_eq!(suite.test_cases.len(), 1, "{target}");
        assert_eq!(kind(&suite.test_cases[0].status), expected, "{target}");
    }
    let failing = &only_suite(&report, "failing").test_cases[0];
    let message = match &failing.status {
        TestCaseStatus::NonSuccess { message, .. } => message.as_ref().map(|m| m.to_string()),
        _ => None,
    };
    assert_eq!(message.as_deref(), Some("exited with 3"));
    // one target by name, its command when none is given
    let mut one = xtask(&["run", "--target", "host"]);
    one.env("KARDEL_CONFIG", &settings);
    assert_eq!(run(one).ok().stdout(), "42\n");
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Pass,
    Failure,
    Error,
    Skipped,
}

fn kind(status: &TestCaseStatus) -> Kind {
    match status {
        TestCaseStatus::Success { .. } => Kind::Pass,
        TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, .. } => Kind::Failure,
        TestCaseStatus::NonSuccess { kind: NonSuccessKind::Error, .. } => Kind::Error,
        TestCaseStatus::Skipped { .. } => Kind::Skipped,
    }
}

/// Every case of the report, by name, with how it ended.
fn cases(report: &Report) -> Vec<(&str, Kind)> {
    report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .map(|c| (c.name.as_str(), kind(&c.status)))
        .collect()
}

/// The JUnit file parsed back: well formed, or the test fails naming it.
fn read_junit(path: &Path) -> Report {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Report::deserialize_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not JUnit: {e}\n{text}", path.display()))
}

#[track_caller]
fn only_suite<'a>(report: &'a Report, name: &str) -> &'a quick_junit::TestSuite {
    let found: Vec<_> = report.test_suites.iter().filter(|s| s.name.as_str() == name).collect();
    assert_eq!(
        found.len(),
        1,
        "one suite {name} in {:?}",
        report.test_suites.iter().map(|s| s.name.as_str()).collect::<Vec<_>>()
    );
    found[0]
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
