//! The kernel stage: an unpacked tree to a checked `.config` and the architecture's boot image,
//! out of tree, through the stage mechanism (a second run with nothing changed starts no `make`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use fetch::Package;
use xshell::cmd;

use crate::{
    context::Context,
    features,
    kbuild::{self, OutOfTree, Settle},
    sources::Source,
    stage::{Outcome, Stage},
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

struct Plan {
    source: Source,
    fragments: Vec<PathBuf>,
    build_dir: PathBuf,
}

fn plan(ctx: &Context) -> Result<Plan> {
    let source = Source::plan(ctx, Package::Kernel)?;
    let build_dir =
        ctx.layout.build_dir(&format!("kernel-{}-{}", ctx.kernel_flavour(), source.slug()));
    Ok(Plan { fragments: ctx.kernel_fragments()?, source, build_dir })
}

pub fn build(ctx: &Context) -> Result<(Kernel, Outcome)> {
    let plan = plan(ctx)?;
    let mut fingerprint = kbuild::fingerprint(
        "kernel",
        ctx,
        &plan.source.identity,
        &make_variables(ctx),
        // every candidate: which apply is known once the tree is unpacked
        &plan.fragments,
    )?;
    fingerprint.add("base", ctx.kernel_base()).add("image", &ctx.arch.kernel_image);
    let out_dir = ctx.layout.kernel_images(&ctx.kernel_flavour());
    let mut targets = vec![ctx.arch.kernel_target.clone()];
    targets.extend(features::kernel_make_targets(ctx.profile, &ctx.extra_features)?);
    fingerprint.add("targets", targets.join(" "));
    let kernel = Kernel::in_dir(ctx, &out_dir, &plan.build_dir, String::new());
    let stage = Stage {
        label: format!("the kernel build ({})", ctx.kernel_flavour()),
        fingerprint,
        stamp: out_dir.join(".stamp"),
        outputs: vec![kernel.image.clone(), kernel.vmlinux.clone()],
        lock: ctx.layout.lock_for(&plan.build_dir),
        always: plan.source.is_mutable_tree(),
    };
    let done = stage.run(
        || configured(ctx, &plan),
        |build| {
            let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
            build.build(&format!("make {}", targets.join(" ")), &targets)?;
            copy_products(ctx, &plan.build_dir, &out_dir, &kernel)
        },
    )?;
    Ok((Kernel::in_dir(ctx, &out_dir, &plan.build_dir, done.fingerprint), done.outcome))
}

/// The kernel's out-of-tree build folder for this selection.
pub fn build_dir(ctx: &Context) -> Result<PathBuf> {
    Ok(plan(ctx)?.build_dir)
}

/// `--configure-only`: configures and checks the build folder, and nothing else: no image and no
/// stamp is written for outputs that were not built.
pub fn configure(ctx: &Context) -> Result<()> {
    let plan = plan(ctx)?;
    let _lock = artifact::Lock::acquire(&ctx.layout.lock_for(&plan.build_dir), "the kernel build")?;
    configured(ctx, &plan)?.announce_configured();
    Ok(())
}

/// The build folder configured and checked: the base, then the fragments that apply to the
/// tree's version.
fn configured<'a>(ctx: &'a Context, plan: &Plan) -> Result<OutOfTree<'a>> {
    let build = out_of_tree(ctx, &plan.source, &plan.build_dir)?;
    build.configure(
        ctx.kernel_base(),
        &features::for_version(&plan.fragments, build.version()?),
        Settle::Olddefconfig,
        &plan.source.identity,
    )?;
    Ok(build)
}

fn copy_products(ctx: &Context, build_dir: &Path, out_dir: &Path, kernel: &Kernel) -> Result<()> {
    let release_file = build_dir.join("include/config/kernel.release");
    let release = std::fs::read_to_string(&release_file)
        .with_context(|| format!("reading {}", release_file.display()))?;
    artifact::copy_atomic(&build_dir.join(&ctx.arch.kernel_image), &kernel.image)?;
    artifact::copy_atomic(&build_dir.join("vmlinux"), &kernel.vmlinux)?;
    artifact::copy_atomic(&build_dir.join(".config"), &kernel.config)?;
    artifact::write_atomic(&out_dir.join("kernel.release"), |f| {
        use std::io::Write;
        Ok(f.write_all(release.as_bytes())?)
    })
}

/// The kernel's build: `source` unpacked, built in `build_dir`, logged per profile.
pub fn out_of_tree<'a>(
    ctx: &'a Context,
    source: &Source,
    build_dir: &Path,
) -> Result<OutOfTree<'a>> {
    let tree = source.tree(ctx)?;
    check_is_kernel_tree(&tree, source)?;
    check_compiler(ctx, &tree)?;
    Ok(OutOfTree::new(
        ctx,
        format!("kernel ({})", ctx.kernel_flavour()),
        tree,
        build_dir.to_path_buf(),
        make_variables(ctx),
        &format!("kernel-{}", ctx.kernel_flavour()),
    )
    .with_kconfig("Kconfig", &kconfig::kernel_vars(&ctx.arch.kernel_arch)))
}

/// The make target the benchmark's no-op rebuild runs, and the build folder it runs in.
pub fn rebuild_target(ctx: &Context) -> Result<(OutOfTree<'_>, String)> {
    let plan = plan(ctx)?;
    let build = out_of_tree(ctx, &plan.source, &plan.build_dir)?;
    Ok((build, ctx.arch.kernel_target.clone()))
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
