//! A run's folder (`target/kardel/lava/<name>/`, or `--output-dir DIR`): the device dictionary,
//! lava-run's log and its output. The folder is the tool's own: it writes a marker file when it
//! makes the folder (or adopts an empty one), and a later run removes only what a run writes
//! there. A folder that holds anything else, and has no marker, is refused, never emptied.
//! IO, around the pure [`folder_name`].

use std::{fs, path::Path};

use anyhow::{bail, Context as _, Result};

/// The file that makes a folder a run's folder.
pub const MARKER: &str = ".kardel-lava-output";

/// What a run writes into its folder: the only names a later run removes.
pub const WRITTEN: &[&str] = &["device.yaml", "lava.log", "output"];

/// The default folder's name, from the job file's name without its extension (`check.yaml`:
/// `check`): letters, digits, `.`, `_` and `-` kept, anything else a `-`, no leading dot (so
/// never `.` or `..`), and `job` when nothing is left.
pub fn folder_name(job: &Path) -> String {
    let stem = job.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
        .collect();
    let name = name.trim_start_matches('.');
    match name.is_empty() {
        true => "job".to_string(),
        false => name.to_string(),
    }
}

/// What a folder is to a run.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Missing,
    Empty,
    /// marked, or (`adopt_earlier`) holding only what a run writes
    Ours,
    /// what it holds that the tool did not make, some of it
    Foreign(Vec<String>),
}

fn look(dir: &Path, adopt_earlier: bool) -> Result<Found> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
    };
    if meta.file_type().is_symlink() {
        bail!(
            "the output folder {} is a symbolic link: give the folder it points to, or another",
            dir.display()
        );
    }
    if !meta.is_dir() {
        bail!("the output folder {} is not a folder", dir.display());
    }
    let mut names: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("reading the output folder {}", dir.display()))?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading the output folder {}", dir.display()))?;
    names.sort();
    if names.is_empty() {
        return Ok(Found::Empty);
    }
    if names.iter().any(|n| n == MARKER) {
        return Ok(Found::Ours);
    }
    let foreign: Vec<String> =
        names.into_iter().filter(|n| !adopt_earlier || !WRITTEN.contains(&n.as_str())).collect();
    match foreign.is_empty() {
        true => Ok(Found::Ours),
        false => Ok(Found::Foreign(foreign)),
    }
}

/// Refuses a folder a run may not use: one holding files the tool did not make (without its
/// marker), a file, a symbolic link. Changes nothing. `adopt_earlier`: a folder holding only
/// what a run writes is taken as a run's (the default folder, written by versions of the tool
/// before the marker).
pub fn check(dir: &Path, adopt_earlier: bool) -> Result<()> {
    look_usable(dir, adopt_earlier).map(|_| ())
}

fn look_usable(dir: &Path, adopt_earlier: bool) -> Result<Found> {
    let found = look(dir, adopt_earlier)?;
    if let Found::Foreign(names) = &found {
        let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
        let more = if names.len() > shown.len() { ", ..." } else { "" };
        bail!(
            "the output folder {} holds files the tool did not make ({}{more}): it empties its \
             own folders only; give --output-dir a new or empty folder",
            dir.display(),
            shown.join(", ")
        );
    }
    Ok(found)
}

/// Makes `dir` ready for a run: created (or adopted when empty) with the marker, or, when it
/// is a run's already, what the last run wrote there removed (nothing else). Refuses what
/// [`check`] refuses.
pub fn prepare(dir: &Path, adopt_earlier: bool) -> Result<()> {
    match look_usable(dir, adopt_earlier)? {
        Found::Missing => {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?
        }
        Found::Empty | Found::Ours => {}
        Found::Foreign(_) => unreachable!("check refused it"),
    }
    for name in WRITTEN {
        remove(&dir.join(name))?;
    }
    let marker = dir.join(MARKER);
    fs::write(
        &marker,
        "A folder of kardel's `lava` command: each run removes device.yaml, lava.log and output/ \
         here, and nothing else.\n",
    )
    .with_context(|| format!("writing {}", marker.display()))?;
    Ok(())
}

/// Removes `path` (a folder with what it holds; a symbolic link itself, not what it names).
fn remove(path: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let removed = match meta.is_dir() {
        true => fs::remove_dir_all(path),
        false => fs::remove_file(path),
    };
    removed.with_context(|| format!("removing the last run's {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A fresh folder of this test's.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kardel-lava-output-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_folder_holding_someone_elses_files_is_refused_and_left_alone() {
        let dir = scratch("foreign");
        fs::write(dir.join("keep"), "mine").unwrap();
        fs::write(dir.join("lava.log"), "mine too").unwrap();
        let err = prepare(&dir, false).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains(&dir.display().to_string()) && text.contains("keep"), "{text}");
        assert!(dir.join("keep").exists() && dir.join("lava.log").exists());
        // the default folder of an earlier version holds only what a run writes: adopted
        assert!(check(&dir, true).is_err(), "keep is still not the tool's");
        fs::remove_file(dir.join("keep")).unwrap();
        prepare(&dir, true).unwrap();
        assert!(dir.join(MARKER).exists() && !dir.join("lava.log").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_tools_own_folder_loses_only_what_a_run_wrote() {
        let dir = scratch("own");
        let run = dir.join("run");
        prepare(&run, false).unwrap();
        assert!(run.join(MARKER).is_file());
        fs::create_dir_all(run.join("output/deep")).unwrap();
        fs::write(run.join("lava.log"), "log").unwrap();
        fs::write(run.join("device.yaml"), "device").unwrap();
        fs::write(run.join("notes.txt"), "a user's").unwrap();
        prepare(&run, false).unwrap();
        let mut left: Vec<String> = fs::read_dir(&run)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [MARKER, "notes.txt"]);
        // an empty folder is adopted
        let empty = dir.join("empty");
        fs::create_dir_all(&empty).unwrap();
        prepare(&empty, false).unwrap();
        assert!(empty.join(MARKER).is_file());
        // a file, or a link to a folder, is not a folder of the tool's
        fs::write(dir.join("file"), "").unwrap();
        assert!(prepare(&dir.join("file"), false).is_err());
        std::os::unix::fs::symlink(&empty, dir.join("link")).unwrap();
        assert!(format!("{:#}", prepare(&dir.join("link"), false).unwrap_err())
            .contains("symbolic link"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn folder_names_stay_inside_the_lava_folder() {
        for (job, name) in [
            ("check.yaml", "check"),
            ("...yaml", "job"),
            ("..yaml", "job"),
            (".yaml", "yaml"),
            ("/x/.hidden.yaml", "hidden"),
            ("a b\\c.yaml", "a-b-c"),
            ("", "job"),
            ("/", "job"),
        ] {
            assert_eq!(folder_name(Path::new(job)), name, "{job:?}");
        }
    }
}
