//! Choosing KVM or TCG, proving KVM boots before trusting it.
//!
//! A /dev/kvm that opens is not a KVM that works: under nested virtualisation QEMU may abort
//! ("failed to set MSR") or hang with no output. So `auto` boots the real kernel under KVM for
//! a few seconds and waits for the kernel's first message. The firmware (SeaBIOS) prints before
//! the kernel runs, and does so even on the machines where the kernel then hangs, so "any output"
//! would prove nothing; the kernel's banner, printed at once with `earlyprintk`, does.

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

use crate::{Accel, AccelChoice};

/// How long the probe waits for the guest kernel's banner. A kernel that works under KVM prints
/// it well under a second after QEMU starts.
pub const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The first line the kernel prints ("Linux version 6.1.0-... (gcc ...) #1 SMP ...").
const KERNEL_BANNER: &[u8] = b"Linux version";

const KVM_DEVICE: &str = "/dev/kvm";

/// Picks the accelerator for `choice` and says why, in a line fit to print.
///
/// `auto` picks KVM only if /dev/kvm opens for reading and writing and `kernel` booted under
/// KVM prints its banner within [`KVM_PROBE_TIMEOUT`]; otherwise TCG. The verdict is kept in
/// `cache` (one line per boot of the host and QEMU program), so only the first run of a host
/// boot pays for the probe; delete the file to probe again. An explicit `kvm` is not probed, but
/// an unusable /dev/kvm is an error.
pub fn resolve_accel(
    choice: AccelChoice,
    qemu: &Path,
    kernel: &Path,
    console: &str,
    cache: &Path,
) -> Result<(Accel, String)> {
    resolve_accel_on(choice, qemu, kernel, console, cache, Path::new(KVM_DEVICE))
}

pub(crate) fn resolve_accel_on(
    choice: AccelChoice,
    qemu: &Path,
    kernel: &Path,
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
            let key = cache_key(qemu);
            if let Some((accel, reason)) = key.as_deref().and_then(|key| read_cache(cache, key)) {
                return Ok((accel, format!("{reason} (cached in {})", cache.display())));
            }
            if !kernel.is_file() {
                bail!("cannot probe kvm: kernel {} does not exist", kernel.display());
            }
            let (accel, reason) = probe_kvm(qemu, kernel, console, KVM_PROBE_TIMEOUT)?;
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

/// Boots `kernel` under KVM with no root filesystem and waits up to `timeout` for its banner.
/// QEMU is killed and reaped before this returns, whatever happened. An error only when QEMU
/// cannot be started at all.
fn probe_kvm(
    qemu: &Path,
    kernel: &Path,
    console: &str,
    timeout: Duration,
) -> Result<(Accel, String)> {
    let mut child = exec::ends_with_this_thread(&mut Command::new(qemu), libc::SIGKILL)
        .args(["-accel", "kvm", "-cpu", "host", "-nographic", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        // earlyprintk makes the banner the kernel's first act, before any driver loads
        .arg("-append")
        .arg(format!("console={console} earlyprintk={console} panic=-1"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", qemu.display()))?;
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

    use super::*;

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
            &scratch.fake_qemu(script),
            &scratch.kernel(),
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
            &scratch.fake_qemu("exit 99"),
            &scratch.kernel(),
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
            &scratch.fake_qemu("exit 99"),
            &scratch.kernel(),
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
        let kernel = scratch.kernel();
        let qemu = scratch.fake_qemu("echo 'Linux version 6.1.0'; exec sleep 1000");
        let first =
            resolve_accel_on(AccelChoice::Auto, &qemu, &kernel, "ttyS0", &cache, &device).unwrap();
        assert_eq!(first.0, Accel::Kvm);
        // the same program now fails: a cached verdict must not run it
        scratch.fake_qemu("exit 1");
        let again =
            resolve_accel_on(AccelChoice::Auto, &qemu, &kernel, "ttyS0", &cache, &device).unwrap();
        assert_eq!(again.0, Accel::Kvm);
        assert!(again.1.contains("(cached in "), "{}", again.1);
        // another program path is probed afresh, and both verdicts are kept
        let other = scratch.0.join("other-qemu");
        fs::copy(&qemu, &other).unwrap();
        let third =
            resolve_accel_on(AccelChoice::Auto, &other, &kernel, "ttyS0", &cache, &device).unwrap();
        assert_eq!(third.0, Accel::Tcg);
        assert_eq!(fs::read_to_string(&cache).unwrap().lines().count(), 2);
    }
}
