//! The U-Boot stage, as the author's `build-uboot.sh`: the board's defconfig plus the tutorial's
//! boot (uboot-config/), checked like the kernel's fragments, built out of tree into the ROM that
//! QEMU boots as its firmware.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::{
    context::Context,
    kbuild::{self, Settle},
    package::{self, Package},
    selection::UbootSelection,
    sources::Source,
    stage::Outcome,
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

/// U-Boot for `selection`'s board as a kconfig package: the board's defconfig and the repo's
/// fragments, then the user's. Everything about the flags is checked here, before any build.
pub fn package<'a>(ctx: &'a Context, selection: &UbootSelection) -> Result<Package<'a>> {
    let board = ctx.arch.uboot_board(selection.board.as_deref())?.to_string();
    if let Some(path) = &selection.source {
        if !path.exists() {
            bail!("--uboot-source {}: no such file or folder", path.display());
        }
    }
    let source = Source::plan_for(
        ctx,
        fetch::Package::Uboot,
        selection.version.as_deref(),
        selection.source.as_deref(),
    )?;
    let mut fragments: Vec<PathBuf> =
        FRAGMENTS.iter().map(|name| ctx.repo.join("uboot-config").join(name)).collect();
    fragments.extend(selection.fragments.iter().filter(|f| !f.as_os_str().is_empty()).cloned());
    kconfig::read_fragments(&fragments)?;
    Ok(Package {
        ctx,
        name: "u-boot",
        label: format!("U-Boot ({board})"),
        log_name: format!("u-boot-{board}"),
        build_dir: ctx.layout.build_dir(&format!("u-boot-{board}-{}", source.slug())),
        in_tree: None,
        source,
        fragments,
        base: format!("{board}_defconfig"),
        settle: Settle::Olddefconfig,
        vars: kbuild::toolchain_variables(ctx),
        kconfig_top: "Kconfig",
        kconfig_vars: package::kernel_kconfig_vars(ctx.arch),
        check_tree: |package, tree| {
            let defconfig = &package.base;
            if !tree.join("configs").join(defconfig).is_file() || !tree.join("Kconfig").is_file() {
                bail!(
                    "{} is not a U-Boot tree with the board {} (no Kconfig and configs/{defconfig} \
                     at its top): {}",
                    tree.display(),
                    defconfig.trim_end_matches("_defconfig"),
                    package.source.describe()
                );
            }
            Ok(())
        },
        applies: package::all_apply,
    })
}

/// Checks the flags (board, source, fragments) without building: for boots that build U-Boot
/// only after the kernel.
pub fn check_flags(ctx: &Context, selection: &UbootSelection) -> Result<()> {
    package(ctx, selection).map(drop)
}

pub fn build(ctx: &Context, selection: &UbootSelection) -> Result<(Uboot, Outcome)> {
    let package = package(ctx, selection)?;
    let board = package.base.trim_end_matches("_defconfig").to_string();
    let mut fingerprint = package.fingerprint()?;
    fingerprint.add("board", &board).add("image", &ctx.arch.uboot_image);
    let out_dir = ctx.layout.uboot_images(&board);
    let uboot = Uboot::in_dir(&out_dir, &board, &ctx.arch.uboot_image);
    let outputs = vec![uboot.rom.clone(), uboot.config.clone()];
    let done = package.build(fingerprint, ctx.layout.uboot_stamp(&board), outputs, |build| {
        // the default target of a board with a reset vector is its ROM
        build.build("make", &[])?;
        artifact::copy_atomic(&package.build_dir.join(&ctx.arch.uboot_image), &uboot.rom)?;
        artifact::copy_atomic(&package.build_dir.join(".config"), &uboot.config)
    })?;
    Ok((uboot, done.outcome))
}

/// `--configure-only`: configures and checks the build folder, and nothing else.
pub fn configure(ctx: &Context, selection: &UbootSelection) -> Result<()> {
    package(ctx, selection)?.configure_only()
}
