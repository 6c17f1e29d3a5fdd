//! What a boot needs, built: the kernel flavour its options and features ask for, BusyBox, the
//! images and the U-Boot it goes through.

use std::path::PathBuf;

use anyhow::Result;
use boot::uboot::{Choice, UbootRom};
use stages::{hostdeps::Step, pipeline, summary::Summary, Context, Selection};

/// A selection's build, ready to boot.
pub struct Prepared {
    pub ctx: Context,
    pub built: pipeline::Built,
    pub uboot: Option<boot::uboot::UbootRom>,
    /// what was built or reused, for the caller to show or not
    pub summary: Summary,
}

/// The kernel with the features `options` need (a share needs 9p, --gdb the debug kernel) and
/// `features` (KUnit), BusyBox, the images, and the U-Boot `choice` goes through, built into
/// `target` (whatever is missing or stale).
pub fn for_boot(
    selection: &Selection,
    target: PathBuf,
    install_deps: bool,
    options: &boot::Options,
    choice: &boot::uboot::Choice,
    features: &[&str],
) -> Result<Prepared> {
    let ctx = context_for(selection, target, options, features)?;
    check_uboot(choice, &ctx, install_deps)?;
    let mut summary = Summary::default();
    let built = pipeline::build_all(&ctx, install_deps, &[Step::Qemu], &mut summary)?;
    let uboot = uboot_rom(choice, &ctx, &mut summary)?;
    Ok(Prepared { ctx, built, uboot, summary })
}

/// What can be known wrong about the U-Boot `choice` before any build: the board, the source,
/// the fragments, the host's packages.
fn check_uboot(choice: &Choice, ctx: &Context, install_deps: bool) -> Result<()> {
    if let Choice::Built(selection) = choice {
        stages::uboot::check_flags(ctx, selection)?;
        stages::hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Uboot], install_deps)?;
    }
    Ok(())
}

/// The ROM `choice` goes through, built first where it comes from source.
fn uboot_rom(choice: &Choice, ctx: &Context, summary: &mut Summary) -> Result<Option<UbootRom>> {
    match choice {
        Choice::None => Ok(None),
        Choice::Rom(rom) => Ok(Some(UbootRom { rom: rom.clone(), bootargs: None })),
        Choice::Built(selection) => {
            let built = summary.stage(
                "u-boot",
                || stages::uboot::build(ctx, selection),
                |u| vec![u.rom.clone()],
            )?;
            Ok(Some(UbootRom { bootargs: built.bootargs()?, rom: built.rom }))
        }
    }
}

/// The context of a boot: the selection's kernel with what `options` and `features` need. The
/// flavour is decided here, once, before anything is built.
pub fn context_for(
    selection: &Selection,
    target: PathBuf,
    options: &boot::Options,
    features: &[&str],
) -> Result<Context> {
    let mut asked = options.needed_features();
    asked.extend_from_slice(features);
    Context::with_features(selection, target, &asked)
}
