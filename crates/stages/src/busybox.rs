//! The BusyBox stage: defconfig + fragments (checked), a static build, and `make install` into a
//! staging folder that the images stage turns into images.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::{
    context::Context,
    kbuild::{self, Settle},
    package::{self, Package},
    sources::Source,
    stage::Outcome,
};

#[derive(Debug, Clone)]
pub struct Busybox {
    /// `make install`'s output: bin/, sbin/, usr/, linuxrc
    pub install_dir: PathBuf,
    /// A copy of the binary in images/<arch>/
    pub binary: PathBuf,
    /// The stage's fingerprint: the images depend on it
    pub fingerprint: String,
}

/// BusyBox as a kconfig package: its defconfig and the profile's fragments.
pub fn package(ctx: &Context) -> Result<Package<'_>> {
    let source = Source::plan(ctx, fetch::Package::Busybox)?;
    Ok(Package {
        ctx,
        name: "busybox",
        label: "busybox".to_string(),
        log_name: "busybox".to_string(),
        build_dir: ctx.layout.build_dir(&format!("busybox-{}", source.slug())),
        in_tree: None,
        source,
        fragments: ctx.busybox_fragments()?,
        base: "defconfig".to_string(),
        // BusyBox's kconfig has no olddefconfig
        settle: Settle::OldconfigAcceptingDefaults,
        vars: kbuild::toolchain_variables(ctx),
        kconfig_top: "Config.in",
        kconfig_vars: Vec::new(),
        check_tree: |_, _| Ok(()),
        applies: package::all_apply,
    })
}

pub fn build(ctx: &Context) -> Result<(Busybox, Outcome)> {
    let package = package(ctx)?;
    let install_dir = package.build_dir.join("_install");
    let binary = ctx.layout.busybox_binary();
    let stamp = package.build_dir.join(".kardel-installed");
    let outputs = vec![binary.clone(), install_dir.join("bin/busybox")];
    let done = package.build(package.fingerprint()?, stamp, outputs, |build| {
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
    })?;
    Ok((Busybox { install_dir, binary, fingerprint: done.fingerprint }, done.outcome))
}

/// `--configure-only`: configures and checks the build folder, and nothing else.
pub fn configure(ctx: &Context) -> Result<()> {
    package(ctx)?.configure_only()
}
