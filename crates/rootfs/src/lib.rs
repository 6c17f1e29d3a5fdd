//! The guest's root filesystem, as data and as the images the kernel boots from.
//!
//! A [`Tree`] is the whole rootfs in memory: sorted relative paths, each with its kind, permission
//! bits and owner. Image writers only read a tree, so the images do not depend on who builds them
//! or where: no root, no `mknod`, no loop mounts, and the same inputs give the same bytes.
//!
//! - [`tutorial_rootfs`]`(busybox_install) -> Tree`: BusyBox's `make install` output plus the
//!   tutorial's folders, `etc/` files (`files/` in this crate) and `dev/console`, `dev/null`.
//! - [`Tree`]: [`Tree::from_dir`], [`Tree::overlay_dir`], [`Tree::insert`] and `add_*`, [`Tree::iter`].
//! - [`write_initramfs`]`(tree, mtime, Compression, out)`: newc cpio, gzip or zstd (the initramfs);
//!   [`write_initramfs_and_uncompressed`] also leaves the archive uncompressed (the fast machine's).
//! - [`write_ext4`]`(tree, out, size_bytes, mtime, Compression, work_dir)`: compressed ext4 image (the initrd).
//! - [`build_hello`]`(sh, cc, work_dir, mtime, Compression, out)`: the hello-world initramfs;
//!   [`compile_static`]`(sh, cc, source, out)`: a static program for the guest (hello, tests).
//! - [`write_cpio`] / [`list_cpio`] / [`read_initramfs`]: the archive format and its read-back.
//!
//! `mtime` is always the caller's SOURCE_DATE_EPOCH: every entry in every image carries it.

mod compress;
mod cpio;
mod ext4;
mod hello;
mod tree;

use std::path::Path;

use anyhow::{bail, Result};

pub use compress::{
    read_initramfs, write_initramfs, write_initramfs_and_uncompressed, Compression, ZSTD_LEVEL,
};
pub use cpio::{list_cpio, write_cpio, CpioEntryListing};
pub use ext4::{ext4_too_small, write_ext4, DEFAULT_EXT4_SIZE, RAMDISK_SIZE_LIMIT};
pub use hello::{build_hello, build_seed, compile_static, SEED_PATH};
pub use tree::{Contents, Entry, Kind, Tree};

/// The tutorial's files, with their modes here rather than taken from the checkout (a clone or
/// an archive may not keep them).
const TUTORIAL_FILES: &[(&str, &[u8], u32)] = &[
    ("etc/inittab", include_bytes!("../files/etc/inittab"), 0o644),
    ("etc/fstab", include_bytes!("../files/etc/fstab"), 0o644),
    ("etc/init.d/rcS", include_bytes!("../files/etc/init.d/rcS"), 0o755),
    // not the tutorial's: init for a command run in the guest (`cargo xtask run -- CMD`)
    ("sbin/kardel-run", include_bytes!("../files/sbin/kardel-run"), 0o755),
    // not the tutorial's: host shares and networking for rcS and kardel-run, when asked for
    ("sbin/kardel-setup", include_bytes!("../files/sbin/kardel-setup"), 0o755),
    // not the tutorial's: a root of the user's (`run --rootfs DIR`) for kardel-run, or as init
    ("sbin/kardel-root", include_bytes!("../files/sbin/kardel-root"), 0o755),
];

/// The tutorial's root filesystem: the BusyBox install folder, the folders
/// `etc proc sys mnt dev tmp`, `etc/inittab`, `etc/fstab`, `etc/init.d/rcS`, the command runner
/// `sbin/kardel-run` (an init used only when asked for), and the two device
/// nodes a console needs before devtmpfs is mounted, `dev/console` (5,1) and `dev/null` (1,3).
pub fn tutorial_rootfs(busybox_install: &Path) -> Result<Tree> {
    let mut tree = Tree::from_dir(busybox_install)?;
    if !matches!(tree.get("bin/busybox").map(|e| &e.kind), Some(Kind::File(_))) {
        bail!(
            "{} is not a BusyBox install folder: it has no bin/busybox (run `make install`)",
            busybox_install.display()
        );
    }
    if tree.get("sbin/init").is_none() {
        bail!(
            "{} has no sbin/init: the kernel is told init=/sbin/init (is CONFIG_INIT on?)",
            busybox_install.display()
        );
    }
    for dir in ["etc", "proc", "sys", "mnt", "dev", "tmp"] {
        tree.add_dir(dir, 0o755)?;
    }
    for &(path, bytes, mode) in TUTORIAL_FILES {
        tree.add_file_bytes(path, bytes, mode)?;
    }
    tree.add_char_device("dev/console", 5, 1, 0o600)?;
    tree.add_char_device("dev/null", 1, 3, 0o666)?;
    Ok(tree)
}
