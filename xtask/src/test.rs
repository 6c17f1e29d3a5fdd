//! `cargo xtask test --kunit | --kselftest`: tests in the guest, reported as a CI reads them
//! (`engine::kunit`, `engine::kselftest`).

use std::{process::ExitCode, time::Duration};

use anyhow::{bail, Result};
use boot::{boots, kunit, runner::GUEST_FAILED};
use engine::{kselftest::Kselftests, kunit::Kunit};

use crate::{build, flags};

pub fn run(flags: flags::Test) -> Result<ExitCode> {
    let reports = flags.reports.paths();
    let timeout = Duration::from_secs(flags.timeout);
    let run = if let Some(targets) = &flags.kselftest {
        let targets: Vec<String> = targets.iter().filter(|t| !t.is_empty()).cloned().collect();
        if flags.lava.lava_job.is_some() {
            return kselftest_job(&flags, &targets).map(|()| ExitCode::SUCCESS);
        }
        reports.check()?;
        let asked = Kselftests {
            targets,
            test_timeout: flags.kselftest_timeout,
            timeout,
            verbose: flags.verbose,
        };
        let options = flags.machine.options(None)?;
        engine::kselftest::run(
            &flags.build.selection()?,
            build::target_dir()?,
            flags.build.install_deps,
            &options,
            &asked,
        )
        .map_err(|err| ("kselftest", err))
    } else if let Some(glob) = &flags.kunit {
        if flags.lava.lava_job.is_some() {
            return kunit_job(&flags, glob).map(|()| ExitCode::SUCCESS);
        }
        reports.check()?;
        let asked = Kunit { glob: glob.clone(), timeout, verbose: flags.verbose, cold: flags.cold };
        let options = flags.machine.options(None)?;
        engine::kunit::run(
            &flags.build.selection()?,
            build::target_dir()?,
            flags.build.install_deps,
            options,
            &asked,
        )
        .map_err(|err| ("kunit", err))
    } else {
        bail!(
            "say what to test: --kunit (all of KUnit's suites), --kunit GLOB, --kselftest (the \
             default targets) or --kselftest TARGETS"
        );
    };
    // from here on, every failure is the build's or the machine's: one code of its own
    Ok(ExitCode::from(match run {
        Ok(run) => reports.finish(&run, &mut std::io::stdout(), GUEST_FAILED),
        Err((name, err)) => reports.failed_before_results(name, &err, GUEST_FAILED),
    }))
}

/// The job's boot (the initramfs) and machine for `test --lava-job`, refused with reports (the
/// job is run, and reported, by `cargo xtask lava`) or a path that cannot be written.
fn job_boot(flags: &flags::Test) -> Result<(&'static boot::boots::Boot, boot::Options)> {
    if flags.reports.wanted() {
        bail!("--lava-job writes a job: `cargo xtask lava FILE --junit ...` reports its results");
    }
    let boot = boots::by_name("initramfs");
    let options = crate::lava::job_options(&flags.machine, boot)?;
    flags.lava.check_path()?;
    Ok((boot, options))
}

/// `test --kunit --lava-job FILE`: the KUnit kernel's boot written as a LAVA job, a case per
/// suite, not run here.
fn kunit_job(flags: &flags::Test, glob: &str) -> Result<()> {
    let (boot, mut options) = job_boot(flags)?;
    options.append.extend(kunit::kernel_args(glob));
    let prepared = build::for_boot(&flags.build, &options, &boot::uboot::Choice::None, &["kunit"])?;
    let tests = lava::boots::kunit_tests(!flags.build.modules.is_empty());
    crate::lava::write_job(&prepared.ctx, &prepared.built, boot, &options, &flags.lava, tests)
}

/// `test --kselftest [TARGETS] --lava-job FILE`: the same tests, built here, written as a LAVA
/// job whose cases are the tests; not run here.
fn kselftest_job(flags: &flags::Test, targets: &[String]) -> Result<()> {
    let (boot, options) = job_boot(flags)?;
    let (selection, target) = (flags.build.selection()?, build::target_dir()?);
    let install_deps = flags.build.install_deps;
    let built = engine::kselftest::build(&selection, target, install_deps, targets, &options)?;
    let Some(prepared) = built.1 else {
        bail!("no kselftest target built: nothing to write as a job");
    };
    let tests = lava::boots::kselftest_tests(&boot::kselftest::command(flags.kselftest_timeout));
    crate::lava::write_job(&prepared.ctx, &prepared.built, boot, &options, &flags.lava, tests)
}
