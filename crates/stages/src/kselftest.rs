//! The kernel tree's own selftests (`tools/testing/selftests`), built for the guest: static, with
//! the same tree and cross compiler as its kernel, one target at a time so that a target that
//! does not build is named with its error and left out while the rest go on. The targets built
//! are merged into one folder the images take as an overlay (`/opt/kselftests`), with the tree's
//! own runner (`run_kselftest.sh`) adapted to the guest's BusyBox.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use xshell::cmd;

use crate::Context;

/// Where the tests are in the guest.
pub const GUEST_DIR: &str = "/opt/kselftests";

/// The targets run when none are named: those that build static and pass on the tiny kernel
/// on every row of the architecture table here, x86_64, aarch64 and riscv64 (measured on
/// Debian's 6.1 tree: README, "Your tests in the guest"). Left out: `proc` (an `#error` but on
/// x86_64) and `prctl` (x86's) do not build everywhere, `timers`, `exec` and `clone3` do not link
/// static; `sync` runs past its 45 s on aarch64 and riscv64 under TCG, and `splice`, `pidfd` and
/// `mincore` fail cases on the tiny kernel.
pub const DEFAULT_TARGETS: [&str; 6] =
    ["futex", "kcmp", "membarrier", "size", "sigaltstack", "rtc"];

/// A target that did not build, with the end of its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFailure {
    pub target: String,
    pub log: PathBuf,
    pub tail: String,
}

/// What [`build`] made.
#[derive(Debug, Clone)]
pub struct Built {
    /// the overlay folder: its `opt/kselftests` holds the runner and every target built
    pub overlay: PathBuf,
    pub targets: Vec<String>,
    pub failures: Vec<BuildFailure>,
    /// the built targets' `config` fragments in the tree, for the kernel
    pub kernel_fragments: Vec<PathBuf>,
    /// how many targets this run built (not found built by an earlier one)
    pub newly_built: usize,
}

/// The selftests folder of a kernel tree, and the targets it has (folders with a Makefile).
pub fn targets_in(tree: &Path) -> Result<Vec<String>> {
    let dir = tree.join("tools/testing/selftests");
    let entries = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: the kernel tree has no selftests", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("Makefile").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// `asked` checked against the tree's targets: an unknown one is refused, naming those there are.
pub fn check_targets(asked: &[String], there: &[String]) -> Result<()> {
    for target in asked {
        if !there.contains(target) {
            bail!(
                "--kselftest {target}: no such target in the tree's tools/testing/selftests \
                 (it has {})",
                there.join(", ")
            );
        }
    }
    Ok(())
}

/// Builds each of `targets` from `tree` (static, for the context's architecture) into its own
/// folder, reusing what an earlier run built from the same tree, then merges those that built.
pub fn build(ctx: &Context, tree: &Path, slug: &str, targets: &[String]) -> Result<Built> {
    let selftests = tree.join("tools/testing/selftests");
    let cross = ctx.cross_prefix();
    let cc = format!("{cross}gcc -static");
    let mut built = Vec::new();
    let mut failures = Vec::new();
    let mut newly_built = 0;
    for target in targets {
        let paths = ctx.layout.kselftest_target(slug, target);
        let (dir, install, failed) = (&paths.dir, &paths.install, &paths.failed);
        let stamp = artifact::Stamp::new(&paths.stamp);
        let mut fingerprint = artifact::Fingerprint::new("kselftest");
        fingerprint.add("tree", slug).add("target", target).add("cc", &cc);
        fingerprint.add("arch", &ctx.arch.kernel_arch);
        let log = ctx.layout.log(&format!("kselftest-{target}"));
        let fresh = stamp.is_fresh(&fingerprint, &[]) && (install.is_dir() || failed.is_file());
        if !fresh {
            let _lock = artifact::Lock::acquire(&ctx.layout.lock_for(dir), "a kselftest build")?;
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir)?;
            let arch = format!("ARCH={}", ctx.arch.kernel_arch);
            let cross_arg = (!cross.is_empty()).then(|| format!("CROSS_COMPILE={cross}"));
            let out = format!("O={}", paths.build.display());
            let path = format!("INSTALL_PATH={}", install.display());
            let cc_arg = format!("CC={cc}");
            let jobs = format!("-j{}", ctx.jobs);
            let make = cmd!(
                ctx.sh,
                "make -C {selftests} TARGETS={target} {arch} {cross_arg...} {cc_arg} {out} {jobs} install {path}"
            );
            if let Err(err) = exec::run_logged(make, &log, &format!("kselftest {target}")) {
                // kept, so that the next run says the same without building again
                artifact::write_atomic(failed, |f| {
                    Ok(std::io::Write::write_all(f, format!("{err:#}").as_bytes())?)
                })?;
            }
            stamp.record(&fingerprint)?;
            newly_built += 1;
        }
        match std::fs::read_to_string(failed) {
            Ok(error) => failures.push(BuildFailure {
                target: target.clone(),
                log: log.clone(),
                tail: error,
            }),
            Err(_) => built.push(target.clone()),
        }
    }
    let overlay = merge(ctx, slug, &built)?;
    let kernel_fragments = built
        .iter()
        .map(|target| selftests.join(target).join("config"))
        .filter(|config| config.is_file())
        .collect();
    Ok(Built { overlay, targets: built, failures, kernel_fragments, newly_built })
}

/// The built targets' install folders as one: the runner (adapted), each target's folder, and
/// their lists of tests in one `kselftest-list.txt`, under `opt/kselftests` of a folder made
/// whole and renamed into place.
fn merge(ctx: &Context, slug: &str, targets: &[String]) -> Result<PathBuf> {
    let mut digest = artifact::Fingerprint::new("kselftest-set");
    digest.add("tree", slug);
    for target in targets {
        let stamp = ctx.layout.kselftest_target(slug, target).stamp;
        digest.add(target, std::fs::read_to_string(&stamp).unwrap_or_default());
    }
    let overlay = ctx.layout.kselftest_set(&digest.hex()[..16]);
    if overlay.is_dir() {
        return Ok(overlay);
    }
    let parent = overlay.parent().expect("a set's folder has a parent");
    std::fs::create_dir_all(parent)?;
    let temporary = parent.join(format!(".kselftests-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temporary);
    let into = temporary.join(GUEST_DIR.trim_start_matches('/'));
    std::fs::create_dir_all(&into)?;
    let mut list = String::new();
    // what kselftest's `make install` wrote (its own tree's names) is read from `install`
    for (index, target) in targets.iter().enumerate() {
        let install = ctx.layout.kselftest_target(slug, target).install;
        if index == 0 {
            let runner_script = install.join("run_kselftest.sh"); // tidy: allow
            std::fs::copy(runner_script, into.join("run_kselftest.sh"))?;
            let runner_dir = install.join("kselftest"); // tidy: allow
            let into_runner = into.join("kselftest");
            cmd!(ctx.sh, "cp -a {runner_dir} {into_runner}").quiet().run()?;
            let runner = into.join("kselftest/runner.sh");
            let text = std::fs::read_to_string(&runner)?;
            std::fs::write(
                &runner,
                adapt_runner(&text).with_context(|| runner.display().to_string())?,
            )?;
        }
        let (tests, into_tests) = (install.join(target), into.join(target)); // tidy: allow
        cmd!(ctx.sh, "cp -a {tests} {into_tests}").quiet().run()?;
        let listed = install.join("kselftest-list.txt"); // tidy: allow
        list.push_str(&std::fs::read_to_string(listed)?);
    }
    std::fs::write(into.join("kselftest-list.txt"), list)?;
    std::fs::rename(&temporary, &overlay)
        .with_context(|| format!("renaming {} to {}", temporary.display(), overlay.display()))?;
    Ok(overlay)
}

/// The tree's `kselftest/runner.sh` made to work with BusyBox: its `timeout` has no
/// `--foreground`, and a test it stops ends with 143 (the test killed by SIGTERM) where the
/// runner expects 124 (GNU's) to say TIMEOUT. `KSELFTEST_TIMEOUT`, when set, is every test's
/// limit, over the collections' own `settings`, and the limit a TIMEOUT line names.
pub fn adapt_runner(text: &str) -> Result<String> {
    const SAID: &str = "# TIMEOUT $kselftest_timeout seconds";
    if !text.contains(SAID) {
        bail!("no `{SAID}` in the runner");
    }
    let text = &text.replace(SAID, "# TIMEOUT ${KSELFTEST_TIMEOUT:-$kselftest_timeout} seconds");
    let start = text.find("tap_timeout()").context("no tap_timeout() in the runner")?;
    let end =
        start + text[start..].find("\n}\n").context("tap_timeout() has no end in the runner")? + 3;
    let ours = r#"tap_timeout()
{
	# adapted by kardel for BusyBox's timeout: no foreground option, and a test it stops ends with 143
	[ -z "$KSELFTEST_TIMEOUT" ] || kselftest_timeout=$KSELFTEST_TIMEOUT
	if [ -x /usr/bin/timeout ] ; then
		/usr/bin/timeout "$kselftest_timeout" $1
		rc=$?
		[ $rc -ne 143 ] || rc=$timeout_rc
		return $rc
	else
		$1
	fi
}
"#;
    Ok(format!("{}{ours}{}", &text[..start], &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNER_6_1: &str = "export timeout_rc=124\n\ntap_prefix()\n{\n\tsed -e 's/^/# /'\n}\n\n\
tap_timeout()\n{\n\t# Make sure tests will time out if utility is available.\n\tif [ -x /usr/bin/timeout ] ; then\n\t\t/usr/bin/timeout --foreground \"$kselftest_timeout\" \\\n\t\t\t/usr/bin/timeout \"$kselftest_timeout\" $1\n\telse\n\t\t$1\n\tfi\n}\n\nrun_one()\n{\n\techo \"not ok $test_num $TEST_HDR_MSG # TIMEOUT $kselftest_timeout seconds\"\n}\n";

    #[test]
    fn the_runner_gets_a_timeout_busybox_runs() {
        let adapted = adapt_runner(RUNNER_6_1).unwrap();
        assert!(!adapted.contains("--foreground"), "{adapted}");
        assert!(adapted.contains("[ $rc -ne 143 ] || rc=$timeout_rc"), "{adapted}");
        // the rest as it was
        assert!(adapted.starts_with("export timeout_rc=124\n\ntap_prefix()"), "{adapted}");
        assert!(adapted.contains("# TIMEOUT ${KSELFTEST_TIMEOUT:-$kselftest_timeout} seconds"));
        assert!(adapted.ends_with(" seconds\"\n}\n"), "{adapted}");
        assert_eq!(adapted.matches("tap_timeout()").count(), 1);
        assert!(adapt_runner("run_one()\n{\n}\n").is_err());
    }

    #[test]
    fn unknown_targets_are_named_with_those_there_are() {
        let there = vec!["futex".to_string(), "kcmp".to_string()];
        check_targets(&["futex".into()], &there).unwrap();
        let err = check_targets(&["futx".into()], &there).unwrap_err().to_string();
        assert_eq!(
            err,
            "--kselftest futx: no such target in the tree's tools/testing/selftests (it has futex, kcmp)"
        );
    }
}
