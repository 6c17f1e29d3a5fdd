//! `run`: the tutorial's QEMU on this terminal (an image to boot), or a command in the guest
//! whose output and exit code are the run's, its stdout read as TAP when asked.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{bail, Result};
use boot::{
    boots::{self, Boot},
    machine::{self, Init, Request, Speed},
    runner,
    uboot::{self, Choice},
};
use stages::{pipeline, Context, Selection};

use crate::prepare::{self, Prepared};

/// An image booted on this terminal.
pub struct Interactive {
    pub boot: &'static Boot,
    pub uboot: Choice,
    /// the fast machine instead of the tutorial's
    pub fast: bool,
    /// print QEMU's command line instead of running it
    pub dry_run: bool,
    /// the gdb stub's port, the guest stopped for it
    pub gdb: Option<u16>,
}

/// Builds what `asked` boots and runs QEMU on this terminal (or prints its command line).
pub fn interactive(
    selection: &Selection,
    target: PathBuf,
    install_deps: bool,
    options: &boot::Options,
    asked: &Interactive,
) -> Result<()> {
    if asked.uboot.wanted() && asked.fast {
        bail!("--fast boots with qboot as the firmware: it cannot go through U-Boot");
    }
    let Prepared { ctx, built, uboot, .. } =
        prepare::for_boot(selection, target, install_deps, options, &asked.uboot, &[])?;
    let speed = if asked.fast { Speed::Fast } else { Speed::Tutorial };
    // a dry run prints what would run, and probing KVM would start a QEMU
    let boot = asked.boot;
    let request = Request { probe_accel: !asked.dry_run, ..Request::new(boot, speed) };
    let mut machine = machine::machine(ctx.site(), &built, &request, options)?;
    announce_gdb(&ctx, &built, asked.gdb);
    if let Some(uboot) = &uboot {
        uboot::through(&mut machine, uboot);
    }
    if asked.dry_run {
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
    if let (boots::Ready::Prints(line), None, None) = (boot.ready, &uboot, asked.gdb) {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            let mut session = machine::spawn(ctx.site(), &machine, boot)?;
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

/// A command run in the guest.
pub struct Command {
    pub argv: Vec<String>,
    pub boot: &'static Boot,
    pub timeout: Duration,
    /// the console on stderr, and whether the run started from a saved machine
    pub verbose: bool,
    /// boot, even when a saved machine could start it
    pub cold: bool,
    pub dry_run: bool,
    pub gdb: Option<u16>,
    /// read its stdout as TAP or KTAP into results
    pub results: bool,
}

/// How a command's run ended, for the caller to report.
pub enum Ended {
    /// QEMU's command line printed, nothing run
    DryRun,
    /// the command's exit code, or a machine's failure's (said on stderr)
    Exited(u8),
    /// its stdout read as results ([`Command::results`])
    Results(results::Run),
}

/// Builds what the command's boot needs and runs it in the guest; an error when the build
/// failed, before the command ran.
pub fn command(
    selection: &Selection,
    target: PathBuf,
    install_deps: bool,
    options: &boot::Options,
    asked: &Command,
) -> Result<Ended> {
    let boot = asked.boot;
    if boot.init.is_none() {
        bail!("--{} runs its own /init and no command: use --initramfs or --initrd", boot.name);
    }
    let Prepared { ctx, built, .. } =
        prepare::for_boot(selection, target, install_deps, options, &Choice::None, &[])?;
    let request = Request {
        init: Init::Runner,
        probe_accel: !asked.dry_run,
        // the run's stderr is the command's
        announce: asked.verbose || asked.dry_run,
        ..Request::new(boot, Speed::Fast)
    };
    let machine = machine::machine(ctx.site(), &built, &request, options)?;
    announce_gdb(&ctx, &built, asked.gdb);
    if asked.dry_run {
        println!("{}", qemu::command_line(&machine));
        return Ok(Ended::DryRun);
    }
    let mut run_options = runner::Options {
        verbose: asked.verbose,
        waits_for_debugger: asked.gdb.is_some(),
        warm: !asked.cold,
        folder: options.root.as_deref().and_then(|root| {
            boot::user_root::guest_folder(root, &std::env::current_dir().ok()?.canonicalize().ok()?)
        }),
        ..runner::Options::for_command(ctx.site(), options, asked.timeout)
    };
    if !asked.results {
        let outcome = runner::run(ctx.site(), machine, &asked.argv, run_options);
        if let Some(failure) = outcome.failure() {
            eprintln!("error: {}", failure.message);
        }
        return Ok(Ended::Exited(outcome.exit_code()));
    }
    let copy = Arc::new(Mutex::new(Vec::new()));
    run_options.stdout =
        Box::new(crate::reports::Tee { out: std::io::stdout(), copy: Arc::clone(&copy) });
    let outcome = runner::run(ctx.site(), machine, &asked.argv, run_options);
    let stdout = String::from_utf8_lossy(&copy.lock().expect("the copy's lock")).into_owned();
    let machine_failure = outcome.failure().map(|failure| failure.message.clone());
    let mut run =
        results::Run::new(&asked.argv.join(" "), results::parse(&stdout), machine_failure);
    let code = outcome.exit_code();
    if outcome.failure().is_none() && code != 0 {
        run.passed = false;
        run.problems.push(format!("the command exited with {code}"));
    }
    Ok(Ended::Results(run))
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

/// `cargo xtask gdb`: gdb on the debug kernel of `selection`, attached to the guest waiting on
/// `port`. This process becomes gdb, so that gdb alone owns the terminal: Ctrl-C stops the guest
/// and gives gdb's prompt back, as in a plain `gdb`. Returns only when gdb cannot start.
pub fn gdb(selection: &Selection, target: PathBuf, port: u16, gdb_args: &[String]) -> Result<()> {
    if !boot::gdb::stub_listening(port) {
        bail!(
            "no guest waits for gdb on 127.0.0.1:{port}: start one with `cargo xtask run --gdb={port}` \
             (in another terminal)"
        );
    }
    let ctx = Context::with_features(selection, target, &["debug"])?;
    let build = stages::kernel::build_dir(&ctx)?;
    let vmlinux = build.join("vmlinux");
    if !vmlinux.is_file() {
        bail!(
            "no debug kernel at {}: start the guest with `cargo xtask run --gdb` first",
            vmlinux.display()
        );
    }
    let argv = boot::gdb::argv(ctx.arch, &build, port, gdb_args);
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
