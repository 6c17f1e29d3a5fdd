//! What the tutorial shows inside a booted guest, checked on command outputs.

use crate::Mode;

/// One line of /proc/mounts.
struct Mount<'a> {
    device: &'a str,
    mount_point: &'a str,
    fs_type: &'a str,
    options: &'a str,
}

fn parse_mounts(proc_mounts: &str) -> Vec<Mount<'_>> {
    proc_mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            Some(Mount {
                device: fields.next()?,
                mount_point: fields.next()?,
                fs_type: fields.next()?,
                options: fields.next().unwrap_or(""),
            })
        })
        .collect()
}

fn root_problem(mode: Mode, root: &Mount) -> Option<String> {
    let shown = format!("{} {} ({})", root.device, root.fs_type, root.options);
    let has_size = root.options.split(',').any(|option| option.starts_with("size="));
    match mode {
        Mode::Initrd if !(root.device == "/dev/root" && root.fs_type == "ext4") => {
            Some(format!("/ is {shown}, expected /dev/root ext4 (the initrd's RAM disk)"))
        }
        Mode::Initrd => None,
        _ if root.fs_type == "rootfs" && has_size => Some(format!(
            "/ is {shown}: the kernel's rootfs as tmpfs (it has a size), expected ramfs \
             (rootfstype=ramfs)"
        )),
        _ if root.fs_type == "rootfs" || root.fs_type == "ramfs" => None,
        _ => Some(format!("/ is {shown}, expected the kernel's rootfs as ramfs")),
    }
}

/// The filesystems the tutorial's fstab (plus devtmpfs, see the errata) mounts.
const TUTORIAL_MOUNTS: &[(&str, &str)] =
    &[("proc", "/proc"), ("sysfs", "/sys"), ("tmpfs", "/tmp"), ("devtmpfs", "/dev")];

/// Checks the guest's `/proc/mounts` against what the tutorial shows for `mode`, listing every
/// difference.
///
/// - initrd: `/` is `/dev/root`, ext4 (the RAM disk filled from the image);
/// - initramfs and hello: `/` is the kernel's own rootfs as ramfs. /proc/mounts names it
///   `rootfs / rootfs`, the same as a tmpfs rootfs, which differs by carrying a `size=` option;
/// - initrd and initramfs: proc on /proc, sysfs on /sys, tmpfs on /tmp, devtmpfs on /dev.
pub fn check_mounts(mode: Mode, proc_mounts: &str) -> Result<(), Vec<String>> {
    let mounts = parse_mounts(proc_mounts);
    let mut problems = Vec::new();
    // the last mount on / is the one on top, the one processes see
    match mounts.iter().rev().find(|m| m.mount_point == "/") {
        None => problems.push("nothing is mounted on /".to_string()),
        Some(root) => problems.extend(root_problem(mode, root)),
    }
    if mode != Mode::Hello {
        for (fs_type, mount_point) in TUTORIAL_MOUNTS {
            if !mounts.iter().any(|m| m.mount_point == *mount_point && m.fs_type == *fs_type) {
                problems.push(format!("no {fs_type} mounted on {mount_point}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read from a real initramfs boot: Debian's 6.1 kernel, BusyBox 1.35 `mount -a`,
    /// `rootfstype=ramfs`.
    const INITRAMFS: &str = "\
rootfs / rootfs rw 0 0
proc /proc proc rw,relatime 0 0
tmpfs /tmp tmpfs rw,relatime,inode64 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=487240k,nr_inodes=121810,mode=755,inode64 0 0
";

    /// The same boot without `rootfstype=ramfs`.
    const INITRAMFS_ON_TMPFS: &str = "\
rootfs / rootfs rw,size=487240k,nr_inodes=121810,inode64 0 0
proc /proc proc rw,relatime 0 0
tmpfs /tmp tmpfs rw,relatime,inode64 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=487240k,nr_inodes=121810,mode=755,inode64 0 0
";

    /// An initrd boot as the tutorial's `df -a` describes it (the kernel mounts devtmpfs
    /// itself there, CONFIG_DEVTMPFS_MOUNT).
    const INITRD: &str = "\
/dev/root / ext4 rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=490000k,nr_inodes=122500,mode=755 0 0
proc /proc proc rw,relatime 0 0
tmpfs /tmp tmpfs rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
";

    #[track_caller]
    fn check(mode: Mode, proc_mounts: &str, expected: &[&str]) {
        let problems = check_mounts(mode, proc_mounts).err().unwrap_or_default();
        assert_eq!(problems, expected);
    }

    #[test]
    fn real_initramfs_passes() {
        check(Mode::Initramfs, INITRAMFS, &[]);
    }

    #[test]
    fn tmpfs_rootfs_is_not_ramfs() {
        check(
            Mode::Initramfs,
            INITRAMFS_ON_TMPFS,
            &["/ is rootfs rootfs (rw,size=487240k,nr_inodes=121810,inode64): the kernel's \
               rootfs as tmpfs (it has a size), expected ramfs (rootfstype=ramfs)"],
        );
    }

    #[test]
    fn tutorials_none_on_slash_passes() {
        let older = INITRAMFS.replace("rootfs / rootfs rw", "none / ramfs rw");
        check(Mode::Initramfs, &older, &[]);
    }

    #[test]
    fn initrd_passes() {
        check(Mode::Initrd, INITRD, &[]);
    }

    #[test]
    fn initramfs_is_not_an_initrd() {
        check(
            Mode::Initrd,
            INITRAMFS,
            &["/ is rootfs rootfs (rw), expected /dev/root ext4 (the initrd's RAM disk)"],
        );
    }

    #[test]
    fn every_missing_mount_is_listed() {
        check(
            Mode::Initramfs,
            "rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\n",
            &[
                "no sysfs mounted on /sys",
                "no tmpfs mounted on /tmp",
                "no devtmpfs mounted on /dev",
            ],
        );
        check(
            Mode::Initrd,
            "",
            &[
                "nothing is mounted on /",
                "no proc mounted on /proc",
                "no sysfs mounted on /sys",
                "no tmpfs mounted on /tmp",
                "no devtmpfs mounted on /dev",
            ],
        );
    }

    #[test]
    fn the_top_mount_on_slash_counts() {
        let stacked = format!("rootfs / rootfs rw 0 0\n{INITRD}");
        check(Mode::Initrd, &stacked, &[]);
    }

    #[test]
    fn hello_checks_only_the_root() {
        check(Mode::Hello, "rootfs / rootfs rw 0 0\n", &[]);
    }
}
