//! Every output path, in one place: the README's "Where things go", as code. Each architecture
//! has its own build folders and images, so switching never rebuilds another's.
//!
//! ```text
//! target/images/<arch>/<profile>/{bzImage|Image, vmlinux, config, kernel.release}
//! target/images/<arch>/{busybox, rootfs.img.gz, rootfs.cpio.gz, rootfs.cpio, hello.cpio.gz}
//! target/images/<arch>/variants/<variant>/    the images with your modules or overlays, apart
//! target/images/<arch>/<profile>/modules/<variant>/   your modules, built against that kernel
//! target/images/<arch>/u-boot/<board>/{u-boot.rom, config}
//! target/kardel/src/                          unpacked sources (shared by every architecture)
//! target/kardel/build/<arch>/kernel-<profile>-<source>/, busybox-<source>/
//! target/kardel/modules/<arch>/               your modules' build (the modules stage)
//! target/kardel/runs/<pid>-<n>/               a command run's ports (removed when it ends)
//! target/kardel/bench/                        the benchmark's scratch files and trees
//! target/kardel/logs/<arch>/<name>.log        every make's and every boot's whole output
//! target/kardel/locks/                        one lock per build folder, source tree, image set
//! target/kardel/kvm-probe                     the KVM probe's cached verdict
//! target/kardel/bisect/<repo>/               a bisect's checkout (linux/), target folder, log
//! target/kardel/ccache-bin/                   links named like the compilers, to ccache
//! target/kardel/warm/<arch>/<fingerprint>.state  a saved machine warm command runs start from
//! target/kardel/lava/<job>/                   a LAVA job's run here
//! target/bench/<arch>/<profile>/              the benchmark's own target folder (the same layout)
//! ```

use std::path::{Path, PathBuf};

use rootfs::Compression;

/// Your modules built against one kernel flavour: what the images get.
#[derive(Debug, Clone)]
pub struct ModuleFiles {
    pub dir: PathBuf,
    pub stamp: PathBuf,
    /// the modules' dependencies, as depmod writes them
    pub dep: PathBuf,
    /// the `.ko` files (`/lib/modules/<release>/extra` in the guest)
    pub extra: PathBuf,
    /// the modules' test programs (`/usr/bin` in the guest)
    pub bin: PathBuf,
}

/// A bisect's home: one per repository bisected.
#[derive(Debug, Clone)]
pub struct BisectHome {
    pub dir: PathBuf,
    /// its clone of your repository, checked out commit by commit
    pub checkout: PathBuf,
    /// its own target folder, for its kernels
    pub target: PathBuf,
    /// git's bisect log, saved after every step (`--replay`)
    pub log: PathBuf,
}

/// A command run's folder and its files: the ports' host sides (the runner's files, and its
/// sockets by port id), QEMU's QMP socket, and the RAM of a machine being saved.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub dir: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub qmp: PathBuf,
    pub ram: PathBuf,
}

impl RunFiles {
    /// The socket of the port `id` (`protocol::Port::id`).
    pub fn port(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }
}

#[derive(Debug, Clone)]
pub struct Layout {
    target: PathBuf,
    arch: String,
    /// another layout's runs folder, when this one's is too deep for a Unix socket's path
    runs: Option<PathBuf>,
}

/// The three images a root filesystem becomes.
#[derive(Debug, Clone)]
pub struct ImagePaths {
    /// the ext4 initrd: rootfs.img.gz
    pub initrd: PathBuf,
    /// the BusyBox initramfs: rootfs.cpio.gz
    pub initramfs: PathBuf,
    /// the same, uncompressed, for the fast machine: rootfs.cpio
    pub initramfs_uncompressed: PathBuf,
    /// the hello-world initramfs: hello.cpio.gz
    pub hello: PathBuf,
    /// why the initrd was not made, when the tree does not fit it (a large overlay): the other
    /// images are, and the initrd boot says this
    pub initrd_skipped: Option<String>,
}

impl ImagePaths {
    /// Every image made: the initrd only when it fits.
    pub fn all(&self) -> Vec<PathBuf> {
        let initrd = self.initrd_skipped.is_none().then(|| self.initrd.clone());
        initrd
            .into_iter()
            .chain([
                self.initramfs.clone(),
                self.initramfs_uncompressed.clone(),
                self.hello.clone(),
            ])
            .collect()
    }
}

impl Layout {
    pub fn new(target: impl Into<PathBuf>, arch: &str) -> Layout {
        Layout { target: target.into(), arch: arch.to_string(), runs: None }
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// What a user keeps, per architecture: kernels and images. `cargo clean` removes them.
    pub fn images(&self) -> PathBuf {
        self.target.join("images").join(&self.arch)
    }

    /// One profile's kernel: boot image, vmlinux, config, release.
    pub fn kernel_images(&self, profile: &str) -> PathBuf {
        self.images().join(profile)
    }

    /// The kernel stage's stamp, beside the kernel it stands for.
    pub fn kernel_stamp(&self, profile: &str) -> PathBuf {
        self.kernel_images(profile).join(".stamp")
    }

    /// The kernel's release string (`uname -r`), beside it.
    pub fn kernel_release(&self, profile: &str) -> PathBuf {
        self.kernel_images(profile).join("kernel.release")
    }

    /// One U-Boot board's ROM and config.
    pub fn uboot_images(&self, board: &str) -> PathBuf {
        self.images().join("u-boot").join(board)
    }

    /// The U-Boot stage's stamp, beside the ROM it stands for.
    pub fn uboot_stamp(&self, board: &str) -> PathBuf {
        self.uboot_images(board).join(".stamp")
    }

    pub fn busybox_binary(&self) -> PathBuf {
        self.images().join("busybox")
    }

    /// One image set's folder: the plain one, or a variant's (your modules and overlays), so that
    /// runs with different ones never share files.
    pub fn image_set(&self, variant: Option<&str>) -> PathBuf {
        match variant {
            Some(variant) => self.images().join("variants").join(variant),
            None => self.images(),
        }
    }

    pub fn image_paths(&self, compression: Compression, variant: Option<&str>) -> ImagePaths {
        let ext = compression.extension();
        let dir = self.image_set(variant);
        ImagePaths {
            initrd: dir.join(format!("rootfs.img.{ext}")),
            initramfs: dir.join(format!("rootfs.cpio.{ext}")),
            initramfs_uncompressed: dir.join("rootfs.cpio"),
            hello: dir.join(format!("hello.cpio.{ext}")),
            initrd_skipped: None,
        }
    }

    pub fn images_stamp(&self, compression: Compression, variant: Option<&str>) -> PathBuf {
        self.image_set(variant).join(format!(".images-{}.stamp", compression.extension()))
    }

    /// One kernel flavour's build of your modules, per variant.
    pub fn modules(&self, flavour: &str, variant: &str) -> ModuleFiles {
        let dir = self.kernel_images(flavour).join("modules").join(variant);
        ModuleFiles {
            stamp: dir.join(".stamp"),
            dep: dir.join("modules.dep"),
            extra: dir.join("extra"),
            bin: dir.join("bin"),
            dir,
        }
    }

    /// Unpacked sources, build trees, logs, locks and stamps.
    pub fn work(&self) -> PathBuf {
        self.target.join("kardel")
    }

    pub fn sources(&self) -> PathBuf {
        self.work().join("src")
    }

    /// A bisect's own checkout, target folder, log and lock: one per repository bisected.
    pub fn bisect(&self, slug: &str) -> BisectHome {
        let dir = self.work().join("bisect").join(slug);
        BisectHome {
            checkout: dir.join("linux"),
            target: dir.join("target"),
            log: dir.join("bisect.log"),
            dir,
        }
    }

    /// The `n`th folder of this process's command runs (in [`Layout::runs`]: `<pid>-<n>`,
    /// named by the process so that two runs at once never share ports' files), and its files.
    pub fn run(&self, n: usize) -> RunFiles {
        let dir = self.runs().join(format!("{}-{n}", std::process::id()));
        RunFiles {
            stdout: dir.join("stdout"),
            stderr: dir.join("stderr"),
            qmp: dir.join("qmp"),
            ram: dir.join("ram"),
            dir,
        }
    }

    /// The saved machines command runs start from (warm starts).
    pub fn warm_states(&self) -> PathBuf {
        self.work().join("warm").join(&self.arch)
    }

    /// The saved machine of this fingerprint.
    pub fn warm_state(&self, fingerprint: &str) -> PathBuf {
        self.warm_states().join(fingerprint)
    }

    /// A LAVA job's run here: the device dictionary, lava-run's log and output.
    pub fn lava(&self, job: &str) -> PathBuf {
        self.work().join("lava").join(job)
    }

    /// The links that put ccache in front of the compilers (`gcc`, a cross `gcc`).
    pub fn ccache_links(&self) -> PathBuf {
        self.work().join("ccache-bin")
    }

    /// An out-of-tree build folder of this architecture (`kernel-tiny-6.1`, `busybox-1.36.1`).
    pub fn build_dir(&self, name: &str) -> PathBuf {
        self.work().join("build").join(&self.arch).join(name)
    }

    /// Scratch space of the images stage (the hello program, ext4 staging), per image set.
    pub fn images_work(&self, variant: Option<&str>) -> PathBuf {
        let work = self.work().join("images").join(&self.arch);
        match variant {
            Some(variant) => work.join("variants").join(variant),
            None => work,
        }
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.work().join("logs").join(&self.arch).join(format!("{name}.log"))
    }

    /// The lock file guarding `guarded` (a build folder, a source tree, an image set).
    pub fn lock_for(&self, guarded: &Path) -> PathBuf {
        let relative = guarded.strip_prefix(&self.target).unwrap_or(guarded);
        let name: String = relative
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
            .collect();
        self.work().join("locks").join(format!("{name}.lock"))
    }

    /// Where the KVM probe's verdict is kept, so that only the first boot pays for the probe.
    pub fn kvm_probe_cache(&self) -> PathBuf {
        self.work().join("kvm-probe")
    }

    /// Where your out-of-tree modules are built, per architecture and variant.
    pub fn modules_build(&self, variant: &str) -> PathBuf {
        self.work().join("modules").join(&self.arch).join(variant)
    }

    /// One kselftest target built for this architecture from a tree (`slug`).
    pub fn kselftest_target(&self, slug: &str, target: &str) -> KselftestTarget {
        let dir = self.work().join("kselftest").join(&self.arch).join(slug).join(target);
        KselftestTarget {
            build: dir.join("build"),
            install: dir.join("install"),
            failed: dir.join("failed"),
            stamp: dir.join(".stamp"),
            dir,
        }
    }

    /// A set of built targets merged into one overlay folder for the images (its files under
    /// `opt/kselftests/`), named by the set's digest.
    pub fn kselftest_set(&self, digest: &str) -> PathBuf {
        self.kselftest_sets().join(digest).join("kselftests")
    }

    /// Every set of kselftest targets merged for this architecture.
    pub fn kselftest_sets(&self) -> PathBuf {
        self.work().join("kselftest").join(&self.arch).join("sets")
    }

    /// The folders of command runs, one each, removed when the run ends.
    pub fn runs(&self) -> PathBuf {
        self.runs.clone().unwrap_or_else(|| self.work().join("runs"))
    }

    /// This layout with `other`'s runs folder: a bisect's target folder sits deep inside
    /// yours, and a run's sockets need a path of at most 107 bytes.
    pub fn with_runs_of(mut self, other: &Layout) -> Layout {
        self.runs = Some(other.runs());
        self
    }

    /// The benchmark's scratch file or folder `name` (its fragment, image trees, peers' trees).
    pub fn bench_work(&self, name: &str) -> PathBuf {
        self.work().join("bench").join(name)
    }

    /// A file the benchmark writes for the user to look at (its timeline pictures).
    pub fn bench_file(&self, name: &str) -> PathBuf {
        self.target.join(name)
    }

    /// The benchmark's own target folder: it never disturbs the user's build.
    pub fn bench_target(&self, profile: &str) -> PathBuf {
        self.target.join("bench").join(&self.arch).join(profile)
    }
}

/// Where one kselftest target is built: all of it in `dir`.
#[derive(Debug, Clone)]
pub struct KselftestTarget {
    pub dir: PathBuf,
    /// make's `O=`
    pub build: PathBuf,
    /// make's `INSTALL_PATH=`: the runner, the target's folder, its list of tests
    pub install: PathBuf,
    /// the build's error, when it did not build (kept: the next run says it without building)
    pub failed: PathBuf,
    pub stamp: PathBuf,
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn the_layout_is_the_readmes() {
        let layout = Layout::new("/t", "x86_64");
        let shown = [
            layout.kernel_images("tiny"),
            layout.busybox_binary(),
            layout.uboot_images("qemu-x86"),
            layout.image_paths(Compression::Gzip, None).initrd,
            layout.image_paths(Compression::Zstd, None).initramfs,
            layout.image_paths(Compression::Gzip, Some("hello-0123abcd")).initramfs,
            layout.modules("tiny+workbench", "hello-0123abcd").dir,
            layout.build_dir("kernel-tiny-6.1"),
            layout.log("kernel-tiny"),
            layout.lock_for(&layout.build_dir("busybox-1.36.1")),
            layout.bench_target("tiny"),
            layout.bench_work("bench-images"),
            layout.modules_build("hello-0123abcd"),
            layout.runs(),
        ]
        .map(|p| p.display().to_string())
        .join("\n");
        expect![[r#"
            /t/images/x86_64/tiny
            /t/images/x86_64/busybox
            /t/images/x86_64/u-boot/qemu-x86
            /t/images/x86_64/rootfs.img.gz
            /t/images/x86_64/rootfs.cpio.zst
            /t/images/x86_64/variants/hello-0123abcd/rootfs.cpio.gz
            /t/images/x86_64/tiny+workbench/modules/hello-0123abcd
            /t/kardel/build/x86_64/kernel-tiny-6.1
            /t/kardel/logs/x86_64/kernel-tiny.log
            /t/kardel/locks/kardel_build_x86_64_busybox-1.36.1.lock
            /t/bench/x86_64/tiny
            /t/kardel/bench/bench-images
            /t/kardel/modules/x86_64/hello-0123abcd
            /t/kardel/runs"#]]
        .assert_eq(&shown);
    }

    #[test]
    fn the_work_folders_are_the_readmes() {
        let layout = Layout::new("/t", "aarch64");
        let shown = [
            layout.sources(),
            layout.bisect("linux").dir,
            layout.warm_state("0123abcd.state"),
            layout.lava("job-1"),
            layout.ccache_links(),
            layout.kvm_probe_cache(),
            layout.images_work(None),
            layout.images_work(Some("hello-0123abcd")),
            layout.bench_file("timeline.svg"),
        ]
        .map(|p| p.display().to_string())
        .join("\n");
        expect![[r#"
            /t/kardel/src
            /t/kardel/bisect/linux
            /t/kardel/warm/aarch64/0123abcd.state
            /t/kardel/lava/job-1
            /t/kardel/ccache-bin
            /t/kardel/kvm-probe
            /t/kardel/images/aarch64
            /t/kardel/images/aarch64/variants/hello-0123abcd
            /t/timeline.svg"#]]
        .assert_eq(&shown);
    }

    #[test]
    fn each_compression_has_its_own_images_and_stamp() {
        let layout = Layout::new("/t", "x86_64");
        let shown = |compression, variant| {
            let images = layout.image_paths(compression, variant);
            let mut all: Vec<String> =
                images.all().iter().map(|p| p.display().to_string()).collect();
            all.push(layout.images_stamp(compression, variant).display().to_string());
            all.join("\n")
        };
        expect![[r#"
            /t/images/x86_64/rootfs.img.zst
            /t/images/x86_64/rootfs.cpio.zst
            /t/images/x86_64/rootfs.cpio
            /t/images/x86_64/hello.cpio.zst
            /t/images/x86_64/.images-zst.stamp"#]]
        .assert_eq(&shown(Compression::Zstd, None));
        expect![[r#"
            /t/images/x86_64/variants/files-0123abcd/rootfs.img.gz
            /t/images/x86_64/variants/files-0123abcd/rootfs.cpio.gz
            /t/images/x86_64/variants/files-0123abcd/rootfs.cpio
            /t/images/x86_64/variants/files-0123abcd/hello.cpio.gz
            /t/images/x86_64/variants/files-0123abcd/.images-gz.stamp"#]]
        .assert_eq(&shown(Compression::Gzip, Some("files-0123abcd")));
    }

    #[test]
    fn an_initrd_too_small_for_the_tree_is_not_an_output() {
        let mut images = Layout::new("/t", "x86_64").image_paths(Compression::Gzip, None);
        assert_eq!(images.all().len(), 4);
        images.initrd_skipped = Some("the initrd was not made: 80 MiB do not fit 64".into());
        let all = images.all();
        assert_eq!(all.len(), 3);
        assert!(!all.contains(&images.initrd), "{all:?}");
    }

    #[test]
    fn a_lock_is_named_by_its_folder_as_one_word() {
        let layout = Layout::new("/t", "x86_64");
        // inside the target folder: relative to it
        assert_eq!(
            layout.lock_for(Path::new("/t/kardel/src")),
            Path::new("/t/kardel/locks/kardel_src.lock")
        );
        // outside it (a developer's own tree): the whole path, spaces and all, made one word
        assert_eq!(
            layout.lock_for(Path::new("/home/me/linux src+6.1")),
            Path::new("/t/kardel/locks/_home_me_linux_src_6.1.lock")
        );
    }

    #[test]
    fn a_bisects_layout_runs_commands_in_the_users_runs_folder() {
        let user = Layout::new("/t", "x86_64");
        let bisect = Layout::new("/t/kardel/bisect/linux/target", "x86_64");
        assert_eq!(bisect.runs(), Path::new("/t/kardel/bisect/linux/target/kardel/runs"));
        let bisect = bisect.with_runs_of(&user);
        assert_eq!(bisect.runs(), Path::new("/t/kardel/runs"));
        // everything else stays the bisect's own
        assert_eq!(
            bisect.log("kernel-tiny"),
            Path::new("/t/kardel/bisect/linux/target/kardel/logs/x86_64/kernel-tiny.log")
        );
    }
}
