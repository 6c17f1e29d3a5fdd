//! `test --kunit`: KUnit's suites in the guest, read from the console into results. Built-in
//! suites boot the KUnit kernel alone, as kunit.py does; test modules are built against it and
//! sent to its machine (a saved one when there is: warm starts), which loads them.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Result;
use boot::{
    boots, kunit,
    machine::{self, Init, Request, Speed},
    runner,
};
use stages::{hostdeps::Step, pipeline, summary::Summary, Context, Selection};

/// What a KUnit run is asked for, besides the selection and the machine.
pub struct Kunit {
    /// the suites (`kunit.filter_glob`), all when empty
    pub glob: String,
    /// the whole run's limit, boot included
    pub timeout: Duration,
    /// the console on stderr as it comes
    pub verbose: bool,
    /// with test modules: boot, even when a saved machine could load them
    pub cold: bool,
}

/// KUnit's suites (and those of the selection's test modules) run in the guest and read from
/// its console; an error when the build failed, before any result.
pub fn run(
    selection: &Selection,
    target: PathBuf,
    install_deps: bool,
    mut options: boot::Options,
    asked: &Kunit,
) -> Result<results::Run> {
    options.append.extend(kunit::kernel_args(&asked.glob));
    let ctx = crate::prepare::context_for(selection, target, &options, &["kunit"])?;
    let (console_log, console, machine_failure) = match selection.modules.is_empty() {
        true => alone(&ctx, install_deps, &options, asked)?,
        false => with_modules(&ctx, install_deps, &options, asked)?,
    };
    let results = kunit::read_console(&console);
    let mut run = results::Run::new("kunit", results, machine_failure);
    if run.counts.total() == 0 && run.machine_failure.is_none() {
        run.passed = false;
        run.problems.push(match asked.glob.is_empty() {
            true => format!("no KUnit suite ran (the console is in {})", console_log.display()),
            false => format!("no KUnit suite matches --kunit {}", asked.glob),
        });
    }
    Ok(run)
}

/// The console's log, its text, and the machine's failure if any.
type Console = (PathBuf, String, Option<String>);

/// Builds the KUnit kernel flavour, the modules against it and its plain images, boots it on
/// the fast machine (from its saved state when there is one: the built-in suites' console is
/// kept with it), sends it the modules and loads them.
fn with_modules(
    ctx: &Context,
    install_deps: bool,
    options: &boot::Options,
    asked: &Kunit,
) -> Result<Console> {
    let mut summary = Summary::default();
    let (built, modules) =
        pipeline::build_modules_apart(ctx, install_deps, &[Step::Qemu], &mut summary)?;
    if asked.verbose {
        eprint!("{}", summary.render());
    }
    let request = Request {
        init: Init::Runner,
        announce: asked.verbose,
        ..Request::new(boots::by_name("initramfs"), Speed::Fast)
    };
    let machine = machine::machine(ctx.site(), &built, &request, options)?;
    let console_log = ctx.layout.log("kunit");
    let console = Arc::new(Mutex::new(String::new()));
    let run_options = runner::Options {
        verbose: asked.verbose,
        console_log: console_log.clone(),
        // what loading the modules prints is not the results: the summary is stdout's
        stdout: Box::new(std::io::stderr()),
        console_copy: Some(Arc::clone(&console)),
        warm: !asked.cold,
        stdin_bytes: Some(modules.archive(ctx.source_date_epoch)?),
        ..runner::Options::for_command(ctx.site(), options, asked.timeout)
    };
    let argv = ["sh".to_string(), "-c".to_string(), kunit::unpack_and_load_test_modules()];
    let machine_failure = match runner::run(ctx.site(), machine, &argv, run_options) {
        runner::Outcome::Exited(0) => None,
        runner::Outcome::Failed(failure) => Some(failure.message),
        other => Some(format!("loading the test modules failed (exit {})", other.exit_code())),
    };
    let console = std::mem::take(&mut *console.lock().expect("the console's lock"));
    Ok((console_log, console, machine_failure))
}

/// KUnit's built-in suites alone: the KUnit kernel booted with no root file system (no BusyBox,
/// no image built), powered off by KUnit once its suites have run, as kunit.py does.
fn alone(
    ctx: &Context,
    install_deps: bool,
    options: &boot::Options,
    asked: &Kunit,
) -> Result<Console> {
    stages::hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Kernel, Step::Qemu], install_deps)?;
    let (kernel, _) = stages::kernel::build(ctx)?;
    let machine = machine::kernel_alone(
        ctx.site(),
        &kernel,
        options,
        &[kunit::SHUTDOWN.into()],
        asked.verbose,
    )?;
    let console_log = ctx.layout.log("kunit");
    let limits = qemu::Limits { whole_session: asked.timeout, silence: runner::BOOT_SILENCE };
    let mut session = qemu::Session::spawn_with_limits(&machine, &console_log, limits)?;
    let ended = session
        .wait_for(kunit::POWERED_OFF, asked.timeout)
        .and_then(|()| session.wait_for_exit(Duration::from_secs(10)).map(drop));
    let console = session.transcript();
    if asked.verbose {
        eprint!("{console}");
    }
    let machine_failure = ended.err().map(|err| format!("{err:#}"));
    Ok((console_log, console, machine_failure))
}
