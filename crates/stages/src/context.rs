//! What every task needs: a shell, the architecture's row, the profile, the output layout, and
//! the build settings that are the same for every stage. Everything here is checked when the
//! context is made, before any fetch or build.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use arch::Arch;
use xshell::Shell;

use crate::{
    ccache::Ccache,
    features::{self, Catalog, Profile},
    layout::Layout,
    selection::{folder_word, module_name, Selection},
};

/// `SOURCE_DATE_EPOCH` when the environment sets none: every timestamp the project writes into
/// an output (kernel build banner, cpio and ext4 times) comes from it, so outputs are
/// byte-identical from run to run. 2024-01-01T00:00:00Z.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 1_704_067_200;

pub struct Context {
    pub sh: Shell,
    /// The repository's root (kernel-config/, busybox-config/, features.toml)
    pub repo: PathBuf,
    /// what the user selected, with module and overlay folders made absolute and empty words
    /// dropped
    pub selection: Selection,
    pub arch: &'static Arch,
    pub profile: &'static Profile,
    pub layout: Layout,
    /// the selection's mirrors, parsed
    pub mirrors: Vec<String>,
    /// features the user's flags need that the profile lacks (`modules` for --module)
    pub extra_features: Vec<String>,
    /// the features asked for, before the workbench and `with` expand them
    asked_features: Vec<String>,
    /// the selection's jobs, or the number of CPUs
    pub jobs: u32,
    pub source_date_epoch: u64,
    /// ccache in front of the compilers, when the selection and the host give it
    pub ccache: Option<Ccache>,
}

/// The repository's root: kernel-config/, busybox-config/, uboot-config/, features.toml.
pub fn repo() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.ancestors().nth(2).expect("crates/stages sits two folders below the root").into()
}

/// What the boot side needs of a context, and no more: where runs, logs, locks and saved
/// machines go, the architecture's row, and the repository (its feature table). A boot decides
/// no flavour and builds nothing.
#[derive(Clone, Copy)]
pub struct Site<'a> {
    pub layout: &'a Layout,
    pub arch: &'static Arch,
    pub repo: &'a Path,
}

impl Context {
    /// What the boot side needs of this context ([`Site`]).
    pub fn site(&self) -> Site<'_> {
        Site { layout: &self.layout, arch: self.arch, repo: &self.repo }
    }

    /// `selection` building into `target` (cargo's target folder, or the benchmark's own).
    pub fn new(selection: &Selection, target: PathBuf) -> Result<Context> {
        Context::with_features(selection, target, &[])
    }

    /// `selection` building into `target`, its kernel with `features` too where the profile
    /// lacks them (what a boot's options need, KUnit's): the kernel's flavour, and so every
    /// path that names it, is decided here, once; nothing changes it afterwards.
    pub fn with_features(
        selection: &Selection,
        target: PathBuf,
        features: &[&str],
    ) -> Result<Context> {
        let repo = repo();
        let arch = Arch::get(&selection.arch)?;
        let profile = Catalog::builtin().profile(&selection.profile)?;
        let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(text) if !text.trim().is_empty() => text.trim().parse().with_context(|| {
                format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds")
            })?,
            _ => DEFAULT_SOURCE_DATE_EPOCH,
        };
        let jobs = selection.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
        });
        let absolute = |flag: &str, dirs: &[PathBuf]| -> Result<Vec<PathBuf>> {
            dirs.iter()
                .filter(|d| !d.as_os_str().is_empty())
                .map(|dir| {
                    if !dir.is_dir() {
                        bail!("{flag} {}: not a folder", dir.display());
                    }
                    Ok(std::path::absolute(dir)?)
                })
                .collect()
        };
        let selection = Selection {
            modules: absolute("--module", &selection.modules)?,
            overlays: absolute("--overlay", &selection.overlays)?,
            make_args: selection.make_args.iter().filter(|a| !a.is_empty()).cloned().collect(),
            ..selection.clone()
        };
        let mut ctx = Context {
            extra_features: Vec::new(),
            asked_features: Vec::new(),
            sh: Shell::new()?,
            layout: Layout::new(target, &arch.name),
            repo,
            arch,
            profile,
            // `KARDEL_MIRRORS=" a  b "` splits into empty words too, which this drops
            mirrors: fetch::parse_mirror_list(&selection.sources.mirrors.join(" "))
                .context("--mirror (KARDEL_MIRRORS)")?,
            jobs,
            source_date_epoch,
            selection,
            ccache: None,
        };
        if !ctx.selection.modules.is_empty() {
            ctx.add_features(&["modules"]);
        }
        ctx.add_features(features);
        ctx.check_inputs()?;
        ctx.ccache = Ccache::resolve(
            ctx.selection.ccache,
            ctx.selection.ccache_remote.as_deref(),
            &ctx.layout.ccache_links(),
            ctx.layout.target(),
            &ctx.compilers(),
        )?;
        Ok(ctx)
    }

    /// What can be known wrong before any work: every fragment reads and parses, every local
    /// source exists, every module folder is one kbuild can build and has a name of its own.
    fn check_inputs(&self) -> Result<()> {
        let fragments = self.kernel_fragments()?.into_iter().chain(self.busybox_fragments()?);
        kconfig::read_fragments(&fragments.collect::<Vec<_>>())?;
        let mut names = Vec::new();
        for dir in &self.selection.modules {
            let name = module_name(dir);
            if names.contains(&name) {
                bail!("two --module folders are named {name}: their modules would collide");
            }
            if !dir.join("Kbuild").is_file() && !dir.join("Makefile").is_file() {
                bail!("--module {}: no Kbuild or Makefile with obj-m in it", dir.display());
            }
            names.push(name);
        }
        for (flag, path) in [
            ("--kernel-source", &self.selection.sources.kernel_source),
            ("--busybox-source", &self.selection.sources.busybox_source),
        ] {
            if let Some(path) = path {
                if !path.exists() {
                    bail!("{flag} {}: no such file or folder", path.display());
                }
            }
        }
        Ok(())
    }

    /// The same selection and kernel without your modules: the plain images of this kernel's
    /// flavour, which a saved machine boots (the modules sent to it instead).
    pub fn without_modules(&self) -> Result<Context> {
        let mut selection = self.selection.clone();
        selection.modules.clear();
        let asked: Vec<&str> = self.asked_features.iter().map(String::as_str).collect();
        Context::with_features(&selection, self.layout.target().to_path_buf(), &asked)
    }

    /// The kernel's fragments in the order they apply: the profile's, then the user's.
    pub fn kernel_fragments(&self) -> Result<Vec<PathBuf>> {
        let mut files = features::kernel_fragments(
            &self.repo,
            &self.arch.name,
            self.profile,
            &self.extra_features,
        )?;
        files.extend(self.selection.kselftest_fragments.iter().cloned());
        files.extend(self.selection.kernel_fragments.iter().cloned());
        Ok(files)
    }

    /// BusyBox's fragments: the profile's features', then the user's.
    pub fn busybox_fragments(&self) -> Result<Vec<PathBuf>> {
        let mut files = features::busybox_fragments(&self.repo, &self.arch.name, self.profile)?;
        files.extend(self.selection.busybox_fragments.iter().cloned());
        Ok(files)
    }

    /// Adds features the boot's options need (a share needs 9p) to the kernel, where the profile
    /// lacks them: a workbench feature brings the profile's whole workbench flavour.
    /// The kernel follows from everything asked so far, in whatever order it was asked (a
    /// module, then KUnit, is KUnit's kernel with modules).
    pub(crate) fn add_features(&mut self, features: &[&str]) {
        self.asked_features.extend(features.iter().map(|f| f.to_string()));
        let wanted: Vec<&str> = self.asked_features.iter().map(String::as_str).collect();
        self.extra_features = features::extra_features(Catalog::builtin(), self.profile, &wanted);
    }

    /// The kernel's name in folders (`tiny`, `tiny+workbench`, `tiny+debug`), so that the plain
    /// profile's kernel stays as it is.
    /// The kselftest targets' config files make one of their own, named by their digest
    /// (`tiny+kselftest+modules-1a2b3c4d`), so that two sets of targets each keep their kernel.
    pub fn kernel_flavour(&self) -> String {
        let flavour =
            features::flavour(Catalog::builtin(), &self.selection.profile, &self.extra_features);
        let tree_fragments = &self.selection.kselftest_fragments;
        if tree_fragments.is_empty() {
            return flavour;
        }
        let mut digest = artifact::Fingerprint::new("kselftest-fragments");
        for fragment in tree_fragments {
            digest.add("fragment", fragment.display().to_string());
        }
        format!("{flavour}-{}", &digest.hex()[..8])
    }

    /// The image set this selection boots: none for the tutorial's tree alone; with your modules
    /// or overlays, their folders' names and a digest of their paths (`hello+files-1a2b3c4d`),
    /// so that two runs with different ones never share files. What is in the folders is in the
    /// stages' fingerprints, not in the name: an edit rebuilds the same variant.
    pub fn variant(&self) -> Option<String> {
        if self.selection.modules.is_empty() && self.selection.overlays.is_empty() {
            return None;
        }
        let mut digest = artifact::Fingerprint::new("variant");
        let mut names = Vec::new();
        for (kind, dir) in self
            .selection
            .modules
            .iter()
            .map(|d| ("module", d))
            .chain(self.selection.overlays.iter().map(|d| ("overlay", d)))
        {
            digest.add(kind, dir.to_string_lossy().as_bytes());
            names.push(folder_word(dir));
        }
        if !self.selection.modules.is_empty() {
            // modules are built against one kernel: another flavour's are another variant
            digest.add("kernel", self.kernel_flavour());
        }
        let mut shown = names.join("+");
        shown.truncate(48);
        Some(format!("{shown}-{}", &digest.hex()[..8]))
    }

    /// The base config's make target for the profile: the architecture's defconfig or the
    /// profile's own.
    pub fn kernel_base(&self) -> &str {
        match self.profile.base.as_str() {
            "defconfig" => &self.arch.defconfig,
            other => other,
        }
    }

    pub fn cache_dir(&self) -> Result<PathBuf> {
        match &self.selection.sources.cache_dir {
            Some(dir) => Ok(dir.clone()),
            None => fetch::default_cache_dir(),
        }
    }

    /// The C compiler for programs that run in the guest: `CC` if set, else the architecture's
    /// cross gcc (plain gcc on the host's own architecture).
    pub fn guest_cc(&self) -> String {
        std::env::var("CC")
            .ok()
            .filter(|cc| !cc.trim().is_empty())
            .unwrap_or_else(|| format!("{}gcc", self.cross_prefix()))
    }

    /// `CROSS_COMPILE`: the environment's if set, else the architecture's.
    /// The compilers' program names the builds call: the host's, the architecture's cross
    /// compiler, and the environment's `CC`.
    fn compilers(&self) -> Vec<String> {
        let mut names = vec!["gcc".to_string(), "cc".to_string()];
        let cross = self.cross_prefix();
        if !cross.is_empty() {
            names.push(format!("{cross}gcc"));
        }
        if let Ok(cc) = std::env::var("CC") {
            let program = cc.split_whitespace().next().unwrap_or_default();
            let name = Path::new(program).file_name().map(|n| n.to_string_lossy().into_owned());
            names.extend(name.filter(|n| !n.is_empty() && *n != "ccache" && !names.contains(n)));
        }
        names
    }

    pub fn cross_prefix(&self) -> String {
        std::env::var("CROSS_COMPILE")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.arch.cross_prefix().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    /// A module folder named `name` under `parent`, with a Kbuild.
    fn module(parent: &Path, name: &str) -> PathBuf {
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Kbuild"), "obj-m += hello.o\n").unwrap();
        dir
    }

    fn context(name: &str, change: impl FnOnce(&mut Selection)) -> Context {
        testing::context(&testing::selection("x86_64", "tiny", change), testing::scratch(name))
    }

    /// The variant's shown part and whether its digest is 8 hex digits.
    fn shown(variant: &str) -> &str {
        let (shown, digest) = variant.rsplit_once('-').unwrap();
        assert!(digest.len() == 8 && digest.chars().all(|c| c.is_ascii_hexdigit()), "{variant}");
        shown
    }

    #[test]
    fn modules_and_overlays_make_a_variant_named_by_their_folders() {
        let dir = testing::scratch("variant-folders");
        let hello = module(&dir, "hello");
        let files = dir.join("my files");
        std::fs::create_dir_all(&files).unwrap();
        assert_eq!(context("variant-none", |_| {}).variant(), None);
        let both = context("variant-both", |s| {
            s.modules = vec![hello.clone()];
            s.overlays = vec![files.clone()];
        })
        .variant()
        .unwrap();
        assert_eq!(shown(&both), "hello+my_files");
        let overlay = context("variant-overlay", |s| s.overlays = vec![files.clone()]);
        assert_eq!(shown(&overlay.variant().unwrap()), "my_files");
        // the name is cut, the digest kept
        let long = dir.join("a".repeat(60));
        std::fs::create_dir_all(&long).unwrap();
        let variant = context("variant-long", |s| s.overlays = vec![long]).variant().unwrap();
        assert_eq!(shown(&variant), "a".repeat(48));
    }

    #[test]
    fn modules_built_against_another_kernel_are_another_variant() {
        let hello = module(&testing::scratch("variant-kernel"), "hello");
        let mut ctx = context("variant-kernel-ctx", |s| s.modules = vec![hello]);
        assert_eq!(ctx.kernel_flavour(), "tiny+workbench", "a module needs a kernel with modules");
        let workbench = ctx.variant().unwrap();
        ctx.add_features(&["debug"]);
        assert_eq!(ctx.kernel_flavour(), "tiny+debug+workbench");
        assert_ne!(ctx.variant().unwrap(), workbench);
        // an overlay is the same whatever kernel boots it
        let files = testing::scratch("variant-kernel-files");
        let mut ctx = context("variant-kernel-overlay", |s| s.overlays = vec![files]);
        let plain = ctx.variant().unwrap();
        ctx.add_features(&["debug"]);
        assert_eq!(ctx.variant().unwrap(), plain);
    }

    #[test]
    fn a_module_then_kunit_is_kunits_kernel_with_modules() {
        let hello = module(&testing::scratch("asked-order"), "hello");
        let mut ctx = context("asked-order-ctx", |s| s.modules = vec![hello]);
        assert_eq!(ctx.kernel_flavour(), "tiny+workbench");
        ctx.add_features(&["kunit"]);
        assert_eq!(ctx.extra_features, ["kunit", "modules"]);
        assert_eq!(ctx.kernel_flavour(), "tiny+kunit+modules");
        // the same kernel as KUnit's without a module
        let mut ctx = context("asked-kunit", |_| {});
        ctx.add_features(&["kunit"]);
        assert_eq!(ctx.kernel_flavour(), "tiny+kunit+modules");
    }

    #[test]
    fn without_modules_is_the_same_kernel_and_the_plain_images() {
        let hello = module(&testing::scratch("apart"), "hello");
        let mut ctx = context("apart-ctx", |s| s.modules = vec![hello]);
        ctx.add_features(&["kunit"]);
        let plain = ctx.without_modules().unwrap();
        assert_eq!(plain.kernel_flavour(), "tiny+kunit+modules");
        assert!(ctx.variant().is_some());
        assert_eq!(plain.variant(), None, "the images of that kernel without the modules");
        assert_eq!(plain.layout.target(), ctx.layout.target());
    }

    #[test]
    fn module_and_overlay_mistakes_are_refused_before_any_work() {
        let dir = testing::scratch("refused");
        let refused = |change: &dyn Fn(&mut Selection)| {
            let selection = testing::selection("x86_64", "tiny", change);
            Context::new(&selection, dir.join("target")).err().unwrap().to_string()
        };
        let (one, other) = (module(&dir.join("a"), "hello"), module(&dir.join("b"), "hello"));
        assert_eq!(
            refused(&|s| s.modules = vec![one.clone(), other.clone()]),
            "two --module folders are named hello: their modules would collide"
        );
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert_eq!(
            refused(&|s| s.modules = vec![empty.clone()]),
            format!("--module {}: no Kbuild or Makefile with obj-m in it", empty.display())
        );
        assert_eq!(
            refused(&|s| s.overlays = vec!["/nowhere/files".into()]),
            "--overlay /nowhere/files: not a folder"
        );
        assert_eq!(
            refused(&|s| s.sources.kernel_source = Some("/nowhere/linux".into())),
            "--kernel-source /nowhere/linux: no such file or folder"
        );
        assert!(!dir.join("target").exists(), "nothing written for a refused selection");
    }
}
