//! `cargo xtask check`: boots each image headless, answers the console as a person would, and
//! checks what the tutorial shows. Every failure prints the guest's console.

use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use qemu::{Mode, Session};

use crate::{
    context::Context,
    flags,
    hostdeps::Stage,
    pipeline::{self, Built},
    run::{machine, mode_of},
    summary::Summary,
};

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// What one boot showed.
pub struct BootReport {
    /// QEMU's start to the console prompt (askfirst's, or "Hello world!")
    pub to_prompt: Duration,
    pub notes: Vec<String>,
}

pub fn run(flags: flags::Check) -> Result<()> {
    let ctx = Context::new(&flags.build)?;
    let modes = match mode_of(flags.image) {
        Some(mode) if !flags.all => vec![mode],
        _ => vec![Mode::Initrd, Mode::Initramfs, Mode::Hello],
    };
    let mut summary = Summary::default();
    let built = pipeline::build_all(&ctx, flags.build.install_deps, &[Stage::Qemu], &mut summary)?;
    eprint!("{}", summary.render());
    for mode in modes {
        let report = boot_and_check(&ctx, &built, mode, &flags.machine)?;
        println!(
            "check {}: ok, console prompt {:.2}s after QEMU started",
            mode_name(mode),
            report.to_prompt.as_secs_f64()
        );
        for note in report.notes {
            println!("    {note}");
        }
    }
    Ok(())
}

pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Initrd => "initrd",
        Mode::Initramfs => "initramfs",
        Mode::Hello => "hello",
    }
}

pub fn boot_and_check(
    ctx: &Context,
    built: &Built,
    mode: Mode,
    machine_flags: &flags::Machine,
) -> Result<BootReport> {
    let machine = machine(ctx, built, mode, machine_flags, true)?;
    let log = ctx.log_path(&format!("boot-{}", mode_name(mode)));
    let mut session = Session::spawn(&machine, &log)?;
    let result = guest_checks(&mut session, built, mode);
    // a failure names the image and the command line; the console report is in the error
    result.with_context(|| format!("check {} failed: {}", mode_name(mode), session.command_line()))
}

fn guest_checks(session: &mut Session, built: &Built, mode: Mode) -> Result<BootReport> {
    let mut notes = Vec::new();
    if mode == Mode::Hello {
        session.wait_for("Hello world!", BOOT_TIMEOUT)?;
        let to_prompt = session.elapsed();
        // the hello program sleeps forever by design; dropping the session stops QEMU
        notes.push("printed \"Hello world!\"".to_string());
        return Ok(BootReport { to_prompt, notes });
    }

    // answers askfirst's "Please press Enter" like a person; the time is to that prompt
    let to_prompt = session.wait_for_shell(BOOT_TIMEOUT)?;

    let release = session.run("uname -r", COMMAND_TIMEOUT)?;
    ensure!(
        release.trim() == built.kernel.release,
        "uname -r in the guest is {:?}, the built kernel is {:?}",
        release.trim(),
        built.kernel.release
    );
    notes.push(format!("uname -r: {}", release.trim()));

    let mounts = session.run("cat /proc/mounts", COMMAND_TIMEOUT)?;
    if let Err(problems) = qemu::check_mounts(mode, &mounts) {
        bail!(
            "the guest's mounts are not the tutorial's:\n  {}\n/proc/mounts:\n{mounts}",
            problems.join("\n  ")
        );
    }
    let df = session.run("df -a", COMMAND_TIMEOUT)?;
    notes.push(format!("df -a:\n{}", indent(&df)));

    if mode == Mode::Initrd {
        session
            .run("test -b /dev/ram0", COMMAND_TIMEOUT)
            .context("/dev/ram0 is not a block device")?;
        let root = session.run_status("test -e /dev/root", COMMAND_TIMEOUT)?;
        ensure!(root.status != 0, "/dev/root exists in the guest; the tutorial shows it does not");
        notes.push("/dev/ram0 exists, /dev/root does not".to_string());
    }
    session.poweroff_and_wait(COMMAND_TIMEOUT)?;
    notes.push("poweroff: QEMU exited by itself".to_string());
    Ok(BootReport { to_prompt, notes })
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n")
}
