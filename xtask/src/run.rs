//! `cargo xtask run`: the tutorial's QEMU command line on this terminal.

use anyhow::{bail, Result};
use qemu::{AccelChoice, Machine, Mode};

use crate::{
    context::Context,
    flags::{self, ImageChoice},
    hostdeps::Stage,
    pipeline::{self, Built},
    summary::Summary,
};

pub fn mode_of(choice: ImageChoice) -> Option<Mode> {
    match choice {
        ImageChoice { initrd: true, .. } => Some(Mode::Initrd),
        ImageChoice { initramfs: true, .. } => Some(Mode::Initramfs),
        ImageChoice { hello: true, .. } => Some(Mode::Hello),
        _ => None,
    }
}

/// The QEMU machine for `mode`, from the user's flags, with the accelerator resolved.
pub fn machine(
    ctx: &Context,
    built: &Built,
    mode: Mode,
    flags: &flags::Machine,
    resolve_accel: bool,
) -> Result<Machine> {
    let image = match mode {
        Mode::Initrd => &built.images.initrd,
        Mode::Initramfs => &built.images.initramfs,
        Mode::Hello => &built.images.hello,
    };
    let mut machine = Machine::new(&built.kernel.bzimage, image, mode);
    machine.cpus = flags.cpus;
    machine.memory_mib = flags.memory;
    machine.extra_append = flags.append.clone();
    machine.extra_args = flags.qemu_args.iter().map(Into::into).collect();
    let choice: AccelChoice = flags.accel.parse()?;
    if resolve_accel {
        let (accel, reason) = qemu::resolve_accel(
            choice,
            &machine.qemu,
            &built.kernel.bzimage,
            &ctx.kvm_probe_cache(),
        )?;
        eprintln!("accelerator: {reason}");
        machine.accel = accel;
    } else if choice == AccelChoice::Kvm {
        machine.accel = qemu::Accel::Kvm;
    } else if choice == AccelChoice::Auto {
        eprintln!("accelerator: auto is not probed in a dry run; shown as tcg");
    }
    Ok(machine)
}

pub fn run(flags: flags::Run) -> Result<()> {
    let Some(mode) = mode_of(flags.image) else {
        bail!("choose an image to boot: --initrd, --initramfs or --hello");
    };
    let ctx = Context::new(&flags.build)?;
    let mut summary = Summary::default();
    let built = pipeline::build_all(&ctx, flags.build.install_deps, &[Stage::Qemu], &mut summary)?;
    // a dry run prints what would run, and probing KVM would start a QEMU
    let machine = machine(&ctx, &built, mode, &flags.machine, !flags.dry_run)?;
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
