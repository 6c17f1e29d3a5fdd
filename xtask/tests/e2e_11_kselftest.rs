//! The kernel's own selftests in the guest (`test --kselftest`), on x86_64 and riscv64: built
//! static from the tree, run by the tree's runner, read back from the JUnit case by case; a
//! target that does not build (`proc` for riscv64) named and the rest run; a test past its limit
//! a failure that says so.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`. Builds the
//! tiny kernel with feature `kselftest` for both architectures.

mod common;

use std::path::Path;

use common::{enabled, run, target_dir, tempdir, xtask};

/// `(classname, name, outcome)` of every test case of a JUnit file, read with quick-junit as
/// e2e_7 reads its: `pass`, `failure: MESSAGE`, `error: MESSAGE` or `skipped`.
fn cases(junit: &Path) -> Vec<(String, String, String)> {
    use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
    let text = std::fs::read_to_string(junit).unwrap();
    let report = Report::deserialize_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not JUnit: {e}\n{text}", junit.display()));
    let mut out = Vec::new();
    for case in report.test_suites.iter().flat_map(|s| &s.test_cases) {
        let outcome = match &case.status {
            TestCaseStatus::Success { .. } => "pass".to_string(),
            TestCaseStatus::Skipped { .. } => "skipped".to_string(),
            TestCaseStatus::NonSuccess { kind, message, .. } => {
                let message = message.as_ref().map(|m| m.to_string()).unwrap_or_default();
                match kind {
                    NonSuccessKind::Failure => format!("failure: {message}"),
                    NonSuccessKind::Error => format!("error: {message}"),
                }
            }
        };
        let classname = case.classname.as_ref().map(|c| c.to_string()).unwrap_or_default();
        out.push((classname, case.name.to_string(), outcome));
    }
    out
}

/// The tests the runner lists in the guest (`kselftest-list.txt` of the set built for `arch` of
/// exactly the `collections`), as `(collection, test)`.
fn listed(arch: &str, collections: &[&str]) -> Vec<(String, String)> {
    let sets = target_dir().join("kardel/kselftest").join(arch).join("sets");
    let read = |set: std::path::PathBuf| -> Vec<(String, String)> {
        let list = set.join("kselftests/opt/kselftests/kselftest-list.txt");
        std::fs::read_to_string(&list)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(collection, test)| (collection.to_string(), test.to_string()))
            .collect()
    };
    let mut wanted: Vec<&str> = collections.to_vec();
    wanted.sort();
    std::fs::read_dir(&sets)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| read(e.path()))
        .find(|tests| {
            let mut got: Vec<&str> = tests.iter().map(|(c, _)| c.as_str()).collect();
            got.sort();
            got.dedup();
            got == wanted
        })
        .unwrap_or_else(|| panic!("no set of {collections:?} in {}", sets.display()))
}

#[test]
fn kselftests_run_and_read_back_case_by_case() {
    if !enabled("e2e_11_kselftest (the tiny kselftest kernels of x86_64 and riscv64, QEMU boots)") {
        return;
    }
    let scratch = tempdir("kardel-e2e-kselftest");

    // the default set on the host's architecture: every test the runner listed is a case, passed
    let junit = scratch.join("default.xml");
    run(xtask(&["test", "--kselftest", "--junit", junit.to_str().unwrap()])).ok();
    let got = cases(&junit);
    let arch = std::env::consts::ARCH;
    let listed = listed(arch, &stages::kselftest::DEFAULT_TARGETS);
    assert!(listed.len() >= 6, "{listed:?}");
    for (collection, test) in &listed {
        let case = got.iter().find(|(c, n, _)| c == collection && n == test);
        assert!(case.is_some_and(|(_, _, o)| o == "pass"), "{collection}:{test} in {got:?}");
    }
    assert_eq!(got.len(), listed.len(), "{got:?}");

    // a test past its limit is a failure that says so; the others still pass
    let junit = scratch.join("timeout.xml");
    let limited = run(xtask(&[
        "test",
        "--kselftest",
        "futex,size",
        "--kselftest-timeout",
        "5",
        "--junit",
        junit.to_str().unwrap(),
    ]));
    assert_eq!(limited.output.status.code(), Some(1), "{}", limited.stderr());
    let got = cases(&junit);
    let futex = got.iter().find(|(c, _, _)| c == "futex").expect("futex's case");
    assert!(futex.2.contains("ran past its limit of 5 seconds"), "{got:?}");
    assert!(got.iter().any(|(c, _, o)| c == "size" && o == "pass"), "{got:?}");

    // riscv64: `proc` does not build for it (an #error), named; futex and size still run
    let junit = scratch.join("riscv64.xml");
    let riscv = run(xtask(&[
        "test",
        "--arch",
        "riscv64",
        "--kselftest",
        "futex,size,proc",
        "--junit",
        junit.to_str().unwrap(),
    ]));
    assert_eq!(riscv.output.status.code(), Some(1), "{}", riscv.stderr());
    assert!(
        riscv.stderr().contains("kselftest proc: did not build, left out"),
        "{}",
        riscv.stderr()
    );
    let got = cases(&junit);
    let proc_build =
        got.iter().find(|(c, n, _)| c == "proc" && n == "build").expect("proc's build");
    assert!(proc_build.2.starts_with("error: "), "{got:?}");
    let text = std::fs::read_to_string(&junit).unwrap();
    assert!(
        text.contains("implement 'unmap everything'") || text.contains("implement &apos;unmap"),
        "{text}"
    );
    for collection in ["futex", "size"] {
        assert!(
            got.iter().any(|(c, _, o)| c == collection && o == "pass"),
            "{collection}: {got:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
