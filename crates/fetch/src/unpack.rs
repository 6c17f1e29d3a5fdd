//! Unpacking a source tarball into a tree that is either complete or absent.
//!
//! The archive is unpacked into a temporary folder beside the destination and renamed into place
//! at the end, so a folder under the final name is always a finished unpack. Every entry is
//! checked before it touches the disk ([`EntryChecker`], pure): it must lie under the archive's
//! one top-level folder, must not climb out with `..` or start at `/`, must not be written
//! through a symlink, and links must point inside the top-level folder. `tar`'s own `unpack_in`
//! checks run as a second line of defence.
//!
//! Decompression (single-threaded in xz2, bzip2 and flate2) runs on its own thread and hands
//! 1 MiB chunks to the thread that writes files, so the two overlap on a multi-core machine.
//!
//! A kernel tarball takes about 20 seconds, so an unpack shows a bar on a terminal (how much of
//! the archive has been read, redrawn a few times a second) and always ends with one line saying
//! what was unpacked where, how many entries and how long it took.
//!
//! A run killed mid-unpack leaves its temporary folder; the next unpack to the same destination
//! removes it (see `temps`).

use std::{
    collections::HashSet,
    ffi::OsString,
    fs::{self, File},
    io::{self, BufReader, Read},
    os::unix::fs::PermissionsExt,
    path::{Component, Path, PathBuf},
    sync::mpsc,
};

use anyhow::{anyhow, bail, ensure, Context, Result};

use crate::{progress::UnpackProgress, temps};

/// How an archive's tar stream is compressed, from its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Xz,
    Gzip,
    Bzip2,
    Uncompressed,
}

const SUFFIXES: [(&str, Compression); 8] = [
    (".tar.xz", Compression::Xz),
    (".txz", Compression::Xz),
    (".tar.gz", Compression::Gzip),
    (".tgz", Compression::Gzip),
    (".tar.bz2", Compression::Bzip2),
    (".tbz2", Compression::Bzip2),
    (".tbz", Compression::Bzip2),
    (".tar", Compression::Uncompressed),
];

impl Compression {
    pub(crate) fn of(archive: &Path) -> Result<Compression> {
        let name =
            archive.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        match SUFFIXES.iter().find(|(suffix, _)| name.ends_with(suffix)) {
            Some((_, compression)) => Ok(*compression),
            None => bail!(
                "cannot unpack {}: unknown archive type (expected .tar.xz, .tar.gz, .tar.bz2 or .tar)",
                archive.display()
            ),
        }
    }

    fn decoder<'a>(self, compressed: impl Read + Send + 'a) -> Box<dyn Read + Send + 'a> {
        // The multi-stream decoders also accept archives made by parallel compressors (pixz,
        // pigz, pbzip2), which write several streams back to back.
        match self {
            Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(compressed)),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(compressed)),
            Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(compressed)),
            Compression::Uncompressed => Box::new(compressed),
        }
    }
}

/// An archive's file name without its archive suffix: `linux-source-6.1.tar.xz` gives
/// `linux-source-6.1`.
pub(crate) fn archive_stem(archive: &Path) -> String {
    let name = archive.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let lowercase = name.to_lowercase();
    match SUFFIXES.iter().find(|(suffix, _)| lowercase.ends_with(suffix)) {
        Some((suffix, _)) => name[..name.len() - suffix.len()].to_string(),
        None => name,
    }
}

/// Unpacks `archive` (`.tar.xz`, `.tar.gz`, `.tar.bz2` or `.tar`) so that it ends up as
/// `dest_dir/<top>`, and returns that path. The archive must hold exactly one top-level folder.
///
/// If `dest_dir` exists it is a finished unpack (only complete unpacks are renamed to it) and is
/// returned as is. A temporary folder left by a run that was killed is removed.
pub fn unpack(archive: &Path, dest_dir: &Path) -> Result<PathBuf> {
    let compression = Compression::of(archive)?;
    if dest_dir.exists() {
        return finished_unpack(dest_dir);
    }
    if let Some(parent) = dest_dir.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    temps::remove_abandoned_temps(dest_dir, "unpack")?;
    let temp = artifact::temp_path(dest_dir);
    if temp.exists() {
        fs::remove_dir_all(&temp).with_context(|| format!("removing {}", temp.display()))?;
    }
    fs::create_dir(&temp).with_context(|| format!("creating {}", temp.display()))?;

    let compressed_len = fs::metadata(archive).ok().map(|meta| meta.len()).filter(|&len| len > 0);
    let mut progress = UnpackProgress::start(archive, compressed_len);
    let top = match unpack_into(archive, compression, &temp, &mut progress) {
        Ok(top) => top,
        Err(err) => {
            let _ = fs::remove_dir_all(&temp);
            return Err(err);
        }
    };
    match artifact::commit(&temp, dest_dir) {
        Ok(()) => {
            let tree = dest_dir.join(top);
            progress.finish(archive, &tree);
            Ok(tree)
        }
        Err(err) => {
            let _ = fs::remove_dir_all(&temp);
            // Another process may have finished the same unpack first; its result is as good.
            if dest_dir.exists() {
                finished_unpack(dest_dir)
            } else {
                Err(err)
            }
        }
    }
}

/// The tree a finished [`unpack`] left in `dest_dir`, if there is one: `unpack` renames its
/// folder into place only when complete, so an existing `dest_dir` is a finished one.
pub fn unpacked_tree(dest_dir: &Path) -> Option<PathBuf> {
    if dest_dir.exists() {
        finished_unpack(dest_dir).ok()
    } else {
        None
    }
}

fn finished_unpack(dest_dir: &Path) -> Result<PathBuf> {
    let read_error = || format!("reading {}", dest_dir.display());
    let mut entries = Vec::new();
    for entry in fs::read_dir(dest_dir).with_context(read_error)? {
        entries.push(entry.with_context(read_error)?);
    }
    match entries.as_slice() {
        [only] if only.file_type().with_context(read_error)?.is_dir() => Ok(only.path()),
        _ => bail!(
            "{} exists but does not hold exactly one folder, so it is not an unpacked source tree; \
             remove it to unpack again",
            dest_dir.display()
        ),
    }
}

fn unpack_into(
    archive: &Path,
    compression: Compression,
    root: &Path,
    progress: &mut UnpackProgress,
) -> Result<OsString> {
    let file = File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let compressed = BufReader::with_capacity(1 << 20, progress.counting(file));
    let decoder = compression.decoder(compressed);
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::sync_channel(16);
        let decompressor = scope.spawn(move || decompress(decoder, sender));
        let result = unpack_entries(ChunkReader::new(receiver), archive, root, progress);
        // Dropping the reader (inside unpack_entries) ends the decompressor early on error.
        if decompressor.join().is_err() {
            bail!("decompressing {}: thread panicked", archive.display());
        }
        result
    })
}

type Chunk = io::Result<Vec<u8>>;

fn decompress(mut decoder: Box<dyn Read + Send + '_>, sender: mpsc::SyncSender<Chunk>) {
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        let message = match decoder.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                chunk.truncate(n);
                Ok(chunk)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => Err(err),
        };
        let failed = message.is_err();
        if sender.send(message).is_err() || failed {
            return;
        }
    }
}

/// The reading end of the decompressor thread.
struct ChunkReader {
    receiver: mpsc::Receiver<Chunk>,
    chunk: Vec<u8>,
    position: usize,
}

impl ChunkReader {
    fn new(receiver: mpsc::Receiver<Chunk>) -> ChunkReader {
        ChunkReader { receiver, chunk: Vec::new(), position: 0 }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.chunk.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.chunk = chunk?;
                    self.position = 0;
                }
                // The decompressor hung up: the end of the stream.
                Err(mpsc::RecvError) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.position);
        buf[..n].copy_from_slice(&self.chunk[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

fn unpack_entries(
    tar_stream: ChunkReader,
    archive: &Path,
    root: &Path,
    progress: &mut UnpackProgress,
) -> Result<OsString> {
    let reading = || format!("reading {}", archive.display());
    let mut tar = tar::Archive::new(tar_stream);
    let mut checker = EntryChecker::default();
    for entry in tar.entries().with_context(reading)? {
        let mut entry = entry.with_context(reading)?;
        let path = entry.path().with_context(reading)?.into_owned();
        let kind = entry_kind(&entry)
            .with_context(|| format!("{}, entry `{}`", reading(), path.display()))?;
        let refuse = |reason: String| {
            anyhow!("refusing entry `{}` in {}: {reason}", path.display(), archive.display())
        };
        let size = entry.size();
        let verdict = checker.check(&path, &kind).map_err(refuse)?;
        match verdict {
            Verdict::Skip => {}
            Verdict::Directory => {
                let dir = root.join(&path);
                fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                // Owner rwx whatever the archive says, so files can be written into it and a
                // failed unpack can be removed.
                let mode = (entry.header().mode().unwrap_or(0o755) & 0o755) | 0o700;
                fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
                    .with_context(|| format!("setting permissions of {}", dir.display()))?;
            }
            Verdict::Unpack => {
                // Mode bits as archived (executable scripts stay executable) but never set-id
                // or writable by others.
                entry.set_mask(0o022);
                entry.set_preserve_permissions(false);
                entry.set_unpack_xattrs(false);
                let unpacked = entry.unpack_in(root).with_context(|| {
                    format!("unpacking `{}` from {}", path.display(), archive.display())
                })?;
                ensure!(
                    unpacked,
                    "{}",
                    refuse("it would land outside the destination".to_string())
                );
            }
        }
        if verdict != Verdict::Skip {
            progress.entry(size);
        }
    }
    let top = checker.top.with_context(|| format!("{} holds no files", archive.display()))?;
    // Read to the end so the decompressor checks the stream's trailer (xz and gzip carry a CRC).
    io::copy(&mut tar.into_inner(), &mut io::sink()).with_context(reading)?;
    Ok(top)
}

fn entry_kind<R: Read>(entry: &tar::Entry<'_, R>) -> Result<EntryKind> {
    use tar::EntryType;
    let entry_type = entry.header().entry_type();
    let link_target = || -> Result<PathBuf> {
        Ok(entry.link_name()?.context("link without a target")?.into_owned())
    };
    Ok(match entry_type {
        EntryType::Regular | EntryType::Continuous => EntryKind::File,
        EntryType::Directory => EntryKind::Directory,
        EntryType::Symlink => EntryKind::Symlink(link_target()?),
        EntryType::Link => EntryKind::HardLink(link_target()?),
        // Comments and attributes for the archive or the next entry, nothing to write
        // (git archive puts the commit id in a global header).
        EntryType::XGlobalHeader
        | EntryType::XHeader
        | EntryType::GNULongName
        | EntryType::GNULongLink => EntryKind::Metadata,
        other => EntryKind::Unsupported(format!("{other:?}")),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Directory,
    Symlink(PathBuf),
    HardLink(PathBuf),
    Metadata,
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Unpack,
    Directory,
    Skip,
}

/// Decides, entry by entry and before anything is written, whether an archive entry is safe to
/// unpack. Keeps what it has seen: the top-level folder and every symlink so far.
#[derive(Debug, Default)]
pub(crate) struct EntryChecker {
    pub(crate) top: Option<OsString>,
    symlinks: HashSet<PathBuf>,
}

impl EntryChecker {
    /// `Err` carries the reason for refusing.
    pub(crate) fn check(
        &mut self,
        path: &Path,
        kind: &EntryKind,
    ) -> std::result::Result<Verdict, String> {
        if *kind == EntryKind::Metadata {
            return Ok(Verdict::Skip);
        }
        let parts = plain_components(path)?;
        let Some(first) = parts.first() else {
            // `./`, as written by `tar -C dir .`: the destination itself.
            return match kind {
                EntryKind::Directory => Ok(Verdict::Skip),
                _ => Err("its path is empty".to_string()),
            };
        };
        match &self.top {
            None => self.top = Some(first.clone()),
            Some(top) if top != first => {
                return Err(format!(
                    "it is outside `{}`, and the archive must have exactly one top-level folder",
                    top.to_string_lossy()
                ))
            }
            Some(_) => {}
        }
        if parts.len() == 1 && *kind != EntryKind::Directory {
            return Err(
                "the archive must have exactly one top-level folder, not a file".to_string()
            );
        }
        self.refuse_through_symlink(&parts, "it is written through")?;
        let full: PathBuf = parts.iter().collect();
        if self.symlinks.contains(&full) {
            return Err("it replaces a symlink unpacked earlier".to_string());
        }
        match kind {
            EntryKind::File => Ok(Verdict::Unpack),
            EntryKind::Directory => Ok(Verdict::Directory),
            EntryKind::Symlink(target) => {
                check_symlink_target(&parts, target)?;
                self.symlinks.insert(full);
                Ok(Verdict::Unpack)
            }
            EntryKind::HardLink(target) => {
                let target_parts = plain_components(target)
                    .map_err(|reason| format!("its hard link target: {reason}"))?;
                if target_parts.first() != Some(first) || target_parts.len() < 2 {
                    return Err(format!(
                        "it is a hard link to `{}`, outside the top-level folder",
                        target.display()
                    ));
                }
                self.refuse_through_symlink(&target_parts, "its hard link target goes through")?;
                Ok(Verdict::Unpack)
            }
            EntryKind::Unsupported(entry_type) => {
                Err(format!("entries of type {entry_type} have no place in a source tree"))
            }
            EntryKind::Metadata => Ok(Verdict::Skip),
        }
    }

    /// A symlink from the archive in the middle of a path makes the lexical checks meaningless
    /// (it may point anywhere the link checks allowed, or be a chain), and no source tarball
    /// needs it.
    fn refuse_through_symlink(
        &self,
        parts: &[OsString],
        what: &str,
    ) -> std::result::Result<(), String> {
        let mut prefix = PathBuf::new();
        for part in &parts[..parts.len() - 1] {
            prefix.push(part);
            if self.symlinks.contains(&prefix) {
                return Err(format!("{what} the symlink `{}`", prefix.display()));
            }
        }
        Ok(())
    }
}

/// The path's names, refusing anything that could leave the destination.
fn plain_components(path: &Path) -> std::result::Result<Vec<OsString>, String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => parts.push(name.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => return Err("its path contains `..`".to_string()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("its path is absolute".to_string())
            }
        }
    }
    Ok(parts)
}

/// A symlink may point up with leading `..` (as far as the top-level folder) and then down by
/// names only. Any later `..` would be resolved by the file system after following whatever
/// symlink precedes it, which a lexical check cannot predict; no kernel or BusyBox link needs it.
fn check_symlink_target(link_parts: &[OsString], target: &Path) -> std::result::Result<(), String> {
    let shown = target.display();
    let mut ups = 0;
    let mut names = 0usize;
    for component in target.components() {
        match component {
            Component::ParentDir if names == 0 => ups += 1,
            Component::ParentDir => {
                return Err(format!("it is a symlink to `{shown}`, which has `..` after a name"))
            }
            Component::Normal(_) => names += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("it is a symlink to the absolute path `{shown}`"))
            }
        }
    }
    if target.as_os_str().is_empty() {
        return Err("it is a symlink with an empty target".to_string());
    }
    // The link's folder is this many levels below the top-level folder.
    let depth_below_top = link_parts.len() - 2;
    if ups > depth_below_top {
        return Err(format!("it is a symlink to `{shown}`, outside the top-level folder"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `entries` (path, kind) through one checker; the expected text lists each verdict.
    #[track_caller]
    fn check_entries(entries: &[(&str, EntryKind)], expected: expect_test::Expect) {
        let mut checker = EntryChecker::default();
        let mut actual = String::new();
        for (path, kind) in entries {
            let verdict = match checker.check(Path::new(path), kind) {
                Ok(verdict) => format!("{verdict:?}"),
                Err(reason) => format!("refused: {reason}"),
            };
            actual.push_str(&format!("{path}: {verdict}\n"));
        }
        expected.assert_eq(&actual);
    }

    fn symlink(target: &str) -> EntryKind {
        EntryKind::Symlink(PathBuf::from(target))
    }

    fn hard_link(target: &str) -> EntryKind {
        EntryKind::HardLink(PathBuf::from(target))
    }

    #[test]
    fn ordinary_tree_passes() {
        check_entries(
            &[
                ("pax_global_header", EntryKind::Metadata),
                ("linux-6.1/", EntryKind::Directory),
                ("linux-6.1/Makefile", EntryKind::File),
                (
                    "./linux-6.1/scripts/dtc/include-prefixes/arm",
                    symlink("../../../arch/arm/boot/dts"),
                ),
                ("linux-6.1/tools/x", hard_link("linux-6.1/Makefile")),
                ("linux-6.1/self", symlink(".")),
                ("linux-6.1/d/up", symlink("..")),
            ],
            expect_test::expect![[r#"
                pax_global_header: Skip
                linux-6.1/: Directory
                linux-6.1/Makefile: Unpack
                ./linux-6.1/scripts/dtc/include-prefixes/arm: Unpack
                linux-6.1/tools/x: Unpack
                linux-6.1/self: Unpack
                linux-6.1/d/up: Unpack
            "#]],
        );
    }

    #[test]
    fn escapes_are_refused() {
        check_entries(
            &[
                ("top/", EntryKind::Directory),
                ("top/../evil", EntryKind::File),
                ("/etc/passwd", EntryKind::File),
                ("top/up", symlink("..")),
                ("top/abs", symlink("/etc")),
                ("top/a/b", symlink("../../x")),
                ("top/a/c", symlink("b/../../x")),
                ("top/hard", hard_link("/etc/passwd")),
                ("top/hard2", hard_link("other/file")),
                ("top/hard3", hard_link("top/../x")),
                ("top/dev", EntryKind::Unsupported("Char".to_string())),
            ],
            expect_test::expect![[r#"
                top/: Directory
                top/../evil: refused: its path contains `..`
                /etc/passwd: refused: its path is absolute
                top/up: refused: it is a symlink to `..`, outside the top-level folder
                top/abs: refused: it is a symlink to the absolute path `/etc`
                top/a/b: refused: it is a symlink to `../../x`, outside the top-level folder
                top/a/c: refused: it is a symlink to `b/../../x`, which has `..` after a name
                top/hard: refused: its hard link target: its path is absolute
                top/hard2: refused: it is a hard link to `other/file`, outside the top-level folder
                top/hard3: refused: its hard link target: its path contains `..`
                top/dev: refused: entries of type Char have no place in a source tree
            "#]],
        );
    }

    #[test]
    fn writing_through_a_symlink_is_refused() {
        check_entries(
            &[
                ("top/link", symlink("sub")),
                ("top/link/file", EntryKind::File),
                ("top/link", EntryKind::File),
                ("top/hard", hard_link("top/link/file")),
            ],
            expect_test::expect![[r#"
                top/link: Unpack
                top/link/file: refused: it is written through the symlink `top/link`
                top/link: refused: it replaces a symlink unpacked earlier
                top/hard: refused: its hard link target goes through the symlink `top/link`
            "#]],
        );
    }

    #[test]
    fn exactly_one_top_level_folder() {
        check_entries(
            &[("./", EntryKind::Directory), ("a/x", EntryKind::File), ("b/y", EntryKind::File)],
            expect_test::expect![[r#"
                ./: Skip
                a/x: Unpack
                b/y: refused: it is outside `a`, and the archive must have exactly one top-level folder
            "#]],
        );
        check_entries(
            &[("README", EntryKind::File)],
            expect_test::expect![[r#"
                README: refused: the archive must have exactly one top-level folder, not a file
            "#]],
        );
    }

    #[test]
    fn compression_from_name() {
        let of = |name: &str| Compression::of(Path::new(name)).map_err(|err| err.to_string());
        assert_eq!(of("linux-5.15.193.tar.xz"), Ok(Compression::Xz));
        assert_eq!(of("/x/busybox-1.36.1.tar.bz2"), Ok(Compression::Bzip2));
        assert_eq!(of("a.TGZ"), Ok(Compression::Gzip));
        assert_eq!(of("a.tar"), Ok(Compression::Uncompressed));
        assert_eq!(
            of("/x/linux.zip"),
            Err("cannot unpack /x/linux.zip: unknown archive type (expected .tar.xz, .tar.gz, .tar.bz2 or .tar)"
                .to_string())
        );
        assert_eq!(archive_stem(Path::new("/usr/src/linux-source-6.1.tar.xz")), "linux-source-6.1");
        assert_eq!(archive_stem(Path::new("busybox-1.35.0.tbz2")), "busybox-1.35.0");
    }
}
