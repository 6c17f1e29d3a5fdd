//! The build commands: `fetch`, `kernel`, `busybox`, `uboot`, `rootfs`, `all` and `deps`, each a
//! few calls into `stages`; and the context every command starts from.

use std::path::PathBuf;

use anyhow::Result;
use fetch::Package;
use stages::{
    busybox,
    hostdeps::{self, Step},
    kernel, pipeline, sources,
    summary::Summary,
    uboot, Context,
};

use crate::flags;

/// The engine's context for these flags, building into cargo's target folder.
pub fn context(build: &flags::Build) -> Result<Context> {
    Context::new(&build.selection()?, target_dir()?)
}

/// `cargo xtask fetch`: verifies (downloading what is missing) the pinned tarballs at once, then
/// unpacks them.
pub fn fetch(flags: flags::Fetch) -> Result<()> {
    let ctx = context(&flags.build)?;
    let packages = &flags.packages;
    let packages =
        if packages.is_empty() { &[Package::Kernel, Package::Busybox][..] } else { packages };
    for (source, tree) in sources::fetch_and_unpack(&ctx, packages, &flags.uboot.selection())? {
        println!("{source}: {}", tree.display());
    }
    Ok(())
}

/// `cargo xtask kernel [--configure-only]`.
pub fn kernel(flags: flags::Configurable) -> Result<()> {
    configurable(flags, Step::Kernel, kernel::configure, |ctx, summary| {
        summary.stage("kernel", || kernel::build(ctx), |k| vec![k.image.clone()]).map(drop)
    })
}

/// `cargo xtask busybox [--configure-only]`.
pub fn busybox(flags: flags::Configurable) -> Result<()> {
    configurable(flags, Step::Busybox, busybox::configure, |ctx, summary| {
        summary.stage("busybox", || busybox::build(ctx), |b| vec![b.binary.clone()]).map(drop)
    })
}

/// A kconfig stage's command: its host needs, then only its checked configuration, or its build
/// with a summary.
fn configurable(
    flags: flags::Configurable,
    needs: Step,
    configure: fn(&Context) -> Result<()>,
    build: impl FnOnce(&Context, &mut Summary) -> Result<()>,
) -> Result<()> {
    let ctx = context(&flags.build)?;
    hostdeps::ensure(&ctx.sh, ctx.arch, &[needs], flags.build.install_deps)?;
    if flags.configure_only {
        return configure(&ctx);
    }
    let mut summary = Summary::default();
    build(&ctx, &mut summary)?;
    eprint!("{}", summary.render());
    Ok(())
}

/// `cargo xtask uboot [--configure-only]`.
pub fn uboot(flags: flags::UbootBuild) -> Result<()> {
    let ctx = context(&flags.build)?;
    let selection = flags.uboot.selection();
    uboot::check_flags(&ctx, &selection)?;
    hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Uboot], flags.build.install_deps)?;
    if flags.configure_only {
        return uboot::configure(&ctx, &selection);
    }
    let mut summary = Summary::default();
    let built =
        summary.stage("u-boot", || uboot::build(&ctx, &selection), |u| vec![u.rom.clone()])?;
    eprint!("{}", summary.render());
    println!("{}", built.rom.display());
    Ok(())
}

/// `cargo xtask rootfs`.
pub fn rootfs(flags: flags::Build) -> Result<()> {
    let ctx = context(&flags)?;
    let mut summary = Summary::default();
    pipeline::build_rootfs(&ctx, flags.install_deps, &mut summary)?;
    eprint!("{}", summary.render());
    Ok(())
}

/// `cargo xtask all`.
pub fn all(flags: flags::Build) -> Result<()> {
    let ctx = context(&flags)?;
    let mut summary = Summary::default();
    pipeline::build_all(&ctx, flags.install_deps, &[], &mut summary)?;
    eprint!("{}", summary.render());
    Ok(())
}

/// `cargo xtask deps [--install]`.
pub fn deps(flags: flags::Deps) -> Result<()> {
    let arch = arch::Arch::get(&flags.arch()?)?;
    let (packages, install, lava) = (&flags.packages, flags.install, flags.lava);
    engine::deps::deps(&engine::deps::Deps { arch, packages, install, lava })
}

/// Cargo's target folder (`engine::target_dir`).
pub fn target_dir() -> Result<PathBuf> {
    engine::target_dir()
}

/// What a boot needs, built into cargo's target folder (`engine::prepare::for_boot`): the
/// kernel with the features `options` need and `features`, BusyBox, the images, the U-Boot.
pub fn for_boot(
    build: &flags::Build,
    options: &boot::Options,
    choice: &boot::uboot::Choice,
    features: &[&str],
) -> Result<engine::prepare::Prepared> {
    let selection = build.selection()?;
    engine::prepare::for_boot(
        &selection,
        target_dir()?,
        build.install_deps,
        options,
        choice,
        features,
    )
}
