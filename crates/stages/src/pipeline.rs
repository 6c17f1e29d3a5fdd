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

/// BusyBox and the images without your modules: they do not depend on the kernel, so builds of
/// many kernels (a bisect's steps) boot the same ones.
#[derive(Clone)]
pub struct Rootfs {
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
    let KernelAndModules { kernel, modules } =
        kernel_and_modules(ctx, install_deps, extra_needs, summary)?;
    let Rootfs { busybox, images } = rootfs_stages(ctx, modules.as_ref(), summary)?;
    Ok(Built { kernel, busybox, images })
}

/// The kernel and your modules built against it, the host's needs checked first.
struct KernelAndModules {
    kernel: Kernel,
    modules: Option<modules::Modules>,
}

fn kernel_and_modules(
    ctx: &Context,
    install_deps: bool,
    extra_needs: &[Step],
    summary: &mut Summary,
) -> Result<KernelAndModules> {
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
    Ok(KernelAndModules { kernel, modules })
}

/// BusyBox and the images of `ctx`, with `modules` in them when given.
fn rootfs_stages(
    ctx: &Context,
    modules: Option<&modules::Modules>,
    summary: &mut Summary,
) -> Result<Rootfs> {
    let busybox = summary.stage("busybox", || busybox::build(ctx), |b| vec![b.binary.clone()])?;
    let images =
        summary.stage("images", || images::build(ctx, &busybox, modules), ImagePaths::all)?;
    Ok(Rootfs { busybox, images })
}

/// The kernel and your modules built against it, with BusyBox and the images without them (the
/// plain images of that kernel): what a saved machine boots, the modules sent to it as a run
/// starts (`test --kunit --module`), so that an edit of a module rebuilds the module alone and
/// the machine stays the one saved.
pub fn build_modules_apart(
    ctx: &Context,
    install_deps: bool,
    extra_needs: &[Step],
    summary: &mut Summary,
) -> Result<(Built, modules::Modules)> {
    anyhow::ensure!(!ctx.selection.modules.is_empty(), "no --module to build apart");
    let KernelAndModules { kernel, modules } =
        kernel_and_modules(ctx, install_deps, extra_needs, summary)?;
    let modules = modules.expect("a selection with modules builds them");
    let Rootfs { busybox, images } = rootfs_stages(&ctx.without_modules()?, None, summary)?;
    Ok((Built { kernel, busybox, images }, modules))
}

/// BusyBox and the images: `cargo xtask rootfs`.
pub fn build_rootfs(ctx: &Context, install_deps: bool, summary: &mut Summary) -> Result<Rootfs> {
    // a refused flag before any package is installed
    anyhow::ensure!(
        ctx.selection.modules.is_empty(),
        "--module builds against the kernel: use `cargo xtask all` (or run, check), not rootfs"
    );
    hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Busybox, Step::Images], install_deps)?;
    rootfs_stages(ctx, None, summary)
}

/// The kernel alone, to boot with `rootfs` (made by [`build_rootfs`], perhaps in another target
/// folder). Your modules are built against each kernel: with them, use [`build_all`].
pub fn build_kernel(ctx: &Context, rootfs: &Rootfs, summary: &mut Summary) -> Result<Built> {
    anyhow::ensure!(
        ctx.selection.modules.is_empty(),
        "your modules are built against each kernel: their images come from build_all"
    );
    hostdeps::ensure(&ctx.sh, ctx.arch, &[Step::Kernel], false)?;
    let kernel = summary.stage("kernel", || kernel::build(ctx), |k| vec![k.image.clone()])?;
    let Rootfs { busybox, images } = rootfs.clone();
    Ok(Built { kernel, busybox, images })
}
