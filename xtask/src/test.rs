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
    let Some(glob) = flags.kunit.clone() else {
        bail!("say what to test: --kunit (all of KUnit's suites) or --kunit GLOB");
    };
    if flags.lava.lava_job.is_some() {
        return lava_job(&flags, &glob).map(|()| ExitCode::SUCCESS);
    }
    check_report_paths(&flags.reports)?;
    // from here on, every failure is the build's or the machine's: one code of its own
    let (console_log, console, machine_failure) = match boot_kunit(&flags, &glob) {
        Ok(outcome) => outcome,
        Err(err) => {
            // the reports still say why, so that a CI shows a broken build as one
            eprintln!("error: {err:#}");
            let failure = Some(format!("{err:#}"));
            let run = results::Run::new("kunit", results::Results::default(), failure);
            write_reports(&run, &flags.reports, &mut std::io::stderr());
            return Ok(ExitCode::from(runner::GUEST_FAILED));
        }
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
    options.append.extend(kunit::kernel_args(glob));
    let choice = boot::uboot::Choice::None;
    let (ctx, built, ..) = for_boot(&flags.build, &options, &choice, &["kunit"])?;
    let tests = lava::boots::kunit_tests(!flags.build.modules.is_empty());
    crate::lava::write_job(&ctx, &built, boot, &options, &flags.lava, tests)
}

/// Builds the KUnit kernel flavour (with the modules given), boots it on the fast machine, loads
/// the modules, and returns the console's log, its text, and the machine's failure if any.
fn boot_kunit(
    flags: &flags::Test,
    glob: &str,
) -> Result<(std::path::PathBuf, String, Option<String>)> {
    let mut options = flags.machine.options(None)?;
    options.append.extend(kunit::kernel_args(glob));
    let choice = boot::uboot::Choice::None;
    let (ctx, built, ..) = for_boot(&flags.build, &options, &choice, &["kunit"])?;
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
        ..runner::Options::for_command(&ctx, &options, Duration::from_secs(flags.timeout))
    };
    let argv = ["sh", "-c", kunit::LOAD_TEST_MODULES].map(String::from);
    let machine_failure = match runner::run(&ctx, machine, &argv, options) {
        runner::Outcome::Exited(0) => None,
        runner::Outcome::Failed(failure) => Some(failure.message),
        other => Some(format!("loading the test modules failed (exit {})", other.exit_code())),
    };
    let console = std::mem::take(&mut *console.lock().expect("the console's lock"));
    Ok((console_log, console, machine_failure))
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
