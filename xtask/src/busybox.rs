//! The BusyBox stage: defconfig + fragments (checked), a static build, and `make install` into a
//! staging folder that the rootfs stage turns into images.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use artifact::Stamp;
use fetch::Package;

use crate::{
    context::Context,
    kbuild::{self, OutOfTree, Settle},
    sources::Source,
    summary::Outcome,
};

pub struct Busybox {
    /// `make install`'s output: bin/, sbin/, usr/, linuxrc
    pub install_dir: PathBuf,
    /// A copy of the binary in images/
    pub binary: PathBuf,
    /// The stage's fingerprint: the images depend on it
    pub fingerprint: String,
}

fn fragments(ctx: &Context) -> Vec<PathBuf> {
    let mut paths = vec![ctx.repo_path("busybox-config").join("static.config")];
    paths.extend(ctx.selection.busybox_fragments.iter().cloned());
    paths
}

/// BusyBox's own variables a user may pass through.
fn make_variables() -> Vec<String> {
    kbuild::pass_through(&["CROSS_COMPILE", "CC"])
}

pub fn build(ctx: &Context) -> Result<(Busybox, Outcome)> {
    let source = Source::plan(ctx, Package::Busybox)?;
    let fragments = fragments(ctx);
    let fp = kbuild::fingerprint("busybox", ctx, &source.identity, &make_variables(), &fragments)?;
    let build_dir = ctx.work_dir().join("build").join(format!("busybox-{}", source.slug()));
    let install_dir = build_dir.join("_install");
    let binary = ctx.images_dir().join("busybox");
    let result =
        Busybox { install_dir: install_dir.clone(), binary: binary.clone(), fingerprint: fp.hex() };
    let stamp = Stamp::new(build_dir.join(".kardel-installed"));
    if !source.is_mutable_tree()
        && stamp.is_fresh(&fp, &[&binary, &install_dir.join("bin/busybox")])
    {
        return Ok((result, Outcome::Reused));
    }
    stamp.invalidate()?;

    let build = OutOfTree::new(
        ctx,
        "busybox".to_string(),
        source.tree(ctx)?,
        build_dir,
        make_variables(),
        "busybox",
    );
    build.configure(
        "defconfig",
        &fragments,
        Settle::OldconfigAcceptingDefaults,
        &source.identity,
    )?;
    if ctx.configure_only {
        build.announce_configured();
        return Ok((result, Outcome::Configured));
    }
    // Static glibc links print "Using 'getpwnam' in statically linked applications..."
    // warnings: expected, and kept in the log only.
    build.build("make", &[])?;
    if install_dir.exists() {
        std::fs::remove_dir_all(&install_dir)
            .with_context(|| format!("removing {}", install_dir.display()))?;
    }
    build.run(
        "make install",
        &[format!("CONFIG_PREFIX={}", install_dir.display()), "install".to_string()],
    )?;
    artifact::copy_atomic(&install_dir.join("bin/busybox"), &binary)?;
    stamp.record(&fp)?;
    Ok((result, Outcome::Built))
}
