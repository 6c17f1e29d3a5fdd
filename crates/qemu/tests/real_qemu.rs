//! Real QEMU: the KVM probe on this host, and boots of Debian's prebuilt kernel with initramfs
//! images made here. Each test says "skipped: ..." when a prerequisite is missing (and fails
//! instead when CI=true).

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use common::{
    available, one_boot_at_a_time, process_is_gone, Scratch, DEBIAN_KERNEL, STATIC_BUSYBOX,
};
use qemu::{
    resolve_accel, Accel, AccelChoice, BootFailure, ConsoleEvent, FailureKind, Machine, Session,
    KVM_PROBE_TIMEOUT,
};

const QEMU: &str = "qemu-system-x86_64";
const BOOT: Duration = Duration::from_secs(90);
const COMMAND: Duration = Duration::from_secs(30);

fn qemu_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(QEMU).is_file()))
}

fn have_kernel() -> bool {
    available(&format!("{QEMU} in PATH"), qemu_installed())
        && available(
            &format!("Debian's kernel at {DEBIAN_KERNEL}"),
            Path::new(DEBIAN_KERNEL).is_file(),
        )
}

fn have_busybox() -> bool {
    have_kernel()
        && available(
            &format!("a static busybox at {STATIC_BUSYBOX} (apt-get install busybox-static)"),
            Path::new(STATIC_BUSYBOX).is_file(),
        )
}

/// Boots the tutorial's BusyBox initramfs to a shell, checks what the tutorial shows, powers off.
/// Returns the time from spawn to the first prompt.
fn boot_busybox(scratch: &Scratch, accel: Accel) -> Duration {
    let mut machine =
        common::machine(DEBIAN_KERNEL, scratch.busybox_initramfs(), common::INITRAMFS_APPEND);
    machine.accel = accel;
    let mut session = Session::spawn(&machine, &scratch.path("console.log")).unwrap();
    let to_prompt = session.wait_for_shell(BOOT).unwrap();
    let to_shell = session.elapsed();

    let release = session.run("uname -r", COMMAND).unwrap();
    assert!(release.trim().starts_with("6."), "{release:?}");
    let mounts = session.run("cat /proc/mounts", COMMAND).unwrap();
    for mount in ["rootfs / rootfs", "proc /proc proc", "sysfs /sys sysfs", "tmpfs /tmp tmpfs"] {
        assert!(mounts.contains(mount), "no `{mount}` in /proc/mounts:\n{mounts}");
    }
    let df = session.run("df -a", COMMAND).unwrap();
    assert!(df.contains("devtmpfs") && df.contains("/tmp"), "{df}");
    // the tutorial's device facts, which hold for the initramfs as well
    assert_ne!(session.run_status("test -e /dev/root", COMMAND).unwrap().status, 0);

    let pid = session.pid();
    let status = session.poweroff_and_wait(COMMAND).unwrap();
    assert!(status.success());
    assert!(process_is_gone(pid));
    eprintln!(
        "{accel}: first prompt {:.2}s, shell answering {:.2}s, whole session {:.2}s\n\
         uname -r: {release}/proc/mounts:\n{mounts}df -a:\n{df}",
        to_prompt.as_secs_f64(),
        to_shell.as_secs_f64(),
        session.elapsed().as_secs_f64()
    );
    to_prompt
}

#[test]
fn busybox_initramfs_boots_to_a_shell_and_powers_off() {
    if !have_busybox() {
        return;
    }
    let _boot = one_boot_at_a_time();
    let scratch = Scratch::new();
    boot_busybox(&scratch, Accel::Tcg);
}

#[test]
fn kvm_auto_picks_only_what_boots() {
    if !have_kernel() {
        return;
    }
    let _boot = one_boot_at_a_time();
    let scratch = Scratch::new();
    let cache = scratch.path("accel-cache");
    let started = Instant::now();
    let machine = Machine::new(QEMU, DEBIAN_KERNEL);
    let (accel, reason) = resolve_accel(AccelChoice::Auto, &machine, "ttyS0", &cache).unwrap();
    let probe_time = started.elapsed();
    eprintln!("auto: {accel} in {:.2}s: {reason}", probe_time.as_secs_f64());
    assert!(probe_time < KVM_PROBE_TIMEOUT + Duration::from_secs(2), "probe took {probe_time:?}");
    assert!(our_qemu_children().is_empty(), "the probe left {:?} running", our_qemu_children());
    if !Path::new("/dev/kvm").exists() {
        assert_eq!(accel, Accel::Tcg);
        assert!(probe_time < Duration::from_secs(1), "no /dev/kvm should need no probe");
    }

    let started = Instant::now();
    let again = resolve_accel(AccelChoice::Auto, &machine, "ttyS0", &cache).unwrap();
    assert_eq!(again.0, accel);
    assert!(started.elapsed() < Duration::from_millis(500), "a cached verdict should be instant");

    // a KVM verdict is a promise that KVM boots: hold the probe to it
    if accel == Accel::Kvm && available(STATIC_BUSYBOX, Path::new(STATIC_BUSYBOX).is_file()) {
        boot_busybox(&scratch, Accel::Kvm);
    }
}

#[test]
fn a_missing_init_is_reported_and_qemu_ends_by_itself() {
    if !have_kernel() {
        return;
    }
    let _boot = one_boot_at_a_time();
    let scratch = Scratch::new();
    let tree = scratch.path("no-init");
    fs::create_dir_all(tree.join("etc")).unwrap();
    let image = scratch.pack_initramfs(&tree, "no-init.cpio.gz");
    let machine = common::machine(DEBIAN_KERNEL, image, common::INITRAMFS_APPEND);
    let mut session = Session::spawn(&machine, &scratch.path("console.log")).unwrap();
    let pid = session.pid();
    let err = session.wait_for_shell(BOOT).unwrap_err();
    let failure = err.downcast_ref::<BootFailure>().unwrap_or_else(|| panic!("{err:#}"));
    assert_eq!(failure.kind, FailureKind::NoWorkingInit);
    assert!(failure.report.contains("Run /sbin/init as init process"), "{}", failure.report);
    assert!(process_is_gone(pid));
}

#[test]
fn hello_world_runs_as_init() {
    if !have_kernel() {
        return;
    }
    let scratch = Scratch::new();
    let Some(image) = scratch.hello_initramfs() else {
        available("gcc with a static libc (for the hello /init)", false);
        return;
    };
    let _boot = one_boot_at_a_time();
    let machine = common::machine(DEBIAN_KERNEL, image, common::HELLO_APPEND);
    let mut session = Session::spawn(&machine, &scratch.path("console.log")).unwrap();
    session.wait_for("Run /init as init process", BOOT).unwrap();
    session.wait_for("Hello world!", COMMAND).unwrap();
    let pid = session.pid();
    drop(session);
    assert!(process_is_gone(pid), "qemu {pid} outlived its session");
}

/// Live qemu-system processes whose parent is this test process.
fn our_qemu_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid ...: comm may hold spaces, so split after its ')'
            let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            let ppid = rest.split_whitespace().nth(1)?;
            (comm.starts_with("qemu-system") && ppid == me).then_some(pid)
        })
        .collect()
}

/// Regenerates the console recordings in tests/data from real boots:
/// `cargo test -p qemu --test real_qemu -- --ignored record_console_logs`.
#[test]
#[ignore = "rewrites tests/data; run by hand after changing what is recorded"]
fn record_console_logs() {
    assert!(have_busybox(), "recording needs qemu, the kernel and busybox");
    let _boot = one_boot_at_a_time();
    let scratch = Scratch::new();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let record = |name: &str, machine: &Machine, drive: &dyn Fn(&mut Session)| {
        let log = data.join(name);
        let mut session = Session::spawn(machine, &log).unwrap();
        drive(&mut session);
        drop(session);
        eprintln!("recorded {}", log.display());
    };
    let kernel = DEBIAN_KERNEL;

    let busybox = scratch.busybox_initramfs();
    record(
        "initramfs-busybox.log",
        &common::machine(kernel, &busybox, common::INITRAMFS_APPEND),
        &|s| {
            s.wait_for_shell(BOOT).unwrap();
            s.run("cat /proc/mounts; df -a; uname -r", COMMAND).unwrap();
            s.poweroff_and_wait(COMMAND).unwrap();
        },
    );

    if let Some(hello) = scratch.hello_initramfs() {
        record("hello.log", &common::machine(kernel, &hello, common::HELLO_APPEND), &|s| {
            s.wait_for("Hello world!", BOOT).unwrap();
        });
    }

    let expect_failure = |kind: FailureKind| {
        move |s: &mut Session| {
            let err = s.wait_for(ConsoleEvent::PowerDown, BOOT).unwrap_err();
            assert_eq!(err.downcast_ref::<BootFailure>().map(|f| f.kind), Some(kind), "{err:#}");
        }
    };

    let empty = scratch.path("empty");
    fs::create_dir_all(empty.join("etc")).unwrap();
    let empty = scratch.pack_initramfs(&empty, "empty.cpio.gz");
    record(
        "initramfs-no-init.log",
        &common::machine(kernel, &empty, common::INITRAMFS_APPEND),
        &expect_failure(FailureKind::NoWorkingInit),
    );
    // the initrd command line on a kernel whose RAM disk driver is a module
    record(
        "initrd-cannot-mount-root.log",
        &common::machine(kernel, &empty, common::INITRD_APPEND),
        &expect_failure(FailureKind::CannotMountRoot),
    );
    let mut requested = common::machine(kernel, &empty, common::INITRAMFS_APPEND);
    requested.append.push("init=/sbin/nope".into());
    record(
        "requested-init-failed.log",
        &requested,
        &expect_failure(FailureKind::RequestedInitFailed),
    );

    // a root whose /dev/console leads nowhere: init runs, but with nothing to talk to
    let tree = scratch.path("busybox-tree");
    let console = tree.join("dev/console");
    let _ = fs::remove_file(&console);
    std::os::unix::fs::symlink("/nonexistent", &console).unwrap();
    let no_console = scratch.pack_initramfs(&tree, "no-console.cpio.gz");
    record(
        "initramfs-no-console.log",
        &common::machine(kernel, &no_console, common::INITRAMFS_APPEND),
        &expect_failure(FailureKind::NoInitialConsole),
    );
}
