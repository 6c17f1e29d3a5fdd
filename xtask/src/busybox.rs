//! The BusyBox stage: defconfig + fragments (checked), a static build, and `make install` into a
//! staging folder that the rootfs stage turns into images.

use std::path::PathBuf;

use anyhow::Result;
use artifact::{Fingerprint, Stamp};
use fetch::Package;
use xshell::cmd;

use crate::{
    configure::{Configure, Settle},
    context::Context,
    kernel::reproducible_env,
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

fn make_variables() -> Vec<String> {
    ["CROSS_COMPILE", "CC"]
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| format!("{name}={value}")))
        .collect()
}

pub fn build(ctx: &Context) -> Result<(Busybox, Outcome)> {
    let source = Source::plan(ctx, Package::Busybox)?;
    let fragments = fragments(ctx);
    let mut fp = Fingerprint::new("busybox");
    fp.add("source", &source.identity)
        .add("make-vars", make_variables().join("\n"))
        .add("make-args", ctx.make_args.join("\n"))
        .add("epoch", ctx.source_date_epoch.to_string());
    for fragment in &fragments {
        fp.add_file("fragment", fragment)?;
    }
    let build_dir = ctx.work_dir().join("build").join(format!("busybox-{}", source.slug()));
    let install_dir = build_dir.join("_install");
    let binary = ctx.images_dir().join("busybox");
    let result = Busybox { install_dir: install_dir.clone(), binary: binary.clone(), fingerprint: fp.hex() };
    let stamp = Stamp::new(build_dir.join(".kardel-installed"));
    if !source.is_mutable_tree()
        && stamp.is_fresh(&fp, &[&binary, &install_dir.join("bin/busybox")])
    {
        return Ok((result, Outcome::Reused));
    }
    stamp.invalidate()?;

    let tree = source.tree(ctx)?;
    let log = ctx.log_path("busybox");
    let _ = std::fs::remove_file(&log);
    let sh = &ctx.sh;
    let vars = make_variables();
    let envs = reproducible_env(ctx.source_date_epoch);
    let vars = &vars;
    let make = |target: &str| {
        cmd!(sh, "make -C {tree} O={build_dir} {vars...} {target}").envs(envs.iter().cloned())
    };
    Configure {
        label: "busybox".into(),
        make: &make,
        build_dir: &build_dir,
        base_target: "defconfig",
        fragments,
        settle: Settle::OldconfigAcceptingDefaults,
        log: log.clone(),
        source_identity: &source.identity,
    }
    .run()?;
    if ctx.configure_only {
        eprintln!("busybox: configured, every requested value is in {}", build_dir.join(".config").display());
        return Ok((result, Outcome::Configured));
    }

    let jobs = format!("-j{}", ctx.jobs);
    let extra = &ctx.make_args;
    // Static glibc links print "Using 'getpwnam' in statically linked applications..."
    // warnings: expected, and kept in the log only.
    exec::run_logged(
        cmd!(sh, "make -C {tree} O={build_dir} {vars...} {jobs} {extra...}").envs(envs.iter().cloned()),
        &log,
        "busybox: make",
    )?;
    if install_dir.exists() {
        std::fs::remove_dir_all(&install_dir)?;
    }
    let prefix = format!("CONFIG_PREFIX={}", install_dir.display());
    exec::run_logged(
        cmd!(sh, "make -C {tree} O={build_dir} {vars...} {prefix} install").envs(envs.iter().cloned()),
        &log,
        "busybox: make install",
    )?;
    artifact::copy_atomic(&install_dir.join("bin/busybox"), &binary)?;
    stamp.record(&fp)?;
    Ok((result, Outcome::Built))
}
