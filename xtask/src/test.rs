//! `cargo xtask test --kunit`: KUnit's suites in the guest, read from the console into results a
//! CI reads.

use std::{
    io::Write,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{bail, Result};
use boot::{
    boots, kunit,
    machine::{self, Init, Request, Speed},
    runner,
};

use crate::{
    build::for_boot,
    flags,
    reports::{check_report_paths, finish, write_reports},
};

pub fn run(flags: flags::Test) -> Result<ExitCode> {
    if let Some(targets) = flags.kselftest.clone() {
        return kselftests(&flags, &targets);
    }
    let Some(glob) = flags.kunit.clone() else {
        bail!(
            "say what to test: --kunit (all of KUnit's suites), --kunit GLOB, --kselftest (the \
             default targets) or --kselftest TARGETS"
        );
    };
    if flags.lava.lava_job.is_some() {
        return lava_job(&flags, &glob).map(|()| ExitCode::SUCCESS);
    }
    check_report_paths(&flags.reports)?;
    // from here on, every failure is the build's or the machine's: one code of its own
    let (console_log, console, machine_failure) = match boot_kunit(&flags, &glob) {
        Ok(outcome) => outcome,
        Err(err) => return Ok(failed_before_results("kunit", &err, &flags.reports)),
    };
    let results = kunit::read_console(&console);
    let mut run = results::Run::new("kunit", results, machine_failure);
    if run.counts.total() == 0 && run.machine_failure.is_none() {
        run.passed = false;
        run.problems.push(match glob.is_empty() {
            true => format!("no KUnit suite ran (the console is in {})", console_log.display()),
            false => format!("no KUnit suite matches --kunit {glob}"),
        });
    }
    Ok(finish(&run, &flags.reports, &mut std::io::stdout(), runner::GUEST_FAILED))
}

/// `test --kunit --lava-job FILE`: the KUnit kernel's boot written as a LAVA job, a case per
/// suite, not run here.
fn lava_job(flags: &flags::Test, glob: &str) -> Result<()> {
    if flags.reports.wanted() {
        bail!("--lava-job writes a job: `cargo xtask lava FILE --junit ...` reports its results");
    }
    let boot = boots::by_name("initramfs");
    let mut options = crate::lava::job_options(&flags.machine, boot)?;
    flags.lava.check_path()?;
    options.append.extend(kunit::kernel_args(glob));
    let choice = boot::uboot::Choice::None;
    let (ctx, built, ..) = for_boot(&flags.build, &options, &choice, &["kunit"])?;
    let tests = lava::boots::kunit_tests(!flags.build.modules.is_empty());
    crate::lava::write_job(&ctx, &built, boot, &options, &flags.lava, tests)
}

/// Builds the KUnit kernel flavour, the modules given against it and its plain images, boots it
/// on the fast machine (from its saved state when there is one: the built-in suites' console is
/// kept with it), sends it the modules and loads them, and returns the console's log, its text,
/// and the machine's failure if any.
fn boot_kunit(
    flags: &flags::Test,
    glob: &str,
) -> Result<(std::path::PathBuf, String, Option<String>)> {
    let mut options = flags.machine.options(None)?;
    options.append.extend(kunit::kernel_args(glob));
    if flags.build.modules.is_empty() {
        return kunit_alone(flags, &options);
    }
    let mut ctx = crate::build::context(&flags.build)?;
    ctx.add_features(&options.needed_features());
    ctx.add_features(&["kunit"]);
    let mut summary = stages::summary::Summary::default();
    let install_deps = flags.build.install_deps;
    let needs = [stages::hostdeps::Step::Qemu];
    let (built, modules) =
        stages::pipeline::build_modules_apart(&ctx, install_deps, &needs, &mut summary)?;
    if flags.verbose {
        eprint!("{}", summary.render());
    }
    let request = Request {
        init: Init::Runner,
        announce: flags.verbose,
        ..Request::new(boots::by_name("initramfs"), Speed::Fast)
    };
    let machine = machine::machine(&ctx, &built, &request, &options)?;
    let console_log = ctx.layout.log("kunit");
    let console = Arc::new(Mutex::new(String::new()));
    let options = runner::Options {
        verbose: flags.verbose,
        console_log: console_log.clone(),
        // what loading the modules prints is not the results: the summary is stdout's
        stdout: Box::new(std::io::stderr()),
        console_copy: Some(Arc::clone(&console)),
        warm: !flags.cold,
        stdin_bytes: Some(modules.archive(ctx.source_date_epoch)?),
        ..runner::Options::for_command(&ctx, &options, Duration::from_secs(flags.timeout))
    };
    let argv = ["sh".to_string(), "-c".to_string(), kunit::unpack_and_load_test_modules()];
    let machine_failure = match runner::run(&ctx, machine, &argv, options) {
        runner::Outcome::Exited(0) => None,
        runner::Outcome::Failed(failure) => Some(failure.message),
        other => Some(format!("loading the test modules failed (exit {})", other.exit_code())),
    };
    let console = std::mem::take(&mut *console.lock().expect("the console's lock"));
    Ok((console_log, console, machine_failure))
}

/// KUnit's built-in suites alone: the KUnit kernel booted with no root file system (no BusyBox,
/// no image built), powered off by KUnit once its suites have run, as kunit.py does.
fn kunit_alone(
    flags: &flags::Test,
    options: &boot::Options,
) -> Result<(std::path::PathBuf, String, Option<String>)> {
    let mut ctx = crate::build::context(&flags.build)?;
    ctx.add_features(&options.needed_features());
    ctx.add_features(&["kunit"]);
    let steps = [stages::hostdeps::Step::Kernel, stages::hostdeps::Step::Qemu];
    stages::hostdeps::ensure(&ctx.sh, ctx.arch, &steps, flags.build.install_deps)?;
    let (kernel, _) = stages::kernel::build(&ctx)?;
    let machine =
        machine::kernel_alone(&ctx, &kernel, options, &[kunit::SHUTDOWN.into()], flags.verbose)?;
    let console_log = ctx.layout.log("kunit");
    let timeout = Duration::from_secs(flags.timeout);
    let limits = qemu::Limits { whole_session: timeout, silence: runner::BOOT_SILENCE };
    let mut session = qemu::Session::spawn_with_limits(&machine, &console_log, limits)?;
    let ended = session
        .wait_for(kunit::POWERED_OFF, timeout)
        .and_then(|()| session.wait_for_exit(Duration::from_secs(10)).map(drop));
    let console = session.transcript();
    if flags.verbose {
        eprint!("{console}");
    }
    let machine_failure = ended.err().map(|err| format!("{err:#}"));
    Ok((console_log, console, machine_failure))
}

/// `test --kselftest [TARGETS]`: the tree's selftests built, run in the guest by its runner, and
/// reported as `test --kunit` reports.
fn kselftests(flags: &flags::Test, asked: &[String]) -> Result<ExitCode> {
    let asked: Vec<String> = asked.iter().filter(|t| !t.is_empty()).cloned().collect();
    if flags.lava.lava_job.is_some() {
        return kselftest_job(flags, &asked).map(|()| ExitCode::SUCCESS);
    }
    check_report_paths(&flags.reports)?;
    let (stdout, failures, machine_failure) = match boot_kselftests(flags, &asked) {
        Ok(outcome) => outcome,
        Err(err) => return Ok(failed_before_results("kselftest", &err, &flags.reports)),
    };
    let results = boot::kselftest::read_output(&stdout, &failures);
    let mut run = results::Run::new("kselftest", results, machine_failure);
    if run.counts.total() == 0 && run.machine_failure.is_none() {
        run.passed = false;
        run.problems.push("the runner printed no test's result".to_string());
    }
    Ok(finish(&run, &flags.reports, &mut std::io::stdout(), runner::GUEST_FAILED))
}

/// `test --kselftest [TARGETS] --lava-job FILE`: the same tests, built here, written as a LAVA
/// job whose cases are the tests; not run here.
fn kselftest_job(flags: &flags::Test, asked: &[String]) -> Result<()> {
    if flags.reports.wanted() {
        bail!("--lava-job writes a job: `cargo xtask lava FILE --junit ...` reports its results");
    }
    let boot = boots::by_name("initramfs");
    let options = crate::lava::job_options(&flags.machine, boot)?;
    flags.lava.check_path()?;
    let (_, Some((ctx, images))) = build_kselftests(flags, asked, &options)? else {
        bail!("no kselftest target built: nothing to write as a job");
    };
    let timeout = flags.kselftest_timeout;
    let tests = lava::boots::kselftest_tests(&boot::kselftest::command(timeout));
    crate::lava::write_job(&ctx, &images, boot, &options, &flags.lava, tests)
}

/// Builds the targets (each on its own: one that does not build is left out and named), the
/// kernel with feature `kselftest` and the built targets' config files, and the images with the
/// tests (none when no target built).
fn build_kselftests(
    flags: &flags::Test,
    asked: &[String],
    options: &boot::Options,
) -> Result<(stages::kselftest::Built, Option<(stages::Context, stages::Built)>)> {
    use stages::{kselftest, sources::Source};
    let mut selection = flags.build.selection()?;
    let ctx = stages::Context::new(&selection, crate::build::target_dir()?)?;
    let steps = [stages::hostdeps::Step::Kernel, stages::hostdeps::Step::Busybox];
    stages::hostdeps::ensure(&ctx.sh, ctx.arch, &steps, flags.build.install_deps)?;
    let source = Source::plan(&ctx, fetch::Package::Kernel)?;
    let tree = source.tree(&ctx)?;
    let there = kselftest::targets_in(&tree)?;
    let targets: Vec<String> = match asked.is_empty() {
        true => kselftest::DEFAULT_TARGETS.iter().map(|t| t.to_string()).collect(),
        false => asked.to_vec(),
    };
    kselftest::check_targets(&targets, &there)?;
    let started = std::time::Instant::now();
    let built = kselftest::build(&ctx, &tree, &source.slug(), &targets)?;
    // what the bench reads: the parts of a run, and whether it built anything
    artifact::record_timing("kselftest build", started.elapsed().as_secs_f64());
    artifact::record_timing("kselftest targets built", built.newly_built as f64);
    for failure in &built.failures {
        eprintln!(
            "kselftest {}: did not build, left out (its log: {})",
            failure.target,
            failure.log.display()
        );
    }
    if built.targets.is_empty() {
        return Ok((built, None));
    }
    // the targets' own config files, before the user's fragments, which win
    selection.kselftest_fragments = built.kernel_fragments.clone();
    selection.overlays.push(built.overlay.clone());
    let choice = boot::uboot::Choice::None;
    let install_deps = flags.build.install_deps;
    let started = std::time::Instant::now();
    let (ctx, images, ..) =
        crate::build::for_boot_of(&selection, install_deps, options, &choice, &["kselftest"])?;
    artifact::record_timing("kselftest kernel and images", started.elapsed().as_secs_f64());
    Ok((built, Some((ctx, images))))
}

/// [`build_kselftests`], then a boot of the images that runs the tree's runner: its stdout, the
/// targets that did not build, and the machine's failure if any.
fn boot_kselftests(
    flags: &flags::Test,
    asked: &[String],
) -> Result<(String, Vec<stages::kselftest::BuildFailure>, Option<String>)> {
    let options = flags.machine.options(None)?;
    let (built, images) = build_kselftests(flags, asked, &options)?;
    let Some((ctx, images)) = images else {
        // nothing built: the build failures are the results
        return Ok((String::new(), built.failures, None));
    };
    let request = Request {
        init: Init::Runner,
        announce: flags.verbose,
        ..Request::new(boots::by_name("initramfs"), Speed::Fast)
    };
    let machine = machine::machine(&ctx, &images, &request, &options)?;
    let copy = Arc::new(Mutex::new(Vec::new()));
    // the runner's output as it comes, with --verbose; the summary is stdout's
    let shown: Box<dyn Write + Send> = match flags.verbose {
        true => Box::new(std::io::stderr()),
        false => Box::new(std::io::sink()),
    };
    let options = runner::Options {
        verbose: flags.verbose,
        console_log: ctx.layout.log("kselftest"),
        stdout: Box::new(Tee { out: shown, copy: Arc::clone(&copy) }),
        ..runner::Options::for_command(&ctx, &options, Duration::from_secs(flags.timeout))
    };
    let argv = boot::kselftest::command(flags.kselftest_timeout);
    let started = std::time::Instant::now();
    let machine_failure =
        runner::run(&ctx, machine, &argv, options).failure().map(|f| f.message.clone());
    artifact::record_timing("kselftest boot and run", started.elapsed().as_secs_f64());
    let stdout = String::from_utf8_lossy(&copy.lock().expect("the copy's lock")).into_owned();
    Ok((stdout, built.failures, machine_failure))
}

/// The build or the machine failed before any result: said, and the reports still say why, so
/// that a CI shows a broken build as one; the code of a machine's failure.
fn failed_before_results(name: &str, err: &anyhow::Error, reports: &flags::Reports) -> ExitCode {
    eprintln!("error: {err:#}");
    let run = results::Run::new(name, results::Results::default(), Some(format!("{err:#}")));
    write_reports(&run, reports, &mut std::io::stderr());
    ExitCode::from(runner::GUEST_FAILED)
}

/// A writer that passes everything on and keeps a copy: a command's stdout streams to the
/// terminal and is read as TAP when the run ends.
pub struct Tee<W> {
    pub out: W,
    pub copy: Arc<Mutex<Vec<u8>>>,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.copy.lock().expect("the copy's lock").extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
