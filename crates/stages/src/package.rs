//! A kconfig package as a row: the kernel, BusyBox and U-Boot differ only in the values here
//! (their source, build folder, base config, fragments, make variables, Kconfig language, how a
//! tree is known to be theirs), and share one way to be configured, checked and built as a stage.

use std::path::{Path, PathBuf};

use anyhow::Result;
use artifact::Fingerprint;

use crate::{
    context::Context,
    kbuild::{self, OutOfTree, Settle},
    sources::Source,
    stage::{Done, Stage},
};

pub struct Package<'a> {
    pub ctx: &'a Context,
    /// the stage's name, in fingerprints and messages: `kernel`, `busybox`, `u-boot`
    pub name: &'static str,
    /// progress lines' and errors' name for this build (`kernel (tiny)`)
    pub label: String,
    /// the log every make writes to (`kernel-tiny`)
    pub log_name: String,
    pub source: Source,
    pub build_dir: PathBuf,
    /// the name of a folder inside the tree that `build_dir` links to, when the tree is the
    /// tool's own (unpacked from a tarball, or a bisect's checkout): see [`Package::in_tree`]
    pub in_tree: Option<String>,
    /// every candidate fragment, in order (which apply is known once the tree is unpacked)
    pub fragments: Vec<PathBuf>,
    /// the make target the config starts from (`x86_64_defconfig`, `tinyconfig`, `defconfig`)
    pub base: String,
    pub settle: Settle,
    /// `VAR=value` for every make (ARCH, CROSS_COMPILE, CC)
    pub vars: Vec<String>,
    /// the tree's top Kconfig file and its variables, to explain a request that did not stick
    pub kconfig_top: &'static str,
    pub kconfig_vars: Vec<(&'static str, String)>,
    /// refuses an unpacked tree that is not this package's or cannot be built here
    pub check_tree: fn(&Package, &Path) -> Result<()>,
    /// the fragments that apply to the unpacked tree (the kernel's `before-X.Y/` ones)
    pub applies: fn(&[PathBuf], &OutOfTree) -> Result<Vec<PathBuf>>,
}

/// Makes `build_dir` a link to `inside`, a folder directly inside the source tree, unless it is a
/// folder of its own already (a build from before). kbuild then builds with `srctree=..`: every
/// path on a compile's command line is relative, so the objects' ccache entries serve the same
/// tree wherever it is unpacked or checked out (another target folder, a bisect's checkout).
fn link_build_into_tree(build_dir: &Path, inside: &Path) -> Result<()> {
    use anyhow::Context as _;
    match std::fs::read_link(build_dir) {
        // the folder inside may be gone with its tree (a bisect's checkout made again)
        Ok(target) if target == inside => {
            return std::fs::create_dir_all(inside)
                .with_context(|| format!("creating {}", inside.display()))
        }
        Ok(_) => std::fs::remove_file(build_dir)
            .with_context(|| format!("replacing the link {}", build_dir.display()))?,
        Err(_) if build_dir.exists() => return Ok(()),
        Err(_) => {}
    }
    std::fs::create_dir_all(inside).with_context(|| format!("creating {}", inside.display()))?;
    std::fs::create_dir_all(build_dir.parent().expect("a build folder has a parent"))?;
    std::os::unix::fs::symlink(inside, build_dir)
        .with_context(|| format!("linking {} to {}", build_dir.display(), inside.display()))
}

/// Removes a build folder: the folder inside the tree it links to, too.
pub fn remove_build_dir(build_dir: &Path) -> Result<()> {
    use anyhow::Context as _;
    if let Ok(inside) = std::fs::read_link(build_dir) {
        if inside.exists() {
            std::fs::remove_dir_all(&inside)
                .with_context(|| format!("removing {}", inside.display()))?;
        }
        std::fs::remove_file(build_dir)
            .with_context(|| format!("removing {}", build_dir.display()))?;
    } else if build_dir.exists() {
        std::fs::remove_dir_all(build_dir)
            .with_context(|| format!("removing {}", build_dir.display()))?;
    }
    Ok(())
}

/// The variables the kernel's (and U-Boot's) Kconfig files read on `arch` (`SRCARCH`).
pub fn kernel_kconfig_vars(arch: &arch::Arch) -> Vec<(&'static str, String)> {
    kconfig::kernel_vars(&arch.kernel_arch).iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Every fragment applies (BusyBox, U-Boot).
pub fn all_apply(fragments: &[PathBuf], _: &OutOfTree) -> Result<Vec<PathBuf>> {
    Ok(fragments.to_vec())
}

impl<'a> Package<'a> {
    /// What the build's output depends on: source, make variables and arguments, time, every
    /// fragment's contents, the base; the stage adds what is its own.
    pub fn fingerprint(&self) -> Result<Fingerprint> {
        let mut fp = kbuild::fingerprint(
            self.name,
            self.ctx,
            &self.source.identity,
            &self.vars,
            &self.fragments,
        )?;
        fp.add("base", &self.base);
        Ok(fp)
    }

    /// What the last build's compiles asked of ccache, when they went through it.
    pub fn ccache_stats(&self) -> Option<crate::ccache::Stats> {
        self.ctx.ccache.as_ref()?;
        Some(crate::ccache::read_stats(&crate::kbuild::ccache_log(
            &self.ctx.layout.log(&self.log_name),
        )))
    }

    /// The unpacked tree, checked, as an out-of-tree build.
    pub fn out_of_tree(&self) -> Result<OutOfTree<'a>> {
        let tree = self.source.tree(self.ctx)?;
        (self.check_tree)(self, &tree)?;
        if let Some(name) = &self.in_tree {
            link_build_into_tree(&self.build_dir, &tree.join(name))?;
        }
        let vars: Vec<(&str, &str)> =
            self.kconfig_vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Ok(OutOfTree::new(
            self.ctx,
            self.label.clone(),
            tree,
            self.build_dir.clone(),
            self.vars.clone(),
            &self.log_name,
        )?
        .with_kconfig(self.kconfig_top, &vars))
    }

    /// The build folder configured and checked: the base, then the fragments that apply.
    pub fn configured(&self) -> Result<OutOfTree<'a>> {
        let build = self.out_of_tree()?;
        let fragments = (self.applies)(&self.fragments, &build)?;
        build.configure(&self.base, &fragments, self.settle, &self.source.identity)?;
        Ok(build)
    }

    /// `--configure-only`: configures and checks the build folder, and nothing else: no output
    /// and no stamp is written for what was not built.
    pub fn configure_only(&self) -> Result<()> {
        let lock = self.ctx.layout.lock_for(&self.build_dir);
        let _lock = artifact::Lock::acquire(&lock, &format!("the {} build", self.label))?;
        self.configured()?.announce_configured();
        Ok(())
    }

    /// Builds as a stage: skipped when `stamp` says `fingerprint` made `outputs`; otherwise the
    /// folder is configured and checked, then `produce` builds and copies the outputs.
    pub fn build(
        &self,
        fingerprint: Fingerprint,
        stamp: PathBuf,
        outputs: Vec<PathBuf>,
        produce: impl FnOnce(OutOfTree<'a>) -> Result<()>,
    ) -> Result<Done> {
        let mut fingerprint = fingerprint;
        if self.source.is_mutable_tree() {
            // a developer's own tree changes under us: what is in it now is in the fingerprint
            // (every file's path, size and time), so that make runs when a file changed and a
            // run that changed nothing costs a walk of the tree, not a make with nothing to do
            fingerprint.add_tree_identity("tree", &self.source.tree(self.ctx)?)?;
        }
        let stage = Stage {
            label: format!("the {} build", self.label),
            fingerprint,
            stamp,
            outputs,
            lock: self.ctx.layout.lock_for(&self.build_dir),
        };
        stage.run(|| self.configured(), produce)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::{selection::UbootSelection, testing};

    /// A package row as a user would check it, paths under the target folder shown from it.
    fn row(package: &Package, target: &Path) -> String {
        let repo = crate::context::repo();
        let under = |p: &Path| {
            let p = p.strip_prefix(target).map(|p| format!("<target>/{}", p.display()));
            p.unwrap_or_else(|_| "elsewhere".into())
        };
        let fragments: Vec<String> = package
            .fragments
            .iter()
            .map(|f| f.strip_prefix(&repo).unwrap_or(f).display().to_string())
            .collect();
        let arch_var: Vec<&String> =
            package.vars.iter().filter(|v| v.starts_with("ARCH=")).collect();
        format!(
            "{} {:?} log {} base {} top {}\nbuild {} inside the tree {:?}\n\
             vars {arch_var:?} kconfig {:?}\nfragments {}",
            package.name,
            package.label,
            package.log_name,
            package.base,
            package.kconfig_top,
            under(&package.build_dir),
            package.in_tree,
            package.kconfig_vars,
            fragments.join(" "),
        )
    }

    #[test]
    fn the_kernel_row_of_a_flavour() {
        let target = testing::scratch("row-kernel");
        let selection = testing::selection("x86_64", "tiny", |s| {
            s.sources.kernel_version = Some("6.6.108".into())
        });
        let mut ctx = testing::context(&selection, target.clone());
        ctx.add_features(&["debug"]);
        let package = crate::kernel::package(&ctx).unwrap();
        expect![[r#"
            kernel "kernel (tiny+debug)" log kernel-tiny+debug base tinyconfig top Kconfig
            build <target>/kardel/build/x86_64/kernel-tiny+debug-6.6.108 inside the tree Some(".kardel-build-x86_64-tiny+debug")
            vars ["ARCH=x86"] kconfig [("ARCH", "x86"), ("SRCARCH", "x86")]
            fragments kernel-config/boot.config kernel-config/x86_64/boot.config kernel-config/ramdisk.config kernel-config/command.config kernel-config/debug.config kernel-config/before-5.18/debug.config kernel-config/tiny.config kernel-config/x86_64/tiny.config"#]]
        .assert_eq(&row(&package, &target));
    }

    #[test]
    fn the_busybox_row_is_configured_from_its_config_in() {
        let target = testing::scratch("row-busybox");
        let ctx = testing::context(&testing::selection("aarch64", "tiny", |_| {}), target.clone());
        expect![[r#"
            busybox "busybox" log busybox base defconfig top Config.in
            build <target>/kardel/build/aarch64/busybox-1.36.1 inside the tree None
            vars [] kconfig []
            fragments busybox-config/static.config"#]]
        .assert_eq(&row(&crate::busybox::package(&ctx).unwrap(), &target));
    }

    #[test]
    fn the_u_boot_row_is_the_boards_defconfig_and_the_tutorials_fragment() {
        let target = testing::scratch("row-uboot");
        let ctx =
            testing::context(&testing::selection("x86_64", "default", |_| {}), target.clone());
        let board = UbootSelection { board: Some("qemu-x86".into()), ..Default::default() };
        expect![[r#"
            u-boot "U-Boot (qemu-x86)" log u-boot-qemu-x86 base qemu-x86_defconfig top Kconfig
            build <target>/kardel/build/x86_64/u-boot-qemu-x86-2024.04 inside the tree None
            vars [] kconfig [("ARCH", "x86"), ("SRCARCH", "x86")]
            fragments uboot-config/tutorial.config"#]]
        .assert_eq(&row(&crate::uboot::package(&ctx, &board).unwrap(), &target));
    }

    #[test]
    fn a_developers_kernel_tree_builds_outside_it() {
        let target = testing::scratch("row-developer");
        let tree = testing::scratch("row-developer-linux");
        let selection =
            testing::selection("x86_64", "tiny", |s| s.sources.kernel_source = Some(tree));
        let ctx = testing::context(&selection, target.clone());
        let package = crate::kernel::package(&ctx).unwrap();
        assert_eq!(package.in_tree, None);
        let folder = package.build_dir.strip_prefix(&target).unwrap().display().to_string();
        assert!(folder.starts_with("kardel/build/x86_64/kernel-tiny-local-"), "{folder}");
    }

    #[test]
    fn u_boot_flags_are_refused_before_any_build() {
        let target = testing::scratch("row-uboot-refused");
        let ctx = testing::context(&testing::selection("x86_64", "default", |_| {}), target);
        let refused = |selection: UbootSelection| {
            crate::uboot::check_flags(&ctx, &selection).unwrap_err().to_string()
        };
        assert_eq!(
            refused(UbootSelection { board: Some("qemu-arm".into()), ..Default::default() }),
            "--uboot-board qemu-arm: not a U-Boot board for x86_64; expected one of: qemu-x86_64, qemu-x86"
        );
        assert_eq!(
            refused(UbootSelection {
                source: Some("/nowhere/u-boot".into()),
                ..Default::default()
            }),
            "--uboot-source /nowhere/u-boot: no such file or folder"
        );
        let missing = PathBuf::from("/nowhere/mine.config");
        let err = refused(UbootSelection { fragments: vec![missing], ..Default::default() });
        assert!(err.contains("/nowhere/mine.config"), "{err}");
    }
}
