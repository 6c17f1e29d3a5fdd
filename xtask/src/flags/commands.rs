//! The subcommands that boot, test and measure (`run`, `check`, `test`, `bisect`, `lava`,
//! `bench`), each a group of the flags in `build.rs` and `machine.rs` and its own.

use std::path::PathBuf;

use super::{
    build::{parse_file, Build, UbootBoot, UbootSource},
    machine::{ImageChoice, LavaJob, Machine, PanicIs, Reports, MAX_TIMEOUT_SECS},
};
use clap::Args;

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
