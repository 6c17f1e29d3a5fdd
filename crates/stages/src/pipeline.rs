//! The stages in order, each skipped when its stamp is fresh, with a summary of what was built
//! or reused: `cargo xtask all`, and what `run`, `check` and `bench` build first.

use anyhow::Result;

use crate::{
    busybox::{self, Busybox},
    context::Context,
    hostdeps::{self, Step},
    images,
    kernel::{self, Kernel},
    layout::ImagePaths,
    modules,
    summary::Summary,
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
    let modules = if ctx.selection.modules.is_empty() {
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
        ctx.selection.modules.is_empty(),
        "--module builds against the kernel: use `cargo xtask all` (or run, check), not rootfs"
    );
    let busybox = summary.stage("busybox", || busybox::build(ctx), |b| vec![b.binary.clone()])?;
    summary.stage("images", || images::build(ctx, &busybox, None), ImagePaths::all)
}
