//! The one boot path, shared by `run`, `check` and `bench`: a row of the boot table, the built
//! kernel and images, the architecture's row and the user's flags become one QEMU machine; a
//! headless session waits for it to be ready.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use arch::Arch;
use qemu::{Accel, AccelChoice, Machine, Session};

use crate::{
    boots::{Boot, Image, Ready},
    context::Context,
    features, flags,
    pipeline::Built,
};

/// How long a boot may take to be ready under TCG before it is called hung.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Which machine boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// the tutorial's command line, as a person types it
    Tutorial,
    /// as fast as an emulated boot goes, for the boots nobody watches (check, commands, bench):
    /// each choice kept for what the bench measured (README, "Boot times")
    Fast,
}

/// The machine for `boot` on the context's architecture. The kernel is checked first for the
/// symbols the boot's features need. `resolve_accel` false (a dry run) starts no QEMU: `auto`
/// is then shown as TCG, and said so.
pub fn machine(
    ctx: &Context,
    built: &Built,
    boot: &Boot,
    flags: &flags::Machine,
    speed: Speed,
    resolve_accel: bool,
) -> Result<Machine> {
    machine_with_init(ctx, built, boot, flags, speed, None, resolve_accel)
}

/// [`machine`] with another init than the tutorial's (the command runner's).
pub fn machine_with_init(
    ctx: &Context,
    built: &Built,
    boot: &Boot,
    flags: &flags::Machine,
    speed: Speed,
    init: Option<&str>,
    resolve_accel: bool,
) -> Result<Machine> {
    let kernel_config = kconfig::parse_config(
        &std::fs::read_to_string(&built.kernel.config)
            .with_context(|| format!("reading {}", built.kernel.config.display()))?,
    );
    check_kernel_has(ctx, built, boot, &kernel_config)?;
    let arch = ctx.arch;
    let kernel_has =
        |symbol: &str| kernel_config.get(&format!("CONFIG_{symbol}")) == Some(&kconfig::Value::Yes);
    let kernel = match (speed, arch.fast_vmlinux_if()) {
        // arches.toml says why (PVH: no decompression)
        (Speed::Fast, Some(symbol)) if kernel_has(symbol) => &built.kernel.vmlinux,
        _ => &built.kernel.image,
    };
    let mut machine = arch_machine(arch, kernel, speed);
    machine.initrd = Some(match (speed, boot.image) {
        // the fast machine skips the kernel's gzip unpacking (README, "Boot times")
        (Speed::Fast, Image::Initramfs) => built.images.initramfs_uncompressed.clone(),
        _ => boot.image.path(&built.images).to_path_buf(),
    });
    machine.append = boot.append(&arch.console, init);
    // no network card unless asked for (QEMU adds one by default): no network nobody asked for,
    // and no option ROM for the firmware to run
    let transport = &arch.virtio;
    if flags.wants_net() {
        machine.devices.extend(qemu::devices::user_net(transport, &flags.forwards));
        // the kernel asks QEMU's DHCP server itself before init runs
        machine.append.push("ip=dhcp".to_string());
        machine.append.push("KARDEL_NET=1".to_string());
    } else {
        machine.devices.extend(qemu::devices::no_nic());
    }
    let shares = shares(flags);
    for (index, (tag, _, share, read_only)) in shares.iter().enumerate() {
        machine
            .devices
            .extend(qemu::devices::share_9p(transport, index, &share.dir, tag, *read_only));
    }
    if !shares.is_empty() {
        let list: Vec<String> =
            shares.iter().map(|(tag, mount_point, _, _)| format!("{tag}:{mount_point}")).collect();
        machine.append.push(format!("KARDEL_SHARES={}", list.join(",")));
    }
    if let Some(path) = &flags.monitor {
        machine
            .devices
            .extend(qemu::devices::monitor_socket(path, qemu::devices::MonitorKind::Human));
    }
    if let Some(path) = &flags.qmp {
        machine
            .devices
            .extend(qemu::devices::monitor_socket(path, qemu::devices::MonitorKind::Qmp));
    }
    match speed {
        Speed::Tutorial => {
            machine.cpus = flags.cpus.unwrap_or(2);
        }
        Speed::Fast => {
            // one CPU: under TCG a second one costs its bring-up and buys nothing for one
            // command
            machine.cpus = flags.cpus.unwrap_or(1);
            // the kernel's log at warnings and above: each line on an emulated UART costs time
            machine.append.push("quiet".to_string());
            // the row's timer and interrupt-routing shortcuts (arches.toml says what each saves)
            machine.append.extend(arch.fast_append(kernel_has));
            // no graphics card: the console is the serial port, and a card is one more PCI
            // device for the kernel to probe (28 ms to the prompt under TCG)
            machine.devices.extend(qemu::devices::no_vga());
        }
    }
    machine.append.extend(flags.append.iter().cloned());
    machine.memory_mib = flags.memory;
    machine.extra_args = flags.qemu_args.iter().map(Into::into).collect();
    machine.accel = accel(ctx, built, flags.accel, resolve_accel)?;
    Ok(machine)
}

/// What the architecture's row gives a machine booting `kernel`: QEMU, board, CPU and firmware.
/// Pure, so that every row's command line is snapshot-tested.
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

fn accel(ctx: &Context, built: &Built, choice: AccelChoice, probe: bool) -> Result<Accel> {
    let arch = ctx.arch;
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
    if !probe {
        if choice == AccelChoice::Auto {
            eprintln!("accelerator: auto is not probed in a dry run; shown as tcg");
        }
        return Ok(if choice == AccelChoice::Kvm { Accel::Kvm } else { Accel::Tcg });
    }
    let (accel, reason) = resolve(ctx, built, choice)?;
    eprintln!("accelerator: {reason}");
    Ok(accel)
}

/// The accelerator `choice` gives on this host for the built kernel, and why: KVM only for the
/// host's own architecture, and then only where the probe boots it.
pub fn resolve(ctx: &Context, built: &Built, choice: AccelChoice) -> Result<(Accel, String)> {
    let arch = ctx.arch;
    if !arch.is_host() {
        return Ok((Accel::Tcg, format!("kvm: {} is not this host's architecture", arch.name)));
    }
    qemu::resolve_accel(
        choice,
        arch.qemu.as_ref(),
        &built.kernel.image,
        &arch.console,
        &ctx.layout.kvm_probe_cache(),
    )
}

/// The shares with their 9p tags and mount points: the first untagged one is the author's
/// `hostshare` on /mnt, the others `/mnt/TAG` (an untagged one beyond the first is tagged with
/// its folder's name).
fn shares(flags: &flags::Machine) -> Vec<(String, String, &flags::Share, bool)> {
    let all =
        flags.shares.iter().map(|s| (s, false)).chain(flags.shares_ro.iter().map(|s| (s, true)));
    let mut out = Vec::new();
    let mut first_untagged = true;
    for (share, read_only) in all {
        let (tag, mount_point) = match &share.tag {
            Some(tag) => (tag.clone(), format!("/mnt/{tag}")),
            None if first_untagged => {
                first_untagged = false;
                ("hostshare".to_string(), "/mnt".to_string())
            }
            None => {
                let name = share.dir.file_name().map(|n| n.to_string_lossy().into_owned());
                let tag: String = name
                    .unwrap_or_else(|| "share".into())
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                (tag.clone(), format!("/mnt/{tag}"))
            }
        };
        out.push((tag, mount_point, share, read_only));
    }
    out
}

/// Fails before QEMU starts when the built kernel lacks a symbol the boot's features need (a
/// user's fragment turned it off), naming each and what to do.
fn check_kernel_has(
    ctx: &Context,
    built: &Built,
    boot: &Boot,
    config: &BTreeMap<String, kconfig::Value>,
) -> Result<()> {
    let missing = features::missing_in_kernel(&ctx.repo, &ctx.arch.name, boot.needs, config)?;
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

/// U-Boot as a machine's firmware.
pub struct UbootRom {
    pub rom: PathBuf,
    /// the kernel arguments it passes when it boots by itself: known for a ROM built here (its
    /// CONFIG_BOOTARGS), not for a prebuilt one
    pub bootargs: Option<String>,
}

impl UbootRom {
    /// Whether the ROM boots `machine` by itself: its built-in arguments are the machine's (a
    /// headless session's panic policy aside: its console watcher sees a panic anyway).
    pub fn boots_by_itself(&self, machine: &Machine) -> bool {
        self.bootargs.as_deref() == Some(machine.append.join(" ").as_str())
    }
}

/// Puts U-Boot in front of the kernel, as the author's `run.sh -u` does: the ROM is the firmware,
/// QEMU hands it the kernel and the image over fw_cfg, and U-Boot passes the kernel its
/// arguments itself (QEMU's -append would not reach a kernel that firmware starts).
pub fn through(machine: &mut Machine, uboot: &UbootRom) {
    machine.firmware = Some(uboot.rom.clone());
    machine.bootloader_passes_append = true;
    // its console is the serial port: no video for it to start
    machine.devices.extend(qemu::devices::no_vga());
}

/// U-Boot's commands that boot `machine`'s kernel and image with its kernel arguments: the
/// author's CONFIG_BOOTCOMMAND, typed by hand.
pub fn uboot_commands(machine: &Machine) -> Vec<String> {
    vec![
        format!("setenv bootargs '{}'", machine.kernel_append()),
        "qfw load ${kernel_addr_r} ${ramdisk_addr_r}".to_string(),
        "zboot ${kernel_addr_r} - ${ramdisk_addr_r} ${filesize}".to_string(),
    ]
}

/// Through U-Boot at the console, until the kernel's first line. A ROM that boots `machine` by
/// itself is left to its countdown; otherwise the countdown is stopped and [`uboot_commands`]
/// are typed at its `=>` prompt. A U-Boot that resets (its banner again) or stops at its prompt
/// fails at once, with the console's tail.
pub fn through_uboot(session: &mut Session, machine: &Machine, uboot: &UbootRom) -> Result<()> {
    let step = Duration::from_secs(30);
    session.wait_for(UBOOT_BANNER, step).context("U-Boot did not start")?;
    if !uboot.boots_by_itself(machine) {
        // a session runs headless: the arguments typed carry its panic policy
        let machine = &Machine { headless: true, ..machine.clone() };
        session
            .wait_for("Hit any key to stop autoboot", step)
            .context("no U-Boot autoboot prompt")?;
        session.send_line("")?;
        for command in uboot_commands(machine) {
            session.wait_for("=>", step).context("no U-Boot prompt")?;
            session.send_line(&command)?;
        }
    }
    let outcomes = ["Linux version", UBOOT_BANNER, "\n=> "];
    let outcome = session
        .wait_for_first(&outcomes, step)
        .context("U-Boot did not start the kernel (a 64-bit U-Boot 2023.01 resets at zboot)")?;
    let why = match outcome {
        0 => return Ok(()),
        1 => {
            "U-Boot reset the machine instead of starting the kernel (a 64-bit U-Boot 2023.01 \
              does at zboot: README, \"Through U-Boot\")"
        }
        _ => "U-Boot stopped at its prompt: its boot command failed",
    };
    Err(anyhow::anyhow!("{why}\n{}", session.console_report()))
}

/// The start of U-Boot proper's banner (`U-Boot 2024.04 (...)`), not its SPL's.
const UBOOT_BANNER: &str = "U-Boot 20";

/// Starts `machine` headless, its console logged under the boot's name.
pub fn spawn(ctx: &Context, machine: &Machine, boot: &Boot) -> Result<Session> {
    Session::spawn(machine, &ctx.layout.log(&format!("boot-{}", boot.name)))
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

    /// What each row of the architecture table gives QEMU: the tutorial's initrd boot, then the
    /// fast machine (check, command runs) with the command runner's virtio serial bus.
    fn rendered(arch: &Arch, speed: Speed) -> String {
        let kernel = Path::new("out").join(arch.kernel_image_name());
        let mut machine = arch_machine(arch, &kernel, speed);
        machine.initrd = Some("out/rootfs.img.gz".into());
        machine.append = crate::boots::by_name("initrd").append(&arch.console, None);
        if speed == Speed::Fast {
            machine.devices.extend(qemu::devices::virtio_serial(&arch.virtio));
        }
        qemu::command_line(&machine)
    }

    #[test]
    fn every_row_gives_its_machine() {
        let snapshots: &[(&str, Expect, Expect)] = &[
            (
                "aarch64",
                expect![[
                    r#"qemu-system-aarch64 -name kardel -M virt -smp 2 -m 1024 -nographic -accel tcg -cpu cortex-a57 -kernel out/Image -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyAMA0 init=/sbin/init'"#
                ]],
                expect![[
                    r#"qemu-system-aarch64 -name kardel -M virt -smp 2 -m 1024 -nographic -accel tcg -cpu cortex-a57 -kernel out/Image -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyAMA0 init=/sbin/init' -device virtio-serial-pci,id=vser0"#
                ]],
            ),
            (
                "riscv64",
                expect![[
                    r#"qemu-system-riscv64 -name kardel -M virt -smp 2 -m 1024 -nographic -accel tcg -bios default -kernel out/Image -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init'"#
                ]],
                expect![[
                    r#"qemu-system-riscv64 -name kardel -M virt -smp 2 -m 1024 -nographic -accel tcg -bios default -kernel out/Image -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init' -device virtio-serial-pci,id=vser0"#
                ]],
            ),
            (
                "x86_64",
                expect![[
                    r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -kernel out/bzImage -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init'"#
                ]],
                expect!["qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -bios /usr/share/qemu/qboot.rom -kernel out/bzImage -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init' -device virtio-serial-pci,id=vser0"],
            ),
        ];
        let names: Vec<&str> = snapshots.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(names, arch::names(), "every row of arches.toml has its snapshots here");
        for (name, tutorial, fast) in snapshots {
            let arch = Arch::get(name).unwrap();
            tutorial.assert_eq(&rendered(arch, Speed::Tutorial));
            // the fast firmware is used only where it is installed (qboot, qemu-system-data)
            if arch.fast_firmware.is_empty() || Path::new(&arch.fast_firmware).is_file() {
                fast.assert_eq(&rendered(arch, Speed::Fast));
            } else {
                eprintln!(
                    "skipped: {name}'s fast machine, {} is not installed",
                    arch.fast_firmware
                );
            }
        }
    }
}
