//! The flags of the machine and of what a run leaves: CPUs, memory, shares, network, monitors,
//! the accelerator and their conversion into `boot::Options` (`Machine::options`); the image
//! chosen; the reports (`--junit`, `--json`) and a LAVA job's path.

use std::path::PathBuf;

use super::build::Build;
use boot::machine::{DEFAULT_MEMORY_MIB, MIN_MEMORY_MIB};
use clap::{builder::PossibleValuesParser, builder::TypedValueParser, Args};
use qemu::AccelChoice;

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
pub(super) const MAX_TIMEOUT_SECS: u64 = 365 * 24 * 3600;

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
