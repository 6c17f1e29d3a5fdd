//! `cargo xtask run`: the tutorial's QEMU command line on this terminal, or a command run in the
//! guest whose output and exit code are the run's.

use std::{process::ExitCode, time::Duration};

use anyhow::{bail, Result};

use crate::{
    boot::{self, Speed},
    boots,
    context::Context,
    flags,
    hostdeps::Step,
    pipeline, runner,
    summary::Summary,
};

pub fn run(flags: flags::Run) -> Result<ExitCode> {
    if flags.command.is_empty() {
        return interactive(flags).map(|()| ExitCode::SUCCESS);
    }
    // a command's exit code is the run's: every failure of the tool or the guest gets one code
    // of its own
    match command(flags) {
        Ok(code) => Ok(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            Ok(ExitCode::from(runner::GUEST_FAILED))
        }
    }
}

fn interactive(flags: flags::Run) -> Result<()> {
    let Some(name) = flags.image.boot_name() else {
        bail!("choose an image to boot: --initrd, --initramfs or --hello (or give a command after --)");
    };
    let boot = boots::by_name(name);
    let ctx = Context::new(&flags.build)?;
    let built = pipeline::build_all(
        &ctx,
        flags.build.install_deps,
        &[Step::Qemu],
        &mut Summary::default(),
    )?;
    let speed = if flags.fast { Speed::Fast } else { Speed::Tutorial };
    // a dry run prints what would run, and probing KVM would start a QEMU
    let machine = boot::machine(&ctx, &built, boot, &flags.machine, speed, !flags.dry_run)?;
    if flags.dry_run {
        println!("{}", qemu::command_line(&machine));
        return Ok(());
    }
    let status = qemu::run_interactive(&machine)?;
    if !status.success() {
        bail!("qemu exited with {status}");
    }
    Ok(())
}

fn command(flags: flags::Run) -> Result<ExitCode> {
    let boot = boots::by_name(flags.image.boot_name().unwrap_or("initramfs"));
    if boot.init.is_none() {
        bail!("--{} runs its own /init and no command: use --initramfs or --initrd", boot.name);
    }
    let ctx = Context::new(&flags.build)?;
    let built = pipeline::build_all(
        &ctx,
        flags.build.install_deps,
        &[Step::Qemu],
        &mut Summary::default(),
    )?;
    let machine = boot::machine_with_init(
        &ctx,
        &built,
        boot,
        &flags.machine,
        Speed::Fast,
        Some(runner::RUNNER_INIT),
        !flags.dry_run,
    )?;
    if flags.dry_run {
        println!("{}", qemu::command_line(&machine));
        return Ok(ExitCode::SUCCESS);
    }
    let options =
        runner::Options { timeout: Duration::from_secs(flags.timeout), verbose: flags.verbose };
    runner::run(&ctx, machine, &flags.command, &options)
}
