//! `cargo xtask run`: the tutorial's QEMU command line on this terminal.

use anyhow::{bail, Result};

use crate::{boot, boots, context::Context, flags, hostdeps::Step, pipeline, summary::Summary};

pub fn run(flags: flags::Run) -> Result<()> {
    let Some(name) = flags.image.boot_name() else {
        bail!("choose an image to boot: --initrd, --initramfs or --hello");
    };
    let boot = boots::by_name(name);
    let ctx = Context::new(&flags.build)?;
    let built = pipeline::build_all(
        &ctx,
        flags.build.install_deps,
        &[Step::Qemu],
        &mut Summary::default(),
    )?;
    // a dry run prints what would run, and probing KVM would start a QEMU
    let machine = boot::machine(&ctx, &built, boot, &flags.machine, !flags.dry_run)?;
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
