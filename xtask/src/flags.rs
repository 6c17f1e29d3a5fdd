//! Command-line flags. The parsed struct is the command: `main` dispatches on it and each task
//! module takes its own flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build a micro Linux system (kernel, static BusyBox, initrd and initramfs) and boot it in QEMU",
    version
)]
pub struct Xtask {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Download (or take from a mirror or the cache) and verify the kernel and BusyBox sources
    Fetch(Fetch),
    /// Configure and build the kernel's bzImage
    Kernel(Build),
    /// Configure and build a static BusyBox
    Busybox(Build),
    /// Make the initrd, the initramfs and the hello initramfs (builds BusyBox first if needed)
    Rootfs(Build),
    /// Everything: sources, kernel, BusyBox and the three images
    All(Build),
    /// Boot one image in QEMU on this terminal (builds what is missing first)
    Run(Run),
    /// Boot images headless and check that they behave as the tutorial shows
    Check(Check),
    /// Measure build, rebuild and boot times and image sizes
    Bench(Bench),
    /// Check (and with --install, install) the host packages the build needs
    Deps(Deps),
}

/// What to build from: the same flags, with the same meaning and environment variables, for every
/// subcommand that builds.
#[derive(Args, Debug, Clone)]
pub struct Selection {
    /// Kernel version from the pin table
    #[arg(long, env = "KARDEL_KERNEL_VERSION", global = true)]
    pub kernel_version: Option<String>,
    /// BusyBox version from the pin table
    #[arg(long, env = "KARDEL_BUSYBOX_VERSION", global = true)]
    pub busybox_version: Option<String>,
    /// A local kernel tarball or unpacked tree to use instead of a pinned download
    #[arg(long, env = "KARDEL_KERNEL_SOURCE", value_name = "PATH", global = true)]
    pub kernel_source: Option<PathBuf>,
    /// A local BusyBox tarball or unpacked tree to use instead of a pinned download
    #[arg(long, env = "KARDEL_BUSYBOX_SOURCE", value_name = "PATH", global = true)]
    pub busybox_source: Option<PathBuf>,
    /// A base URL (https:// or file://) tried before upstream; repeatable, tried in order
    #[arg(
        long = "mirror",
        env = "KARDEL_MIRRORS",
        value_delimiter = ' ',
        value_name = "URL",
        global = true
    )]
    pub mirrors: Vec<String>,
    /// Where downloads are cached (shared by every checkout)
    #[arg(long, env = "KARDEL_CACHE_DIR", value_name = "DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Kernel profile: `default` (x86_64_defconfig, the tutorial's) or `tiny` (tinyconfig, fast)
    #[arg(long, env = "KARDEL_PROFILE", value_enum, default_value_t = Profile::Default, global = true)]
    pub profile: Profile,
    /// An extra kernel config fragment, applied after the repo's; repeatable
    #[arg(
        long = "kernel-fragment",
        env = "KARDEL_KERNEL_FRAGMENTS",
        value_delimiter = ':',
        value_name = "FILE",
        global = true
    )]
    pub kernel_fragments: Vec<PathBuf>,
    /// An extra BusyBox config fragment, applied after the repo's; repeatable
    #[arg(
        long = "busybox-fragment",
        env = "KARDEL_BUSYBOX_FRAGMENTS",
        value_delimiter = ':',
        value_name = "FILE",
        global = true
    )]
    pub busybox_fragments: Vec<PathBuf>,
    /// Compression of the images
    #[arg(long, env = "KARDEL_COMPRESS", value_enum, default_value_t = Compress::Gzip, global = true)]
    pub compress: Compress,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Default,
    Tiny,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Tiny => "tiny",
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compress {
    Gzip,
    Zstd,
}

#[derive(Args, Debug)]
pub struct Fetch {
    #[command(flatten)]
    pub build: Build,
    /// What to fetch: kernel, busybox (default: both)
    #[arg(value_name = "PACKAGE")]
    pub packages: Vec<fetch::Package>,
}

/// Flags of every subcommand that builds.
#[derive(Args, Debug, Clone)]
pub struct Build {
    #[command(flatten)]
    pub selection: Selection,
    /// Parallel make jobs (default: the number of CPUs)
    #[arg(long, short = 'j', env = "KARDEL_JOBS", global = true)]
    pub jobs: Option<usize>,
    /// An extra argument for the kernel's and BusyBox's make (e.g. `V=1`); repeatable
    #[arg(long = "make-arg", env = "KARDEL_MAKE_ARGS", value_delimiter = ' ', global = true)]
    pub make_args: Vec<String>,
    /// Size of the ext4 initrd image in MiB (must fit the kernel's 64 MiB RAM disk)
    #[arg(long, env = "KARDEL_IMAGE_SIZE_MIB", default_value_t = 32, global = true)]
    pub image_size_mib: u64,
    /// Install missing host packages first (needs root or sudo)
    #[arg(long, global = true)]
    pub install_deps: bool,
    /// kernel, busybox: stop after configuring and checking the .config
    #[arg(long, global = true)]
    pub configure_only: bool,
}

#[derive(Args, Debug, Clone, Copy, PartialEq, Eq)]
#[group(required = false, multiple = false)]
pub struct ImageChoice {
    /// The ext4 initrd (rootfs.img.gz), root=/dev/ram
    #[arg(long)]
    pub initrd: bool,
    /// The BusyBox initramfs (rootfs.cpio.gz)
    #[arg(long)]
    pub initramfs: bool,
    /// The hello-world initramfs (hello.cpio.gz)
    #[arg(long)]
    pub hello: bool,
}

#[derive(Args, Debug)]
pub struct Machine {
    /// Virtual CPUs
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
    /// Guest memory in MiB
    #[arg(long, default_value_t = 1024)]
    pub memory: u32,
    /// Extra kernel command line arguments; repeatable
    #[arg(long = "append", value_name = "ARG")]
    pub append: Vec<String>,
    /// Extra QEMU arguments; repeatable (use `--qemu-arg=-foo`)
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// Accelerator: auto picks KVM only where it works, else TCG
    #[arg(long, env = "KARDEL_ACCEL", default_value = "auto")]
    pub accel: String,
}

#[derive(Args, Debug)]
pub struct Run {
    #[command(flatten)]
    pub build: Build,
    #[command(flatten)]
    pub image: ImageChoice,
    #[command(flatten)]
    pub machine: Machine,
    /// Print the exact QEMU command line and stop
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct Check {
    #[command(flatten)]
    pub build: Build,
    #[command(flatten)]
    pub image: ImageChoice,
    /// Check all three images
    #[arg(long, conflicts_with_all = ["initrd", "initramfs", "hello"])]
    pub all: bool,
    #[command(flatten)]
    pub machine: Machine,
}

#[derive(Args, Debug)]
pub struct Bench {
    #[command(flatten)]
    pub build: Build,
    /// Run one part alone
    #[arg(long, value_enum)]
    pub only: Option<BenchPart>,
    /// Boots per image for the boot-time median
    #[arg(long, default_value_t = 5)]
    pub boots: usize,
    /// Also write the figures as JSON
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchPart {
    Build,
    Rebuild,
    Images,
    Boot,
    Sizes,
}

#[derive(Args, Debug)]
pub struct Deps {
    /// Install what is missing with the host's package manager (needs root or sudo)
    #[arg(long)]
    pub install: bool,
}
