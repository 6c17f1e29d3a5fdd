//! `check`: each image booted headless, the console answered as a person would, and what the
//! tutorial shows checked; a boot's phases drawn as a timeline when asked.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use boot::{
    boots::Boot,
    checks,
    machine::{self, Request, Speed},
    timeline,
    uboot::{self, Choice},
};
use stages::Selection;

use crate::prepare::{self, Prepared};

/// What `check` is asked to boot.
pub struct Check<'a> {
    pub boots: Vec<&'static Boot>,
    pub uboot: Choice,
    /// the tutorial's machine instead of the fast one (always, through U-Boot)
    pub tutorial_machine: bool,
    /// where to draw the boots' timeline (an SVG), checked before any work by the caller
    pub timeline: Option<&'a Path>,
}

/// Builds what the boots need and checks each; the first that fails ends the run with its
/// console in the error.
pub fn check(
    selection: &Selection,
    target: PathBuf,
    install_deps: bool,
    options: &boot::Options,
    asked: &Check,
) -> Result<()> {
    let Prepared { ctx, built, uboot, summary } =
        prepare::for_boot(selection, target, install_deps, options, &asked.uboot, &[])?;
    eprint!("{}", summary.render());
    // through U-Boot the boot is the author's `run.sh -u`, kernel log and all
    let tutorial = asked.tutorial_machine || uboot.is_some();
    let speed = if tutorial { Speed::Tutorial } else { Speed::Fast };
    let mut pictured = Vec::new();
    for boot in &asked.boots {
        let mut machine =
            machine::machine(ctx.site(), &built, &Request::new(boot, speed), options)?;
        if let Some(uboot) = &uboot {
            uboot::through(&mut machine, uboot);
        }
        let mut session = machine::spawn(ctx.site(), &machine, boot)?;
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
    if let Some(path) = asked.timeline {
        let picture =
            timeline::render(&format!("{} boots, time to the prompt", ctx.arch.name), &pictured);
        artifact::user_file::write(path, picture.as_bytes())
            .with_context(|| format!("--timeline {}", path.display()))?;
        println!("timeline: {}", path.display());
    }
    Ok(())
}
