//! Command-line flags: the only place clap appears. The parsed struct is the command: `main`
//! dispatches on it, and each command turns its flags into the engine's plain values once
//! (`Build::selection`, `Machine::options`, `UbootBoot::choice`). Every value is checked here, by
//! its parser, before any work: a bad flag costs nothing.

use std::path::PathBuf;

use boot::machine::{DEFAULT_MEMORY_MIB, MIN_MEMORY_MIB};
use clap::{builder::PossibleValuesParser, builder::TypedValueParser, Args, Parser, Subcommand};
use qemu::AccelChoice;
use rootfs::Compression;
use stages::{Selection, UbootSelection};

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
    /// Configure and build the kernel
    Kernel(Configurable),
    /// Configure and build a static BusyBox
    Busybox(Configurable),
    /// Configure and build U-Boot's ROM for booting through U-Boot (`run --uboot`)
    Uboot(UbootBuild),
    /// Make the initrd, the initramfs and the hello initramfs (builds BusyBox first if needed)
    Rootfs(Build),
    /// Everything: sources, kernel, BusyBox and the three images
    All(Build),
    /// Boot one image in QEMU on this terminal (builds what is missing first)
    Run(Run),
    /// Boot images headless and check that they behave as the tutorial shows
    Check(Check),
    /// Run the kernel's tests in the guest (KUnit) and report their results (a summary, JUnit,
    /// JSON; exit code 0 all passed, 1 a case failed, 125 the build or the machine failed)
    Test(Test),
    /// Find the commit that broke it: bisect a git kernel tree (--kernel-source DIR) between
    /// --good and --bad, building and booting each step (exit code 0 when one commit is named)
    // the usage clap makes lists the flags a variable set as if they were required
    #[command(
        override_usage = "cargo xtask bisect [OPTIONS] --kernel-source DIR (--good REV --bad REV | --replay LOG) [-- CMD...]"
    )]
    Bisect(Bisect),
    /// Run a LAVA job (from `check --lava-job`, `run --lava-job`) through LAVA's own dispatcher
    /// on this machine and report its test cases (exit code 0 all passed, 1 a case failed, 125
    /// LAVA or the machine failed)
    Lava(Lava),
    /// Measure build, rebuild and boot times and image sizes
    Bench(Bench),
    /// Check (and with --install, install) the host packages the build needs
    Deps(Deps),
    /// Start gdb on the debug kernel's vmlinux, connected to a `run --gdb` guest, with the
    /// kernel's gdb scripts (lx-dmesg, lx-symbols)
    Gdb(Gdb),
    /// Run the repository's own checks (README, fragments, tables, formatting)
    Tidy,
    /// Every setting (a flag with a KARDEL_* variable) with its value and where it came from:
    /// the environment, a settings file's line (kardel.toml), or the default
    Config,
}

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

impl ImageChoice {
    /// The name of the chosen row of the boot table, if one was chosen.
    pub fn boot_name(self) -> Option<&'static str> {
        match self {
            ImageChoice { initrd: true, .. } => Some("initrd"),
            ImageChoice { initramfs: true, .. } => Some("initramfs"),
            ImageChoice { hello: true, .. } => Some("hello"),
            _ => None,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct Machine {
    /// Virtual CPUs [default: 2, the tutorial's; 1 on the fast machine]
    #[arg(long, env = "KARDEL_CPUS", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub cpus: Option<u32>,
    /// Guest memory in MiB (at least 64)
    #[arg(
        long,
        env = "KARDEL_MEMORY",
        default_value_t = DEFAULT_MEMORY_MIB,
        value_parser = clap::value_parser!(u32).range(i64::from(MIN_MEMORY_MIB)..)
    )]
    pub memory: u32,
    /// Extra kernel command line arguments; repeatable
    #[arg(long = "append", value_name = "ARG")]
    pub append: Vec<String>,
    /// Extra QEMU arguments; repeatable (use `--qemu-arg=-foo`)
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// A host folder in the guest over virtio 9p: `DIR` (the first at /mnt) or `TAG=DIR` (at
    /// /mnt/TAG); repeatable
    #[arg(long = "share", value_name = "[TAG=]DIR", value_parser = parse_share)]
    pub shares: Vec<Share>,
    /// As --share, read-only in the guest
    #[arg(long = "share-ro", value_name = "[TAG=]DIR", value_parser = parse_share)]
    pub shares_ro: Vec<Share>,
    /// User-mode networking: the guest is 10.0.2.15 (set up by the kernel), the host 10.0.2.2
    #[arg(long)]
    pub net: bool,
    /// Forward a TCP port of 127.0.0.1 to the guest (implies --net); repeatable
    #[arg(long = "forward", value_name = "HOST:GUEST", value_parser = parse_forward)]
    pub forwards: Vec<qemu::devices::Forward>,
    /// QEMU's human monitor on a Unix socket (`socat - UNIX-CONNECT:PATH`); a new path or an old
    /// socket
    #[arg(long, value_name = "PATH", value_parser = boot::machine::parse_socket_path)]
    pub monitor: Option<PathBuf>,
    /// QMP, QEMU's JSON monitor, on a Unix socket (not the monitor's)
    #[arg(long, value_name = "PATH", value_parser = boot::machine::parse_socket_path)]
    pub qmp: Option<PathBuf>,
    /// Accelerator: auto picks KVM only where it works (and only for the host's architecture),
    /// else TCG
    #[arg(
        long,
        env = "KARDEL_ACCEL",
        default_value = "auto",
        value_parser = PossibleValuesParser::new(["auto", "kvm", "tcg"])
            .map(|s| s.parse::<AccelChoice>().expect("a possible value"))
    )]
    pub accel: AccelChoice,
}

/// The longest `--timeout`: a year, which every clock sum honours.
const MAX_TIMEOUT_SECS: u64 = 365 * 24 * 3600;

#[derive(Args, Debug)]
pub struct Run {
    #[command(flatten)]
    pub build: Build,
    #[command(flatten)]
    pub image: ImageChoice,
    #[command(flatten)]
    pub machine: Machine,
    #[command(flatten)]
    pub uboot: UbootBoot,
    /// Print the exact QEMU command line and stop
    #[arg(long)]
    pub dry_run: bool,
    /// The fast machine (qboot, no NIC or video, one CPU, a quiet kernel with arches.toml's
    /// `fast_append`, vmlinux through PVH where built) instead of the tutorial's command line;
    /// always used for a command
    #[arg(long)]
    pub fast: bool,
    /// Wait for gdb before the first instruction, its stub on 127.0.0.1:PORT (default 1234); the
    /// kernel is the profile's debug build (feature `debug`, its own folder), booted with nokaslr
    #[arg(long, value_name = "PORT", num_args = 0..=1, require_equals = true, default_missing_value = "1234")]
    pub gdb: Option<u16>,
    /// The guest's root file system: DIR (`/`, the host's own, or any tree of the guest's
    /// architecture), shared read-only under an overlay in RAM; the command runs there, in the
    /// current folder when it is inside DIR, and without a command DIR's shell starts
    #[arg(long, value_name = "DIR", env = "KARDEL_ROOTFS")]
    pub rootfs: Option<PathBuf>,
    /// A named target of the settings files (`[target.NAME]`: its settings over the files'
    /// others, its `command` when none is given)
    #[arg(long, value_name = "NAME", conflicts_with = "all_targets")]
    pub target: Option<String>,
    /// Run every named target's command, one after another, and report them as `test` does (a
    /// JUnit suite per target): exit 0 all passed, 1 one did not
    #[arg(long)]
    pub all_targets: bool,
    /// With a command: the whole run's limit in seconds, boot included (at most a year)
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub timeout: u64,
    /// With a command: show the guest's console (kernel log) on stderr, and whether the run
    /// started from the saved machine
    #[arg(long)]
    pub verbose: bool,
    /// With a command: boot, even when a saved machine could start it (warm starts)
    #[arg(long, env = "KARDEL_COLD", value_parser = clap::builder::BoolishValueParser::new())]
    pub cold: bool,
    /// With a command: read its stdout as TAP or KTAP (kselftest's, or your own) and report the
    /// results: a summary on stderr, the exit code 0 all passed, 1 a case or the command failed;
    /// implied by --junit and --json
    #[arg(long)]
    pub tap: bool,
    #[command(flatten)]
    pub reports: Reports,
    #[command(flatten)]
    pub lava: LavaJob,
    /// A command to run in the guest instead of a shell: its output is the run's output and its
    /// exit code the run's exit code (the initramfs unless --initrd)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct Bisect {
    #[command(flatten)]
    pub build: Build,
    #[command(flatten)]
    pub machine: Machine,
    /// A commit where the command passes (any revision git takes: a hash, a tag, HEAD~16)
    #[arg(long, value_name = "REV", required_unless_present = "replay")]
    pub good: Option<String>,
    /// A commit where the command fails
    #[arg(long, value_name = "REV", required_unless_present = "replay")]
    pub bad: Option<String>,
    /// What a kernel panic at boot counts as
    #[arg(long, value_enum, default_value_t = PanicIs::Bad)]
    pub panic: PanicIs,
    /// Repeat a saved bisect log (the one a bisect writes), then go on from where it ends
    #[arg(long, value_name = "LOG", conflicts_with_all = ["good", "bad"])]
    pub replay: Option<PathBuf>,
    /// Write the bisect (answer, steps, log) as JSON
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Each step's boot-and-command limit in seconds: a kernel that hangs is a machine failure,
    /// skipped
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub timeout: u64,
    /// Show each step's command output and console
    #[arg(long)]
    pub verbose: bool,
    /// The command run in each step's guest: exit 0 is good, 125 skip, anything else bad.
    /// Without one, a step is good when the checks of `check` pass on the initramfs
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicIs {
    Bad,
    Skip,
}

/// Where test results are written, besides the summary on the terminal.
#[derive(Args, Debug, Default)]
pub struct Reports {
    /// Write the results as JUnit XML (what GitLab, Jenkins and GitHub's test reporters read)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the results as JSON (the tree of suites and cases, counts, problems)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

impl Reports {
    pub fn wanted(&self) -> bool {
        self.junit.is_some() || self.json.is_some()
    }

    pub fn paths(&self) -> engine::reports::Reports {
        engine::reports::Reports { junit: self.junit.clone(), json: self.json.clone() }
    }
}

#[derive(Args, Debug)]
pub struct Test {
    #[command(flatten)]
    pub build: Build,
    #[command(flatten)]
    pub machine: Machine,
    /// KUnit's suites built into the kernel (feature `kunit`: its own kernel flavour), all or
    /// those GLOB names (`suite` or `suite.case`, with * and ?: kunit.filter_glob); the suites of
    /// test modules given with --module run as they load
    #[arg(long, value_name = "GLOB", num_args = 0..=1, default_missing_value = "", value_parser = parse_glob, conflicts_with = "kselftest")]
    pub kunit: Option<String>,
    /// The kernel tree's own selftests, built static for the guest and run by the tree's
    /// runner: the default set (README), or TARGETS (comma-separated, e.g. `futex,pidfd`); their
    /// kernel is the profile's with feature `kselftest` and the targets' own config files
    #[arg(long, value_name = "TARGETS", num_args = 0..=1, default_missing_value = "", value_delimiter = ',')]
    pub kselftest: Option<Vec<String>>,
    /// With --kselftest: every test's limit in seconds, over the collections' own (45 s by
    /// default); a test past it is a failure that says so
    #[arg(long, value_name = "SECS", requires = "kselftest", value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub kselftest_timeout: Option<u64>,
    #[command(flatten)]
    pub reports: Reports,
    #[command(flatten)]
    pub lava: LavaJob,
    /// The whole run's limit in seconds, boot included (at most a year)
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    pub timeout: u64,
    /// Show the guest's console (kernel log, the tests' output) on stderr
    #[arg(long)]
    pub verbose: bool,
    /// With --kunit and --module: boot, even when a saved machine of the KUnit kernel could load
    /// the modules (warm starts)
    #[arg(long, env = "KARDEL_COLD", value_parser = clap::builder::BoolishValueParser::new())]
    pub cold: bool,
}

/// A KUnit filter glob: one kernel argument, so no spaces or quotes.
fn parse_glob(text: &str) -> Result<String, String> {
    match text.chars().find(|c| c.is_whitespace() || *c == '"' || *c == '\'' || c.is_control()) {
        Some(c) => Err(format!("{text:?}: a KUnit glob is one kernel argument, without {c:?}")),
        None => Ok(text.to_string()),
    }
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
    #[command(flatten)]
    pub uboot: UbootBoot,
    /// Boot with the tutorial's command line instead of the fast machine
    #[arg(long)]
    pub tutorial_machine: bool,
    /// Also draw where each boot's time went, as an SVG picture
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    #[command(flatten)]
    pub lava: LavaJob,
}

/// The boot written as a LAVA job instead of booted here.
#[derive(Args, Debug, Default)]
pub struct LavaJob {
    /// Write this boot as a LAVA v2 job (device type qemu) to FILE instead of booting it: the
    /// kernel, the image and the checks (or the command) as test cases; run it here with
    /// `cargo xtask lava FILE` or send it to a lab
    #[arg(long, value_name = "FILE")]
    pub lava_job: Option<PathBuf>,
    /// Name the job's kernel and image by this http(s) base URL (where a lab's workers fetch
    /// them) instead of file:// paths on this machine; the files to put there are listed
    #[arg(long, value_name = "URL", requires = "lava_job", value_parser = parse_artifact_url)]
    pub artifact_url: Option<lava::Artifacts>,
}

impl LavaJob {
    /// The job file can be written (a new file in a folder that is there, or one to replace):
    /// said before the build, not after it.
    pub fn check_path(&self) -> anyhow::Result<()> {
        let Some(path) = &self.lava_job else { return Ok(()) };
        anyhow::Context::with_context(artifact::user_file::check(path), || {
            format!("--lava-job {}", path.display())
        })
    }
}

fn parse_artifact_url(text: &str) -> Result<lava::Artifacts, String> {
    lava::Artifacts::served(text)
}

#[derive(Args, Debug)]
pub struct Bench {
    #[command(flatten)]
    pub build: Build,
    #[command(flatten)]
    pub uboot: UbootSource,
    /// Run one part alone
    #[arg(long, value_enum)]
    pub only: Option<BenchPart>,
    /// Boots per image for the boot-time median
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub boots: u32,
    /// Also write the figures as JSON
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchPart {
    Build,
    Rebuild,
    Images,
    Boot,
    Uboot,
    /// every other row of the architecture table: its initramfs boot, on the kernel in your
    /// target folder (built there first if missing)
    Arches,
    /// every other row's kernel build from an empty build folder (not in the default run: a
    /// kernel build per architecture)
    ArchBuilds,
    /// what a share, the network and a module add to a command run; the debug kernel's size
    Features,
    /// the host's programs: `run --rootfs / -- CMD` beside virtme-ng's `vng --run` on the same
    /// kernel, for `true` and python3 (skipped, saying so, without virtme-ng)
    Rootfs,
    Sizes,
    /// virtme-ng beside this tool (not in the default run: its kernel is a defconfig build)
    Peers,
    /// the edit loop: one kernel `.c` file touched, then a command's result (not in the default
    /// run: the first pass builds the kernel from the unpacked tree)
    Edit,
    /// KUnit from the tree to results beside the kernel's own kunit.py, the same suites (not in
    /// the default run: kunit.py's kernel is its own build)
    Kunit,
    /// `test --kselftest` from an empty target folder, its parts, a second run that builds
    /// nothing, the tests' size (not in the default run: a kernel build)
    Kselftest,
    /// a kernel build into an empty ccache, then from an empty build folder with the cache warm
    /// (not in the default run: two kernel builds)
    Ccache,
    /// `bisect` against `git bisect run` with a script written the tutorial's way, on two
    /// sixteen-commit histories (not in the default run: four bisects, each from an empty build
    /// folder)
    Bisect,
}

#[derive(Args, Debug)]
pub struct Gdb {
    #[command(flatten)]
    pub build: Build,
    /// The port `run --gdb` listens on, on 127.0.0.1
    #[arg(long, default_value_t = 1234)]
    pub port: u16,
    /// More arguments for gdb (e.g. `-batch -ex 'bt'`)
    #[arg(last = true, value_name = "GDB_ARGS")]
    pub gdb_args: Vec<String>,
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

/// `cargo xtask lava JOB`.
#[derive(Args, Debug)]
pub struct Lava {
    /// The job (YAML, device type qemu)
    #[arg(value_name = "JOB", value_parser = parse_file)]
    pub job: PathBuf,
    /// Where lava-run's output, its log and the device dictionary go: a new or empty folder, or
    /// one an earlier run made (a folder holding other files is refused) [default:
    /// target/kardel/lava/<the job file's name without .yaml>]
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Run the job although it asks more of this machine than its guest and its own images:
    /// QEMU options that write or read files here or listen (-D, -serial file:, -drive
    /// file=/PATH, -monitor tcp:, -object ...), a `docker` or `command` action, file:// images
    /// the user who ran sudo cannot read. lava-run runs them as root
    #[arg(long)]
    pub trust_job: bool,
    /// Show the guest's console as the job runs
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub reports: Reports,
    /// Install missing host packages first (LAVA's dispatcher; needs root)
    #[arg(long, env = "KARDEL_INSTALL_DEPS", value_parser = clap::builder::BoolishValueParser::new())]
    pub install_deps: bool,
}

fn parse_sha256(text: &str) -> Result<String, String> {
    let hex = text.trim().to_ascii_lowercase();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{text:?} is not a sha256 (64 hexadecimal digits)"));
    }
    Ok(hex)
}

/// A host folder shared with the guest, as given (`--share-ro` makes it read-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// the 9p mount tag; none for the first untagged share (`hostshare`, at /mnt)
    pub tag: Option<String>,
    pub dir: PathBuf,
}

fn parse_share(text: &str) -> Result<Share, String> {
    boot::machine::parse_share(text).map(|(tag, dir)| Share { tag, dir })
}

fn parse_file(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if !path.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    std::path::absolute(&path).map_err(|e| e.to_string())
}

fn parse_forward(text: &str) -> Result<qemu::devices::Forward, String> {
    let (host, guest) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected HOST:GUEST, e.g. 8080:80"))?;
    let port = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{p:?} is not a TCP port (1-65535)")),
        Ok(n) => Ok(n),
    };
    Ok(qemu::devices::Forward { host: port(host)?, guest: port(guest)? })
}

impl Machine {
    /// The engine's options for these flags, with `run --gdb`'s port where there is one; what
    /// one flag cannot know wrong alone is refused here, before any work.
    pub fn options(&self, gdb: Option<u16>) -> anyhow::Result<boot::Options> {
        if self.monitor.is_some() && self.monitor == self.qmp {
            anyhow::bail!("--monitor and --qmp are the same path: each needs a socket of its own");
        }
        let share = |read_only: bool| {
            move |s: &Share| boot::Share { tag: s.tag.clone(), dir: s.dir.clone(), read_only }
        };
        let options = boot::Options {
            cpus: self.cpus,
            memory_mib: self.memory,
            append: self.append.clone(),
            qemu_args: self.qemu_args.clone(),
            root: None,
            shares: self
                .shares
                .iter()
                .map(share(false))
                .chain(self.shares_ro.iter().map(share(true)))
                .collect(),
            net: self.net,
            forwards: self.forwards.clone(),
            monitor: self.monitor.clone(),
            qmp: self.qmp.clone(),
            accel: self.accel,
            gdb,
        };
        boot::machine::mount_points(&options.shares).map_err(anyhow::Error::msg)?;
        Ok(options)
    }
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

impl Run {
    /// The engine's options for the machine flags and `--rootfs`, refused before any work when
    /// wrong.
    pub fn machine_options(&self) -> anyhow::Result<boot::Options> {
        let mut options = self.machine.options(self.gdb)?;
        if let Some(dir) = &self.rootfs {
            let arch = arch::Arch::get(&self.build.arch()?)?;
            options.root = Some(boot::user_root::check(dir, arch)?);
        }
        Ok(options)
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

/// Every environment variable a flag reads: a child given [`selection_args`] gets none of the
/// user's.
pub fn flag_variables() -> Vec<String> {
    use clap::CommandFactory;
    env_names(&Xtask::command())
}

fn env_names(command: &clap::Command) -> Vec<String> {
    let mut names = Vec::new();
    collect_env_names(command, &mut names);
    names
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

/// Parses the command line. An environment variable set to the empty string counts as unset, as
/// for most tools (`export KARDEL_KERNEL_SOURCE=` to drop one), and an error about a value that
/// came from a variable names the variable.
pub fn parse() -> Xtask {
    use clap::CommandFactory;
    let command = Xtask::command();
    for name in &env_names(&command) {
        if std::env::var_os(name).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
            std::env::remove_var(name);
        }
    }
    // the settings files' values reach clap as their variables would, where the environment
    // has none
    let known = crate::settings::known(&command);
    let origins = match settings::apply(&known, &stages::context::repo()) {
        Ok(origins) => origins,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(2);
        }
    };
    match Xtask::try_parse() {
        Ok(flags) => {
            settings::remember(origins);
            with_target(flags, &command)
        }
        Err(err) => {
            let from_env = invalid_arg_env(&err, &command);
            if let Some(name) = from_env {
                let shown = err.render().to_string();
                eprint!("{}", shown.trim_end());
                let value = std::env::var(&name).unwrap_or_default();
                match origins.get(&name) {
                    Some(origin) => eprintln!("\n(the value {value:?} came from {origin})"),
                    None => eprintln!(
                        "\n(the value came from the environment variable {name}={value:?})"
                    ),
                }
                std::process::exit(2);
            }
            err.exit()
        }
    }
}

/// `run --target NAME`: the target's settings over the files' others, read again through clap,
/// and its command when none was given.
fn with_target(flags: Xtask, command: &clap::Command) -> Xtask {
    let Cmd::Run(Run { target: Some(name), .. }) = &flags.cmd else { return flags };
    let known = crate::settings::known(command);
    let picked = settings::pick_target(&known, &stages::context::repo(), name);
    let target = picked.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        std::process::exit(2);
    });
    let mut flags = Xtask::try_parse().unwrap_or_else(|err| err.exit());
    if let Cmd::Run(run) = &mut flags.cmd {
        if run.command.is_empty() {
            run.command = target.command;
        }
    }
    flags
}

fn collect_env_names(command: &clap::Command, names: &mut Vec<String>) {
    for arg in command.get_arguments() {
        if let Some(env) = arg.get_env() {
            let env = env.to_string_lossy().into_owned();
            if !names.contains(&env) {
                names.push(env);
            }
        }
    }
    for sub in command.get_subcommands() {
        collect_env_names(sub, names);
    }
}

/// The environment variable that gave the rejected value, when the value was not on the command
/// line.
fn invalid_arg_env(err: &clap::Error, command: &clap::Command) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else { return None };
    let long = arg.split_whitespace().next()?.trim_start_matches('-').split('=').next()?;
    let mut stack = vec![command];
    while let Some(cmd) = stack.pop() {
        if let Some(a) = cmd.get_arguments().find(|a| a.get_long() == Some(long)) {
            let given = |word: &String| {
                word == &format!("--{long}")
                    || word.starts_with(&format!("--{long}="))
                    || a.get_short().is_some_and(|c| word.starts_with(&format!("-{c}")))
            };
            if std::env::args().skip(1).any(|word| given(&word)) {
                return None;
            }
            let env = a.get_env()?.to_string_lossy().into_owned();
            return std::env::var_os(&env).is_some().then_some(env);
        }
        stack.extend(cmd.get_subcommands());
    }
    None
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

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
