//! The kernel stage: an unpacked tree to a checked `.config` and the architecture's boot image,
//! out of tree, through the stage mechanism (a second run with nothing changed starts no `make`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use xshell::cmd;

use crate::{
    context::Context,
    features,
    kbuild::{self, OutOfTree, Settle},
    package::{self, Package},
    sources::Source,
    stage::Outcome,
};

/// What the kernel stage leaves in `images/<arch>/<profile>/`.
pub struct Kernel {
    /// The boot image QEMU's `-kernel` takes (bzImage, Image)
    pub image: PathBuf,
    pub vmlinux: PathBuf,
    pub config: PathBuf,
    /// `uname -r` of the built kernel
    pub release: String,
    /// The kernel's out-of-tree build folder: modules are built against it
    pub build_dir: PathBuf,
    /// The stage's fingerprint: modules depend on it
    pub fingerprint: String,
}

impl Kernel {
    fn in_dir(ctx: &Context, dir: &Path, build_dir: &Path, fingerprint: String) -> Kernel {
        Kernel {
            image: dir.join(ctx.arch.kernel_image_name()),
            vmlinux: dir.join("vmlinux"),
            config: dir.join("config"),
            release: std::fs::read_to_string(dir.join("kernel.release"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            build_dir: build_dir.to_path_buf(),
            fingerprint,
        }
    }
}

/// The kernel's own variables: ARCH from the architecture's row, and the toolchain's: the same
/// for its out-of-tree modules.
pub fn make_variables(ctx: &Context) -> Vec<String> {
    let mut vars = vec![format!("ARCH={}", ctx.arch.kernel_arch)];
    vars.extend(kbuild::toolchain_variables(ctx));
    vars
}

/// The kernel as a kconfig package: the profile's base config and fragments, the flavour's
/// build folder and log.
pub fn package(ctx: &Context) -> Result<Package<'_>> {
    let source = Source::plan(ctx, fetch::Package::Kernel)?;
    let flavour = ctx.kernel_flavour();
    Ok(Package {
        ctx,
        name: "kernel",
        label: format!("kernel ({flavour})"),
        log_name: format!("kernel-{flavour}"),
        build_dir: ctx.layout.build_dir(&format!("kernel-{flavour}-{}", source.slug())),
        in_tree: source
            .is_the_tools_own(ctx)
            .then(|| format!(".kardel-build-{}-{flavour}", ctx.arch.name)),
        source,
        fragments: ctx.kernel_fragments()?,
        base: ctx.kernel_base().to_string(),
        settle: Settle::Olddefconfig,
        vars: make_variables(ctx),
        kconfig_top: "Kconfig",
        kconfig_vars: package::kernel_kconfig_vars(ctx.arch),
        check_tree: |package, tree| {
            check_is_kernel_tree(tree, &package.source)?;
            check_compiler(package.ctx, tree)
        },
        applies: |fragments, build| Ok(features::for_version(fragments, build.version()?)),
    })
}

pub fn build(ctx: &Context) -> Result<(Kernel, Outcome)> {
    let package = package(ctx)?;
    let mut fingerprint = package.fingerprint()?;
    fingerprint.add("image", &ctx.arch.kernel_image);
    let flavour = ctx.kernel_flavour();
    let out_dir = ctx.layout.kernel_images(&flavour);
    let mut targets = vec![ctx.arch.kernel_target.clone()];
    targets.extend(features::kernel_make_targets(ctx.profile, &ctx.extra_features)?);
    fingerprint.add("targets", targets.join(" "));
    let kernel = Kernel::in_dir(ctx, &out_dir, &package.build_dir, String::new());
    let outputs = vec![kernel.image.clone(), kernel.vmlinux.clone()];
    let done = package.build(fingerprint, ctx.layout.kernel_stamp(&flavour), outputs, |build| {
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        build.build(&format!("make {}", targets.join(" ")), &targets)?;
        copy_products(ctx, &package.build_dir, &kernel, &ctx.layout.kernel_release(&flavour))
    })?;
    // beside the stage: a folder built before the file existed gets it without a rebuild
    crate::tuxmake::write(ctx, &out_dir)?;
    Ok((Kernel::in_dir(ctx, &out_dir, &package.build_dir, done.fingerprint), done.outcome))
}

/// The kernel's out-of-tree build folder for this selection.
pub fn build_dir(ctx: &Context) -> Result<PathBuf> {
    Ok(package(ctx)?.build_dir)
}

/// Removes the kernel's build folder for this selection, wherever it is.
pub fn remove_build_dir(ctx: &Context) -> Result<()> {
    package::remove_build_dir(&build_dir(ctx)?)
}

/// `--configure-only`: configures and checks the build folder, and nothing else.
pub fn configure(ctx: &Context) -> Result<()> {
    package(ctx)?.configure_only()
}

fn copy_products(
    ctx: &Context,
    build_dir: &Path,
    kernel: &Kernel,
    release_to: &Path,
) -> Result<()> {
    let release_file = build_dir.join("include/config/kernel.release");
    let release = std::fs::read_to_string(&release_file)
        .with_context(|| format!("reading {}", release_file.display()))?;
    artifact::copy_atomic(&build_dir.join(&ctx.arch.kernel_image), &kernel.image)?;
    artifact::copy_atomic(&build_dir.join("vmlinux"), &kernel.vmlinux)?;
    artifact::copy_atomic(&build_dir.join(".config"), &kernel.config)?;
    artifact::write_atomic(release_to, |f| {
        use std::io::Write;
        Ok(f.write_all(release.as_bytes())?)
    })
}

/// The make target the benchmark's no-op rebuild runs, and the build folder it runs in.
pub fn rebuild_target(ctx: &Context) -> Result<(OutOfTree<'_>, String)> {
    Ok((package(ctx)?.out_of_tree()?, ctx.arch.kernel_target.clone()))
}

/// A tree without the kernel's top-level Kconfig and `arch/<ARCH>/` is not a kernel tree: say so
/// instead of letting make fail with "No rule to make target".
fn check_is_kernel_tree(tree: &Path, source: &Source) -> Result<()> {
    if !tree.join("Kconfig").is_file()
        || !tree.join("arch").is_dir()
        || !tree.join("Makefile").is_file()
    {
        bail!(
            "{} is not a Linux kernel tree (no Makefile, Kconfig and arch/ at its top): {}",
            tree.display(),
            source.describe()
        );
    }
    Ok(())
}

/// Linux 5.15 does not build with GCC 15 (C23 makes `bool` a keyword): say so before a long build
/// fails in its first minute with a wall of errors.
fn check_compiler(ctx: &Context, tree: &Path) -> Result<()> {
    let Ok((major, minor)) = kbuild::tree_version(tree) else { return Ok(()) };
    if (major, minor) >= (6, 1) {
        return Ok(());
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| format!("{}gcc", ctx.cross_prefix()));
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
