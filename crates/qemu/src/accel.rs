//! Choosing KVM or TCG, proving KVM boots before trusting it.
//!
//! A /dev/kvm that opens is not a KVM that works: under nested virtualisation QEMU may abort
//! ("failed to set MSR") or hang with no output. So `auto` boots the real kernel under KVM for
//! a few seconds and waits for the kernel's first message. The firmware (SeaBIOS) prints before
//! the kernel runs, and does so even on the machines where the kernel then hangs, so "any output"
//! would prove nothing; the kernel's banner, printed at once with `earlyprintk`, does.
//!
//! The probe's machine is the caller's (QEMU program, board, kernel) made into a probe by
//! [`probe_machine`], and its command line comes from [`qemu_args`] like every boot's: a
//! program with no default board (`qemu-system-aarch64`) gets its `-M` here too.

use std::{
    fs,
    io::{self, Read},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{qemu_args, Accel, AccelChoice, Machine};

/// How long the probe waits for the guest kernel's banner. A kernel that works under KVM prints
/// it well under a second after QEMU starts.
pub const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The first line the kernel prints ("Linux version 6.1.0-... (gcc ...) #1 SMP ...").
const KERNEL_BANNER: &[u8] = b"Linux version";

const KVM_DEVICE: &str = "/dev/kvm";

/// The probe's memory: QEMU's own default, which the probe used before it named a board.
const PROBE_MEMORY_MIB: u32 = 128;

/// Picks the accelerator for `choice` on `machine` (whose QEMU program, board, CPU and kernel
/// are all that is read: see [`probe_machine`]) and says why, in a line fit to print. `console`
/// is the kernel's name for the board's first serial port (`ttyS0`, `ttyAMA0`).
///
/// `auto` picks KVM only if /dev/kvm opens for reading and writing and the machine's kernel
/// booted under KVM prints its banner within [`KVM_PROBE_TIMEOUT`]; otherwise TCG. The verdict
/// is kept in `cache` (one line per boot of the host and QEMU program), so only the first run of
/// a host boot pays for the probe; delete the file to probe again. An explicit `kvm` is not
/// probed, but an unusable /dev/kvm is an error.
pub fn resolve_accel(
    choice: AccelChoice,
    machine: &Machine,
    console: &str,
    cache: &Path,
) -> Result<(Accel, String)> {
    resolve_accel_on(choice, machine, console, cache, Path::new(KVM_DEVICE))
}

/// The machine the KVM probe boots for `machine`: its QEMU program, board (`-M`), CPU and
/// kernel, under KVM (so `-cpu host`), headless (a panic ends QEMU), with QEMU's default
/// firmware, one CPU, QEMU's default 128 MiB, no initrd, no devices or extra arguments, and
/// only the kernel arguments that make its banner its first words on `console`. Pure: its
/// command line is [`qemu_args`] of the result, as for every boot.
pub fn probe_machine(machine: &Machine, console: &str) -> Machine {
    let mut probe = Machine::new(&machine.qemu, &machine.kernel);
    probe.board = machine.board.clone();
    // unused under KVM (the host's CPU is passed through), kept so the probe is the row's CPU
    probe.cpu = machine.cpu.clone();
    probe.cpus = 1;
    probe.memory_mib = PROBE_MEMORY_MIB;
    probe.accel = Accel::Kvm;
    // earlyprintk makes the banner the kernel's first act, before any driver loads; headless
    // adds panic=-1 and -no-reboot, so a kernel that panics ends QEMU
    probe.append = vec![format!("console={console}"), format!("earlyprintk={console}")];
    probe.headless = true;
    probe
}

pub(crate) fn resolve_accel_on(
    choice: AccelChoice,
    machine: &Machine,
    console: &str,
    cache: &Path,
    kvm_device: &Path,
) -> Result<(Accel, String)> {
    match choice {
        AccelChoice::Tcg => Ok((Accel::Tcg, "tcg: requested".to_string())),
        AccelChoice::Kvm => match kvm_device_unusable(kvm_device) {
            Some(why) => bail!("kvm requested but {why}"),
            None => Ok((Accel::Kvm, "kvm: requested".to_string())),
        },
        AccelChoice::Auto => {
            if let Some(why) = kvm_device_unusable(kvm_device) {
                return Ok((Accel::Tcg, format!("kvm: {why}, using tcg")));
            }
            let key = cache_key(&machine.qemu);
            if let Some((accel, reason)) = key.as_deref().and_then(|key| read_cache(cache, key)) {
                return Ok((accel, format!("{reason} (cached in {})", cache.display())));
            }
            if !machine.kernel.is_file() {
                bail!("cannot probe kvm: kernel {} does not exist", machine.kernel.display());
            }
            let probe = probe_machine(machine, console);
            let (accel, reason) = probe_kvm(&probe, KVM_PROBE_TIMEOUT)?;
            if let Some(key) = key {
                write_cache(cache, &key, accel, &reason)?;
            }
            Ok((accel, reason))
        }
    }
}

/// Why `device` cannot be used, or `None` when it opens for reading and writing (what QEMU
/// needs).
fn kvm_device_unusable(device: &Path) -> Option<String> {
    match fs::OpenOptions::new().read(true).write(true).open(device) {
        Ok(_) => None,
        Err(err) if err.kind() == io::ErrorKind::NotFound => Some(format!(
            "{} does not exist (no KVM module loaded, or a virtual machine without nested \
             virtualisation)",
            device.display()
        )),
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => Some(format!(
            "{} is not readable and writable by this user (usually fixed by joining the kvm \
             group)",
            device.display()
        )),
        Err(err) => Some(format!("cannot open {}: {err}", device.display())),
    }
}

/// Boots `probe` (a [`probe_machine`]: no root filesystem) and waits up to `timeout` for its
/// kernel's banner. QEMU is killed and reaped before this returns, whatever happened. An error
/// only when QEMU cannot be started at all.
fn probe_kvm(probe: &Machine, timeout: Duration) -> Result<(Accel, String)> {
    let mut child = exec::ends_with_this_thread(&mut Command::new(&probe.qemu), libc::SIGKILL)
        .args(qemu_args(probe))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", probe.qemu.display()))?;
    let verdict = watch_probe(&mut child, timeout);
    // SIGKILL cannot be refused, and reaping it here means no QEMU outlives the probe
    let _ = child.kill();
    let _ = child.wait();
    Ok(verdict)
}

fn watch_probe(child: &mut Child, timeout: Duration) -> (Accel, String) {
    let (banner_seen, banner) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout is piped");
    // Neither reader is joined: if something keeps the pipe open after QEMU dies, a join
    // would hang the probe. They end on their own at end of file.
    thread::spawn(move || watch_for_banner(stdout, banner_seen));
    let stderr_text = Arc::new(Mutex::new(Vec::new()));
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let sink = Arc::clone(&stderr_text);
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stderr.read(&mut buf) {
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });

    let seconds = timeout.as_secs_f64();
    let give_up = Instant::now() + timeout;
    loop {
        match banner.recv_timeout(Duration::from_millis(50)) {
            Ok(()) => {
                return (Accel::Kvm, format!("kvm: the guest kernel started within {seconds:.0}s"))
            }
            // stdout closed without the banner: QEMU is exiting, which try_wait will see
            Err(mpsc::RecvTimeoutError::Disconnected) => thread::sleep(Duration::from_millis(50)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            // give the stderr reader a moment to collect QEMU's last words
            thread::sleep(Duration::from_millis(100));
            let stderr = String::from_utf8_lossy(&stderr_text.lock().unwrap()).into_owned();
            let last_words = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            return (Accel::Tcg, format!("kvm: qemu failed ({status}): {last_words}, using tcg"));
        }
        if Instant::now() >= give_up {
            return (
                Accel::Tcg,
                format!("kvm: no output from the guest kernel in {seconds:.0}s, using tcg"),
            );
        }
    }
}

fn watch_for_banner(mut stdout: impl Read, banner_seen: mpsc::Sender<()>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stdout.read(&mut buf) {
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(KERNEL_BANNER.len()).any(|w| w == KERNEL_BANNER) {
            let _ = banner_seen.send(());
            return;
        }
    }
}

/// The host's current boot and the QEMU program: a verdict holds until either changes.
/// `None` when the boot cannot be identified, and then nothing is cached.
fn cache_key(qemu: &Path) -> Option<String> {
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(format!("{} {}", boot_id.trim(), qemu.display()))
}

/// Cache lines: `<key>\t<kvm|tcg>\t<reason>`.
fn read_cache(cache: &Path, key: &str) -> Option<(Accel, String)> {
    let text = fs::read_to_string(cache).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, '\t');
        if fields.next()? != key {
            return None;
        }
        let accel = match fields.next()? {
            "kvm" => Accel::Kvm,
            "tcg" => Accel::Tcg,
            _ => return None,
        };
        Some((accel, fields.next()?.to_string()))
    })
}

fn write_cache(cache: &Path, key: &str, accel: Accel, reason: &str) -> Result<()> {
    let old = fs::read_to_string(cache).unwrap_or_default();
    let mut text: String = old
        .lines()
        .filter(|line| line.split('\t').next() != Some(key))
        .map(|line| format!("{line}\n"))
        .collect();
    text.push_str(&format!("{key}\t{accel}\t{}\n", reason.replace(['\t', '\n'], " ")));
    artifact::write_atomic(cache, |file| {
        io::Write::write_all(file, text.as_bytes())
            .with_context(|| format!("writing {}", cache.display()))
    })
}

#[cfg(test)]
mod tests {
    use std::{
        os::unix::fs::PermissionsExt,
        path::PathBuf,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use expect_test::{expect, Expect};

    use super::*;
    use crate::command_line;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            static COUNT: AtomicUsize = AtomicUsize::new(0);
            let unique = COUNT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("qemu-accel-{name}-{}-{unique}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        /// A stand-in for QEMU: a shell script.
        fn fake_qemu(&self, script: &str) -> PathBuf {
            let path = self.0.join("fake-qemu");
            fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            path
        }

        /// Something that opens for reading and writing like a usable /dev/kvm.
        fn usable_device(&self) -> PathBuf {
            let path = self.0.join("kvm");
            fs::write(&path, "").unwrap();
            path
        }

        fn kernel(&self) -> PathBuf {
            let path = self.0.join("bzImage");
            fs::write(&path, "").unwrap();
            path
        }

        /// The machine a caller hands the probe: `qemu` booting an (empty) kernel, on the PC.
        fn machine(&self, qemu: PathBuf) -> Machine {
            Machine::new(qemu, self.kernel())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[track_caller]
    fn check_probe(script: &str, expected: Accel, reason_contains: &str) {
        let scratch = Scratch::new("probe");
        let started = Instant::now();
        let (accel, reason) = resolve_accel_on(
            AccelChoice::Auto,
            &scratch.machine(scratch.fake_qemu(script)),
            "ttyS0",
            &scratch.0.join("cache"),
            &scratch.usable_device(),
        )
        .unwrap();
        assert_eq!(accel, expected, "{reason}");
        assert!(reason.contains(reason_contains), "{reason}");
        assert!(started.elapsed() < KVM_PROBE_TIMEOUT + Duration::from_secs(2), "probe too slow");
    }

    #[test]
    fn banner_means_kvm() {
        check_probe("echo 'Linux version 6.1.0'; exec sleep 1000", Accel::Kvm, "started");
    }

    #[test]
    fn firmware_output_alone_means_tcg() {
        check_probe(
            "printf 'SeaBIOS (version 1.16)\\nBooting from ROM...'; exec sleep 1000",
            Accel::Tcg,
            "no output from the guest kernel in 3s",
        );
    }

    #[test]
    fn qemu_error_means_tcg_with_its_words() {
        check_probe(
            "echo 'qemu-system-x86_64: error: failed to set MSR 0x10a' >&2; exit 1",
            Accel::Tcg,
            "failed to set MSR 0x10a",
        );
    }

    #[test]
    fn missing_device_means_tcg_without_probing() {
        let scratch = Scratch::new("missing");
        let (accel, reason) = resolve_accel_on(
            AccelChoice::Auto,
            &scratch.machine(scratch.fake_qemu("exit 99")),
            "ttyS0",
            &scratch.0.join("cache"),
            &scratch.0.join("no-kvm"),
        )
        .unwrap();
        assert_eq!(accel, Accel::Tcg);
        assert!(reason.contains("does not exist"), "{reason}");
    }

    #[test]
    fn explicit_kvm_with_missing_device_is_an_error() {
        let scratch = Scratch::new("explicit");
        let err = resolve_accel_on(
            AccelChoice::Kvm,
            &scratch.machine(scratch.fake_qemu("exit 99")),
            "ttyS0",
            &scratch.0.join("cache"),
            &scratch.0.join("no-kvm"),
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("kvm requested but "), "{message}");
        assert!(message.contains("no-kvm does not exist"), "{message}");
    }

    #[test]
    fn verdict_is_cached_per_qemu() {
        let scratch = Scratch::new("cache");
        let cache = scratch.0.join("cache");
        let device = scratch.usable_device();
        let qemu = scratch.fake_qemu("echo 'Linux version 6.1.0'; exec sleep 1000");
        let machine = scratch.machine(qemu.clone());
        let first =
            resolve_accel_on(AccelChoice::Auto, &machine, "ttyS0", &cache, &device).unwrap();
        assert_eq!(first.0, Accel::Kvm);
        // the same program now fails: a cached verdict must not run it
        scratch.fake_qemu("exit 1");
        let again =
            resolve_accel_on(AccelChoice::Auto, &machine, "ttyS0", &cache, &device).unwrap();
        assert_eq!(again.0, Accel::Kvm);
        assert!(again.1.contains("(cached in "), "{}", again.1);
        // another program path is probed afresh, and both verdicts are kept
        let other = scratch.0.join("other-qemu");
        fs::copy(&qemu, &other).unwrap();
        let third =
            resolve_accel_on(AccelChoice::Auto, &scratch.machine(other), "ttyS0", &cache, &device)
                .unwrap();
        assert_eq!(third.0, Accel::Tcg);
        assert_eq!(fs::read_to_string(&cache).unwrap().lines().count(), 2);
    }

    /// What a caller hands the probe: an architecture row's machine as every boot starts it,
    /// with what the probe must drop (firmware, initrd, arguments, devices, sizes, TCG).
    fn row_machine(qemu: &str, board: &str, cpu: &str, kernel: &str) -> Machine {
        let optional = |value: &str| (!value.is_empty()).then(|| value.to_string());
        let mut m = Machine::new(qemu, kernel);
        m.board = optional(board);
        m.cpu = optional(cpu);
        m.firmware = Some("/usr/share/qemu/qboot.rom".into());
        m.initrd = Some("out/initramfs.cpio.gz".into());
        m.append = vec!["rdinit=/sbin/init".into()];
        m.devices = crate::devices::no_nic();
        m.extra_args = vec!["-d".into(), "guest_errors".into()];
        m.cpus = 4;
        m.memory_mib = 2048;
        m
    }

    #[track_caller]
    fn check_probe_argv(machine: &Machine, console: &str, expected: Expect) {
        let probe = probe_machine(machine, console);
        expected.assert_eq(&command_line(&probe));
    }

    #[test]
    fn probe_argv_x86_64_keeps_the_pc() {
        check_probe_argv(
            &row_machine("qemu-system-x86_64", "", "", "out/bzImage"),
            "ttyS0",
            expect![[
                r#"qemu-system-x86_64 -name kardel -smp 1 -m 128 -nographic -accel kvm -cpu host -no-reboot -kernel out/bzImage -append 'console=ttyS0 earlyprintk=ttyS0 panic=-1'"#
            ]],
        );
    }

    #[test]
    fn probe_argv_aarch64_names_the_virt_board() {
        check_probe_argv(
            &row_machine("qemu-system-aarch64", "virt", "cortex-a57", "out/Image"),
            "ttyAMA0",
            expect![[
                r#"qemu-system-aarch64 -name kardel -M virt -smp 1 -m 128 -nographic -accel kvm -cpu host -no-reboot -kernel out/Image -append 'console=ttyAMA0 earlyprintk=ttyAMA0 panic=-1'"#
            ]],
        );
    }

    #[test]
    fn probe_runs_the_machines_board() {
        // a QEMU with no default board: only `-M virt` boots
        let script = r#"case " $* " in *" -M virt "*) echo 'Linux version 6.1.0'; exec sleep 1000;; esac
echo 'qemu-system-aarch64: No machine specified, and there is no default' >&2; exit 1"#;
        let scratch = Scratch::new("board");
        let mut machine = scratch.machine(scratch.fake_qemu(script));
        let device = scratch.usable_device();
        let (accel, reason) =
            resolve_accel_on(AccelChoice::Auto, &machine, "ttyAMA0", &scratch.0.join("a"), &device)
                .unwrap();
        assert_eq!(accel, Accel::Tcg, "{reason}");
        assert!(reason.contains("no default"), "{reason}");
        machine.board = Some("virt".into());
        let (accel, reason) =
            resolve_accel_on(AccelChoice::Auto, &machine, "ttyAMA0", &scratch.0.join("b"), &device)
                .unwrap();
        assert_eq!(accel, Accel::Kvm, "{reason}");
    }
}
