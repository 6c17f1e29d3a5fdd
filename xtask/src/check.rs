//! `cargo xtask check`: boots each image headless, answers the console as a person would, and
//! checks what the tutorial shows. Every failure prints the guest's console.

use anyhow::{Context as _, Result};
use boot::{
    boots::{self, Boot},
    checks,
    machine::{self, Request, Speed},
    timeline, uboot,
};

use crate::{build::for_boot, flags, lava};

pub fn run(flags: flags::Check) -> Result<()> {
    if flags.lava.lava_job.is_some() {
        return lava_job(&flags);
    }
    if let Some(path) = &flags.timeline {
        artifact::user_file::check(path)
            .with_context(|| format!("--timeline {}", path.display()))?;
    }
    let options = flags.machine.options(None)?;
    let chosen: Vec<&Boot> = match flags.image.boot_name() {
        Some(name) if !flags.all => vec![boots::by_name(name)],
        _ => boots::BOOTS.iter().collect(),
    };
    let engine::prepare::Prepared { ctx, built, uboot, summary } =
        for_boot(&flags.build, &options, &flags.uboot.choice(), &[])?;
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
            .and_then(|()| {
                checks::as_the_tutorial_shows(
                    &mut session,
                    &built.kernel.release,
                    boot,
                    &mut pictured,
                )
            })
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
        artifact::user_file::write(path, picture.as_bytes())
            .with_context(|| format!("--timeline {}", path.display()))?;
        println!("timeline: {}", path.display());
    }
    Ok(())
}

/// `check --lava-job FILE`: the checks of one image written as a LAVA job, not run here.
fn lava_job(flags: &flags::Check) -> Result<()> {
    let Some(name) = flags.image.boot_name().filter(|_| !flags.all) else {
        anyhow::bail!("--lava-job writes one boot: choose --initrd or --initramfs");
    };
    let boot = boots::by_name(name);
    if flags.uboot.choice().wanted() || flags.timeline.is_some() {
        anyhow::bail!(
            "--lava-job: a LAVA job boots the kernel itself, with no U-Boot and no timeline"
        );
    }
    let options = lava::job_options(&flags.machine, boot)?;
    flags.lava.check_path()?;
    let engine::prepare::Prepared { ctx, built, .. } =
        for_boot(&flags.build, &options, &uboot::Choice::None, &[])?;
    let tests = ::lava::boots::check_tests(boot, &built);
    lava::write_job(&ctx, &built, boot, &options, &flags.lava, tests)
}
