//! `cargo xtask run`: the tutorial's QEMU command line on this terminal, or a command run in the
//! guest whose output and exit code are the run's.

use std::{process::ExitCode, time::Duration};

use anyhow::{bail, Result};
use boot::{boots, runner};
use engine::run::Ended;

use crate::{
    build::{self, for_boot},
    flags,
};

pub fn run(flags: flags::Run) -> Result<ExitCode> {
    if flags.all_targets {
        return all_targets(&flags);
    }
    if flags.command.is_empty() {
        if flags.tap || flags.reports.wanted() {
            bail!("--tap, --junit and --json read a command's output: give one after --");
        }
        if flags.lava.lava_job.is_some() {
            bail!("--lava-job writes a command as a LAVA job: give one after -- (or use check --lava-job)");
        }
        return interactive(flags).map(|()| ExitCode::SUCCESS);
    }
    if flags.lava.lava_job.is_some() {
        return lava_job(&flags).map(|()| ExitCode::SUCCESS);
    }
    let reports = flags.reports.paths();
    reports.check()?;
    // a command's exit code is the run's: every failure of the tool or the guest gets one code
    // of its own
    match command(&flags) {
        Ok(code) => Ok(code),
        Err(err) => {
            let name = flags.command.join(" ");
            Ok(ExitCode::from(reports.failed_before_results(&name, &err, runner::GUEST_FAILED)))
        }
    }
}

/// `run --all-targets`: each named target's command in a process of its own
/// (`engine::targets`), reported as `test` reports.
fn all_targets(flags: &flags::Run) -> Result<ExitCode> {
    if !flags.command.is_empty() {
        bail!("--all-targets runs each target's own command: give none after --");
    }
    let reports = flags.reports.paths();
    reports.check()?;
    let command = <flags::Xtask as clap::CommandFactory>::command();
    let targets: Vec<engine::targets::Target> =
        settings::all_targets(&crate::settings::known(&command), &stages::context::repo())?
            .into_iter()
            .map(|t| engine::targets::Target { name: t.name, command: t.command, origin: t.origin })
            .collect();
    // the child reads the settings files itself: what they set here is not its environment
    let unset = settings::set_from_files();
    let run = engine::targets::run_each(&std::env::current_exe()?, &targets, &unset)?;
    Ok(ExitCode::from(reports.finish(&run, &mut std::io::stderr(), runner::GUEST_FAILED)))
}

/// `run --lava-job FILE -- CMD`: the command as a LAVA job's test case, not run here.
fn lava_job(flags: &flags::Run) -> Result<()> {
    let boot = boots::by_name(flags.image.boot_name().unwrap_or("initramfs"));
    if flags.uboot.choice().wanted() || flags.gdb.is_some() || flags.tap || flags.reports.wanted() {
        bail!(
            "--lava-job writes the command as a LAVA job: --uboot, --gdb, --tap, --junit and \
             --json are for a run here (`cargo xtask lava FILE --junit ...` reports the job's)"
        );
    }
    let options = crate::lava::carried(&flags.machine, flags.machine_options()?, boot)?;
    flags.lava.check_path()?;
    let engine::prepare::Prepared { ctx, built, .. } =
        for_boot(&flags.build, &options, &boot::uboot::Choice::None, &[])?;
    let tests = lava::boots::command_tests(&flags.command, Duration::from_secs(flags.timeout));
    crate::lava::write_job(&ctx, &built, boot, &options, &flags.lava, tests)
}

fn interactive(flags: flags::Run) -> Result<()> {
    let Some(name) = flags.image.boot_name() else {
        bail!("choose an image to boot: --initrd, --initramfs or --hello (or give a command after --)");
    };
    let asked = engine::run::Interactive {
        boot: boots::by_name(name),
        uboot: flags.uboot.choice(),
        fast: flags.fast,
        dry_run: flags.dry_run,
        gdb: flags.gdb,
    };
    let (selection, target) = (flags.build.selection()?, build::target_dir()?);
    let options = flags.machine_options()?;
    engine::run::interactive(&selection, target, flags.build.install_deps, &options, &asked)
}

/// `run -- CMD` (`engine::run::command`): its exit code the run's, or its results reported.
fn command(flags: &flags::Run) -> Result<ExitCode> {
    if flags.uboot.choice().wanted() {
        bail!("--uboot and --uboot-rom boot to a shell (run, check), not to a command");
    }
    let asked = engine::run::Command {
        argv: flags.command.clone(),
        boot: boots::by_name(flags.image.boot_name().unwrap_or("initramfs")),
        timeout: Duration::from_secs(flags.timeout),
        verbose: flags.verbose,
        cold: flags.cold,
        dry_run: flags.dry_run,
        gdb: flags.gdb,
        results: flags.tap || flags.reports.wanted(),
    };
    let (selection, target) = (flags.build.selection()?, build::target_dir()?);
    let options = flags.machine_options()?;
    let ended =
        engine::run::command(&selection, target, flags.build.install_deps, &options, &asked)?;
    Ok(ExitCode::from(match ended {
        Ended::DryRun => 0,
        Ended::Exited(code) => code,
        Ended::Results(run) => {
            flags.reports.paths().finish(&run, &mut std::io::stderr(), runner::GUEST_FAILED)
        }
    }))
}

/// `cargo xtask gdb`: gdb on the debug kernel of the same selection, attached to the guest. This
/// program becomes gdb, so that gdb alone owns the terminal: Ctrl-C stops the guest and gives
/// gdb's prompt back, as in a plain `gdb`.
pub fn gdb(flags: flags::Gdb) -> Result<()> {
    let (selection, target) = (flags.build.selection()?, build::target_dir()?);
    engine::run::gdb(&selection, target, flags.port, &flags.gdb_args)
}
