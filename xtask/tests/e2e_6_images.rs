//! The real images read back, as a user would look at them with `cpio -t` and `debugfs`, and
//! made again: a no-op `all` keeps them byte for byte, another build folder makes the same bytes
//! as an unprivileged user (BusyBox and the images with no root at all), and `busybox
//! --configure-only` with a new fragment builds nothing else while the next `rootfs` does.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`. The last
//! one, as these phases were the last of the single test this comes from: the shared target
//! folder, after every other binary's runs (overlays, modules, other flavours) and an `all`,
//! still holds the bytes a fresh folder makes. Run alone, its `all` builds the images first.

mod common;

use std::{path::Path, process::Command};

use common::{
    all_built, enabled, repo, run, sha256, target_dir, tempdir, unprivileged, xtask, IMAGES,
};

#[test]
fn images_read_back_and_made_again_the_same() {
    if !enabled(
        "e2e_6_images (the images read back; BusyBox built twice and the images made in another folder)",
    ) {
        return;
    }
    all_built();
    let scratch = tempdir("kardel-e2e-images");

    // The real images read back: what a user would look for with cpio -t and debugfs.
    let images = target_dir().join("images/x86_64");
    read_back_initramfs(&images.join("rootfs.cpio.gz"));
    read_back_initrd(&images.join("rootfs.img.gz"), &scratch);

    // A no-op `all` keeps the images byte for byte.
    let before: Vec<String> = IMAGES.iter().map(|name| sha256(&images.join(name))).collect();
    let noop = run(xtask(&["all"])).ok();
    assert!(
        !noop.stderr().contains(" built "),
        "a no-op all rebuilt something:\n{}",
        noop.stderr()
    );
    let after: Vec<String> = IMAGES.iter().map(|name| sha256(&images.join(name))).collect();
    assert_eq!(before, after);

    // Another build folder, as an unprivileged user: BusyBox and the images with no root at all,
    // and the same bytes.
    let other_target = scratch.join("target");
    std::fs::create_dir_all(&other_target).unwrap();
    let mut rootfs = unprivileged(xtask(&["rootfs"]), &other_target);
    rootfs.env("CARGO_TARGET_DIR", &other_target);
    run(rootfs).ok();
    let other_images = other_target.join("images/x86_64");
    let elsewhere: Vec<String> =
        IMAGES.iter().map(|name| sha256(&other_images.join(name))).collect();
    assert_eq!(before, elsewhere, "images differ between build folders");

    // `busybox --configure-only` with a new fragment configures and builds nothing else; the
    // next `rootfs` builds that BusyBox and images that hold it.
    let no_cal = scratch.join("no-cal.config");
    std::fs::write(
        &no_cal,
        "# a smaller BusyBox, to see it in the images\n# CONFIG_CAL is not set\n",
    )
    .unwrap();
    let busybox_only = |args: &[&str]| {
        let mut cmd = xtask(args);
        cmd.env("CARGO_TARGET_DIR", &other_target).env("KARDEL_BUSYBOX_FRAGMENTS", &no_cal);
        run(cmd).ok()
    };
    busybox_only(&["busybox", "--configure-only"]);
    let stamped: Vec<String> = IMAGES.iter().map(|name| sha256(&other_images.join(name))).collect();
    assert_eq!(before, stamped, "--configure-only changed the images");
    busybox_only(&["rootfs"]);
    let entries = rootfs::read_initramfs(&other_images.join("rootfs.cpio.gz")).unwrap();
    assert!(entries.iter().any(|e| e.name == "bin/date"), "no BusyBox in the new images");
    assert!(!entries.iter().any(|e| e.name == "usr/bin/cal"), "the images hold the old BusyBox");
    let again = busybox_only(&["rootfs"]);
    assert!(!again.stderr().contains(" built "), "{}", again.stderr());
}

#[track_caller]
fn read_back_initramfs(cpio_gz: &Path) {
    let entries = rootfs::read_initramfs(cpio_gz).unwrap();
    let find = |name: &str| {
        entries
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} not in {}", cpio_gz.display()))
    };
    assert!(entries.iter().all(|e| (e.uid, e.gid) == (0, 0)), "an entry not owned by 0:0");
    assert_eq!(find("bin/sh").symlink_target.as_deref(), Some("busybox"));
    assert_eq!(find("dev/console").rdev, (5, 1));
    assert_eq!(find("dev/null").rdev, (1, 3));
    assert_eq!(find("etc/init.d/rcS").mode, 0o100755);
    assert_eq!(find("bin/busybox").mode, 0o100755);
    // GNU cpio reads the same names in the same order
    let gnu = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -dc {} | cpio -it --quiet", cpio_gz.display()))
        .output()
        .unwrap();
    assert!(gnu.status.success(), "{}", String::from_utf8_lossy(&gnu.stderr));
    let ours: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let theirs: Vec<&str> = std::str::from_utf8(&gnu.stdout).unwrap().lines().collect();
    assert_eq!(ours, theirs);
}

#[track_caller]
fn read_back_initrd(img_gz: &Path, scratch: &Path) {
    let img = scratch.join("rootfs.img");
    let unzip = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -dc {} > {}", img_gz.display(), img.display()))
        .status()
        .unwrap();
    assert!(unzip.success());
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 32 << 20, "the initrd is not 32 MiB");
    let fsck = Command::new("e2fsck")
        .arg("-fn")
        .arg(&img)
        .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(fsck.status.success(), "e2fsck -fn:\n{}", String::from_utf8_lossy(&fsck.stdout));
    let debugfs = |request: &str| {
        let out = Command::new("debugfs")
            .arg("-R")
            .arg(request)
            .arg(&img)
            .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let inittab = std::fs::read_to_string(repo().join("crates/rootfs/files/etc/inittab")).unwrap();
    assert_eq!(debugfs("cat /etc/inittab"), inittab);
    let init = debugfs("stat /sbin/init");
    assert!(
        init.contains("Type: symlink")
            && init.contains("User:     0")
            && init.contains("Group:     0"),
        "{init}"
    );
    let rcs = debugfs("stat /etc/init.d/rcS");
    assert!(rcs.contains("Mode:  0755"), "{rcs}");
    let console = debugfs("stat /dev/console");
    assert!(
        console.contains("Type: character special")
            && console.contains("Device major/minor number: 05:01"),
        "{console}"
    );
}
