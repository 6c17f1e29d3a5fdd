//! `cargo xtask run`: the tutorial's QEMU command line on this terminal, or a command run in the
//! guest whose output and exit code are the run's.

use std::{
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{bail, Result};

use boot::{
    boots,
    machine::{self, Init, Request, Speed},
    runner, uboot,
};
use stages::{pipeline, Context};

use crate::{
    build::{context, for_boot},
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
    let boot = boots::by_name(name);
    let choice = flags.uboot.choice();
    if choice.wanted() && flags.fast {
        bail!("--fast boots with qboot as the firmware: it cannot go through U-Boot");
    }
    let options = flags.machine_options()?;
    let engine::prepare::Prepared { ctx, built, uboot, .. } =
        for_boot(&flags.build, &options, &choice, &[])?;
    let speed = if flags.fast { Speed::Fast } else { Speed::Tutorial };
    // a dry run prints what would run, and probing KVM would start a QEMU
    let request = Request { probe_accel: !flags.dry_run, ..Request::new(boot, speed) };
    let mut machine = machine::machine(&ctx, &built, &request, &options)?;
    announce_gdb(&ctx, &built, flags.gdb);
    if let Some(uboot) = &uboot {
        uboot::through(&mut machine, uboot);
    }
    if flags.dry_run {
        println!("{}", qemu::command_line(&machine));
        return Ok(());
    }
    match &uboot {
        Some(uboot) if !uboot.boots_by_itself(&machine) => eprintln!(
            "U-Boot: press Enter at \"Hit any key to stop autoboot\", then type at its => prompt:\n  {}",
            uboot::uboot_commands(&machine).join("\n  ")
        ),
        Some(_) => eprintln!(
            "U-Boot boots by itself when its countdown ends (qfw load, zboot: README, \"Through \
             U-Boot\")"
        ),
        None => {}
    }
    // the hello program prints its line and then sleeps for ever: with no one at a terminal to
    // quit QEMU (a script, `</dev/null`), the run ends at the line
    if let (boots::Ready::Prints(line), None, None) = (boot.ready, &uboot, flags.gdb) {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            let mut session = machine::spawn(&ctx, &machine, boot)?;
            let printed = machine::wait_ready(&mut session, boot);
            let transcript = session.transcript();
            print!("{transcript}");
            if !transcript.ends_with('\n') {
                println!();
            }
            drop(session);
            printed?;
            eprintln!("{line:?} printed; its program sleeps for ever and stdin is not a terminal: stopped QEMU");
            return Ok(());
        }
    }
    let status = qemu::run_interactive(&machine)?;
    if !status.success() {
        bail!("qemu exited with {status}");
    }
    Ok(())
}

fn command(flags: &flags::Run) -> Result<ExitCode> {
    let boot = boots::by_name(flags.image.boot_name().unwrap_or("initramfs"));
    if boot.init.is_none() {
        bail!("--{} runs its own /init and no command: use --initramfs or --initrd", boot.name);
    }
    let choice = flags.uboot.choice();
    if choice.wanted() {
        bail!("--uboot and --uboot-rom boot to a shell (run, check), not to a command");
    }
    let options = flags.machine_options()?;
    let engine::prepare::Prepared { ctx, built, .. } =
        for_boot(&flags.build, &options, &choice, &[])?;
    let request = Request {
        init: Init::Runner,
        probe_accel: !flags.dry_run,
        // the run's stderr is the command's
        announce: flags.verbose || flags.dry_run,
        ..Request::new(boot, Speed::Fast)
    };
    let machine = machine::machine(&ctx, &built, &request, &options)?;
    announce_gdb(&ctx, &built, flags.gdb);
    if flags.dry_run {
        println!("{}", qemu::command_line(&machine));
        return Ok(ExitCode::SUCCESS);
    }
    let mut options = runner::Options {
        verbose: flags.verbose,
        waits_for_debugger: flags.gdb.is_some(),
        warm: !flags.cold,
        folder: options.root.as_deref().and_then(|root| {
            boot::user_root::guest_folder(root, &std::env::current_dir().ok()?.canonicalize().ok()?)
        }),
        ..runner::Options::for_command(&ctx, &options, Duration::from_secs(flags.timeout))
    };
    if !(flags.tap || flags.reports.wanted()) {
        let outcome = runner::run(&ctx, machine, &flags.command, options);
        if let Some(failure) = outcome.failure() {
            eprintln!("error: {}", failure.message);
        }
        return Ok(ExitCode::from(outcome.exit_code()));
    }
    let copy = Arc::new(Mutex::new(Vec::new()));
    options.stdout =
        Box::new(engine::reports::Tee { out: std::io::stdout(), copy: Arc::clone(&copy) });
    let outcome = runner::run(&ctx, machine, &flags.command, options);
    let stdout = String::from_utf8_lossy(&copy.lock().expect("the copy's lock")).into_owned();
    let machine_failure = outcome.failure().map(|failure| failure.message.clone());
    let mut run =
        results::Run::new(&flags.command.join(" "), results::parse(&stdout), machine_failure);
    let code = outcome.exit_code();
    if outcome.failure().is_none() && code != 0 {
        run.passed = false;
        run.problems.push(format!("the command exited with {code}"));
    }
    let code = flags.reports.paths().finish(&run, &mut std::io::stderr(), runner::GUEST_FAILED);
    Ok(ExitCode::from(code))
}

/// `--gdb`: the gdb command that attaches to the stopped guest.
fn announce_gdb(ctx: &Context, built: &pipeline::Built, port: Option<u16>) {
    let Some(port) = port else { return };
    let build = &built.kernel.build_dir;
    eprintln!(
        "gdb: the guest waits for a debugger on 127.0.0.1:{port}; attach with\n  cargo xtask gdb \
         --arch {} --profile {} --port {port}\nor\n  {}",
        ctx.arch.name,
        ctx.selection.profile,
        qemu::shell_line(&boot::gdb::argv(ctx.arch, build, port, &[])),
    );
}

/// `cargo xtask gdb`: gdb on the debug kernel of the same selection, attached to the guest. This
/// program becomes gdb, so that gdb alone owns the terminal: Ctrl-C stops the guest and gives
/// gdb's prompt back, as in a plain `gdb`.
pub fn gdb(flags: flags::Gdb) -> Result<()> {
    if !boot::gdb::stub_listening(flags.port) {
        bail!(
            "no guest waits for gdb on 127.0.0.1:{port}: start one with `cargo xtask run --gdb={port}` \
             (in another terminal)",
            port = flags.port
        );
    }
    let mut ctx = context(&flags.build)?;
    ctx.add_features(&["debug"]);
    let build = stages::kernel::build_dir(&ctx)?;
    let vmlinux = build.join("vmlinux");
    if !vmlinux.is_file() {
        bail!(
            "no debug kernel at {}: start the guest with `cargo xtask run --gdb` first",
            vmlinux.display()
        );
    }
    let argv = boot::gdb::argv(ctx.arch, &build, flags.port, &flags.gdb_args);
    eprintln!("$ {}", qemu::shell_line(&argv));
    let err = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(&argv[0]).args(&argv[1..]),
    );
    bail!(
        "cannot start {} ({err}): install it (Debian: gdb, or gdb-multiarch for another \
         architecture's kernel)",
        argv[0].to_string_lossy()
    )
}
