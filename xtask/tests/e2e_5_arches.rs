//! The same micro Linux on the other rows of the architecture table: `check --all` (all three
//! boots) and `run -- uname -m` (booted, then warm where the row has warm starts) on aarch64 and
//! on riscv64, each with its tiny kernel and BusyBox, built by its cross compiler.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`. One test
//! per architecture, one at a time ([`serial`]); `check` builds what it boots.

mod common;

use common::{enabled, run, serial, xtask};

#[test]
fn aarch64() {
    if !enabled("e2e_5_arches, aarch64 (its tiny kernel and BusyBox built, QEMU boots)") {
        return;
    }
    let _one = serial();
    boots_and_says_where("aarch64");
}

#[test]
fn riscv64() {
    if !enabled("e2e_5_arches, riscv64 (its tiny kernel and BusyBox built, QEMU boots)") {
        return;
    }
    let _one = serial();
    boots_and_says_where("riscv64");
}

/// The same micro Linux on another row of the architecture table: all three boots, and a
/// command that says where it runs.
#[track_caller]
fn boots_and_says_where(arch: &str) {
    let check = run(xtask(&["check", "--all", "--arch", arch])).ok();
    for boot in ["initrd", "initramfs", "hello"] {
        assert!(
            check.stdout().contains(&format!("check {boot}: ok")),
            "{arch}: {}",
            check.stdout()
        );
    }
    eprintln!("{arch}:\n{}", check.stdout());
    let uname = run(xtask(&["run", "--arch", arch, "--", "uname", "-m"])).ok();
    assert_eq!(uname.stdout(), format!("{arch}\n"));
    // the run above saved the machine where the row has warm starts (aarch64): this one is
    // restored and answers alike; riscv64 boots every command
    let again = run(xtask(&["run", "--verbose", "--arch", arch, "--", "uname", "-m"])).ok();
    assert_eq!(again.stdout(), format!("{arch}\n"));
    let said = match arch {
        "riscv64" => "warm start: none, a boot (not on riscv64",
        _ => "warm start: restored the saved machine",
    };
    assert!(again.stderr().contains(said), "{arch}: no {said:?} in\n{}", again.stderr());
}
