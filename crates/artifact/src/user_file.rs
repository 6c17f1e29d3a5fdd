//! The one way to write a file a user named (`--junit`, `--json`): a regular file is replaced
//! whole (written beside it and renamed, a symlink followed to the file it names, its mode kept),
//! and anything else (a device such as `/dev/null`, a FIFO, `/dev/stdout`) is written in place,
//! never replaced by a regular file. `check` says before any work whether the write can happen.

use std::{
    fs::{self, OpenOptions},
    io::Write,
    os::unix::fs::{FileTypeExt, PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

/// How a write to a user's path lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// a regular file (or none yet) at this path, replaced whole
    Replace(PathBuf),
    /// a device, FIFO, socket or a process's descriptor (`/dev/stdout`, `/proc/self/fd/N`):
    /// opened and appended to, so what is there stays what it is
    InPlace(PathBuf),
}

/// Where a write to `path` lands: its symlinks followed one by one (a dangling one to the file it
/// would create), a link into a process's descriptors kept as it is.
pub fn target(path: &Path) -> Result<Target> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        if is_descriptor(&current) {
            return Ok(Target::InPlace(current));
        }
        let meta = match fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Target::Replace(current));
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", current.display())),
        };
        if meta.file_type().is_symlink() {
            let link = fs::read_link(&current)
                .with_context(|| format!("reading the link {}", current.display()))?;
            current = match current.parent() {
                Some(dir) => dir.join(link),
                None => link,
            };
            continue;
        }
        if meta.is_dir() {
            bail!("{} is a folder, not a file", current.display());
        }
        return Ok(match meta.is_file() {
            true => Target::Replace(current),
            false => Target::InPlace(current),
        });
    }
    bail!("{}: too many levels of symbolic links", path.display())
}

/// `/proc/<pid>/fd/N`, `/proc/self/fd/N`, `/dev/fd/N`: a descriptor of a process, which may be a
/// pipe or the terminal and is not a file to replace.
fn is_descriptor(path: &Path) -> bool {
    let text = path.to_string_lossy();
    (text.starts_with("/proc/") && text.contains("/fd/")) || text.starts_with("/dev/fd/")
}

/// Whether `path` can be written as `write` would: its folder exists and takes a new file (for
/// a file replaced), or it opens for writing (anything else). Errors say why, the caller names the
/// path (with its flag).
pub fn check(path: &Path) -> Result<()> {
    match target(path)? {
        Target::InPlace(place) => {
            // a FIFO with no reader yet would block an open: its permission is enough here
            let meta = fs::metadata(&place).context("cannot be written")?;
            if meta.file_type().is_char_device() || meta.file_type().is_block_device() {
                open_in_place(&place).context("cannot be written")?;
            }
            Ok(())
        }
        Target::Replace(file) => {
            let dir = folder(&file);
            if !dir.is_dir() {
                bail!("no folder {}", dir.display());
            }
            // a real write beside it: permission bits do not tell about /proc or a read-only mount
            let probe = dir.join(format!(".kardel-write-check-{}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&probe) {
                Ok(_) => {
                    let _ = fs::remove_file(&probe);
                    Ok(())
                }
                Err(e) => bail!("cannot write in {}: {e}", dir.display()),
            }
        }
    }
}

fn folder(file: &Path) -> PathBuf {
    file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf()
}

fn open_in_place(place: &Path) -> std::io::Result<fs::File> {
    OpenOptions::new().append(true).open(place)
}

/// Writes `bytes` as the content of the user's `path` (see the module's doc); an error names the
/// path and leaves a replaced file as it was.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    match target(path)? {
        Target::InPlace(place) => {
            let mut out =
                open_in_place(&place).with_context(|| format!("opening {}", path.display()))?;
            out.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
            out.flush().with_context(|| format!("writing {}", path.display()))
        }
        Target::Replace(file) => {
            let dir = folder(&file);
            if !dir.is_dir() {
                bail!("{}: no folder {}", path.display(), dir.display());
            }
            let mode = fs::metadata(&file).ok().map(|m| m.permissions().mode());
            crate::write_atomic(&file, |out| {
                out.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
                out.sync_all().with_context(|| format!("writing {}", path.display()))?;
                if let Some(mode) = mode {
                    out.set_permissions(fs::Permissions::from_mode(mode))?;
                }
                Ok(())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("user-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_device_stays_a_device() {
        write(Path::new("/dev/null"), b"<testsuites/>").unwrap();
        assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device());
        assert_eq!(
            target(Path::new("/dev/stdout")).unwrap(),
            Target::InPlace("/proc/self/fd/1".into())
        );
    }

    #[test]
    fn a_full_device_is_an_error_naming_it() {
        let err = format!("{:#}", write(Path::new("/dev/full"), b"x").unwrap_err());
        assert!(err.contains("writing /dev/full") && err.contains("No space left"), "{err}");
    }

    #[test]
    fn a_symlink_is_followed_and_stays_a_symlink() {
        let dir = scratch("link");
        fs::write(dir.join("real.xml"), "old").unwrap();
        std::os::unix::fs::symlink("real.xml", dir.join("l")).unwrap();
        write(&dir.join("l"), b"new").unwrap();
        assert!(fs::symlink_metadata(dir.join("l")).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(dir.join("real.xml")).unwrap(), "new");
        // a dangling link makes the file it names
        std::os::unix::fs::symlink("made.xml", dir.join("d")).unwrap();
        write(&dir.join("d"), b"made").unwrap();
        assert_eq!(fs::read_to_string(dir.join("made.xml")).unwrap(), "made");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_replaced_file_keeps_its_mode() {
        let dir = scratch("mode");
        let file = dir.join("r.json");
        fs::write(&file, "old").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        write(&file, b"new").unwrap();
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn paths_that_cannot_be_written_are_refused_before_any_work() {
        for (path, says) in [
            ("/proc/version", "cannot write in /proc"),
            ("/no-such-folder/r.xml", "no folder /no-such-folder"),
            ("/tmp", "is a folder"),
        ] {
            let err = format!("{:#}", check(Path::new(path)).unwrap_err());
            assert!(err.contains(says), "{path}: {err}");
        }
        check(Path::new("/dev/null")).unwrap();
    }
}
