//! The root filesystem as data: every path an image will hold, with its kind, permission bits and
//! owner. Image writers only read a [`Tree`]; nothing here depends on who runs the build, so the
//! same tree gives the same image for root and for an ordinary user.

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::{Component, Path, PathBuf},
};

use anyhow::{bail, Context, Result};

/// One filesystem object in a [`Tree`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits only (`0o7777`); the file type is [`Entry::kind`].
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Contents),
    Symlink(PathBuf),
    CharDev { major: u32, minor: u32 },
}

/// Where a regular file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contents {
    /// A file on the host, read only when an image is written (a BusyBox binary need not sit in
    /// memory twice).
    Host(PathBuf),
    Bytes(Vec<u8>),
}

impl Entry {
    /// A root-owned entry.
    pub fn new(kind: Kind, mode: u32) -> Entry {
        Entry { kind, mode, uid: 0, gid: 0 }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir)
    }

    /// The `st_mode` type bits of this entry (`S_IFDIR`, ...).
    pub fn type_bits(&self) -> u32 {
        match self.kind {
            Kind::Dir => 0o040000,
            Kind::File(_) => 0o100000,
            Kind::Symlink(_) => 0o120000,
            Kind::CharDev { .. } => 0o020000,
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Dir => "directory",
            Kind::File(_) => "file",
            Kind::Symlink(_) => "symlink",
            Kind::CharDev { .. } => "character device",
        }
    }
}

/// A sorted map of relative paths (no leading `/`) to entries. Iteration order is by path
/// components, so a directory always comes before its contents; every path's parents are in the
/// tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    entries: BTreeMap<PathBuf, Entry>,
}

/// Mode of the parent directories a path implies.
const IMPLIED_DIR_MODE: u32 = 0o755;

/// Symlink permissions mean nothing on Linux; `ln -s` and the kernel both use 0777.
const SYMLINK_MODE: u32 = 0o777;

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Reads a staging folder (such as BusyBox's `make install` output): directories, regular
    /// files, symlinks and character devices. Every entry is owned 0:0 whoever owns it on disk;
    /// permission bits are kept without group and other write, so a loose umask on the build
    /// machine does not end up in the image.
    pub fn from_dir(dir: &Path) -> Result<Tree> {
        let mut tree = Tree::new();
        tree.overlay_dir(dir)?;
        Ok(tree)
    }

    /// Adds everything under `dir` (as [`Tree::from_dir`] reads it) on top of this tree,
    /// replacing entries at the same paths.
    pub fn overlay_dir(&mut self, dir: &Path) -> Result<()> {
        let dir =
            std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
        let meta = fs::metadata(&dir).with_context(|| format!("reading {}", dir.display()))?;
        if !meta.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
        let mut found = Vec::new();
        walk(&dir, Path::new(""), &mut found)?;
        for (path, entry) in found {
            self.insert(&path, entry)?;
        }
        Ok(())
    }

    /// A user's overlay folder (Buildroot's rootfs overlay) as a tree: its files, folders and
    /// symlinks, owned by 0:0 in the images like everything else. Device nodes are refused: the
    /// tool makes `/dev/console` and `/dev/null`, devtmpfs the rest, and a node copied from a
    /// host would carry the host's numbers.
    pub fn user_overlay(dir: &Path) -> Result<Tree> {
        let overlay = Tree::from_dir(dir)?;
        if let Some((path, entry)) =
            overlay.iter().find(|(_, e)| matches!(e.kind, Kind::CharDev { .. }))
        {
            bail!(
                "overlay {}: {} is a {}; device nodes cannot come from an overlay (devtmpfs \
                 makes them in the guest)",
                dir.display(),
                path.display(),
                entry.kind_name()
            );
        }
        Ok(overlay)
    }

    /// Adds every entry of `other` on top of this tree, replacing entries at the same paths.
    pub fn add_tree(&mut self, other: &Tree) -> Result<()> {
        for (path, entry) in other.iter() {
            self.insert(path, entry.clone())?;
        }
        Ok(())
    }

    /// Adds `entry` at `path`, creating missing parent directories (0755, 0:0). A leading `/` is
    /// ignored; `..` is refused. An existing directory can be replaced by another directory (its
    /// contents stay) or, when empty, by anything.
    pub fn insert(&mut self, path: impl AsRef<Path>, entry: Entry) -> Result<()> {
        let path = normalize(path.as_ref())?;
        if entry.mode > 0o7777 {
            bail!("{}: mode {:o} has bits beyond 0o7777", path.display(), entry.mode);
        }
        for parent in path.ancestors().skip(1).filter(|p| !p.as_os_str().is_empty()) {
            match self.entries.get(parent) {
                Some(existing) if !existing.is_dir() => bail!(
                    "cannot add {}: {} is a {}, not a directory",
                    path.display(),
                    parent.display(),
                    existing.kind_name()
                ),
                Some(_) => {}
                None => {
                    self.entries
                        .insert(parent.to_path_buf(), Entry::new(Kind::Dir, IMPLIED_DIR_MODE));
                }
            }
        }
        if let Some(existing) = self.entries.get(&path) {
            if existing.is_dir() && !entry.is_dir() && self.has_children(&path) {
                bail!(
                    "cannot replace directory {} (it has contents) with a {}",
                    path.display(),
                    entry.kind_name()
                );
            }
        }
        self.entries.insert(path, entry);
        Ok(())
    }

    pub fn add_dir(&mut self, path: impl AsRef<Path>, mode: u32) -> Result<()> {
        self.insert(path, Entry::new(Kind::Dir, mode))
    }

    pub fn add_file_bytes(
        &mut self,
        path: impl AsRef<Path>,
        bytes: impl Into<Vec<u8>>,
        mode: u32,
    ) -> Result<()> {
        self.insert(path, Entry::new(Kind::File(Contents::Bytes(bytes.into())), mode))
    }

    /// Adds a file whose bytes are read from `host` when an image is written.
    pub fn add_file_host(
        &mut self,
        path: impl AsRef<Path>,
        host: impl Into<PathBuf>,
        mode: u32,
    ) -> Result<()> {
        self.insert(path, Entry::new(Kind::File(Contents::Host(host.into())), mode))
    }

    pub fn add_symlink(
        &mut self,
        path: impl AsRef<Path>,
        target: impl Into<PathBuf>,
    ) -> Result<()> {
        self.insert(path, Entry::new(Kind::Symlink(target.into()), SYMLINK_MODE))
    }

    /// Adds a character device node: only a record in the tree, no `mknod` and no root needed.
    pub fn add_char_device(
        &mut self,
        path: impl AsRef<Path>,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> Result<()> {
        self.insert(path, Entry::new(Kind::CharDev { major, minor }, mode))
    }

    pub fn get(&self, path: impl AsRef<Path>) -> Option<&Entry> {
        self.entries.get(path.as_ref())
    }

    /// Entries in image order: sorted by path components, parents first.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, &Entry)> {
        self.entries.iter().map(|(path, entry)| (path.as_path(), entry))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many directories sit directly in `dir` ("" for the root): a directory's link count is
    /// two plus this.
    pub fn subdir_count(&self, dir: &Path) -> usize {
        self.children(dir).filter(|(_, entry)| entry.is_dir()).count()
    }

    /// The entries directly in `dir` ("" for the root).
    pub fn children<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = (&'a Path, &'a Entry)> {
        let start = std::ops::Bound::Excluded(dir.to_path_buf());
        self.entries
            .range((start, std::ops::Bound::Unbounded))
            .take_while(move |(path, _)| dir.as_os_str().is_empty() || path.starts_with(dir))
            .filter(move |(path, _)| path.parent() == Some(dir))
            .map(|(path, entry)| (path.as_path(), entry))
    }

    fn has_children(&self, dir: &Path) -> bool {
        self.children(dir).next().is_some()
    }
}

/// `path` as a tree key: relative, no `.` or `..`, not empty.
fn normalize(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => out.push(name),
            Component::ParentDir | Component::Prefix(_) => {
                bail!("{}: tree paths must not contain `..`", path.display())
            }
        }
    }
    if out.as_os_str().is_empty() {
        bail!("{:?} does not name anything below the root", path);
    }
    Ok(out)
}

/// Collects the entries below `base/rel`, each keyed by its path relative to `base`.
fn walk(base: &Path, rel: &Path, found: &mut Vec<(PathBuf, Entry)>) -> Result<()> {
    let dir = base.join(rel);
    let listing = fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
    for item in listing {
        let item = item.with_context(|| format!("reading {}", dir.display()))?;
        let host = item.path();
        let rel = rel.join(item.file_name());
        let meta =
            fs::symlink_metadata(&host).with_context(|| format!("reading {}", host.display()))?;
        let file_type = meta.file_type();
        let mode = meta.mode() & 0o7777 & !0o022;
        let entry = if file_type.is_dir() {
            Entry::new(Kind::Dir, mode)
        } else if file_type.is_file() {
            Entry::new(Kind::File(Contents::Host(host.clone())), mode)
        } else if file_type.is_symlink() {
            let target =
                fs::read_link(&host).with_context(|| format!("reading link {}", host.display()))?;
            Entry::new(Kind::Symlink(target), SYMLINK_MODE)
        } else if file_type.is_char_device() {
            let (major, minor) = split_dev(meta.rdev());
            Entry::new(Kind::CharDev { major, minor }, mode)
        } else {
            bail!(
                "{}: unsupported file type (only directories, files, symlinks and character \
                 devices go into an image)",
                host.display()
            );
        };
        let is_dir = entry.is_dir();
        found.push((rel.clone(), entry));
        if is_dir {
            walk(base, &rel, found)?;
        }
    }
    Ok(())
}

/// Splits a Linux `dev_t` the way glibc's `major()`/`minor()` do.
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(tree: &Tree) -> Vec<String> {
        tree.iter().map(|(p, _)| p.display().to_string()).collect()
    }

    #[test]
    fn parents_are_implied_and_come_first() {
        let mut tree = Tree::new();
        tree.add_file_bytes("/etc/init.d/rcS", "x", 0o755).unwrap();
        tree.add_dir("bin-extra", 0o755).unwrap();
        tree.add_symlink("bin/sh", "busybox").unwrap();
        assert_eq!(
            paths(&tree),
            ["bin", "bin/sh", "bin-extra", "etc", "etc/init.d", "etc/init.d/rcS"]
        );
        assert_eq!(tree.get("etc").unwrap().mode, 0o755);
        assert_eq!(tree.get("bin/sh").unwrap().mode, 0o777);
    }

    #[test]
    fn refuses_bad_paths_and_shadowing() {
        let mut tree = Tree::new();
        tree.add_file_bytes("etc/fstab", "", 0o644).unwrap();
        let check_err = |result: Result<()>, expected: &str| {
            let msg = format!("{:#}", result.unwrap_err());
            assert!(msg.contains(expected), "{msg}");
        };
        check_err(tree.add_dir("etc/fstab/x", 0o755), "etc/fstab is a file, not a directory");
        check_err(tree.add_file_bytes("etc", "", 0o644), "cannot replace directory etc");
        check_err(tree.add_dir("a/../b", 0o755), "must not contain `..`");
        check_err(tree.add_dir("/", 0o755), "does not name anything");
        check_err(tree.add_dir("x", 0o10000), "bits beyond");
        // replacing a directory with a directory keeps its contents
        tree.add_dir("etc", 0o700).unwrap();
        assert_eq!(paths(&tree), ["etc", "etc/fstab"]);
        assert_eq!(tree.get("etc").unwrap().mode, 0o700);
    }

    #[test]
    fn children_and_subdirs() {
        let mut tree = Tree::new();
        for dir in ["a/b", "a/c", "a/c/d", "a-z", "b"] {
            tree.add_dir(dir, 0o755).unwrap();
        }
        tree.add_symlink("a/l", "b").unwrap();
        assert_eq!(tree.subdir_count(Path::new("")), 3);
        assert_eq!(tree.subdir_count(Path::new("a")), 2);
        assert_eq!(tree.subdir_count(Path::new("a/c")), 1);
        let names: Vec<_> = tree.children(Path::new("a")).map(|(p, _)| p.to_owned()).collect();
        assert_eq!(names, [Path::new("a/b"), Path::new("a/c"), Path::new("a/l")]);
    }

    #[test]
    fn dev_numbers_split_like_glibc() {
        assert_eq!(split_dev(0x0501), (5, 1));
        assert_eq!(split_dev(0x0103), (1, 3));
        // major 259, minor 300 as glibc's makedev encodes them
        let dev = ((259u64 & 0xfff) << 8) | (300u64 & 0xff) | ((300u64 & !0xff) << 12);
        assert_eq!(split_dev(dev), (259, 300));
    }
}
