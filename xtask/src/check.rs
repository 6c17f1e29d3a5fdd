//! `cargo xtask check`: boots each image headless, answers the console as a person would, and
//! checks what the tutorial shows. Every failure prints the guest's console.

use anyhow::{Context as _, Result};
use boot::{boots, uboot};

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
    let asked = engine::check::Check {
        boots: match flags.image.boot_name() {
            Some(name) if !flags.all => vec![boots::by_name(name)],
            _ => boots::BOOTS.iter().collect(),
        },
        uboot: flags.uboot.choice(),
        tutorial_machine: flags.tutorial_machine,
        timeline: flags.timeline.as_deref(),
    };
    let selection = flags.build.selection()?;
    let target = crate::build::target_dir()?;
    engine::check::check(&selection, target, flags.build.install_deps, &options, &asked)
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
