//! The QEMU command line, as pure data: no process is started here. The crate knows QEMU, not
//! the tutorial: what to boot and with which kernel arguments is the caller's table.

use std::{ffi::OsString, fmt, path::PathBuf, str::FromStr};

/// How QEMU runs guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation: fast, but needs a working /dev/kvm (see [`crate::resolve_accel`]).
    Kvm,
    /// QEMU's own instruction translator: slower, works everywhere.
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

/// What the user asked for on the command line: `auto`, `kvm` or `tcg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccelChoice {
    /// KVM when it is usable and proven to boot, else TCG.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

impl FromStr for AccelChoice {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> anyhow::Result<AccelChoice> {
        match value {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            _ => anyhow::bail!("unknown accelerator `{value}`: expected auto, kvm or tcg"),
        }
    }
}

/// One QEMU virtual machine booting a kernel directly: everything [`qemu_args`] needs.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The QEMU program, looked up in PATH unless it has a slash.
    pub qemu: PathBuf,
    /// `-M`: none keeps the program's default board (the PC on x86_64, as the tutorial does).
    pub board: Option<String>,
    /// `-cpu` under TCG; none keeps the board's default. KVM always passes the host's CPU.
    pub cpu: Option<String>,
    /// `-bios`: none keeps the program's default firmware.
    pub firmware: Option<PathBuf>,
    pub cpus: u32,
    pub memory_mib: u32,
    pub accel: Accel,
    pub kernel: PathBuf,
    /// `-initrd`: an ext4 RAM disk image or a cpio initramfs.
    pub initrd: Option<PathBuf>,
    /// The kernel command line, word by word.
    pub append: Vec<String>,
    /// Arguments from the [`crate::devices`] functions, in order.
    pub devices: Vec<OsString>,
    /// Appended to QEMU's arguments last, so they can add devices or override earlier flags.
    pub extra_args: Vec<OsString>,
    /// Automated run: a guest panic or reboot ends QEMU instead of looping or hanging.
    pub headless: bool,
    /// A bootloader firmware (U-Boot) gives the kernel its arguments: no `-append`, and
    /// [`Machine::kernel_append`] is what to hand the bootloader.
    pub bootloader_passes_append: bool,
}

impl Machine {
    /// `qemu` booting `kernel` with the tutorial's sizes: 2 CPUs, 1 GiB, TCG (see
    /// [`crate::resolve_accel`] for KVM), interactive, nothing else.
    pub fn new(qemu: impl Into<PathBuf>, kernel: impl Into<PathBuf>) -> Machine {
        Machine {
            qemu: qemu.into(),
            board: None,
            cpu: None,
            firmware: None,
            cpus: 2,
            memory_mib: 1024,
            accel: Accel::Tcg,
            kernel: kernel.into(),
            initrd: None,
            append: Vec::new(),
            devices: Vec::new(),
            extra_args: Vec::new(),
            headless: false,
            bootloader_passes_append: false,
        }
    }

    /// The kernel command line: the caller's words, then the headless panic policy.
    pub fn kernel_append(&self) -> String {
        let mut words = self.append.clone();
        if self.headless {
            // a negative timeout reboots at once on panic, and -no-reboot turns that reboot
            // into QEMU exiting: a broken guest ends the run instead of hanging it
            words.push("panic=-1".to_string());
        }
        words.join(" ")
    }
}

/// QEMU's arguments (without the program name) for `machine`, in the tutorial's order.
pub fn qemu_args(machine: &Machine) -> Vec<OsString> {
    let (mut args, devices) = hardware_parts(machine);
    args.extend(kernel_args(machine));
    args.extend(devices);
    args
}

/// The machine without what it boots (`-kernel`, `-initrd`, `-append`): what a LAVA device
/// dictionary's QEMU options hold, the job giving the kernel, image and arguments.
pub fn hardware_args(machine: &Machine) -> Vec<OsString> {
    let (mut args, devices) = hardware_parts(machine);
    args.extend(devices);
    args
}

/// The arguments before the kernel's, and the devices and extras after them.
fn hardware_parts(machine: &Machine) -> (Vec<OsString>, Vec<OsString>) {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-name", "kardel"]);
    if let Some(board) = &machine.board {
        push(&["-M", board]);
    }
    push(&["-smp", &machine.cpus.to_string()]);
    push(&["-m", &machine.memory_mib.to_string()]);
    // no window: the guest's first serial port and QEMU's monitor share this terminal
    // (-serial mon:stdio), Ctrl-a switching between them and Ctrl-C reaching the guest
    push(&["-nographic"]);
    match (machine.accel, &machine.cpu) {
        // KVM can pass the host CPU through unchanged
        (Accel::Kvm, _) => push(&["-accel", "kvm", "-cpu", "host"]),
        (Accel::Tcg, Some(cpu)) => push(&["-accel", "tcg", "-cpu", cpu]),
        (Accel::Tcg, None) => push(&["-accel", "tcg"]),
    }
    if machine.headless {
        // with panic=-1 on the kernel command line, a guest panic becomes QEMU exiting
        push(&["-no-reboot"]);
    }
    if let Some(firmware) = &machine.firmware {
        args.push("-bios".into());
        args.push(firmware.clone().into());
    }
    let mut devices = machine.devices.clone();
    devices.extend(machine.extra_args.iter().cloned());
    (args, devices)
}

fn kernel_args(machine: &Machine) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-kernel".into(), machine.kernel.clone().into()];
    if let Some(initrd) = &machine.initrd {
        args.push("-initrd".into());
        args.push(initrd.clone().into());
    }
    let append = machine.kernel_append();
    if !append.is_empty() && !machine.bootloader_passes_append {
        args.push("-append".into());
        args.push(append.into());
    }
    args
}

/// The whole command, program included, as one line a shell would run unchanged.
pub fn command_line(machine: &Machine) -> String {
    let mut argv = vec![machine.qemu.clone().into_os_string()];
    argv.extend(qemu_args(machine));
    shell_line(&argv)
}

/// Joins `argv` into a line for a POSIX shell, quoting only the words that need it.
pub fn shell_line(argv: &[OsString]) -> String {
    argv.iter().map(|word| shell_quote(&word.to_string_lossy())).collect::<Vec<_>>().join(" ")
}

/// One word for a POSIX shell, quoted only when it needs to be.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        // inside single quotes nothing is special except the quote itself, which is closed,
        // escaped, and reopened
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;

    fn machine(append: &str) -> Machine {
        let mut m = Machine::new("qemu-system-x86_64", "out/bzImage");
        m.initrd = Some("out/rootfs.img.gz".into());
        m.append = append.split_whitespace().map(String::from).collect();
        m
    }

    #[track_caller]
    fn check(machine: &Machine, expected: Expect) {
        expected.assert_eq(&command_line(machine));
    }

    #[test]
    fn the_tutorials_command() {
        check(
            &machine("root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init"),
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -kernel out/bzImage -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init'"#
            ]],
        );
    }

    #[test]
    fn board_cpu_and_firmware() {
        let mut m = Machine::new("qemu-system-aarch64", "out/Image");
        m.board = Some("virt".into());
        m.cpu = Some("cortex-a57".into());
        m.firmware = Some("/usr/share/qemu/qboot.rom".into());
        m.append = vec!["console=ttyAMA0".into()];
        check(
            &m,
            expect![[
                r#"qemu-system-aarch64 -name kardel -M virt -smp 2 -m 1024 -nographic -accel tcg -cpu cortex-a57 -bios /usr/share/qemu/qboot.rom -kernel out/Image -append console=ttyAMA0"#
            ]],
        );
    }

    #[test]
    fn a_bootloader_gets_the_arguments_instead_of_qemu() {
        let mut m = machine("root=/dev/ram rw console=ttyS0");
        m.firmware = Some("/usr/lib/u-boot/qemu-x86/u-boot.rom".into());
        m.bootloader_passes_append = true;
        m.headless = true;
        check(
            &m,
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -no-reboot -bios /usr/lib/u-boot/qemu-x86/u-boot.rom -kernel out/bzImage -initrd out/rootfs.img.gz"#
            ]],
        );
        assert_eq!(m.kernel_append(), "root=/dev/ram rw console=ttyS0 panic=-1");
    }

    #[test]
    fn kvm_passes_the_host_cpu() {
        let mut m = machine("console=ttyS0");
        m.accel = Accel::Kvm;
        m.cpu = Some("max".into());
        check(
            &m,
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel kvm -cpu host -kernel out/bzImage -initrd out/rootfs.img.gz -append console=ttyS0"#
            ]],
        );
    }

    #[test]
    fn headless_ends_qemu_on_panic() {
        let mut m = machine("console=ttyS0");
        m.headless = true;
        check(
            &m,
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -no-reboot -kernel out/bzImage -initrd out/rootfs.img.gz -append 'console=ttyS0 panic=-1'"#
            ]],
        );
    }

    #[test]
    fn devices_then_extras_come_last() {
        let mut m = machine("rw console=ttyS0");
        m.qemu = "/opt/qemu dir/bin/qemu-system-x86_64".into();
        m.cpus = 1;
        m.memory_mib = 256;
        m.devices = crate::devices::no_nic();
        m.extra_args = vec!["-d".into(), "guest_errors".into()];
        check(
            &m,
            expect![[
                r#"'/opt/qemu dir/bin/qemu-system-x86_64' -name kardel -smp 1 -m 256 -nographic -accel tcg -kernel out/bzImage -initrd out/rootfs.img.gz -append 'rw console=ttyS0' -nic none -d guest_errors"#
            ]],
        );
    }

    #[test]
    fn no_initrd_and_no_append_leave_no_flag() {
        let m = Machine::new("qemu-system-x86_64", "bzImage");
        check(
            &m,
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -kernel bzImage"#
            ]],
        );
    }

    #[test]
    fn argv_keeps_the_append_as_one_word() {
        let args = qemu_args(&machine("rw rootfstype=ramfs console=ttyS0"));
        let append = args.iter().position(|a| a == "-append").unwrap();
        assert_eq!(args[append + 1], "rw rootfstype=ramfs console=ttyS0");
        assert_eq!(args.len(), append + 2);
    }

    #[track_caller]
    fn check_quote(word: &str, expected: &str) {
        assert_eq!(shell_line(&[word.into()]), expected);
    }

    #[test]
    fn quoting() {
        check_quote("plain/path-1.0", "plain/path-1.0");
        check_quote("", "''");
        check_quote("a b", "'a b'");
        check_quote("it's", r"'it'\''s'");
        check_quote("$HOME", "'$HOME'");
        check_quote("tcp::9001", "tcp::9001");
    }

    #[test]
    fn accel_choice_parses_and_names_bad_values() {
        assert_eq!("auto".parse::<AccelChoice>().unwrap(), AccelChoice::Auto);
        assert_eq!("kvm".parse::<AccelChoice>().unwrap(), AccelChoice::Kvm);
        assert_eq!("tcg".parse::<AccelChoice>().unwrap(), AccelChoice::Tcg);
        let err = "hvf".parse::<AccelChoice>().unwrap_err().to_string();
        assert_eq!(err, "unknown accelerator `hvf`: expected auto, kvm or tcg");
    }
}
