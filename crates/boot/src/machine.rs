//! The one boot path, shared by `run`, `check` and `bench`: a row of the boot table, the built
//! kernel and images, the architecture's row and the user's options become one QEMU machine; a
//! headless session waits for it to be ready.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use arch::Arch;
use qemu::{devices::Forward, Accel, AccelChoice, Machine, Session};
use stages::{features, kernel::Kernel, layout::ImagePaths, Built, Site};

use crate::{
    boots::{Boot, Image, Ready},
    protocol,
};

/// How long a boot may take to be ready under TCG before it is called hung.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The tutorial's guest memory.
pub const DEFAULT_MEMORY_MIB: u32 = 1024;

/// The smallest guest memory offered: below it the tiny kernel and BusyBox do not reach a shell.
pub const MIN_MEMORY_MIB: u32 = 64;

/// Which machine boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// the tutorial's command line, as a person types it
    Tutorial,
    /// as fast as an emulated boot goes, for the boots nobody watches (check, commands, bench):
    /// each choice kept for what the bench measured (docs/fast-machine.md)
    Fast,
}

/// Which program the kernel starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// the boot row's own (BusyBox's init, or the image's /init)
    Tutorial,
    /// the command runner ([`protocol::RUNNER_INIT`])
    Runner,
}

/// A host folder shared with the guest over virtio 9p.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// the 9p mount tag; none for an untagged share
    pub tag: Option<String>,
    pub dir: PathBuf,
    pub read_only: bool,
}

/// What the user asks of the machine, whatever boots on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// virtual CPUs; the machine's own choice when none (2 the tutorial's, 1 the fast machine's)
    pub cpus: Option<u32>,
    pub memory_mib: u32,
    /// extra kernel arguments, after the boot's own
    pub append: Vec<String>,
    pub qemu_args: Vec<String>,
    pub shares: Vec<Share>,
    /// a root of the user's, checked ([`crate::user_root::check`]): the guest's `/`, read-only
    /// under an overlay in RAM, where a command runs and an interactive shell starts
    pub root: Option<PathBuf>,
    pub net: bool,
    pub forwards: Vec<Forward>,
    /// QEMU's human monitor and QMP on Unix sockets
    pub monitor: Option<PathBuf>,
    pub qmp: Option<PathBuf>,
    pub accel: AccelChoice,
    /// a gdb stub on 127.0.0.1:PORT, the CPUs stopped until gdb continues them
    pub gdb: Option<u16>,
}

impl Options {
    /// The machine of a boot with no flags given: the tutorial's sizes, no devices.
    pub fn plain(accel: AccelChoice) -> Options {
        Options {
            cpus: None,
            memory_mib: DEFAULT_MEMORY_MIB,
            append: Vec::new(),
            qemu_args: Vec::new(),
            shares: Vec::new(),
            root: None,
            net: false,
            forwards: Vec::new(),
            monitor: None,
            qmp: None,
            accel,
            gdb: None,
        }
    }

    /// A network: asked for, or implied by a forward.
    pub fn wants_net(&self) -> bool {
        self.net || !self.forwards.is_empty()
    }

    /// The features these options need whose rows say the guest reaches the host's
    /// (features.toml's `reaches_host`: a share, the network), named, if any: such a guest powers
    /// off at its end (its writes to a share flushed, its connections closed) and never starts
    /// from a saved machine (both are this run's host's, set up as it boots).
    pub fn reaches_host(&self) -> Option<String> {
        self.needed_features_whose(|row| row.reaches_host)
    }

    /// The features these options need that a LAVA job cannot carry (features.toml's `lava`),
    /// named with what their rows say, if any.
    pub fn not_in_a_lava_job(&self) -> Option<String> {
        let catalog = stages::features::Catalog::builtin();
        let names = self.needed_features_whose(|row| !row.lava)?;
        let about = |name: &str| catalog.feature(name).map(|f| f.about.clone()).unwrap_or_default();
        Some(
            names
                .split(" and ")
                .map(|n| format!("`{n}` ({})", about(n)))
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    fn needed_features_whose(
        &self,
        row: impl Fn(&stages::features::Feature) -> bool,
    ) -> Option<String> {
        let catalog = stages::features::Catalog::builtin();
        let names: Vec<&str> = self
            .needed_features()
            .into_iter()
            .filter(|name| catalog.feature(name).is_ok_and(&row))
            .collect();
        (!names.is_empty()).then(|| names.join(" and "))
    }

    /// The features of features.toml the kernel needs for these options.
    pub fn needed_features(&self) -> Vec<&'static str> {
        let mut needs = Vec::new();
        if !self.shares.is_empty() {
            needs.push("share");
        }
        if self.root.is_some() {
            needs.push("root");
        }
        if self.wants_net() {
            needs.push("net");
        }
        if self.gdb.is_some() {
            needs.push("debug");
        }
        needs
    }
}

/// One boot: which row, on which machine, with which init.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub boot: &'a Boot,
    pub speed: Speed,
    pub init: Init,
    /// whether `auto` may start QEMU to probe KVM (not in a dry run, which starts nothing: `auto`
    /// is then shown as TCG, and said so)
    pub probe_accel: bool,
    /// whether to say on stderr which accelerator was chosen and why (not in a command run, whose
    /// stderr is the command's, unless it is verbose)
    pub announce: bool,
}

impl<'a> Request<'a> {
    pub fn new(boot: &'a Boot, speed: Speed) -> Request<'a> {
        Request { boot, speed, init: Init::Tutorial, probe_accel: true, announce: true }
    }
}

/// The machine for `request` on the context's architecture. The kernel is checked first for the
/// symbols the boot's features need.
pub fn machine(
    site: Site<'_>,
    built: &Built,
    request: &Request,
    options: &Options,
) -> Result<Machine> {
    let config_text = std::fs::read_to_string(&built.kernel.config)
        .with_context(|| format!("reading {}", built.kernel.config.display()))?;
    let kernel_config = kconfig::parse_config(&config_text);
    check_kernel_has(site, built, request.boot, &kernel_config)?;
    if let (Image::Initrd, Some(why)) = (request.boot.image, &built.images.initrd_skipped) {
        bail!("{why}\nboot the initramfs instead (--initramfs), or make the overlay smaller");
    }
    // flags check this before any build; options made otherwise (the bench's) are checked here
    mount_points(&options.shares).map_err(anyhow::Error::msg)?;
    let mut machine =
        assemble(site.arch, &built.kernel, &built.images, &kernel_config, request, options);
    machine.accel = accel(site, built, options.accel, request)?;
    Ok(machine)
}

/// [`machine`]'s pure core: everything but reading the kernel's config and choosing the
/// accelerator (TCG here), so that its snapshots are of what really boots.
pub fn assemble(
    arch: &Arch,
    kernel: &Kernel,
    images: &ImagePaths,
    kernel_config: &BTreeMap<String, kconfig::Value>,
    request: &Request,
    options: &Options,
) -> Machine {
    let kernel_has =
        |symbol: &str| kernel_config.get(&format!("CONFIG_{symbol}")) == Some(&kconfig::Value::Yes);
    let speed = request.speed;
    let kernel_file = match (speed, arch.fast_vmlinux_if()) {
        // arches.toml says why (PVH: no decompression)
        (Speed::Fast, Some(symbol)) if kernel_has(symbol) => &kernel.vmlinux,
        _ => &kernel.image,
    };
    let mut machine = arch_machine(arch, kernel_file, speed);
    machine.initrd = Some(match (speed, request.boot.image) {
        // the fast machine skips the kernel's gzip unpacking (docs/fast-machine.md)
        (Speed::Fast, Image::Initramfs) => images.initramfs_uncompressed.clone(),
        _ => request.boot.image.path(images).to_path_buf(),
    });
    let init = match (request.init, &options.root) {
        (Init::Tutorial, None) => None,
        (Init::Tutorial, Some(_)) => Some(protocol::ROOT_INIT),
        (Init::Runner, _) => Some(protocol::RUNNER_INIT),
    };
    machine.append = request.boot.append(&arch.console, init);
    add_network(&mut machine, arch, options);
    add_shares(&mut machine, arch, &options.shares);
    add_root(&mut machine, arch, options);
    add_monitors(&mut machine, options);
    match speed {
        Speed::Tutorial => machine.cpus = options.cpus.unwrap_or(2),
        Speed::Fast => fast(&mut machine, arch, options, kernel_has),
    }
    if let Some(port) = options.gdb {
        machine.devices.extend(qemu::devices::gdb_stub(port));
        // KASLR would move the kernel away from the addresses gdb reads in vmlinux
        machine.append.push("nokaslr".to_string());
    }
    machine.append.extend(options.append.iter().cloned());
    machine.memory_mib = options.memory_mib;
    machine.extra_args = options.qemu_args.iter().map(Into::into).collect();
    machine
}

/// No network card unless asked for (QEMU adds one by default): no network nobody asked for, and
/// no option ROM for the firmware to run.
fn add_network(machine: &mut Machine, arch: &Arch, options: &Options) {
    if options.wants_net() {
        machine.devices.extend(qemu::devices::user_net(&arch.virtio, &options.forwards));
        // the kernel asks QEMU's DHCP server itself before init runs
        machine.append.push("ip=dhcp".to_string());
        machine.append.push(protocol::kernel_arg(protocol::NET, 1));
    } else {
        machine.devices.extend(qemu::devices::no_nic());
    }
}

fn add_shares(machine: &mut Machine, arch: &Arch, shares: &[Share]) {
    // `machine` refused what `mount_points` refuses before assembling
    let mounted = mount_points(shares).unwrap_or_default();
    for (index, (tag, _, share)) in mounted.iter().enumerate() {
        machine.devices.extend(qemu::devices::share_9p(
            &arch.virtio,
            index,
            &share.dir,
            tag,
            share.read_only,
        ));
    }
    let arg = protocol::shares_arg(mounted.iter().map(|(tag, at, _)| (tag.as_str(), at.as_str())));
    machine.append.extend(arg);
}

/// The user's root as a read-only share of its own, after the user's (`-fsdev` ids count on);
/// the guest mounts it by the tag [`protocol::ROOT`] names.
fn add_root(machine: &mut Machine, arch: &Arch, options: &Options) {
    let Some(root) = &options.root else { return };
    let index = options.shares.len();
    machine.devices.extend(qemu::devices::share_9p(
        &arch.virtio,
        index,
        root,
        protocol::ROOT_TAG,
        true,
    ));
    // a distribution's programs ask for randomness as they start (python's hash seed)
    machine.devices.extend(qemu::devices::rng(&arch.virtio));
    machine.append.push(protocol::kernel_arg(protocol::ROOT, protocol::ROOT_TAG));
}

fn add_monitors(machine: &mut Machine, options: &Options) {
    use qemu::devices::{monitor_socket, MonitorKind};
    if let Some(path) = &options.monitor {
        machine.devices.extend(monitor_socket(path, MonitorKind::Human));
    }
    if let Some(path) = &options.qmp {
        machine.devices.extend(monitor_socket(path, MonitorKind::Qmp));
    }
}

/// The fast machine's policy.
fn fast(machine: &mut Machine, arch: &Arch, options: &Options, kernel_has: impl Fn(&str) -> bool) {
    // one CPU: under TCG a second one costs its bring-up and buys nothing for one command
    machine.cpus = options.cpus.unwrap_or(1);
    // the kernel's log at warnings and above: each line on an emulated UART costs time
    machine.append.push("quiet".to_string());
    // the row's timer and interrupt-routing shortcuts (arches.toml says what each saves)
    machine.append.extend(arch.fast_append(kernel_has));
    // no graphics card: the console is the serial port, and a card is one more PCI device for
    // the kernel to probe (28 ms to the prompt under TCG)
    machine.devices.extend(qemu::devices::no_vga());
}

/// What the architecture's row gives a machine booting `kernel`: QEMU, board, CPU and firmware.
pub fn arch_machine(arch: &Arch, kernel: &Path, speed: Speed) -> Machine {
    let mut machine = Machine::new(&arch.qemu, kernel);
    machine.board = arch.board().map(String::from);
    machine.cpu = arch.cpu().map(String::from);
    machine.firmware = match speed {
        Speed::Tutorial => arch.firmware(),
        // the row says why it is faster (arches.toml)
        Speed::Fast => arch.fast_firmware(),
    }
    .map(Into::into);
    machine
}

fn accel(site: Site<'_>, built: &Built, choice: AccelChoice, request: &Request) -> Result<Accel> {
    accel_for(site, &built.kernel, choice, request.probe_accel, request.announce)
}

fn accel_for(
    site: Site<'_>,
    kernel: &Kernel,
    choice: AccelChoice,
    probe_accel: bool,
    announce: bool,
) -> Result<Accel> {
    let arch = site.arch;
    if !arch.is_host() {
        // KVM runs only the host's own instruction set
        if choice == AccelChoice::Kvm {
            bail!(
                "--accel kvm: KVM cannot run {} code on this {} host",
                arch.name,
                std::env::consts::ARCH
            );
        }
        return Ok(Accel::Tcg);
    }
    if !probe_accel {
        if choice == AccelChoice::Auto && announce {
            eprintln!("accelerator: auto is not probed in a dry run; shown as tcg");
        }
        return Ok(if choice == AccelChoice::Kvm { Accel::Kvm } else { Accel::Tcg });
    }
    let (accel, reason) = resolve(site, kernel, choice)?;
    if announce {
        eprintln!("accelerator: {reason}");
    }
    Ok(accel)
}

/// The accelerator `choice` gives on this host for the built kernel, and why: KVM only for the
/// host's own architecture, and then only where the probe boots it.
pub fn resolve(site: Site<'_>, kernel: &Kernel, choice: AccelChoice) -> Result<(Accel, String)> {
    let arch = site.arch;
    if !arch.is_host() {
        return Ok((Accel::Tcg, format!("kvm: {} is not this host's architecture", arch.name)));
    }
    // the probe boots the row's own board and console (an aarch64 QEMU has no default board)
    let machine = arch_machine(arch, &kernel.image, Speed::Tutorial);
    qemu::resolve_accel(choice, &machine, &arch.console, &site.layout.kvm_probe_cache())
}

/// A machine that boots `kernel` alone, with no root file system, on the fast machine: what
/// KUnit's built-in suites need (they run as the kernel boots, and `kunit_shutdown=poweroff`
/// ends it: kunit.py's way), so that no BusyBox and no image is built for them.
pub fn kernel_alone(
    site: Site<'_>,
    kernel: &Kernel,
    options: &Options,
    append: &[String],
    announce: bool,
) -> Result<Machine> {
    let text = std::fs::read_to_string(&kernel.config)
        .with_context(|| format!("reading {}", kernel.config.display()))?;
    let config = kconfig::parse_config(&text);
    let kernel_has =
        |symbol: &str| config.get(&format!("CONFIG_{symbol}")) == Some(&kconfig::Value::Yes);
    let arch = site.arch;
    let kernel_file = match arch.fast_vmlinux_if() {
        Some(symbol) if kernel_has(symbol) => &kernel.vmlinux,
        _ => &kernel.image,
    };
    let mut machine = arch_machine(arch, kernel_file, Speed::Fast);
    machine.append = vec![format!("console={}", arch.console)];
    machine.devices.extend(qemu::devices::no_nic());
    fast(&mut machine, arch, options, kernel_has);
    machine.append.extend(append.iter().cloned());
    machine.append.extend(options.append.iter().cloned());
    machine.memory_mib = options.memory_mib;
    machine.extra_args = options.qemu_args.iter().map(Into::into).collect();
    machine.accel = accel_for(site, kernel, options.accel, true, announce)?;
    Ok(machine)
}

/// The shares with their 9p tags and mount points. A tagged share is at `/mnt/TAG`; the first
/// untagged one is the author's `hostshare`, at `/mnt` when it is the only share and at
/// `/mnt/hostshare` beside others, so that no mount point is ever made inside a share (a folder
/// of the user's); a later untagged one is tagged with its folder's name. A tag given twice is
/// refused, naming both folders.
pub fn mount_points(shares: &[Share]) -> Result<Vec<(String, String, &Share)>, String> {
    let mut out: Vec<(String, String, &Share)> = Vec::new();
    let mut first_untagged = true;
    for share in shares {
        let tag = match &share.tag {
            Some(tag) => tag.clone(),
            None if first_untagged => {
                first_untagged = false;
                protocol::SHARE_TAG.to_string()
            }
            None => stages::selection::folder_word(&share.dir),
        };
        if tag == protocol::ROOT_TAG {
            return Err(format!(
                "the share {} is tagged {tag}, --rootfs's own tag: give it another (--share TAG=DIR)",
                share.dir.display()
            ));
        }
        if let Some((_, _, other)) = out.iter().find(|(t, _, _)| *t == tag) {
            return Err(format!(
                "two shares are tagged {tag} ({} and {}): give them tags of their own \
                 (--share TAG=DIR)",
                other.dir.display(),
                share.dir.display()
            ));
        }
        let alone = shares.len() == 1;
        let mount_point = match alone && share.tag.is_none() {
            true => protocol::SHARE_MOUNTS.to_string(),
            false => format!("{}/{tag}", protocol::SHARE_MOUNTS),
        };
        out.push((tag, mount_point, share));
    }
    Ok(out)
}

/// `TAG=DIR` when the part before the first `=` is a tag (letters, digits, `-`, `_`), else the
/// whole text is a folder: `./a=b` and `/x/a=b` are folders; a folder named `a=b` in the current
/// one is `./a=b`.
pub fn parse_share(text: &str) -> Result<(Option<String>, PathBuf), String> {
    let is_tag =
        |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
    let (tag, dir) = match text.split_once('=') {
        Some((tag, dir)) if is_tag(tag) => (Some(tag.to_string()), dir),
        _ => (None, text),
    };
    let dir = PathBuf::from(dir);
    if !dir.is_dir() {
        let hint = if tag.is_some() { " (a folder named with `=`: give it as ./NAME)" } else { "" };
        return Err(format!("{} is not a folder{hint}", dir.display()));
    }
    let dir = std::path::absolute(&dir).map_err(|e| e.to_string())?;
    if dir.to_string_lossy().contains(',') {
        // QEMU's option syntax would split the path at the comma
        return Err(format!("{}: QEMU cannot share a path with a comma", dir.display()));
    }
    Ok((tag, dir))
}

/// A path QEMU makes a Unix socket at (`--monitor`, `--qmp`): QEMU deletes what is there first,
/// so only a new path or an old socket is taken, and QEMU's option syntax splits at a comma.
pub fn parse_socket_path(text: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::FileTypeExt;
    let path = std::path::absolute(text).map_err(|e| e.to_string())?;
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "{} exists and is not a socket: QEMU would delete it to make its socket",
                path.display()
            ));
        }
    }
    if path.to_string_lossy().contains(',') {
        return Err(format!("{}: QEMU's options cannot hold a path with a comma", path.display()));
    }
    Ok(path)
}

/// Fails before QEMU starts when the built kernel lacks a symbol the boot's features need (a
/// user's fragment turned it off), naming each and what to do.
fn check_kernel_has(
    site: Site<'_>,
    built: &Built,
    boot: &Boot,
    config: &BTreeMap<String, kconfig::Value>,
) -> Result<()> {
    let missing = features::missing_in_kernel(site.repo, &site.arch.name, boot.needs, config)?;
    if !missing.is_empty() {
        bail!(
            "the {} boot needs what the kernel {} lacks:\n  {}\nbuild a kernel that has it: drop \
             the fragment that turns it off, or use another --profile",
            boot.name,
            built.kernel.image.display(),
            missing.join("\n  ")
        );
    }
    Ok(())
}

/// Starts `machine` headless, its console logged under the boot's name.
pub fn spawn(site: Site<'_>, machine: &Machine, boot: &Boot) -> Result<Session> {
    Session::spawn(machine, &site.layout.log(&format!("boot-{}", boot.name)))
}

/// Waits until the guest is ready as its row says (answering askfirst's "Please press Enter"
/// like a person); returns the time from QEMU's start to that moment.
pub fn wait_ready(session: &mut Session, boot: &Boot) -> Result<Duration> {
    match boot.ready {
        Ready::Shell => session.wait_for_shell(BOOT_TIMEOUT),
        Ready::Prints(text) => {
            session.wait_for(text, BOOT_TIMEOUT)?;
            Ok(session.elapsed())
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;
    use crate::boots;

    /// What [`assemble`] gives QEMU on `arch` for a kernel built with the tiny profile's
    /// PVH and PCI_MSI: the tutorial's initrd boot, and a command run on the fast machine.
    fn rendered(arch: &Arch, speed: Speed) -> String {
        let out = Path::new("out");
        let kernel = Kernel {
            image: out.join(arch.kernel_image_name()),
            vmlinux: out.join("vmlinux"),
            config: out.join("config"),
            release: "6.1.0".into(),
            build_dir: "build".into(),
            fingerprint: String::new(),
        };
        let images = ImagePaths {
            initrd: out.join("rootfs.img.gz"),
            initramfs: out.join("rootfs.cpio.gz"),
            initramfs_uncompressed: out.join("rootfs.cpio"),
            hello: out.join("hello.cpio.gz"),
            initrd_skipped: None,
        };
        let config = kconfig::parse_config("CONFIG_PVH=y\nCONFIG_PCI_MSI=y\n");
        let request = match speed {
            Speed::Tutorial => Request::new(boots::by_name("initrd"), speed),
            Speed::Fast => {
                Request { init: Init::Runner, ..Request::new(boots::by_name("initramfs"), speed) }
            }
        };
        let machine =
            assemble(arch, &kernel, &images, &config, &request, &Options::plain(AccelChoice::Tcg));
        qemu::command_line(&machine)
    }

    #[test]
    fn every_row_gives_its_machine() {
        let snapshots: &[(&str, Expect, Expect)] = &[
            ("aarch64", expect!["qemu-system-aarch64 -name kardel -M virt -smp 2 -m 1024 -nographic -accel tcg -cpu cortex-a57 -kernel out/Image -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyAMA0 init=/sbin/init' -nic none"], expect!["qemu-system-aarch64 -name kardel -M virt -smp 1 -m 1024 -nographic -accel tcg -cpu cortex-a57 -kernel out/Image -initrd out/rootfs.cpio -append 'rw rootfstype=ramfs console=ttyAMA0 rdinit=/sbin/kardel-run quiet' -nic none -vga none"]),
            ("riscv64", expect!["qemu-system-riscv64 -name kardel -M virt -smp 2 -m 1024 -nographic -accel tcg -bios default -kernel out/Image -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init' -nic none"], expect!["qemu-system-riscv64 -name kardel -M virt -smp 1 -m 1024 -nographic -accel tcg -bios default -kernel out/Image -initrd out/rootfs.cpio -append 'rw rootfstype=ramfs console=ttyS0 rdinit=/sbin/kardel-run quiet' -nic none -vga none"]),
            ("x86_64", expect!["qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -kernel out/bzImage -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init' -nic none"], expect!["qemu-system-x86_64 -name kardel -smp 1 -m 1024 -nographic -accel tcg -bios /usr/share/qemu/qboot.rom -kernel out/vmlinux -initrd out/rootfs.cpio -append 'rw rootfstype=ramfs console=ttyS0 rdinit=/sbin/kardel-run quiet noapictimer no_timer_check pci=noacpi' -nic none -vga none"]),
        ];
        let names: Vec<&str> = snapshots.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(names, arch::names(), "every row of arches.toml has its snapshots here");
        for (name, tutorial, fast) in snapshots {
            let arch = Arch::get(name).unwrap();
            tutorial.assert_eq(&rendered(arch, Speed::Tutorial));
            fast.assert_eq(&rendered(arch, Speed::Fast));
        }
    }

    #[test]
    fn shares_never_mount_inside_one_another() {
        let share = |tag: Option<&str>, dir: &str| Share {
            tag: tag.map(String::from),
            dir: dir.into(),
            read_only: false,
        };
        let points = |shares: &[Share]| -> Vec<String> {
            mount_points(shares).unwrap().iter().map(|(t, m, _)| format!("{t}:{m}")).collect()
        };
        assert_eq!(points(&[share(None, "/h/a")]), ["hostshare:/mnt"]);
        assert_eq!(points(&[share(Some("x"), "/h/a")]), ["x:/mnt/x"]);
        assert_eq!(
            points(&[share(Some("x"), "/h/a"), share(None, "/h/b"), share(None, "/h/my c")]),
            ["x:/mnt/x", "hostshare:/mnt/hostshare", "my_c:/mnt/my_c"]
        );
        let err =
            mount_points(&[share(Some("a"), "/h/one"), share(None, "/h/b"), share(None, "/h/a")])
                .unwrap_err();
        assert_eq!(
            err,
            "two shares are tagged a (/h/one and /h/a): give them tags of their own (--share TAG=DIR)"
        );
    }

    #[test]
    fn shares_network_monitors_and_gdb_join_the_machine() {
        let arch = Arch::get("x86_64").unwrap();
        let mut options = Options::plain(AccelChoice::Tcg);
        options.shares = vec![
            Share { tag: None, dir: "/h/a".into(), read_only: false },
            Share { tag: Some("ro".into()), dir: "/h/b".into(), read_only: true },
        ];
        options.forwards = vec![Forward { host: 8080, guest: 80 }];
        options.monitor = Some("/r/mon".into());
        options.gdb = Some(1234);
        options.append = vec!["loglevel=7".into()];
        let kernel = Kernel {
            image: "out/bzImage".into(),
            vmlinux: "out/vmlinux".into(),
            config: "out/config".into(),
            release: String::new(),
            build_dir: "build".into(),
            fingerprint: String::new(),
        };
        let images = ImagePaths {
            initrd: "out/rootfs.img.gz".into(),
            initramfs: "out/rootfs.cpio.gz".into(),
            initramfs_uncompressed: "out/rootfs.cpio".into(),
            hello: "out/hello.cpio.gz".into(),
            initrd_skipped: None,
        };
        let request = Request::new(boots::by_name("initramfs"), Speed::Tutorial);
        let machine = assemble(arch, &kernel, &images, &BTreeMap::new(), &request, &options);
        expect!["qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -kernel out/bzImage -initrd out/rootfs.cpio.gz -append 'rw rootfstype=ramfs console=ttyS0 rdinit=/sbin/init ip=dhcp KARDEL_NET=1 KARDEL_SHARES=hostshare:/mnt/hostshare,ro:/mnt/ro nokaslr loglevel=7' -netdev user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80 -device virtio-net-pci,netdev=net0 -fsdev local,security_model=none,id=fsdev0,path=/h/a,multidevs=remap -device virtio-9p-pci,fsdev=fsdev0,mount_tag=hostshare -fsdev local,security_model=none,id=fsdev1,path=/h/b,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=fsdev1,mount_tag=ro -monitor unix:/r/mon,server=on,wait=off -gdb tcp:127.0.0.1:1234 -S"].assert_eq(&qemu::command_line(&machine));
        assert_eq!(options.needed_features(), ["share", "net", "debug"]);
    }
}
