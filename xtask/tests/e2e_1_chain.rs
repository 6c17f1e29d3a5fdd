//! The chain, as a user runs it: real sources, real `make`, real e2fsprogs, real QEMU. A
//! fragment that cannot stick and why, a killed run that frees its lock, the default profile's
//! config check, the tiny kernel built and its no-op rerun (also after a rejected fragment), two
//! `all`s at once, and the tutorial's three images booted by `check --all`.
//!
//! An end-to-end binary (`e2e_*.rs`, see `common/mod.rs`): slow (a tiny kernel
//! build, BusyBox, three boots), it runs when `CI=true` or `KARDEL_E2E=1`, and otherwise says
//! that it skipped. The sources come from the same environment variables a user sets
//! (`KARDEL_KERNEL_SOURCE`, `KARDEL_BUSYBOX_VERSION`, `KARDEL_MIRRORS`, `KARDEL_CACHE_DIR`),
//! defaulting to the offline sources of `../shared/ci/offline-sources.sh`. One test, phases in
//! order: they share build trees.

mod common;

use std::time::Duration;

use common::{enabled, run, target_dir, tempdir, xtask};

#[test]
fn chain_from_sources_to_booted_images() {
    if !enabled(
        "e2e_1_chain (the tiny kernel and BusyBox built, the images made, three QEMU boots)",
    ) {
        return;
    }
    let scratch = tempdir("kardel-e2e-chain");

    // A request kconfig cannot honour fails before any compile, naming symbol, file and line.
    let fragment = scratch.join("impossible.config");
    std::fs::write(
        &fragment,
        "CONFIG_EXT4_FS=y\n# needs ATA, which tinyconfig leaves off\nCONFIG_SATA_AHCI=y\n",
    )
    .unwrap();
    let bad = run(xtask(&["kernel", "--kernel-fragment", fragment.to_str().unwrap()])).fails();
    let err = bad.stderr();
    assert!(
        err.contains("CONFIG_SATA_AHCI") && err.contains(&format!("{}:3", fragment.display())),
        "{err}"
    );
    assert!(!err.contains("make bzImage"), "a compile started:\n{err}");
    // and says why, from the tree's Kconfig files
    assert!(err.contains("it depends on") && err.contains("ATA"), "{err}");

    // A run killed while it holds a build folder's lock (and its make with it) does not block
    // the next: the kernel frees a dead process's lock.
    let mut killed =
        xtask(&["kernel", "--profile", "default", "--configure-only"]).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    killed.kill().unwrap();
    killed.wait().unwrap();

    // The tutorial's profile configures with every requested value in the final .config.
    let default = run(xtask(&["kernel", "--profile", "default", "--configure-only"])).ok();
    assert!(default.stderr().contains("every requested value is in"), "{}", default.stderr());

    // The tiny kernel builds; a second run right after starts no make and takes under a second.
    run(xtask(&["kernel"])).ok();
    let log = target_dir().join("kardel/logs/x86_64/kernel-tiny.log");
    let assert_noop = |what: &str| {
        let log_before = std::fs::metadata(&log).unwrap().modified().unwrap();
        let again = run(xtask(&["kernel"])).ok();
        assert!(again.stderr().contains("up to date"), "{what}: {}", again.stderr());
        let log_after = std::fs::metadata(&log).unwrap().modified().unwrap();
        assert_eq!(log_after, log_before, "{what}: make ran again");
        assert!(again.elapsed < Duration::from_secs(1), "{what}: no-op took {:?}", again.elapsed);
    };
    assert_noop("right after the build");

    // A rejected fragment leaves the build folder as it was: the next plain build is a no-op.
    run(xtask(&["kernel", "--kernel-fragment", fragment.to_str().unwrap()])).fails();
    assert_noop("after a rejected fragment");

    // Two runs at once on one checkout: the later waits for the earlier's lock, says so, and
    // both finish with the same, correct outputs. (BusyBox's stamp is removed so that there is
    // work to wait for however far an earlier run of this test got.)
    let busybox_builds = target_dir().join("kardel/build/x86_64");
    for entry in std::fs::read_dir(&busybox_builds).unwrap() {
        let stamp = entry.unwrap().path().join(".kardel-installed");
        let _ = std::fs::remove_file(stamp);
    }
    let mut first = xtask(&["all"]);
    first.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let first = first.spawn().unwrap();
    let second = run(xtask(&["all"])).ok();
    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "the first of two `all`s failed:\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let both = format!("{}{}", String::from_utf8_lossy(&first.stderr), second.stderr());
    assert!(both.contains("blocking: waiting for another run"), "{both}");

    // All three images boot and behave as the tutorial shows.
    let check = run(xtask(&["check", "--all"])).ok();
    let out = check.stdout();
    for mode in ["initrd", "initramfs", "hello"] {
        assert!(out.contains(&format!("check {mode}: ok")), "{out}");
    }
    eprintln!("{out}");
}
