//! `test --kselftest [TARGETS]`: the tree's selftests built, run in the guest by its runner, and
//! read back a suite per collection.

use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Result;
use boot::{
    boots,
    machine::{self, Init, Request, Speed},
    runner,
};
use stages::{
    hostdeps::Step,
    kselftest::{self, BuildFailure},
    sources::Source,
    Selection,
};

use crate::{prepare::Prepared, reports::Tee};

/// What a kselftest run is asked for, besides the selection and the machine.
pub struct Kselftests {
    /// the targets, or the default set when empty
    pub targets: Vec<String>,
    /// every test's limit over the collections' own (`KSELFTEST_TIMEOUT`)
    pub test_timeout: Option<u64>,
    /// the whole run's limit, boot included
    pub timeout: Duration,
    /// the runner's output on stderr as it comes
    pub verbose: bool,
}

/// The targets built (each on its own: one that does not build is left out and named), and,
/// when any did, the kernel with feature `kselftest` and the built targets' config files and
/// the images with the tests.
pub fn build(
    selection: &Selection,
    target: PathBuf,
    install_deps: bool,
    asked: &[String],
    options: &boot::Options,
) -> Result<(kselftest::Built, Option<Prepared>)> {
    let mut selection = selection.clone();
    let ctx = stages::Context::new(&selection, target.clone())?;
    stages::hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Kernel, Step::Busybox], install_deps)?;
    let source = Source::plan(&ctx, fetch::Package::Kernel)?;
    let tree = source.tree(&ctx)?;
    let there = kselftest::targets_in(&tree)?;
    let targets: Vec<String> = match asked.is_empty() {
        true => kselftest::DEFAULT_TARGETS.iter().map(|t| t.to_string()).collect(),
        false => asked.to_vec(),
    };
    kselftest::check_targets(&targets, &there)?;
    let started = Instant::now();
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
    let started = Instant::now();
    let choice = boot::uboot::Choice::None;
    let prepared = crate::prepare::for_boot(
        &selection,
        target,
        install_deps,
        options,
        &choice,
        &["kselftest"],
    )?;
    artifact::record_timing("kselftest kernel and images", started.elapsed().as_secs_f64());
    Ok((built, Some(prepared)))
}

/// [`build`], then a boot of the images that runs the tree's runner, read back as results; an
/// error when the build failed before any result.
pub fn run(
    selection: &Selection,
    target: PathBuf,
    install_deps: bool,
    options: &boot::Options,
    asked: &Kselftests,
) -> Result<results::Run> {
    let (stdout, failures, machine_failure) =
        build_and_boot(selection, target, install_deps, options, asked)?;
    let results = boot::kselftest::read_output(&stdout, &failures);
    let mut run = results::Run::new("kselftest", results, machine_failure);
    if run.counts.total() == 0 && run.machine_failure.is_none() {
        run.passed = false;
        run.problems.push("the runner printed no test's result".to_string());
    }
    Ok(run)
}

/// The runner's stdout, the targets that did not build, and the machine's failure if any.
fn build_and_boot(
    selection: &Selection,
    target: PathBuf,
    install_deps: bool,
    options: &boot::Options,
    asked: &Kselftests,
) -> Result<(String, Vec<BuildFailure>, Option<String>)> {
    let (built, prepared) = build(selection, target, install_deps, &asked.targets, options)?;
    let Some(Prepared { ctx, built: images, .. }) = prepared else {
        // nothing built: the build failures are the results
        return Ok((String::new(), built.failures, None));
    };
    let request = Request {
        init: Init::Runner,
        announce: asked.verbose,
        ..Request::new(boots::by_name("initramfs"), Speed::Fast)
    };
    let machine = machine::machine(ctx.site(), &images, &request, options)?;
    let copy = Arc::new(Mutex::new(Vec::new()));
    // the runner's output as it comes, with --verbose; the summary is stdout's
    let shown: Box<dyn Write + Send> = match asked.verbose {
        true => Box::new(std::io::stderr()),
        false => Box::new(std::io::sink()),
    };
    let run_options = runner::Options {
        verbose: asked.verbose,
        console_log: ctx.layout.log("kselftest"),
        stdout: Box::new(Tee { out: shown, copy: Arc::clone(&copy) }),
        ..runner::Options::for_command(ctx.site(), options, asked.timeout)
    };
    let argv = boot::kselftest::command(asked.test_timeout);
    let started = Instant::now();
    let machine_failure =
        runner::run(ctx.site(), machine, &argv, run_options).failure().map(|f| f.message.clone());
    artifact::record_timing("kselftest boot and run", started.elapsed().as_secs_f64());
    let stdout = String::from_utf8_lossy(&copy.lock().expect("the copy's lock")).into_owned();
    Ok((stdout, built.failures, machine_failure))
}
