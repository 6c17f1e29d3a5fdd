//! Temporary names beside a final path, and the sweep that removes those an interrupted run left.
//!
//! A temporary is named `.<final name>.tmp-<pid>` (downloads add `-<n>` when that name is taken),
//! so its owner can be told from its name. Nothing removes a temporary when a run is killed
//! (SIGINT, SIGTERM, SIGKILL or a power cut all end it without running our code, and a library
//! has no business installing signal handlers in its caller's process); instead the next run that
//! writes the same final name removes the temporaries of processes that no longer exist. Unpacked
//! trees and downloads share this one sweep.

use std::{
    fs::{self, File, OpenOptions},
    io,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

/// How many `-<n>` names to try before deciding something is wrong with the folder.
const MAX_TEMP_NAMES: u32 = 1000;

/// `.<name>.tmp-<pid>` for `n == 0`, `.<name>.tmp-<pid>-<n>` after that.
fn temp_name(path: &Path, n: u32) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let pid = std::process::id();
    if n == 0 {
        path.with_file_name(format!(".{name}.tmp-{pid}"))
    } else {
        path.with_file_name(format!(".{name}.tmp-{pid}-{n}"))
    }
}

/// A new, empty file to write `path`'s bytes into before renaming it to `path`. It is created
/// with `create_new` (`O_EXCL`), which neither follows a symlink planted at the name nor reuses
/// an existing file (another thread's download, or a leftover): a taken name is skipped, never
/// opened. The caller names `path` in any error.
pub(crate) fn create_temp_file(path: &Path) -> io::Result<(PathBuf, File)> {
    for n in 0..MAX_TEMP_NAMES {
        let temp = temp_name(path, n);
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("all {MAX_TEMP_NAMES} temporary names are taken"),
    ))
}

/// The process id a temporary name of `path` belongs to, if `file_name` is one.
fn temp_owner(path: &Path, file_name: &str) -> Option<u32> {
    let name = path.file_name()?.to_string_lossy();
    let rest = file_name.strip_prefix(&format!(".{name}.tmp-"))?;
    let (pid, n) = match rest.split_once('-') {
        Some((pid, n)) => (pid, Some(n)),
        None => (rest, None),
    };
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !n.is_none_or(digits) {
        return None;
    }
    pid.parse().ok()
}

/// Removes temporaries of `path` (files or folders) whose process is gone: what a run that was
/// interrupted while writing `path` left. Those of a process that is still running, this one
/// included, are left alone: another build may be writing the same name right now. `what` says
/// in the note what was interrupted (`unpack`, `download`).
pub(crate) fn remove_abandoned_temps(path: &Path, what: &str) -> Result<()> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let processes_visible = Path::new("/proc/self").exists();
    let entries = fs::read_dir(parent).with_context(|| format!("reading {}", parent.display()))?;
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_owner(path, &file_name) else {
            continue;
        };
        // Without /proc nothing tells a live owner from a dead one: assume alive, so that
        // nothing in use is removed.
        let alive = !processes_visible || Path::new(&format!("/proc/{pid}")).exists();
        if pid == std::process::id() || alive {
            continue;
        }
        let temp = entry.path();
        eprintln!("removing {} left by an interrupted {what}", temp.display());
        // A symlink is removed itself, never followed.
        let is_dir = fs::symlink_metadata(&temp).is_ok_and(|meta| meta.is_dir());
        let removed = if is_dir { fs::remove_dir_all(&temp) } else { fs::remove_file(&temp) };
        removed.with_context(|| format!("removing {}", temp.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_from_names() {
        let path = Path::new("/cache/linux-6.1.tar.xz");
        let owner = |name: &str| temp_owner(path, name);
        assert_eq!(owner(".linux-6.1.tar.xz.tmp-123"), Some(123));
        assert_eq!(owner(".linux-6.1.tar.xz.tmp-123-7"), Some(123));
        assert_eq!(owner("linux-6.1.tar.xz"), None);
        assert_eq!(owner(".linux-6.1.tar.xz.tmp-"), None);
        assert_eq!(owner(".linux-6.1.tar.xz.tmp-12x"), None);
        assert_eq!(owner(".linux-6.1.tar.xz.tmp-123-"), None);
        assert_eq!(owner(".linux-6.1.tar.gz.tmp-123"), None);
        assert_eq!(
            temp_name(path, 0),
            Path::new(&format!("/cache/.linux-6.1.tar.xz.tmp-{}", std::process::id()))
        );
        assert_eq!(
            temp_owner(path, &temp_name(path, 3).file_name().unwrap().to_string_lossy()),
            Some(std::process::id())
        );
    }
}
