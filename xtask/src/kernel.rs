//! The kernel stage: an unpacked tree to a checked `.config` and a `bzImage`, out of tree, with
//! a stamp so that a second run with nothing changed starts no `make` at all.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use artifact::Stamp;
use fetch::Package;
use xshell::cmd;

use crate::{
    context::Context,
    flags::Profile,
    kbuild::{self, OutOfTree, Settle},
    sources::Source,
    summary::Outcome,
};

/// What the kernel stage leaves in `images/<profile>/`.
pub struct KernelImages {
    pub bzimage: PathBuf,
    pub vmlinux: PathBuf,
    pub config: PathBuf,
    /// `uname -r` of the built kernel
    pub release: String,
}

impl KernelImages {
    pub fn in_dir(dir: &Path) -> KernelImages {
        KernelImages {
            bzimage: dir.join("bzImage"),
            vmlinux: dir.join("vmlinux"),
            config: dir.join("config"),
            release: std::fs::read_to_string(dir.join("kernel.release"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        }
    }
}

/// The repo's fragments for a profile, in the order they apply; the user's come after.
pub fn profile_fragments(ctx: &Context) -> Vec<PathBuf> {
    let mut names = vec!["boot.config", "ramdisk.config"];
    if ctx.profile() == Profile::Tiny {
        names.push("tiny.config");
    }
    let mut paths: Vec<PathBuf> =
        names.iter().map(|name| ctx.repo_path("kernel-config").join(name)).collect();
    paths.extend(ctx.selection.kernel_fragments.iter().cloned());
    paths
}

fn base_target(profile: Profile) -> &'static str {
    match profile {
        Profile::Default => "x86_64_defconfig",
        Profile::Tiny => "tinyconfig",
    }
}

/// The kernel's own variables a user may pass through: ARCH (x86 unless set), CROSS_COMPILE, CC.
fn make_variables() -> Vec<String> {
    let arch = std::env::var("ARCH").unwrap_or_else(|_| "x86".to_string());
    let mut vars = vec![format!("ARCH={arch}")];
    vars.extend(kbuild::pass_through(&["CROSS_COMPILE", "CC"]));
    vars
}

pub fn build(ctx: &Context) -> Result<(KernelImages, Outcome)> {
    let source = Source::plan(ctx, Package::Kernel)?;
    let fragments = profile_fragments(ctx);
    let mut fp =
        kbuild::fingerprint("kernel", ctx, &source.identity, &make_variables(), &fragments)?;
    fp.add("profile", ctx.profile().name());
    let out_dir = ctx.kernel_images_dir();
    let images = KernelImages::in_dir(&out_dir);
    let stamp = Stamp::new(out_dir.join(".stamp"));
    if !source.is_mutable_tree() && stamp.is_fresh(&fp, &[&images.bzimage, &images.vmlinux]) {
        return Ok((images, Outcome::Reused));
    }
    stamp.invalidate()?;

    let build = out_of_tree(ctx, &source)?;
    build.configure(
        base_target(ctx.profile()),
        &fragments,
        Settle::Olddefconfig,
        &source.identity,
    )?;
    if ctx.configure_only {
        build.announce_configured();
        return Ok((images, Outcome::Configured));
    }
    build.build("make bzImage", &["bzImage"])?;

    let build_dir = &build.build_dir;
    let release_file = build_dir.join("include/config/kernel.release");
    let release = std::fs::read_to_string(&release_file)
        .with_context(|| format!("reading {}", release_file.display()))?;
    artifact::copy_atomic(&build_dir.join("arch/x86/boot/bzImage"), &images.bzimage)?;
    artifact::copy_atomic(&build_dir.join("vmlinux"), &images.vmlinux)?;
    artifact::copy_atomic(&build_dir.join(".config"), &images.config)?;
    artifact::write_atomic(&out_dir.join("kernel.release"), |f| {
        use std::io::Write;
        Ok(f.write_all(release.as_bytes())?)
    })?;
    stamp.record(&fp)?;
    Ok((KernelImages::in_dir(&out_dir), Outcome::Built))
}

/// The kernel's build: `source` unpacked, built in [`build_dir`], logged per profile.
pub fn out_of_tree<'a>(ctx: &'a Context, source: &Source) -> Result<OutOfTree<'a>> {
    let tree = source.tree(ctx)?;
    check_compiler(ctx, &tree)?;
    Ok(OutOfTree::new(
        ctx,
        format!("kernel ({})", ctx.profile().name()),
        tree,
        build_dir(ctx, source),
        make_variables(),
        &format!("kernel-{}", ctx.profile().name()),
    ))
}

/// The out-of-tree build folder: one per profile and source, so that switching back and forth
/// never rebuilds from scratch.
pub fn build_dir(ctx: &Context, source: &Source) -> PathBuf {
    ctx.work_dir().join("build").join(format!("kernel-{}-{}", ctx.profile().name(), source.slug()))
}

/// Linux 5.15 does not build with GCC 15 (C23 makes `bool` a keyword): say so before a long build
/// fails in its first minute with a wall of errors.
fn check_compiler(ctx: &Context, tree: &Path) -> Result<()> {
    let Ok(makefile) = std::fs::read_to_string(tree.join("Makefile")) else { return Ok(()) };
    let version_of = |key: &str| {
        makefile
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    let (Some(major), Some(minor)) = (version_of("VERSION = "), version_of("PATCHLEVEL = ")) else {
        return Ok(());
    };
    if (major, minor) >= (6, 1) {
        return Ok(());
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".to_string());
    let sh = &ctx.sh;
    let Ok(gcc_major) = cmd!(sh, "{cc} -dumpversion").quiet().ignore_stderr().read() else {
        return Ok(());
    };
    let gcc_major: u32 = gcc_major.split('.').next().and_then(|v| v.parse().ok()).unwrap_or(0);
    if gcc_major >= 15 {
        bail!(
            "Linux {major}.{minor} does not build with GCC {gcc_major} (C23 makes bool a keyword); \
             use GCC 12-14, e.g. CC=gcc-14"
        );
    }
    Ok(())
}
