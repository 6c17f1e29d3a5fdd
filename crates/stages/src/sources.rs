//! The fetch stage: which kernel and BusyBox sources to build, and their unpacked trees.
//!
//! Planning is cheap (no hashing, no network) so that a stage whose stamp is fresh never touches
//! the tarballs; `tree()` fetches and unpacks only when a build needs the files.

use std::path::PathBuf;

use anyhow::Result;
use artifact::Fingerprint;
use fetch::{Package, Pin, PinTable};

use crate::context::Context;

/// One source to build from, with what its builds depend on.
pub struct Source {
    origin: fetch::Source<'static>,
    /// Everything about the source that a build's output depends on, for fingerprints.
    pub identity: String,
}

impl Source {
    /// The kernel's or BusyBox's source, as the build flags choose it.
    pub fn plan(ctx: &Context, package: Package) -> Result<Source> {
        let (version, local) = match package {
            Package::Kernel => {
                (&ctx.selection.sources.kernel_version, &ctx.selection.sources.kernel_source)
            }
            Package::Busybox => {
                (&ctx.selection.sources.busybox_version, &ctx.selection.sources.busybox_source)
            }
            Package::Uboot => anyhow::bail!("U-Boot's source is chosen by its own flags"),
        };
        Source::plan_for(ctx, package, version.as_deref(), local.as_deref())
    }

    /// `package` from the pin table (`version`, or its default), or from a local tarball or tree.
    pub fn plan_for(
        ctx: &Context,
        package: Package,
        version: Option<&str>,
        local: Option<&std::path::Path>,
    ) -> Result<Source> {
        let (origin, identity) = match local {
            Some(path) => {
                let origin = fetch::Source::local(std::path::absolute(path)?)?;
                let identity = match &origin {
                    // a path, size and mtime stand for the contents: hashing a kernel tarball
                    // on every run would cost more than the whole no-op run
                    fetch::Source::LocalTarball(path) => {
                        format!(
                            "tarball:{}",
                            Fingerprint::new("local-tarball")
                                .add_file_identity("tarball", path)?
                                .hex()
                        )
                    }
                    _ => format!("tree:{}", path.display()),
                };
                (origin, identity)
            }
            None => {
                let pin = match (package, &ctx.selection.sources.kernel_sha256, version) {
                    (Package::Kernel, Some(sha256), Some(version)) => user_pin(version, sha256)?,
                    _ => PinTable::builtin().lookup(package, version)?,
                };
                let digests: Vec<&str> = pin.files.iter().map(|f| f.sha256.as_str()).collect();
                (
                    fetch::Source::Pinned(pin),
                    format!("pinned:{}:{}", pin.version, digests.join(",")),
                )
            }
        };
        Ok(Source { origin, identity })
    }

    /// A developer's own unpacked tree changes under us: its builds fingerprint what is in it
    /// (`Package::build`).
    pub fn is_mutable_tree(&self) -> bool {
        matches!(self.origin, fetch::Source::LocalTree(_))
    }

    /// A tree the tool unpacked, or the bisect's own checkout: builds may put a folder in it.
    /// A developer's own tree is never written to.
    pub fn is_the_tools_own(&self, ctx: &Context) -> bool {
        match &self.origin {
            fetch::Source::LocalTree(_) => ctx.selection.sources.kernel_tree_is_the_tools,
            _ => true,
        }
    }

    /// What a summary calls it.
    pub fn describe(&self) -> String {
        self.origin.to_string()
    }

    /// A short name for build folders: each source gets its own, so switching sources never
    /// mixes object files of two trees.
    pub fn slug(&self) -> String {
        match self.origin {
            fetch::Source::Pinned(pin) => pin.version.clone(),
            _ => format!(
                "local-{}",
                &Fingerprint::new("slug").add("identity", &self.identity).hex()[..16]
            ),
        }
    }

    pub fn pin(&self) -> Option<&'static Pin> {
        match self.origin {
            fetch::Source::Pinned(pin) => Some(pin),
            _ => None,
        }
    }

    /// The unpacked source tree, fetching and unpacking it first if needed. Two runs at once
    /// take turns: the second finds the tree the first unpacked.
    pub fn tree(&self, ctx: &Context) -> Result<PathBuf> {
        let unpack_root = ctx.layout.sources();
        let _lock =
            artifact::Lock::acquire(&ctx.layout.lock_for(&unpack_root), "the source trees")?;
        self.origin.source_tree(&fetcher(ctx)?, &unpack_root)
    }
}

/// A kernel.org release pinned by the user's own digest (`--kernel-sha256`): fetched and checked
/// like a pin of the table, and said to be the user's. A version the table pins keeps the
/// table's digest, and a different one is refused.
fn user_pin(version: &str, sha256: &str) -> Result<&'static Pin> {
    if let Ok(pin) = PinTable::builtin().lookup(Package::Kernel, Some(version)) {
        if pin.files.iter().any(|f| f.sha256 == sha256) {
            return Ok(pin);
        }
        anyhow::bail!(
            "--kernel-sha256 {sha256} for Linux {version}, which the pin table pins as {}: the \
             table's digest stands",
            pin.files.iter().map(|f| f.sha256.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let major = version.split('.').next().filter(|m| m.chars().all(|c| c.is_ascii_digit()));
    let Some(major) = major.filter(|m| !m.is_empty()) else {
        anyhow::bail!("--kernel-version {version}: expected a release number such as 6.6.110");
    };
    let name = format!("linux-{version}.tar.xz");
    eprintln!("kernel {version}: pinned by your --kernel-sha256 {sha256}, not by the project");
    let pin = fetch::Pin {
        package: Package::Kernel,
        version: version.to_string(),
        default: false,
        files: vec![fetch::PinnedFile {
            urls: vec![format!("https://cdn.kernel.org/pub/linux/kernel/v{major}.x/{name}")],
            name,
            sha256: sha256.to_string(),
            published: Some("your --kernel-sha256".to_string()),
        }],
    };
    // one per run: the pin lives as long as the program, as the table's do
    Ok(Box::leak(Box::new(pin)))
}

pub fn fetcher(ctx: &Context) -> Result<fetch::Fetcher> {
    let mut fetcher = fetch::Fetcher::new(ctx.cache_dir()?);
    fetcher.mirrors = ctx.mirrors.clone();
    Ok(fetcher)
}

/// `packages` verified (downloading what is missing) at once, then unpacked: each source's name
/// and its tree.
pub fn fetch_and_unpack(
    ctx: &Context,
    packages: &[Package],
    uboot: &crate::selection::UbootSelection,
) -> Result<Vec<(String, PathBuf)>> {
    let plan = |package: &Package| match package {
        Package::Uboot => {
            Source::plan_for(ctx, *package, uboot.version.as_deref(), uboot.source.as_deref())
        }
        _ => Source::plan(ctx, *package),
    };
    let sources: Vec<Source> = packages.iter().map(plan).collect::<Result<_>>()?;
    let pins: Vec<&Pin> = sources.iter().filter_map(Source::pin).collect();
    fetcher(ctx)?.fetch_all(&pins).map_err(with_ways_forward)?;
    sources.iter().map(|source| Ok((source.describe(), source.tree(ctx)?))).collect()
}

/// When no origin could be reached at all (no network, no mirror), the error says what to do.
fn with_ways_forward(err: anyhow::Error) -> anyhow::Error {
    match err.downcast_ref::<fetch::FetchFailed>() {
        Some(failed) if failed.all_unreachable() => anyhow::anyhow!(
            "{err:#}\nno source could be reached. Three ways forward:\n  \
             --mirror file:///folder (or KARDEL_MIRRORS): a folder or server holding the tarballs \
             under their upstream names\n  \
             --kernel-source PATH / --busybox-source PATH (or KARDEL_KERNEL_SOURCE, \
             KARDEL_BUSYBOX_SOURCE): your own tarball or unpacked tree\n  \
             a machine with network access fills the cache (--cache-dir, KARDEL_CACHE_DIR)\n\
             (README.md, \"Offline use\")",
        ),
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_release_the_table_lacks_is_pinned_as_the_users() {
        let pin = user_pin("6.6.110", DIGEST).unwrap();
        assert_eq!(pin.version, "6.6.110");
        assert_eq!(pin.files[0].name, "linux-6.6.110.tar.xz");
        assert_eq!(pin.files[0].sha256, DIGEST);
        assert_eq!(
            pin.files[0].urls,
            ["https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.6.110.tar.xz"]
        );
        assert_eq!(pin.files[0].published.as_deref(), Some("your --kernel-sha256"));
    }

    #[test]
    fn the_tables_digest_stands() {
        let err = user_pin("6.6.108", DIGEST).unwrap_err().to_string();
        assert!(err.contains("the table's digest stands"), "{err}");
        let table = "601cd332aa695d16607b353feff369b4a0b36d111be077e8af54bdd41e1968a6";
        assert_eq!(user_pin("6.6.108", table).unwrap().version, "6.6.108");
        assert!(user_pin("next", DIGEST).is_err());
    }

    /// `package`'s source for the tiny kernel on x86_64 with `change` made to the selection, and
    /// the context it was planned in.
    fn plan(
        name: &str,
        package: Package,
        change: impl FnOnce(&mut crate::Selection),
    ) -> (Context, Result<Source>) {
        let selection = crate::testing::selection("x86_64", "tiny", change);
        let ctx = crate::testing::context(&selection, crate::testing::scratch(name));
        let source = Source::plan(&ctx, package);
        (ctx, source)
    }

    #[test]
    fn the_pin_tables_defaults_and_chosen_versions_name_the_build_folders() {
        let kernel = plan("plan-default", Package::Kernel, |_| {}).1.unwrap();
        assert_eq!(kernel.slug(), "5.15.193");
        assert_eq!(kernel.describe(), "kernel 5.15.193 (pinned)");
        let busybox = plan("plan-busybox", Package::Busybox, |s| {
            s.sources.busybox_version = Some("1.35.0".into())
        })
        .1
        .unwrap();
        assert_eq!(busybox.slug(), "1.35.0");
        assert_eq!(
            busybox.identity,
            "pinned:1.35.0:faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694"
        );
        assert!(!busybox.is_mutable_tree());
    }

    #[test]
    fn an_unpinned_version_is_refused_with_the_known_ones() {
        let (ctx, kernel) = plan("plan-unknown", Package::Kernel, |s| {
            s.sources.kernel_version = Some("6.7.1".into())
        });
        let err = kernel.err().unwrap().to_string();
        assert!(err.starts_with("no pinned kernel version 6.7.1; known versions: "), "{err}");
        let err = Source::plan(&ctx, Package::Uboot).err().unwrap().to_string();
        assert_eq!(err, "U-Boot's source is chosen by its own flags");
    }

    #[test]
    fn a_developers_tree_is_built_every_time_and_never_written_into() {
        let tree = crate::testing::scratch("plan-tree-linux");
        let (ctx, source) =
            plan("plan-tree", Package::Kernel, |s| s.sources.kernel_source = Some(tree.clone()));
        let source = source.unwrap();
        assert!(source.is_mutable_tree());
        assert!(!source.is_the_tools_own(&ctx));
        assert_eq!(source.describe(), format!("local tree {}", tree.display()));
        let slug = source.slug();
        assert!(slug.starts_with("local-") && slug.len() == "local-".len() + 16, "{slug}");
        // a bisect's checkout is a tree too, but the tool's own: its builds may live inside it
        let (ctx, source) = plan("plan-tree-bisect", Package::Kernel, |s| {
            s.sources.kernel_source = Some(tree.clone());
            s.sources.kernel_tree_is_the_tools = true;
        });
        assert!(source.unwrap().is_the_tools_own(&ctx));
    }

    #[test]
    fn a_changed_local_tarball_builds_in_a_folder_of_its_own() {
        let dir = crate::testing::scratch("plan-tarball-files");
        let tarball = dir.join("linux-6.1.tar.xz");
        std::fs::write(&tarball, b"not really xz").unwrap();
        let slug = |name: &str| {
            let (ctx, source) =
                plan(name, Package::Kernel, |s| s.sources.kernel_source = Some(tarball.clone()));
            let source = source.unwrap();
            assert!(source.identity.starts_with("tarball:"), "{}", source.identity);
            assert!(!source.is_mutable_tree() && source.is_the_tools_own(&ctx));
            source.slug()
        };
        let first = slug("plan-tarball-1");
        assert_eq!(first, slug("plan-tarball-2"), "the same file, the same folder");
        std::fs::write(&tarball, b"not really xz, and longer").unwrap();
        assert_ne!(first, slug("plan-tarball-3"));
    }
}
