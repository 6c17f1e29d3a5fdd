//! The BusyBox stage: defconfig + fragments (checked), a static build, and `make install` into a
//! staging folder that the images stage turns into images.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use fetch::Package;

use crate::{
    context::Context,
    kbuild::{self, OutOfTree, Settle},
    sources::Source,
    stage::{Outcome, Stage},
};

pub struct Busybox {
    /// `make install`'s output: bin/, sbin/, usr/, linuxrc
    pub install_dir: PathBuf,
    /// A copy of the binary in images/<arch>/
    pub binary: PathBuf,
    /// The stage's fingerprint: the images depend on it
    pub fingerprint: String,
}

struct Plan {
    source: Source,
    fragments: Vec<PathBuf>,
    build_dir: PathBuf,
}

fn plan(ctx: &Context) -> Result<Plan> {
    let source = Source::plan(ctx, Package::Busybox)?;
    let build_dir = ctx.layout.build_dir(&format!("busybox-{}", source.slug()));
    Ok(Plan { fragments: ctx.busybox_fragments()?, source, build_dir })
}

fn out_of_tree<'a>(ctx: &'a Context, plan: &Plan) -> Result<OutOfTree<'a>> {
    Ok(OutOfTree::new(
        ctx,
        "busybox".to_string(),
        plan.source.tree(ctx)?,
        plan.build_dir.clone(),
        kbuild::toolchain_variables(ctx),
        "busybox",
    )
    .with_kconfig("Config.in", &[]))
}

pub fn build(ctx: &Context) -> Result<(Busybox, Outcome)> {
    let plan = plan(ctx)?;
    let fingerprint = kbuild::fingerprint(
        "busybox",
        ctx,
        &plan.source.identity,
        &kbuild::toolchain_variables(ctx),
        &plan.fragments,
    )?;
    let install_dir = plan.build_dir.join("_install");
    let binary = ctx.layout.busybox_binary();
    let stage = Stage {
        label: "the busybox build".to_string(),
        fingerprint,
        stamp: plan.build_dir.join(".kardel-installed"),
        outputs: vec![binary.clone(), install_dir.join("bin/busybox")],
        lock: ctx.layout.lock_for(&plan.build_dir),
        always: plan.source.is_mutable_tree(),
    };
    let done = stage.run(
        || configured(ctx, &plan),
        |build| {
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
            artifact::copy_atomic(&install_dir.join("bin/busybox"), &binary)
        },
    )?;
    Ok((Busybox { install_dir, binary, fingerprint: done.fingerprint }, done.outcome))
}

/// `--configure-only`: configures and checks the build folder, and nothing else.
pub fn configure(ctx: &Context) -> Result<()> {
    let plan = plan(ctx)?;
    let _lock =
        artifact::Lock::acquire(&ctx.layout.lock_for(&plan.build_dir), "the busybox build")?;
    configured(ctx, &plan)?.announce_configured();
    Ok(())
}

/// The build folder configured and checked: defconfig, then the fragments.
fn configured<'a>(ctx: &'a Context, plan: &Plan) -> Result<OutOfTree<'a>> {
    let build = out_of_tree(ctx, plan)?;
    build.configure(
        "defconfig",
        &plan.fragments,
        Settle::OldconfigAcceptingDefaults,
        &plan.source.identity,
    )?;
    Ok(build)
}
