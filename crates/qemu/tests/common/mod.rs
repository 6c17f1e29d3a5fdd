//! Helpers shared by the integration tests: scratch folders, fake QEMUs, real images.

#![allow(dead_code)] // each test file uses its own subset

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
};

use xshell::{cmd, Shell};

/// Debian's prebuilt 6.1 kernel (ext4 and the RAM disk are modules, so only initramfs boots).
pub const DEBIAN_KERNEL: &str = "/var/cache/offline-mirror/debian-vmlinuz";

/// A static BusyBox, from Debian's busybox-static package.
pub const STATIC_BUSYBOX: &str = "/bin/busybox";

/// A folder for one test, removed when the test ends.
pub struct Scratch {
    pub sh: Shell,
    pub dir: PathBuf,
    _temp: xshell::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let sh = Shell::new().unwrap();
        let temp = sh.create_temp_dir().unwrap();
        Scratch { dir: temp.path().to_path_buf(), sh, _temp: temp }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A shell script standing in for qemu-system-x86_64.
    pub fn fake_qemu(&self, script: &str) -> PathBuf {
        let path = self.path("fake-qemu");
        fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Packs `tree` as a gzipped newc cpio owned by root, the tutorial's initramfs format.
    pub fn pack_initramfs(&self, tree: &Path, name: &str) -> PathBuf {
        let sh = &self.sh;
        let _in_tree = sh.push_dir(tree);
        let mut entries: Vec<String> =
            cmd!(sh, "find .").read().unwrap().lines().map(str::to_string).collect();
        entries.sort();
        let list = entries.join("\n") + "\n";
        let cpio = cmd!(sh, "cpio -o -H newc -R 0:0 --quiet").stdin(list).output().unwrap().stdout;
        let gzipped = cmd!(sh, "gzip -n").stdin(cpio).output().unwrap().stdout;
        let image = self.path(name);
        fs::write(&image, gzipped).unwrap();
        image
    }

    /// The tutorial's BusyBox tree (inittab with askfirst only, rcS running `mount -a`, fstab with
    /// devtmpfs), packed as an initramfs.
    pub fn busybox_initramfs(&self) -> PathBuf {
        let tree = self.path("busybox-tree");
        for dir in
            ["bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "proc", "sys", "mnt", "dev", "tmp"]
        {
            fs::create_dir_all(tree.join(dir)).unwrap();
        }
        fs::copy(STATIC_BUSYBOX, tree.join("bin/busybox")).unwrap();
        let sh = &self.sh;
        let applets = cmd!(sh, "{STATIC_BUSYBOX} --list-full").read().unwrap();
        for applet in applets.lines().map(|a| a.trim_start_matches('/')) {
            let link = tree.join(applet);
            if applet == "bin/busybox" || link.exists() {
                continue;
            }
            let depth = applet.matches('/').count();
            let target = format!("{}bin/busybox", "../".repeat(depth));
            std::os::unix::fs::symlink(target, link).unwrap();
        }
        fs::write(
            tree.join("etc/inittab"),
            "::sysinit:/etc/init.d/rcS\n::askfirst:-/bin/sh\n::ctrlaltdel:/bin/umount -a -r\n",
        )
        .unwrap();
        fs::write(tree.join("etc/init.d/rcS"), "#!/bin/sh\n/bin/mount -a\n").unwrap();
        fs::set_permissions(tree.join("etc/init.d/rcS"), fs::Permissions::from_mode(0o755))
            .unwrap();
        fs::write(
            tree.join("etc/fstab"),
            "proc /proc proc defaults 0 0\ntmpfs /tmp tmpfs defaults 0 0\n\
             sysfs /sys sysfs defaults 0 0\ndevtmpfs /dev devtmpfs defaults 0 0\n",
        )
        .unwrap();
        self.pack_initramfs(&tree, "rootfs.cpio.gz")
    }

    /// The tutorial's hello world as `/init`, or `None` when no static C toolchain is here.
    pub fn hello_initramfs(&self) -> Option<PathBuf> {
        let tree = self.path("hello-tree");
        fs::create_dir_all(&tree).unwrap();
        let source = self.path("hello.c");
        fs::write(
            &source,
            "#include <stdio.h>\n#include <unistd.h>\n\
             int main(void) { printf(\"Hello world!\\n\"); fflush(stdout); for (;;) pause(); }\n",
        )
        .unwrap();
        let init = tree.join("init");
        let sh = &self.sh;
        cmd!(sh, "gcc -static -O2 -o {init} {source}").quiet().ignore_stderr().run().ok()?;
        Some(self.pack_initramfs(&tree, "hello.cpio.gz"))
    }
}

/// Whether a test that needs `what` can run. When it cannot, says "skipped: ..." so the skip is
/// visible, unless CI=true, where a missing prerequisite is a failure.
pub fn available(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is missing, and CI=true: install it (see crates/qemu/tests/common/mod.rs)");
    }
    eprintln!("skipped: {what} is missing");
    false
}

/// Real boots take both cores under TCG; run them one at a time so their timings mean something.
pub fn one_boot_at_a_time() -> MutexGuard<'static, ()> {
    static BOOTS: Mutex<()> = Mutex::new(());
    BOOTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// True once the process is gone and reaped (no /proc entry, not even a zombie).
pub fn process_is_gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// The tutorial's boots as plain machines: the crate itself knows no tutorial.
pub const INITRAMFS_APPEND: &str = "rw rootfstype=ramfs console=ttyS0 rdinit=/sbin/init";
pub const HELLO_APPEND: &str = "rw rootfstype=ramfs console=ttyS0";
pub const INITRD_APPEND: &str = "root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/init";

pub fn machine(
    kernel: impl AsRef<std::path::Path>,
    image: impl AsRef<std::path::Path>,
    append: &str,
) -> qemu::Machine {
    let mut machine = qemu::Machine::new("qemu-system-x86_64", kernel.as_ref());
    machine.initrd = Some(image.as_ref().to_path_buf());
    machine.append = append.split_whitespace().map(String::from).collect();
    machine
}
