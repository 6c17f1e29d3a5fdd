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
    if flags.uboot.wanted() && flags.fast {
        bail!("--fast boots with qboot as the firmware: it cannot go through U-Boot");
    }
    let (ctx, built, uboot) = built(&flags)?;
    let speed = if flags.fast { Speed::Fast } else { Speed::Tutorial };
    // a dry run prints what would run, and probing KVM would start a QEMU
    let mut machine = boot::machine(&ctx, &built, boot, &flags.machine, speed, !flags.dry_run)?;
    with_gdb(&ctx, &built, &mut machine, flags.gdb);
    if let Some(uboot) = &uboot {
        boot::through(&mut machine, uboot);
    }
    if flags.dry_run {
        println!("{}", qemu::command_line(&machine));
        return Ok(());
    }
    match &uboot {
        Some(uboot) if !uboot.boots_by_itself(&machine) => eprintln!(
            "U-Boot: press Enter at \"Hit any key to stop autoboot\", then type at its => prompt:\n  {}",
            boot::uboot_commands(&machine).join("\n  ")
        ),
        Some(_) => eprintln!(
            "U-Boot boots by itself when its countdown ends (qfw load, zboot: README, \"Through \
             U-Boot\")"
        ),
        None => {}
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
    if flags.uboot.wanted() {
        bail!("--uboot and --uboot-rom boot to a shell (run, check), not to a command");
    }
    let (ctx, built, _) = built(&flags)?;
    let mut machine = boot::machine_with_init(
        &ctx,
        &built,
        boot,
        &flags.machine,
        Speed::Fast,
        Some(runner::RUNNER_INIT),
        !flags.dry_run,
    )?;
    with_gdb(&ctx, &built, &mut machine, flags.gdb);
    if flags.dry_run {
        println!("{}", qemu::command_line(&machine));
        return Ok(ExitCode::SUCCESS);
    }
    let options = runner::Options {
        timeout: Duration::from_secs(flags.timeout),
        verbose: flags.verbose,
        waits_for_debugger: flags.gdb.is_some(),
    };
    runner::run(&ctx, machine, &flags.command, &options)
}

/// What the run boots, built: the kernel with the features the flags need (a share needs 9p,
/// --gdb the debug kernel).
fn built(flags: &flags::Run) -> Result<(Context, pipeline::Built, Option<boot::UbootRom>)> {
    let mut ctx = Context::new(&flags.build)?;
    ctx.add_features(&flags.machine.needed_features());
    if flags.gdb.is_some() {
        ctx.add_features(&["debug"]);
    }
    let install_deps = flags.build.install_deps;
    pipeline::check_uboot_flags(&ctx, &flags.uboot, install_deps)?;
    let mut summary = Summary::default();
    let built = pipeline::build_all(&ctx, install_deps, &[Step::Qemu], &mut summary)?;
    let uboot = pipeline::uboot_rom(&ctx, &flags.uboot, &mut summary)?;
    Ok((ctx, built, uboot))
}

/// `--gdb`: the stub on 127.0.0.1 with the CPUs stopped, a kernel at the addresses in vmlinux
/// (nokaslr), and the gdb command to attach printed.
fn with_gdb(
    ctx: &Context,
    built: &pipeline::Built,
    machine: &mut qemu::Machine,
    port: Option<u16>,
) {
    let Some(port) = port else { return };
    machine.devices.extend(qemu::devices::gdb_stub(port));
    // KASLR would move the kernel away from the addresses gdb reads in vmlinux
    machine.append.push("nokaslr".to_string());
    let build = &built.kernel.build_dir;
    eprintln!(
        "gdb: the guest waits for a debugger on 127.0.0.1:{port}; attach with\n  cargo xtask gdb \
         --arch {} --profile {} --port {port}\nor\n  {}",
        ctx.arch.name,
        ctx.profile_name,
        qemu::shell_line(&gdb_argv(ctx, build, port, &[])),
    );
}

fn gdb_argv(
    ctx: &Context,
    build: &std::path::Path,
    port: u16,
    extra: &[String],
) -> Vec<std::ffi::OsString> {
    let ex = |command: String| ["-ex".into(), command.into()];
    // the host's gdb reads only the host's instruction set
    let program = if ctx.arch.is_host() { "gdb" } else { "gdb-multiarch" };
    let mut argv: Vec<std::ffi::OsString> = vec![program.into(), "-q".into()];
    // gdb loads vmlinux-gdb.py (lx-dmesg, lx-symbols) beside vmlinux only from a safe path
    argv.extend(["-iex".into(), format!("add-auto-load-safe-path {}", build.display()).into()]);
    argv.extend(ex(format!("file {}", build.join("vmlinux").display())));
    argv.extend(ex(format!("target remote 127.0.0.1:{port}")));
    argv.extend(extra.iter().map(Into::into));
    argv
}

/// `cargo xtask gdb`: gdb on the debug kernel of the same selection, attached to the guest.
pub fn gdb(flags: flags::Gdb) -> Result<()> {
    let mut ctx = Context::new(&flags.build)?;
    ctx.add_features(&["debug"]);
    let build = crate::kernel::build_dir(&ctx)?;
    let vmlinux = build.join("vmlinux");
    if !vmlinux.is_file() {
        bail!(
            "no debug kernel at {}: start the guest with `cargo xtask run --gdb` first",
            vmlinux.display()
        );
    }
    let argv = gdb_argv(&ctx, &build, flags.port, &flags.gdb_args);
    eprintln!("$ {}", qemu::shell_line(&argv));
    let status = std::process::Command::new(&argv[0]).args(&argv[1..]).status().map_err(|e| {
        anyhow::anyhow!(
            "cannot start {} ({e}): install it (Debian: gdb, or gdb-multiarch for another \
                 architecture's kernel)",
            argv[0].to_string_lossy()
        )
    })?;
    if !status.success() {
        bail!("gdb exited with {status}");
    }
    Ok(())
}
