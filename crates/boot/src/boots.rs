//! The tutorial's boots, as a table: which image each boots, its kernel arguments, the features it
//! needs of the kernel, how a person knows it is ready, and what the tutorial shows once it is.

use stages::layout::ImagePaths;

/// Which of the three images a boot gives QEMU's `-initrd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image {
    Initrd,
    Initramfs,
    Hello,
}

impl Image {
    pub fn path(self, images: &ImagePaths) -> &std::path::Path {
        match self {
            Image::Initrd => &images.initrd,
            Image::Initramfs => &images.initramfs,
            Image::Hello => &images.hello,
        }
    }
}

/// How a boot is known to be ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// BusyBox's askfirst ("Please press Enter"), then a shell
    Shell,
    /// a line the guest prints and nothing after it to type to
    Prints(&'static str),
}

/// What `/` must be once booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// a block device filesystem: `/dev/root` of this type
    Device(&'static str),
    /// the kernel's own rootfs as ramfs (`rootfstype=ramfs`)
    Ramfs,
}

#[derive(Debug)]
pub struct Boot {
    pub name: &'static str,
    pub image: Image,
    /// kernel arguments; `{console}` is the architecture's console device
    pub append: &'static str,
    /// the parameter naming init (`init` on a root device, `rdinit` in an initramfs) and the
    /// tutorial's init; none where the kernel runs the image's own `/init`
    pub init: Option<(&'static str, &'static str)>,
    /// rows of features.toml whose kernel symbols this boot needs
    pub needs: &'static [&'static str],
    pub ready: Ready,
    pub root: Root,
    /// (filesystem type, mount point) the guest must have mounted
    pub mounts: &'static [(&'static str, &'static str)],
    /// what the tutorial shows of `/dev`: (a `test` expression, whether it holds)
    pub devices: &'static [(&'static str, bool)],
}

/// The filesystems the tutorial's fstab (plus devtmpfs, see the errata) mounts.
const TUTORIAL_MOUNTS: &[(&str, &str)] =
    &[("proc", "/proc"), ("sysfs", "/sys"), ("tmpfs", "/tmp"), ("devtmpfs", "/dev")];

pub const BOOTS: &[Boot] = &[
    Boot {
        name: "initrd",
        image: Image::Initrd,
        // /dev/ram names the first RAM disk, which the kernel fills from the -initrd image
        append: "root=/dev/ram rw rootfstype=ext4 console={console}",
        init: Some(("init", "/sbin/init")),
        needs: &["boot", "ramdisk"],
        ready: Ready::Shell,
        root: Root::Device("ext4"),
        mounts: TUTORIAL_MOUNTS,
        // the RAM disk is a block device; /dev/root is only a name in /proc/mounts
        devices: &[("-b /dev/ram0", true), ("-e /dev/root", false)],
    },
    Boot {
        name: "initramfs",
        image: Image::Initramfs,
        // rdinit is the init looked up inside an initramfs; init= would be looked up only after
        // mounting a root device, which this boot has none of
        append: "rw rootfstype=ramfs console={console}",
        init: Some(("rdinit", "/sbin/init")),
        needs: &["boot"],
        ready: Ready::Shell,
        root: Root::Ramfs,
        mounts: TUTORIAL_MOUNTS,
        devices: &[],
    },
    Boot {
        name: "hello",
        image: Image::Hello,
        // without rdinit= the kernel runs the initramfs's /init, the hello program
        append: "rw rootfstype=ramfs console={console}",
        init: None,
        needs: &["boot"],
        ready: Ready::Prints("Hello world!"),
        root: Root::Ramfs,
        mounts: &[],
        devices: &[],
    },
];

pub fn by_name(name: &str) -> &'static Boot {
    BOOTS.iter().find(|b| b.name == name).unwrap_or_else(|| panic!("no boot named {name}"))
}

impl Boot {
    /// The kernel arguments for an architecture whose console is `console`, word by word, with
    /// `init` in place of the tutorial's init where given.
    pub fn append(&self, console: &str, init: Option<&str>) -> Vec<String> {
        let mut words: Vec<String> = self
            .append
            .replace("{console}", console)
            .split_whitespace()
            .map(String::from)
            .collect();
        if let Some((param, tutorial_init)) = self.init {
            words.push(format!("{param}={}", init.unwrap_or(tutorial_init)));
        }
        words
    }

    /// Checks the guest's `/proc/mounts` against what the tutorial shows, listing every
    /// difference.
    ///
    /// - a device root: `/` is `/dev/root` of its type (the RAM disk filled from the image);
    /// - ramfs: `/` is the kernel's own rootfs as ramfs. /proc/mounts names it
    ///   `rootfs / rootfs`, the same as a tmpfs rootfs, which differs by carrying a `size=`;
    /// - every mount of the row.
    pub fn check_mounts(&self, proc_mounts: &str) -> Result<(), Vec<String>> {
        let mounts = parse_mounts(proc_mounts);
        let mut problems = Vec::new();
        // the last mount on / is the one on top, the one processes see
        match mounts.iter().rev().find(|m| m.mount_point == "/") {
            None => problems.push("nothing is mounted on /".to_string()),
            Some(root) => problems.extend(root_problem(self.root, root)),
        }
        for (fs_type, mount_point) in self.mounts {
            if !mounts.iter().any(|m| m.mount_point == *mount_point && m.fs_type == *fs_type) {
                problems.push(format!("no {fs_type} mounted on {mount_point}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

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

fn root_problem(expected: Root, root: &Mount) -> Option<String> {
    let shown = format!("{} {} ({})", root.device, root.fs_type, root.options);
    let has_size = root.options.split(',').any(|option| option.starts_with("size="));
    match expected {
        Root::Device(fs) if !(root.device == "/dev/root" && root.fs_type == fs) => {
            Some(format!("/ is {shown}, expected /dev/root {fs} (the initrd's RAM disk)"))
        }
        Root::Device(_) => None,
        Root::Ramfs if root.fs_type == "rootfs" && has_size => Some(format!(
            "/ is {shown}: the kernel's rootfs as tmpfs (it has a size), expected ramfs \
             (rootfstype=ramfs)"
        )),
        Root::Ramfs if root.fs_type == "rootfs" || root.fs_type == "ramfs" => None,
        Root::Ramfs => Some(format!("/ is {shown}, expected the kernel's rootfs as ramfs")),
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
    fn check(boot: &str, proc_mounts: &str, expected: &[&str]) {
        let problems = by_name(boot).check_mounts(proc_mounts).err().unwrap_or_default();
        assert_eq!(problems, expected);
    }

    #[test]
    fn real_initramfs_passes() {
        check("initramfs", INITRAMFS, &[]);
    }

    #[test]
    fn tmpfs_rootfs_is_not_ramfs() {
        check(
            "initramfs",
            INITRAMFS_ON_TMPFS,
            &["/ is rootfs rootfs (rw,size=487240k,nr_inodes=121810,inode64): the kernel's \
               rootfs as tmpfs (it has a size), expected ramfs (rootfstype=ramfs)"],
        );
    }

    #[test]
    fn tutorials_none_on_slash_passes() {
        let older = INITRAMFS.replace("rootfs / rootfs rw", "none / ramfs rw");
        check("initramfs", &older, &[]);
    }

    #[test]
    fn initrd_passes() {
        check("initrd", INITRD, &[]);
    }

    #[test]
    fn initramfs_is_not_an_initrd() {
        check(
            "initrd",
            INITRAMFS,
            &["/ is rootfs rootfs (rw), expected /dev/root ext4 (the initrd's RAM disk)"],
        );
    }

    #[test]
    fn every_missing_mount_is_listed() {
        check(
            "initramfs",
            "rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\n",
            &[
                "no sysfs mounted on /sys",
                "no tmpfs mounted on /tmp",
                "no devtmpfs mounted on /dev",
            ],
        );
        check(
            "initrd",
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
        check("initrd", &stacked, &[]);
    }

    #[test]
    fn hello_checks_only_the_root() {
        check("hello", "rootfs / rootfs rw 0 0\n", &[]);
    }

    #[test]
    fn the_console_comes_from_the_architecture() {
        assert_eq!(
            by_name("initramfs").append("ttyAMA0", None),
            ["rw", "rootfstype=ramfs", "console=ttyAMA0", "rdinit=/sbin/init"]
        );
        assert_eq!(
            by_name("initrd").append("ttyS0", Some("/sbin/kardel-run")).join(" "),
            "root=/dev/ram rw rootfstype=ext4 console=ttyS0 init=/sbin/kardel-run"
        );
        for boot in BOOTS {
            for feature in boot.needs {
                stages::features::Catalog::builtin().feature(feature).unwrap();
            }
        }
    }
}
