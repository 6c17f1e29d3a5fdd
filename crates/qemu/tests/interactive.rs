//! An interactive QEMU gives the terminal back as it found it, even when QEMU is killed.
//!
//! The check needs a real terminal, so the test re-runs this test binary under script(1), which
//! gives it a pseudo-terminal, and reads the verdict from the output.

mod common;

use std::process::{Command, Stdio};

use common::{available, Scratch};

#[test]
fn terminal_is_restored_after_qemu_is_killed() {
    let have_script = Command::new("script").arg("--version").output().is_ok();
    if !available("script(1) from util-linux, for a pseudo-terminal", have_script) {
        return;
    }
    let me = std::env::current_exe().unwrap();
    let child = format!("{} --exact --ignored --nocapture killed_qemu_in_a_terminal", me.display());
    let out = Command::new("script")
        .args(["-qefc", &child, "/dev/null"])
        .stdin(Stdio::piped()) // script needs a stdin; the child does not read it
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("terminal: restored"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The half that runs in the pseudo-terminal: a fake QEMU puts the terminal in raw mode, as
/// QEMU does, and dies by SIGKILL, as a QEMU killed from outside would.
#[test]
#[ignore = "run by terminal_is_restored_after_qemu_is_killed inside a pseudo-terminal"]
fn killed_qemu_in_a_terminal() {
    let settings = || {
        let out = Command::new("stty").arg("-g").stdin(Stdio::inherit()).output().unwrap();
        assert!(out.status.success(), "stty -g needs a terminal on stdin");
        String::from_utf8(out.stdout).unwrap()
    };
    let scratch = Scratch::new();
    let mut machine = common::machine("bzImage", "rootfs.cpio.gz", common::INITRAMFS_APPEND);
    machine.qemu = scratch.fake_qemu("stty raw -echo; kill -KILL $$");
    let before = settings();
    let status = qemu::run_interactive(&machine).unwrap();
    assert!(!status.success());
    let after = settings();
    println!("terminal: {}", if before == after { "restored" } else { "left changed" });
}
