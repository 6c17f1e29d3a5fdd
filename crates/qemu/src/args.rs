//! The QEMU command line, as pure data: no process is started here.

use std::{ffi::OsString, fmt, path::PathBuf, str::FromStr};

/// Which of the tutorial's three boots a [`Machine`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A gzipped ext4 image loaded into a RAM disk and mounted as `/` (tutorial section 6).
    Initrd,
    /// A gzipped newc cpio unpacked into the kernel's rootfs, BusyBox init from it (section 8).
    Initramfs,
    /// The hello-world initramfs: the kernel runs its `/init` directly (section 7).
    Hello,
}

impl Mode {
    /// The kernel command line the tutorial boots this mode with.
    pub fn kernel_append(self) -> &'static str {
        match self {
            // /dev/ram names the first RAM disk, which the kernel fills from the -initrd image
            Mode::Initrd => "root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init",
            // rdinit is the init looked up inside an initramfs; init= would be looked up only
            // after mounting a root device, which this boot has none of
            Mode::Initramfs => "rw rootfstype=ramfs console=ttyS0 rdinit=/sbin/init",
            // without rdinit= the kernel runs the initramfs's /init, the hello program
            Mode::Hello => "rw rootfstype=ramfs console=ttyS0",
        }
    }
}

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

/// One QEMU virtual machine: everything [`qemu_args`] needs.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The QEMU program, looked up in PATH unless it has a slash.
    pub qemu: PathBuf,
    pub kernel: PathBuf,
    /// The image given to `-initrd`: ext4.gz for [`Mode::Initrd`], cpio.gz otherwise.
    pub image: PathBuf,
    pub mode: Mode,
    pub cpus: u32,
    pub memory_mib: u32,
    pub accel: Accel,
    /// Appended to the kernel command line after the mode's own words.
    pub extra_append: Vec<String>,
    /// Appended to QEMU's arguments last, so they can add devices or override earlier flags.
    pub extra_args: Vec<OsString>,
    /// Automated run: a guest panic or reboot ends QEMU instead of looping or hanging.
    pub headless: bool,
}

impl Machine {
    /// The tutorial's machine: 2 CPUs, 1 GiB, TCG (see [`crate::resolve_accel`] for KVM),
    /// interactive.
    pub fn new(kernel: impl Into<PathBuf>, image: impl Into<PathBuf>, mode: Mode) -> Machine {
        Machine {
            qemu: PathBuf::from("qemu-system-x86_64"),
            kernel: kernel.into(),
            image: image.into(),
            mode,
            cpus: 2,
            memory_mib: 1024,
            accel: Accel::Tcg,
            extra_append: Vec::new(),
            extra_args: Vec::new(),
            headless: false,
        }
    }

    /// The kernel command line: the mode's words, the headless panic policy, then extras.
    pub fn kernel_append(&self) -> String {
        let mut words = vec![self.mode.kernel_append().to_string()];
        if self.headless {
            // a negative timeout reboots at once on panic, and -no-reboot turns that reboot
            // into QEMU exiting: a broken guest ends the run instead of hanging it
            words.push("panic=-1".to_string());
        }
        words.extend(self.extra_append.iter().cloned());
        words.join(" ")
    }
}

/// QEMU's arguments (without the program name) for `machine`, in the tutorial's order.
pub fn qemu_args(machine: &Machine) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-name", "kardel"]);
    push(&["-smp", &machine.cpus.to_string()]);
    push(&["-m", &machine.memory_mib.to_string()]);
    // no window: the guest's first serial port (ttyS0) and QEMU's monitor share this terminal,
    // Ctrl-a switching between them
    push(&["-nographic"]);
    match machine.accel {
        // KVM can pass the host CPU through unchanged; TCG keeps its default emulated model
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => push(&["-accel", "tcg"]),
    }
    if machine.headless {
        // with panic=-1 on the kernel command line, a guest panic becomes QEMU exiting
        push(&["-no-reboot"]);
    }
    args.push("-kernel".into());
    args.push(machine.kernel.clone().into());
    args.push("-initrd".into());
    args.push(machine.image.clone().into());
    args.push("-append".into());
    args.push(machine.kernel_append().into());
    args.extend(machine.extra_args.iter().cloned());
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

fn shell_quote(word: &str) -> String {
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

    fn machine(mode: Mode) -> Machine {
        Machine::new("out/bzImage", "out/rootfs.img", mode)
    }

    #[track_caller]
    fn check(machine: &Machine, expected: Expect) {
        expected.assert_eq(&command_line(machine));
    }

    #[test]
    fn initrd_is_the_tutorial_command() {
        let mut m = machine(Mode::Initrd);
        m.image = "out/rootfs.img.gz".into();
        check(
            &m,
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -kernel out/bzImage -initrd out/rootfs.img.gz -append 'root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init'"#
            ]],
        );
    }

    #[test]
    fn initramfs_uses_rdinit() {
        check(
            &machine(Mode::Initramfs),
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -kernel out/bzImage -initrd out/rootfs.img -append 'rw rootfstype=ramfs console=ttyS0 rdinit=/sbin/init'"#
            ]],
        );
    }

    #[test]
    fn hello_runs_slash_init() {
        check(
            &machine(Mode::Hello),
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -kernel out/bzImage -initrd out/rootfs.img -append 'rw rootfstype=ramfs console=ttyS0'"#
            ]],
        );
    }

    #[test]
    fn kvm_passes_the_host_cpu() {
        let mut m = machine(Mode::Initramfs);
        m.accel = Accel::Kvm;
        check(
            &m,
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel kvm -cpu host -kernel out/bzImage -initrd out/rootfs.img -append 'rw rootfstype=ramfs console=ttyS0 rdinit=/sbin/init'"#
            ]],
        );
    }

    #[test]
    fn headless_ends_qemu_on_panic() {
        let mut m = machine(Mode::Initrd);
        m.headless = true;
        check(
            &m,
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 2 -m 1024 -nographic -accel tcg -no-reboot -kernel out/bzImage -initrd out/rootfs.img -append 'root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init panic=-1'"#
            ]],
        );
    }

    #[test]
    fn extras_come_last() {
        let mut m = machine(Mode::Initramfs);
        m.qemu = "/opt/qemu dir/bin/qemu-system-x86_64".into();
        m.cpus = 1;
        m.memory_mib = 256;
        m.headless = true;
        m.extra_append = vec!["quiet".into(), "loglevel=3".into()];
        m.extra_args = vec!["-gdb".into(), "tcp::9001".into(), "-S".into()];
        check(
            &m,
            expect![[
                r#"'/opt/qemu dir/bin/qemu-system-x86_64' -name kardel -smp 1 -m 256 -nographic -accel tcg -no-reboot -kernel out/bzImage -initrd out/rootfs.img -append 'rw rootfstype=ramfs console=ttyS0 rdinit=/sbin/init panic=-1 quiet loglevel=3' -gdb tcp::9001 -S"#
            ]],
        );
    }

    #[test]
    fn argv_keeps_the_append_as_one_word() {
        let args = qemu_args(&machine(Mode::Hello));
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
