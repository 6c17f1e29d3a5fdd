//! What a boot needs, built: the kernel flavour its options and features ask for, BusyBox, the
//! images and the U-Boot it goes through.

use std::path::PathBuf;

use anyhow::Result;
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
    choice.check(&ctx, install_deps)?;
    let mut summary = Summary::default();
    let built = pipeline::build_all(&ctx, install_deps, &[Step::Qemu], &mut summary)?;
    let uboot = choice.rom(&ctx, &mut summary)?;
    Ok(Prepared { ctx, built, uboot, summary })
}

/// The context of a boot: the selection's kernel with what `options` and `features` need. The
/// flavour is decided here, once, before anything is built.
pub fn context_for(
    selection: &Selection,
    target: PathBuf,
    options: &boot::Options,
    features: &[&str],
) -> Result<Context> {
    let mut ctx = Context::new(selection, target)?;
    ctx.add_features(&options.needed_features());
    ctx.add_features(features);
    Ok(ctx)
}
