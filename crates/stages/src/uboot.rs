//! The U-Boot stage, as the author's `build-uboot.sh`: the board's defconfig plus the tutorial's
//! boot (uboot-config/), checked like the kernel's fragments, built out of tree into the ROM that
//! QEMU boots as its firmware.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use fetch::Package;

use crate::{
    context::Context,
    kbuild::{self, OutOfTree, Settle},
    selection::UbootSelection,
    sources::Source,
    stage::{Outcome, Stage},
};

/// The repository's U-Boot fragments, in the order they apply.
pub const FRAGMENTS: &[&str] = &["tutorial.config"];

/// What the U-Boot stage leaves in `images/<arch>/u-boot/<board>/`.
pub struct Uboot {
    pub board: String,
    /// the ROM QEMU's `-bios` takes
    pub rom: PathBuf,
    pub config: PathBuf,
}

impl Uboot {
    fn in_dir(dir: &Path, board: &str, image: &str) -> Uboot {
        Uboot { board: board.to_string(), rom: dir.join(image), config: dir.join("config") }
    }

    /// The kernel arguments the ROM passes when it boots by itself: its CONFIG_BOOTARGS.
    pub fn bootargs(&self) -> Result<Option<String>> {
        let text = std::fs::read_to_string(&self.config)
            .with_context(|| format!("reading {}", self.config.display()))?;
        let config = kconfig::parse_config(&text);
        Ok(match config.get("CONFIG_BOOTARGS") {
            Some(kconfig::Value::Str(args)) => Some(args.clone()),
            _ => None,
        })
    }
}

struct Plan {
    source: Source,
    board: String,
    fragments: Vec<PathBuf>,
    build_dir: PathBuf,
}

fn plan(ctx: &Context, uboot: &UbootSelection) -> Result<Plan> {
    let board = ctx.arch.uboot_board(uboot.board.as_deref())?.to_string();
    if let Some(path) = &uboot.source {
        if !path.exists() {
            bail!("--uboot-source {}: no such file or folder", path.display());
        }
    }
    let source =
        Source::plan_for(ctx, Package::Uboot, uboot.version.as_deref(), uboot.source.as_deref())?;
    let mut fragments: Vec<PathBuf> =
        FRAGMENTS.iter().map(|name| ctx.repo.join("uboot-config").join(name)).collect();
    fragments.extend(uboot.fragments.iter().filter(|f| !f.as_os_str().is_empty()).cloned());
    kconfig::read_fragments(&fragments)?;
    let build_dir = ctx.layout.build_dir(&format!("u-boot-{board}-{}", source.slug()));
    Ok(Plan { source, board, fragments, build_dir })
}

/// Checks the flags (board, source, fragments) without building: for boots that build U-Boot
/// only after the kernel.
pub fn check_flags(ctx: &Context, uboot: &UbootSelection) -> Result<()> {
    plan(ctx, uboot).map(drop)
}

pub fn build(ctx: &Context, uboot: &UbootSelection) -> Result<(Uboot, Outcome)> {
    let plan = plan(ctx, uboot)?;
    let mut fingerprint = kbuild::fingerprint(
        "u-boot",
        ctx,
        &plan.source.identity,
        &kbuild::toolchain_variables(ctx),
        &plan.fragments,
    )?;
    fingerprint.add("board", &plan.board).add("image", &ctx.arch.uboot_image);
    let out_dir = ctx.layout.uboot_images(&plan.board);
    let uboot = Uboot::in_dir(&out_dir, &plan.board, &ctx.arch.uboot_image);
    let stage = Stage {
        label: format!("the U-Boot build ({})", plan.board),
        fingerprint,
        stamp: out_dir.join(".stamp"),
        outputs: vec![uboot.rom.clone(), uboot.config.clone()],
        lock: ctx.layout.lock_for(&plan.build_dir),
        always: plan.source.is_mutable_tree(),
    };
    let done = stage.run(
        || configured(ctx, &plan),
        |build| {
            // the default target of a board with a reset vector is its ROM
            build.build("make", &[])?;
            artifact::copy_atomic(&plan.build_dir.join(&ctx.arch.uboot_image), &uboot.rom)?;
            artifact::copy_atomic(&plan.build_dir.join(".config"), &uboot.config)
        },
    )?;
    Ok((uboot, done.outcome))
}

/// `--configure-only`: configures and checks the build folder, and nothing else.
pub fn configure(ctx: &Context, uboot: &UbootSelection) -> Result<()> {
    let plan = plan(ctx, uboot)?;
    let _lock = artifact::Lock::acquire(&ctx.layout.lock_for(&plan.build_dir), "the U-Boot build")?;
    configured(ctx, &plan)?.announce_configured();
    Ok(())
}

/// The build folder configured and checked: the board's defconfig, then the fragments.
fn configured<'a>(ctx: &'a Context, plan: &Plan) -> Result<OutOfTree<'a>> {
    let tree = plan.source.tree(ctx)?;
    let defconfig = format!("{}_defconfig", plan.board);
    if !tree.join("configs").join(&defconfig).is_file() || !tree.join("Kconfig").is_file() {
        bail!(
            "{} is not a U-Boot tree with the board {} (no Kconfig and configs/{defconfig} at its \
             top): {}",
            tree.display(),
            plan.board,
            plan.source.describe()
        );
    }
    let build = OutOfTree::new(
        ctx,
        format!("U-Boot ({})", plan.board),
        tree,
        plan.build_dir.clone(),
        kbuild::toolchain_variables(ctx),
        &format!("u-boot-{}", plan.board),
    )
    .with_kconfig("Kconfig", &kconfig::kernel_vars(&ctx.arch.kernel_arch));
    build.configure(&defconfig, &plan.fragments, Settle::Olddefconfig, &plan.source.identity)?;
    Ok(build)
}
