//! Where a package's source tree comes from: a pinned upstream release, or something the user
//! already has (a tarball such as Debian's `linux-source-6.1.tar.xz`, or an unpacked tree).

use std::{
    fmt,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::{
    unpack::{archive_stem, unpack, unpacked_tree, Compression},
    Fetcher, Pin,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source<'pin> {
    /// Fetched through the cache and checked against its pin.
    Pinned(&'pin Pin),
    /// A tarball no pin applies to: used as it is, after saying so.
    LocalTarball(PathBuf),
    /// An unpacked tree, used in place (never copied or modified by this crate).
    LocalTree(PathBuf),
}

impl Source<'_> {
    /// A local folder is a tree; a local file must be a tarball this crate can unpack.
    pub fn local(path: impl Into<PathBuf>) -> Result<Source<'static>> {
        let path = path.into();
        let meta =
            std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            return Ok(Source::LocalTree(path));
        }
        if !meta.is_file() {
            bail!("{} is neither a folder nor a tarball", path.display());
        }
        Compression::of(&path)?;
        Ok(Source::LocalTarball(path))
    }

    /// The source tree to build from: unpacked (once) under `unpack_root` for archives, the
    /// folder itself for a local tree.
    pub fn source_tree(&self, fetcher: &Fetcher, unpack_root: &Path) -> Result<PathBuf> {
        match self {
            Source::Pinned(pin) => {
                let dest = unpack_root.join(format!("{}-{}", pin.package, pin.version));
                // verified when it was unpacked: no need to hash the tarball again
                if let Some(tree) = unpacked_tree(&dest) {
                    return Ok(tree);
                }
                let archive = fetcher.fetch(pin)?;
                unpack(&archive, &dest)
            }
            Source::LocalTarball(tarball) => {
                let sha256 = artifact::sha256_file(tarball)?;
                eprintln!(
                    "using local tarball {}: no upstream pin applies (sha256 {sha256})",
                    tarball.display()
                );
                // The digest in the name means a changed tarball is unpacked afresh instead of
                // being mistaken for the tree unpacked from its previous contents.
                let dest =
                    unpack_root.join(format!("local-{}-{}", archive_stem(tarball), &sha256[..16]));
                unpack(tarball, &dest)
            }
            Source::LocalTree(tree) => {
                let tree = std::fs::canonicalize(tree)
                    .with_context(|| format!("resolving {}", tree.display()))?;
                eprintln!("using local source tree {} in place", tree.display());
                Ok(tree)
            }
        }
    }
}

impl fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Pinned(pin) => write!(f, "{pin} (pinned)"),
            Source::LocalTarball(path) => write!(f, "local tarball {}", path.display()),
            Source::LocalTree(path) => write!(f, "local tree {}", path.display()),
        }
    }
}
