//! The fetch stage: which kernel and BusyBox sources to build, and their unpacked trees.
//!
//! Planning is cheap (no hashing, no network) so that a stage whose stamp is fresh never touches
//! the tarballs; `tree()` does the fetching and unpacking only when a build needs the files.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use artifact::Fingerprint;
use fetch::{Package, Pin, PinTable};

use crate::context::Context;

/// One source to build from.
pub struct Source {
    pub package: Package,
    origin: Origin,
    /// Everything about the source that a build's output depends on, for fingerprints.
    pub identity: String,
    /// Where its tarball unpacks to (a folder holding the tarball's one top-level folder).
    unpack_dir: PathBuf,
}

enum Origin {
    Pinned(&'static Pin),
    LocalTarball(PathBuf),
    LocalTree(PathBuf),
}

impl Source {
    pub fn plan(ctx: &Context, package: Package) -> Result<Source> {
        let (version, local) = match package {
            Package::Kernel => (&ctx.selection.kernel_version, &ctx.selection.kernel_source),
            Package::Busybox => (&ctx.selection.busybox_version, &ctx.selection.busybox_source),
        };
        let src_dir = ctx.work_dir().join("src");
        if let Some(path) = local {
            let path = std::fs::canonicalize(path)
                .with_context(|| format!("{} source {}", package.name(), path.display()))?;
            if path.is_dir() {
                let identity = format!("tree:{}", path.display());
                return Ok(Source {
                    package,
                    origin: Origin::LocalTree(path.clone()),
                    identity,
                    unpack_dir: path,
                });
            }
            let mut fp = Fingerprint::new("local-tarball");
            fp.add_file_identity("tarball", &path)?;
            let identity = format!("tarball:{}", fp.hex());
            let unpack_dir = src_dir.join(format!("{}-local-{}", package.name(), &fp.hex()[..16]));
            return Ok(Source { package, origin: Origin::LocalTarball(path), identity, unpack_dir });
        }
        let pin = PinTable::builtin().lookup(package, version.as_deref())?;
        let identity = format!(
            "pinned:{}:{}",
            pin.version,
            pin.files.iter().map(|f| f.sha256.as_str()).collect::<Vec<_>>().join(",")
        );
        let unpack_dir = src_dir.join(format!("{}-{}", package.name(), pin.version));
        Ok(Source { package, origin: Origin::Pinned(pin), identity, unpack_dir })
    }

    /// A developer's own unpacked tree changes under us: its builds always run `make`.
    pub fn is_mutable_tree(&self) -> bool {
        matches!(self.origin, Origin::LocalTree(_))
    }

    /// What a summary calls it.
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::Pinned(pin) => format!("{} {} (pinned)", self.package.name(), pin.version),
            Origin::LocalTarball(path) => format!("{} from {}", self.package.name(), path.display()),
            Origin::LocalTree(path) => format!("{} tree {}", self.package.name(), path.display()),
        }
    }

    /// A short name for build folders: each source gets its own, so switching sources never
    /// mixes object files of two trees.
    pub fn slug(&self) -> String {
        match &self.origin {
            Origin::Pinned(pin) => pin.version.clone(),
            _ => {
                let mut fp = Fingerprint::new("slug");
                fp.add("identity", &self.identity);
                format!("local-{}", &fp.hex()[..16])
            }
        }
    }

    pub fn pin(&self) -> Option<&'static Pin> {
        match self.origin {
            Origin::Pinned(pin) => Some(pin),
            _ => None,
        }
    }

    /// The unpacked source tree, fetching and unpacking it first if needed.
    pub fn tree(&self, ctx: &Context) -> Result<PathBuf> {
        match &self.origin {
            Origin::LocalTree(path) => Ok(path.clone()),
            Origin::LocalTarball(tarball) => {
                if let Some(root) = unpacked_root(&self.unpack_dir) {
                    return Ok(root);
                }
                let sha256 = artifact::sha256_file(tarball)?;
                eprintln!(
                    "{}: {} is a local tarball, no upstream pin applies (sha256 {sha256})",
                    self.package.name(),
                    tarball.display()
                );
                fetch::unpack(tarball, &self.unpack_dir)
            }
            Origin::Pinned(pin) => {
                if let Some(root) = unpacked_root(&self.unpack_dir) {
                    return Ok(root);
                }
                let archive = fetcher(ctx)?.fetch(pin)?;
                fetch::unpack(&archive, &self.unpack_dir)
            }
        }
    }
}

/// The one top-level folder of a finished unpack, if there is one. `fetch::unpack` renames the
/// unpack folder into place only when it is complete, so existing means finished.
fn unpacked_root(unpack_dir: &Path) -> Option<PathBuf> {
    let mut entries = std::fs::read_dir(unpack_dir).ok()?.filter_map(|e| e.ok());
    let only = entries.next()?;
    entries.next().is_none().then(|| only.path())
}

pub fn fetcher(ctx: &Context) -> Result<fetch::Fetcher> {
    let mut fetcher = fetch::Fetcher::new(ctx.cache_dir()?);
    fetcher.mirrors = ctx.selection.mirrors.clone();
    Ok(fetcher)
}

/// `cargo xtask fetch`: verifies (downloading what is missing) both pinned tarballs at once,
/// then unpacks them.
pub fn fetch_and_unpack(ctx: &Context) -> Result<()> {
        let sources =
            [Source::plan(ctx, Package::Kernel)?, Source::plan(ctx, Package::Busybox)?];
        let pins: Vec<&Pin> = sources.iter().filter_map(Source::pin).collect();
        let fetcher = fetcher(ctx)?;
        fetcher.fetch_all(&pins)?;
        for source in &sources {
            let tree = source.tree(ctx)?;
            println!("{}: {}", source.describe(), tree.display());
        }
        Ok(())
}
