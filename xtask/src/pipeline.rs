//! `cargo xtask all` and what `run`, `check` and `bench` build first: every stage in order, each
//! skipped when its stamp is fresh, with a summary of what was built or reused.

use anyhow::Result;

use crate::{
    busybox::{self, Busybox},
    context::Context,
    hostdeps::{self, Stage},
    images::{self, Images},
    kernel::{self, KernelImages},
    summary::Summary,
};

pub struct Built {
    pub kernel: KernelImages,
    pub busybox: Busybox,
    pub images: Images,
}

/// Builds whatever is missing or stale. `extra_stages` are host needs checked up front besides
/// the build's own (QEMU for `run` and `check`).
pub fn build_all(
    ctx: &Context,
    install_deps: bool,
    extra_stages: &[Stage],
    summary: &mut Summary,
) -> Result<Built> {
    anyhow::ensure!(
        !ctx.configure_only,
        "--configure-only stops the kernel and busybox subcommands after configuring; it does not apply here"
    );
    let mut stages = vec![Stage::Kernel, Stage::Busybox, Stage::Images];
    stages.extend_from_slice(extra_stages);
    hostdeps::ensure(&ctx.sh, &stages, install_deps)?;
    let kernel = summary.stage("kernel", || kernel::build(ctx), |k| vec![k.bzimage.clone()])?;
    let busybox = summary.stage("busybox", || busybox::build(ctx), |b| vec![b.binary.clone()])?;
    let images = summary.stage("images", || images::build(ctx, &busybox), Images::all)?;
    Ok(Built { kernel, busybox, images })
}
