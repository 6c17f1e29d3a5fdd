//! The console watcher on consoles recorded from real boots (tests/data, made by
//! `record_console_logs` in real_qemu.rs): what it reports, however the bytes are chunked.

use expect_test::{expect, Expect};
use qemu::{ConsoleEvent, ConsoleWatcher, FailureKind};

fn recording(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

fn events_fed_in_chunks(bytes: &[u8], chunk: usize) -> (Vec<ConsoleEvent>, Option<FailureKind>) {
    let mut watcher = ConsoleWatcher::new();
    for piece in bytes.chunks(chunk) {
        watcher.feed(piece);
    }
    watcher.close();
    (watcher.sightings().iter().map(|s| s.event).collect(), watcher.failure())
}

/// Feeds the recording whole, then in odd-sized and one-byte chunks (as a pipe may deliver it),
/// checks all three agree, and compares the events with `expected`.
#[track_caller]
fn check(name: &str, expected_failure: Option<FailureKind>, expected: Expect) {
    let bytes = recording(name);
    let (whole, failure) = events_fed_in_chunks(&bytes, bytes.len());
    assert_eq!(failure, expected_failure);
    for chunk in [1, 7, 4096] {
        assert_eq!(
            events_fed_in_chunks(&bytes, chunk).0,
            whole,
            "{name} fed in {chunk}-byte chunks"
        );
    }
    let shown: Vec<String> = whole.iter().map(|e| format!("{e:?}")).collect();
    expected.assert_eq(&shown.join("\n"));
}

#[test]
fn busybox_boot_prompts_then_powers_off() {
    check(
        "initramfs-busybox.log",
        None,
        expect![[r#"
        InitStarted
        PressEnter
        ShellPrompt
        ShellPrompt
        ShellPrompt
        ShellPrompt
        PowerDown"#]],
    );
}

#[test]
fn hello_runs_init() {
    check("hello.log", None, expect!["InitStarted"]);
}

#[test]
fn no_init_in_the_initramfs() {
    check(
        "initramfs-no-init.log",
        Some(FailureKind::NoWorkingInit),
        expect![[r#"
        InitStarted
        InitStarted
        InitStarted
        InitStarted
        Failure(NoWorkingInit)"#]],
    );
}

#[test]
fn initrd_without_ram_disk_driver() {
    check(
        "initrd-cannot-mount-root.log",
        Some(FailureKind::CannotMountRoot),
        expect!["Failure(CannotMountRoot)"],
    );
}

#[test]
fn requested_init_missing() {
    check(
        "requested-init-failed.log",
        Some(FailureKind::RequestedInitFailed),
        expect![[r#"
        InitStarted
        Failure(RequestedInitFailed)"#]],
    );
}

#[test]
fn no_dev_console() {
    check(
        "initramfs-no-console.log",
        Some(FailureKind::NoInitialConsole),
        expect![[r#"
        Failure(NoInitialConsole)
        InitStarted"#]],
    );
}
