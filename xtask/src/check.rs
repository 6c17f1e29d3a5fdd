//! `cargo xtask check`: boots each image headless, answers the console as a person would, and
//! checks what the tutorial shows. Every failure prints the guest's console.

use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use qemu::Session;

use boot::{
    boots::{self, Boot, Ready},
    machine::{self, Request, Speed},
    timeline, uboot,
};
use stages::{
    hostdeps::Step,
    pipeline::{self, Built},
    summary::Summary,
};

use crate::{build::context, flags};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(flags: flags::Check) -> Result<()> {
    let options = flags.machine.options(None);
    let mut ctx = context(&flags.build)?;
    ctx.add_features(&options.needed_features());
    let chosen: Vec<&Boot> = match flags.image.boot_name() {
        Some(name) if !flags.all => vec![boots::by_name(name)],
        _ => boots::BOOTS.iter().collect(),
    };
    let choice = flags.uboot.choice();
    choice.check(&ctx, flags.build.install_deps)?;
    let mut summary = Summary::default();
    let built = pipeline::build_all(&ctx, flags.build.install_deps, &[Step::Qemu], &mut summary)?;
    let uboot = choice.rom(&ctx, &mut summary)?;
    eprint!("{}", summary.render());
    // through U-Boot the boot is the author's `run.sh -u`, kernel log and all
    let tutorial = flags.tutorial_machine || uboot.is_some();
    let speed = if tutorial { Speed::Tutorial } else { Speed::Fast };
    let mut pictured = Vec::new();
    for boot in chosen {
        let mut machine = machine::machine(&ctx, &built, &Request::new(boot, speed), &options)?;
        if let Some(uboot) = &uboot {
            uboot::through(&mut machine, uboot);
        }
        let mut session = machine::spawn(&ctx, &machine, boot)?;
        let through_uboot = match &uboot {
            Some(uboot) => uboot::through_uboot(&mut session, &machine, uboot),
            None => Ok(()),
        };
        let (to_ready, notes) = through_uboot
            .and_then(|()| guest_checks(&mut session, &built, boot, &mut pictured))
            // a failure names the image and the command line; the console report is in the error
            .with_context(|| format!("check {} failed: {}", boot.name, session.command_line()))?;
        println!(
            "check {}: ok, console prompt {:.2}s after QEMU started",
            boot.name,
            to_ready.as_secs_f64()
        );
        for note in notes {
            println!("    {note}");
        }
    }
    if let Some(path) = &flags.timeline {
        let picture =
            timeline::render(&format!("{} boots, time to the prompt", ctx.arch.name), &pictured);
        artifact::write_atomic(path, |f| Ok(std::io::Write::write_all(f, picture.as_bytes())?))?;
        println!("timeline: {}", path.display());
    }
    Ok(())
}

fn guest_checks(
    session: &mut Session,
    built: &Built,
    boot: &Boot,
    pictured: &mut Vec<timeline::Boot>,
) -> Result<(Duration, Vec<String>)> {
    let mut notes = Vec::new();
    let to_ready = machine::wait_ready(session, boot)?;
    pictured.push(timeline::Boot {
        label: boot.name.to_string(),
        phases: timeline::phases(session, to_ready),
    });
    if let Ready::Prints(text) = boot.ready {
        // nothing to type to (the hello program sleeps forever by design); dropping the
        // session stops QEMU
        notes.push(format!("printed {text:?}"));
        return Ok((to_ready, notes));
    }

    // the kernel's late messages (the TSC's refined calibration, a second or so in) would land
    // in the middle of a command's output on the tutorial's machine, which is not quiet
    session.run("dmesg -n 1", COMMAND_TIMEOUT)?;
    let release = session.run("uname -r", COMMAND_TIMEOUT)?;
    ensure!(
        release.trim() == built.kernel.release,
        "uname -r in the guest is {:?}, the built kernel is {:?}",
        release.trim(),
        built.kernel.release
    );
    notes.push(format!("uname -r: {}", release.trim()));

    let mounts = session.run("cat /proc/mounts", COMMAND_TIMEOUT)?;
    if let Err(problems) = boot.check_mounts(&mounts) {
        bail!(
            "the guest's mounts are not the tutorial's:\n  {}\n/proc/mounts:\n{mounts}",
            problems.join("\n  ")
        );
    }
    let df = session.run("df -a", COMMAND_TIMEOUT)?;
    notes.push(format!("df -a:\n{}", indent(&df)));

    for &(test, holds) in boot.devices {
        let held = session.run_status(&format!("test {test}"), COMMAND_TIMEOUT)?.status == 0;
        ensure!(
            held == holds,
            "`test {test}` is {held} in the guest; the tutorial shows it {holds}"
        );
        notes.push(format!("test {test}: {held}"));
    }
    session.poweroff_and_wait(COMMAND_TIMEOUT)?;
    notes.push("poweroff: QEMU exited by itself".to_string());
    Ok((to_ready, notes))
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n")
}
