//! The flags that select what is built: sources, architecture, profile, fragments, modules,
//! overlays, ccache, U-Boot's source; and their one conversion into the engine's `Selection`
//! (`Build::selection`), with its inverse for the bench's children (`selection_args`).

use std::path::PathBuf;

use clap::{builder::PossibleValuesParser, builder::TypedValueParser, Args};
use rootfs::Compression;
use stages::{Selection, UbootSelection};

/// Where the sources come from: the same flags for every subcommand that fetches.
#[derive(Args, Debug, Clone)]
pub struct Sources {
    /// Kernel version from the pin table
    #[arg(long, env = "KARDEL_KERNEL_VERSION")]
    pub kernel_version: Option<String>,
    /// The sha256 of linux-VERSION.tar.xz for a kernel.org release missing from the pin table
    /// (with --kernel-version): your pin, not the project's
    #[arg(long, env = "KARDEL_KERNEL_SHA256", value_name = "HEX", requires = "kernel_version", value_parser = parse_sha256)]
    pub kernel_sha256: Option<String>,
    /// BusyBox version from the pin table
    #[arg(long, env = "KARDEL_BUSYBOX_VERSION")]
    pub busybox_version: Option<String>,
    /// A local kernel tarball or unpacked tree to use instead of a pinned download
    #[arg(long, env = "KARDEL_KERNEL_SOURCE", value_name = "PATH")]
    pub kernel_source: Option<PathBuf>,
    /// A local BusyBox tarball or unpacked tree to use instead of a pinned download
    #[arg(long, env = "KARDEL_BUSYBOX_SOURCE", value_name = "PATH")]
    pub busybox_source: Option<PathBuf>,
    /// A base URL (https:// or file://) tried before upstream; repeatable, tried in order
    #[arg(long = "mirror", env = "KARDEL_MIRRORS", value_delimiter = ' ', value_name = "URL")]
    pub mirrors: Vec<String>,
    /// Where downloads are cached (shared by every checkout)
    #[arg(long, env = "KARDEL_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// What to build: the same flags, with the same meaning and environment variables, for every
/// subcommand that builds.
#[derive(Args, Debug, Clone)]
pub struct Build {
    #[command(flatten)]
    pub sources: Sources,
    /// Architecture to build for and boot (a row of crates/arch/arches.toml) [default: the
    /// host's]
    #[arg(long, env = "KARDEL_ARCH", value_parser = arch_parser())]
    pub arch: Option<String>,
    /// Kernel profile: `default` (the architecture's defconfig, the tutorial's) or `tiny`
    /// (tinyconfig, fast); profiles are rows of features.toml
    #[arg(long, env = "KARDEL_PROFILE", default_value = "default", value_parser = profile_parser())]
    pub profile: String,
    /// An extra kernel config fragment, applied after the repo's; repeatable
    #[arg(
        long = "kernel-fragment",
        env = "KARDEL_KERNEL_FRAGMENTS",
        value_delimiter = ':',
        value_name = "FILE"
    )]
    pub kernel_fragments: Vec<PathBuf>,
    /// An extra BusyBox config fragment, applied after the repo's; repeatable
    #[arg(
        long = "busybox-fragment",
        env = "KARDEL_BUSYBOX_FRAGMENTS",
        value_delimiter = ':',
        value_name = "FILE"
    )]
    pub busybox_fragments: Vec<PathBuf>,
    /// Compression of the images
    #[arg(
        long,
        env = "KARDEL_COMPRESS",
        default_value = "gzip",
        value_parser = PossibleValuesParser::new(["gzip", "zstd"])
            .map(|s| s.parse::<Compression>().expect("a possible value"))
    )]
    pub compress: Compression,
    /// Size of the ext4 initrd image in MiB (must fit the kernel's 64 MiB RAM disk)
    #[arg(
        long,
        env = "KARDEL_IMAGE_SIZE_MIB",
        default_value_t = 32,
        value_parser = clap::value_parser!(u64).range(1..=rootfs::RAMDISK_SIZE_LIMIT >> 20)
    )]
    pub image_size_mib: u64,
    /// An out-of-tree kernel module folder (a Kbuild or Makefile with obj-m), built against the
    /// kernel and installed in the images; repeatable
    #[arg(long = "module", env = "KARDEL_MODULES", value_delimiter = ':', value_name = "DIR")]
    pub modules: Vec<PathBuf>,
    /// A folder whose files are added to the images over the tutorial's tree; repeatable
    #[arg(long = "overlay", env = "KARDEL_OVERLAYS", value_delimiter = ':', value_name = "DIR")]
    pub overlays: Vec<PathBuf>,
    /// Parallel make jobs (default: the number of CPUs)
    #[arg(long, short = 'j', env = "KARDEL_JOBS", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// An extra argument for the kernel's and BusyBox's make (e.g. `V=1`); repeatable
    #[arg(long = "make-arg", env = "KARDEL_MAKE_ARGS", value_delimiter = ' ')]
    pub make_args: Vec<String>,
    /// Compile through ccache, and fail when it is missing (default: through ccache when it is
    /// on the PATH)
    #[arg(long, conflicts_with = "no_ccache")]
    pub ccache: bool,
    /// Compile without ccache even when it is installed
    #[arg(long)]
    pub no_ccache: bool,
    /// ccache's remote storage, a cache a team shares: `redis://HOST:PORT`,
    /// `redis+unix:/SOCKET`, `http://HOST/PATH|layout=subdirs` (a server that takes PUT)
    #[arg(long, env = "KARDEL_CCACHE_REMOTE", value_name = "URL")]
    pub ccache_remote: Option<String>,
    /// Install missing host packages first (needs root or sudo); on a terminal the tool offers
    /// to without it
    #[arg(long, env = "KARDEL_INSTALL_DEPS", value_parser = clap::builder::BoolishValueParser::new())]
    pub install_deps: bool,
}

fn arch_parser() -> impl TypedValueParser<Value = String> {
    PossibleValuesParser::new(arch::names())
}

fn uboot_board_parser() -> impl TypedValueParser<Value = String> {
    let mut boards: Vec<&str> =
        arch::all().flat_map(|a| a.uboot_boards.iter().map(String::as_str)).collect();
    boards.sort_unstable();
    boards.dedup();
    PossibleValuesParser::new(boards)
}

fn profile_parser() -> impl TypedValueParser<Value = String> {
    let profiles = &stages::features::Catalog::builtin().profiles;
    PossibleValuesParser::new(
        profiles
            .iter()
            .map(|(name, p)| clap::builder::PossibleValue::new(name.as_str()).help(&p.about)),
    )
}

#[derive(Args, Debug)]
pub struct Fetch {
    #[command(flatten)]
    pub build: Build,
    #[command(flatten)]
    pub uboot: UbootSource,
    /// What to fetch: kernel, busybox, u-boot (default: kernel and busybox)
    #[arg(value_name = "PACKAGE")]
    pub packages: Vec<fetch::Package>,
}

/// Which U-Boot to build: the same flags for `uboot`, `fetch u-boot` and the boots through it.
#[derive(Args, Debug, Clone, Default)]
pub struct UbootSource {
    /// U-Boot version from the pin table
    #[arg(long, env = "KARDEL_UBOOT_VERSION")]
    pub uboot_version: Option<String>,
    /// A local U-Boot tarball or unpacked tree instead of a pinned download (e.g. Debian's
    /// `apt-get source u-boot`)
    #[arg(long, env = "KARDEL_UBOOT_SOURCE", value_name = "PATH")]
    pub uboot_source: Option<PathBuf>,
    /// The board whose defconfig U-Boot is built from (the architecture's row lists them; default
    /// the author's, qemu-x86_64)
    #[arg(long, env = "KARDEL_UBOOT_BOARD", value_name = "BOARD", value_parser = uboot_board_parser())]
    pub uboot_board: Option<String>,
    /// An extra U-Boot config fragment, applied after the repo's; repeatable
    #[arg(
        long = "uboot-fragment",
        env = "KARDEL_UBOOT_FRAGMENTS",
        value_delimiter = ':',
        value_name = "FILE"
    )]
    pub uboot_fragments: Vec<PathBuf>,
}

/// `cargo xtask uboot`.
#[derive(Args, Debug)]
pub struct UbootBuild {
    #[command(flatten)]
    pub build: Build,
    #[command(flatten)]
    pub uboot: UbootSource,
    /// Stop after configuring and checking the .config (writes no ROM and no stamp)
    #[arg(long)]
    pub configure_only: bool,
}

/// Booting through U-Boot, as the author's `run.sh -u` does: U-Boot is QEMU's firmware and starts
/// the kernel.
#[derive(Args, Debug, Clone, Default)]
pub struct UbootBoot {
    /// Boot through U-Boot built from source (`cargo xtask uboot`, built first if needed), which
    /// boots the initrd by itself
    #[arg(long, conflicts_with = "uboot_rom")]
    pub uboot: bool,
    /// Boot through this prebuilt ROM instead (e.g. Debian's u-boot-qemu:
    /// /usr/lib/u-boot/qemu-x86/u-boot.rom): `check` stops its autoboot and types the tutorial's
    /// boot at its prompt (setenv bootargs, qfw load, zboot), `run` shows what to type
    #[arg(long, value_name = "PATH", value_parser = parse_file)]
    pub uboot_rom: Option<PathBuf>,
    #[command(flatten)]
    pub source: UbootSource,
}

/// The kernel and BusyBox subcommands: a build, or only its checked configuration.
#[derive(Args, Debug)]
pub struct Configurable {
    #[command(flatten)]
    pub build: Build,
    /// Stop after configuring and checking the .config (writes no image and no stamp)
    #[arg(long)]
    pub configure_only: bool,
}

#[derive(Args, Debug)]
pub struct Deps {
    /// Architecture whose QEMU and cross compiler to check too [default: the host's]
    #[arg(long, env = "KARDEL_ARCH", value_parser = arch_parser())]
    pub arch: Option<String>,
    /// Install what is missing with the host's package manager (needs root or sudo)
    #[arg(long)]
    pub install: bool,
    /// Check (and install) LAVA's dispatcher and what it needs too (`cargo xtask lava`)
    #[arg(long)]
    pub lava: bool,
    /// With --install: install these packages of the host's package manager too, through the
    /// same install (apt: lists read when empty, a newer package that blocks put back); CI's
    /// whole set in one command
    #[arg(long, value_name = "PACKAGE", num_args = 1.., requires = "install")]
    pub packages: Vec<String>,
}

fn parse_sha256(text: &str) -> Result<String, String> {
    let hex = text.trim().to_ascii_lowercase();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{text:?} is not a sha256 (64 hexadecimal digits)"));
    }
    Ok(hex)
}

/// The architecture asked for, else the host's row.
fn arch_or_host(arch: &Option<String>) -> anyhow::Result<String> {
    match arch {
        Some(name) => Ok(name.clone()),
        None => match arch::Arch::host() {
            Some(host) => Ok(host.name.clone()),
            None => anyhow::bail!(
                "this host ({}) has no row in crates/arch/arches.toml: choose one with --arch \
                 (KARDEL_ARCH): {}",
                std::env::consts::ARCH,
                arch::names().join(", ")
            ),
        },
    }
}

impl Build {
    /// The architecture this selection builds for: `--arch`, else the host's.
    pub fn arch(&self) -> anyhow::Result<String> {
        arch_or_host(&self.arch)
    }
}

impl Deps {
    pub fn arch(&self) -> anyhow::Result<String> {
        arch_or_host(&self.arch)
    }
}

impl Build {
    /// What these flags select, as the engine's plain value.
    pub fn selection(&self) -> anyhow::Result<Selection> {
        let s = &self.sources;
        // empty words (`KARDEL_MODULES=a::b`) are the engine's to drop (`Context::new`)
        Ok(Selection {
            sources: stages::Sources {
                kernel_version: s.kernel_version.clone(),
                kernel_sha256: s.kernel_sha256.clone(),
                busybox_version: s.busybox_version.clone(),
                kernel_source: s.kernel_source.clone(),
                busybox_source: s.busybox_source.clone(),
                mirrors: s.mirrors.clone(),
                cache_dir: s.cache_dir.clone(),
                kernel_tree_is_the_tools: false,
            },
            arch: arch_or_host(&self.arch)?,
            profile: self.profile.clone(),
            kernel_fragments: self.kernel_fragments.clone(),
            kselftest_fragments: Vec::new(),
            busybox_fragments: self.busybox_fragments.clone(),
            compression: self.compress,
            image_size_mib: self.image_size_mib,
            modules: self.modules.clone(),
            overlays: self.overlays.clone(),
            jobs: self.jobs,
            make_args: self.make_args.clone(),
            ccache: match (self.ccache, self.no_ccache) {
                (true, _) => stages::ccache::Choice::On,
                (_, true) => stages::ccache::Choice::Off,
                _ => stages::ccache::Choice::Auto,
            },
            ccache_remote: self.ccache_remote.clone(),
        })
    }
}

/// The flags that select `selection`: `Build::selection` of their parse gives it back (a test
/// holds the two to each other). The benchmark's child processes get them.
pub fn selection_args(selection: &Selection) -> Vec<String> {
    let mut args =
        vec![format!("--arch={}", selection.arch), format!("--profile={}", selection.profile)];
    let s = &selection.sources;
    let mut flag = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            args.push(format!("--{name}={value}"));
        }
    };
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    flag("kernel-version", s.kernel_version.clone());
    flag("kernel-sha256", s.kernel_sha256.clone());
    flag("busybox-version", s.busybox_version.clone());
    flag("kernel-source", path(&s.kernel_source));
    flag("busybox-source", path(&s.busybox_source));
    flag("cache-dir", path(&s.cache_dir));
    for mirror in &s.mirrors {
        flag("mirror", Some(mirror.clone()));
    }
    for (name, paths) in [
        ("kernel-fragment", &selection.kernel_fragments),
        ("busybox-fragment", &selection.busybox_fragments),
        ("module", &selection.modules),
        ("overlay", &selection.overlays),
    ] {
        for p in paths {
            flag(name, Some(p.display().to_string()));
        }
    }
    flag("compress", Some(selection.compression.to_string()));
    flag("image-size-mib", Some(selection.image_size_mib.to_string()));
    flag("jobs", selection.jobs.map(|j| j.to_string()));
    for arg in &selection.make_args {
        flag("make-arg", Some(arg.clone()));
    }
    match selection.ccache {
        stages::ccache::Choice::Auto => {}
        stages::ccache::Choice::On => args.push("--ccache".into()),
        stages::ccache::Choice::Off => args.push("--no-ccache".into()),
    }
    if let Some(url) = &selection.ccache_remote {
        args.push(format!("--ccache-remote={url}"));
    }
    args
}

impl UbootSource {
    pub fn selection(&self) -> UbootSelection {
        UbootSelection {
            version: self.uboot_version.clone(),
            source: self.uboot_source.clone(),
            board: self.uboot_board.clone(),
            // empty words are dropped by the U-Boot stage
            fragments: self.uboot_fragments.clone(),
        }
    }
}

impl UbootBoot {
    /// Which U-Boot the boot goes through.
    pub fn choice(&self) -> boot::uboot::Choice {
        match (&self.uboot_rom, self.uboot) {
            (Some(rom), _) => boot::uboot::Choice::Rom(rom.clone()),
            (None, true) => boot::uboot::Choice::Built(self.source.selection()),
            (None, false) => boot::uboot::Choice::None,
        }
    }
}

pub(super) fn parse_file(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if !path.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    std::path::absolute(&path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::flags::{Cmd, Xtask};

    #[test]
    fn the_selections_flags_select_it_again() {
        let mut selection = Selection::new("riscv64");
        selection.profile = "tiny".into();
        selection.sources.kernel_source = Some("/src/linux.tar.xz".into());
        selection.sources.busybox_version = Some("1.35.0".into());
        selection.sources.mirrors = vec!["file:///m".into(), "https://n".into()];
        selection.sources.cache_dir = Some("/cache".into());
        selection.kernel_fragments = vec!["/a.config".into(), "/b.config".into()];
        selection.compression = Compression::Zstd;
        selection.image_size_mib = 48;
        selection.jobs = Some(3);
        selection.make_args = vec!["V=1".into()];
        selection.ccache = stages::ccache::Choice::Off;
        selection.ccache_remote = Some("redis://127.0.0.1:1".into());
        let mut argv = vec!["cargo xtask".to_string(), "all".to_string()];
        argv.extend(selection_args(&selection));
        let Cmd::All(build) = Xtask::try_parse_from(argv).unwrap().cmd else { unreachable!() };
        assert_eq!(build.selection().unwrap(), selection);
    }
}
