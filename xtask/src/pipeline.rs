//! The stages in order, each skipped when its stamp is fresh, with a summary of what was built
//! or reused: `cargo xtask all`, and what `run`, `check` and `bench` build first.

use anyhow::Result;

use crate::{
    boot::UbootRom,
    busybox::{self, Busybox},
    context::Context,
    flags::{Build, Configurable, UbootBoot, UbootBuild},
    hostdeps::{self, Step},
    images,
    kernel::{self, Kernel},
    layout::ImagePaths,
    modules,
    summary::Summary,
    uboot,
};

pub struct Built {
    pub kernel: Kernel,
    pub busybox: Busybox,
    pub images: ImagePaths,
}

/// Builds whatever is missing or stale. `extra_needs` are host needs checked up front besides
/// the build's own (QEMU for `run` and `check`).
pub fn build_all(
    ctx: &Context,
    install_deps: bool,
    extra_needs: &[Step],
    summary: &mut Summary,
) -> Result<Built> {
    let mut needs = vec![Step::Kernel, Step::Busybox, Step::Images];
    needs.extend_from_slice(extra_needs);
    hostdeps::ensure(&ctx.sh, ctx.arch, &needs, install_deps)?;
    let kernel = summary.stage("kernel", || kernel::build(ctx), |k| vec![k.image.clone()])?;
    let modules = if ctx.modules.is_empty() {
        None
    } else {
        Some(summary.stage(
            "modules",
            || modules::build(ctx, &kernel),
            |m| m.files.iter().map(|(_, host, _)| host.clone()).collect(),
        )?)
    };
    let busybox = summary.stage("busybox", || busybox::build(ctx), |b| vec![b.binary.clone()])?;
    let images = summary.stage(
        "images",
        || images::build(ctx, &busybox, modules.as_ref()),
        ImagePaths::all,
    )?;
    Ok(Built { kernel, busybox, images })
}

/// BusyBox and the images: `cargo xtask rootfs`.
pub fn build_rootfs(
    ctx: &Context,
    install_deps: bool,
    summary: &mut Summary,
) -> Result<ImagePaths> {
    hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Busybox, Step::Images], install_deps)?;
    anyhow::ensure!(
        ctx.modules.is_empty(),
        "--module builds against the kernel: use `cargo xtask all` (or run, check), not rootfs"
    );
    let busybox = summary.stage("busybox", || busybox::build(ctx), |b| vec![b.binary.clone()])?;
    summary.stage("images", || images::build(ctx, &busybox, None), ImagePaths::all)
}

/// `cargo xtask kernel [--configure-only]`.
pub fn kernel_command(flags: Configurable) -> Result<()> {
    let ctx = Context::new(&flags.build)?;
    hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Kernel], flags.build.install_deps)?;
    if flags.configure_only {
        return kernel::configure(&ctx);
    }
    let mut summary = Summary::default();
    summary.stage("kernel", || kernel::build(&ctx), |k| vec![k.image.clone()])?;
    eprint!("{}", summary.render());
    Ok(())
}

/// `cargo xtask busybox [--configure-only]`.
pub fn busybox_command(flags: Configurable) -> Result<()> {
    let ctx = Context::new(&flags.build)?;
    hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Busybox], flags.build.install_deps)?;
    if flags.configure_only {
        return busybox::configure(&ctx);
    }
    let mut summary = Summary::default();
    summary.stage("busybox", || busybox::build(&ctx), |b| vec![b.binary.clone()])?;
    eprint!("{}", summary.render());
    Ok(())
}

/// `cargo xtask rootfs`.
pub fn rootfs_command(flags: Build) -> Result<()> {
    let ctx = Context::new(&flags)?;
    let mut summary = Summary::default();
    build_rootfs(&ctx, flags.install_deps, &mut summary)?;
    eprint!("{}", summary.render());
    Ok(())
}

/// `cargo xtask all`.
pub fn all_command(flags: Build) -> Result<()> {
    let ctx = Context::new(&flags)?;
    let mut summary = Summary::default();
    build_all(&ctx, flags.install_deps, &[], &mut summary)?;
    eprint!("{}", summary.render());
    Ok(())
}

/// The U-Boot a boot goes through: none, the user's prebuilt ROM, or one built from source
/// (whose boot arguments are known from its config). [`check_uboot_flags`] comes first.
pub fn uboot_rom(
    ctx: &Context,
    flags: &UbootBoot,
    summary: &mut Summary,
) -> Result<Option<UbootRom>> {
    if let Some(rom) = &flags.uboot_rom {
        return Ok(Some(UbootRom { rom: rom.clone(), bootargs: None }));
    }
    if !flags.uboot {
        return Ok(None);
    }
    let built =
        summary.stage("u-boot", || uboot::build(ctx, &flags.source), |u| vec![u.rom.clone()])?;
    Ok(Some(UbootRom { bootargs: built.bootargs()?, rom: built.rom }))
}

/// What a boot through U-Boot can know wrong before any build: the board, the source, the
/// fragments, the host's packages.
pub fn check_uboot_flags(ctx: &Context, flags: &UbootBoot, install_deps: bool) -> Result<()> {
    if flags.uboot {
        uboot::check_flags(ctx, &flags.source)?;
        hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Uboot], install_deps)?;
    }
    Ok(())
}

/// `cargo xtask uboot [--configure-only]`.
pub fn uboot_command(flags: UbootBuild) -> Result<()> {
    let ctx = Context::new(&flags.build)?;
    uboot::check_flags(&ctx, &flags.uboot)?;
    hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Uboot], flags.build.install_deps)?;
    if flags.configure_only {
        return uboot::configure(&ctx, &flags.uboot);
    }
    let mut summary = Summary::default();
    let built =
        summary.stage("u-boot", || uboot::build(&ctx, &flags.uboot), |u| vec![u.rom.clone()])?;
    eprint!("{}", summary.render());
    println!("{}", built.rom.display());
    Ok(())
}
