//! Through U-Boot: `check --all` through Debian's prebuilt ROM, and U-Boot built from source
//! (`--uboot-source`, board `qemu-x86`): a fragment that does not stick refused by name, a no-op
//! rebuild, `check --all --uboot` with the initrd booted by the ROM itself, the author's line
//! from `run --uboot --dry-run`.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`. Two tests,
//! one at a time ([`serial`]); each starts from `all` (a no-op after `e2e_1_chain`).

mod common;

use std::path::PathBuf;

use common::{all_built, enabled, run, serial, target_dir, tempdir, xtask};

#[test]
fn check_through_debians_prebuilt_rom() {
    if !enabled("e2e_4_uboot, Debian's U-Boot ROM (three QEMU boots through U-Boot)") {
        return;
    }
    let _one = serial();
    all_built();

    // through U-Boot: Debian's prebuilt 32-bit ROM, its autoboot stopped and the tutorial's boot
    // typed at its prompt
    let rom = "/usr/lib/u-boot/qemu-x86/u-boot.rom";
    let uboot = run(xtask(&["check", "--all", "--uboot-rom", rom])).ok();
    for boot in ["initrd", "initramfs", "hello"] {
        assert!(uboot.stdout().contains(&format!("check {boot}: ok")), "{}", uboot.stdout());
    }
}

#[test]
fn uboot_built_from_source() {
    if !enabled("e2e_4_uboot, U-Boot from source (a U-Boot build, three QEMU boots through it)") {
        return;
    }
    let _one = serial();
    all_built();
    let scratch = tempdir("kardel-e2e-uboot");

    // U-Boot built from source with the tutorial's boot: a fragment that does not stick is
    // refused by name; the ROM boots the initrd by itself, and the other images with their own
    // arguments typed at its prompt; a second build is a no-op; `run --uboot` is the author's line
    let bad = scratch.join("bad-uboot.config");
    std::fs::write(&bad, "# no such option\nCONFIG_KARDEL_NO_SUCH_OPTION=y\n").unwrap();
    let refused = run(xtask(
        &["uboot", "--configure-only", "--uboot-fragment"]
            .iter()
            .copied()
            .chain([bad.to_str().unwrap()])
            .collect::<Vec<_>>(),
    ))
    .fails();
    assert!(refused.stderr().contains("CONFIG_KARDEL_NO_SUCH_OPTION"), "{}", refused.stderr());
    let built = run(xtask(&["uboot"])).ok();
    let rom = PathBuf::from(built.stdout().trim());
    assert!(rom.ends_with("u-boot.rom") && rom.is_file(), "{}", built.stdout());
    let again = run(xtask(&["uboot"])).ok();
    assert!(again.stderr().contains("up to date"), "{}", again.stderr());
    let uboot = run(xtask(&["check", "--all", "--uboot"])).ok();
    for boot in ["initrd", "initramfs", "hello"] {
        assert!(uboot.stdout().contains(&format!("check {boot}: ok")), "{}", uboot.stdout());
    }
    let console =
        std::fs::read_to_string(target_dir().join("kardel/logs/x86_64/boot-initrd.log")).unwrap();
    assert!(console.contains("Starting kernel"), "{console}");
    assert!(!console.contains("setenv bootargs"), "the initrd boot was typed:\n{console}");
    let line = run(xtask(&["run", "--uboot", "--initrd", "--dry-run"])).ok().stdout();
    assert!(line.contains(&format!("-bios {} -kernel ", rom.display())), "{line}");
    assert!(!line.contains("-append"), "{line}");
}
