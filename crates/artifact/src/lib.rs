//! Outputs that are either complete or absent.
//!
//! Every file this project produces (a download, an image, a copied bzImage, a build stamp) is
//! written under a temporary name beside its final one and renamed into place only once it is
//! whole, so an interrupted run never leaves something that a later run takes for finished.
//! Build stamps record a [`Fingerprint`] of everything a stage's output depends on; a stage whose
//! stamp matches and whose outputs exist does no work.

use std::{
    fs::{self, File},
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

pub mod user_file;

/// The temporary name `path` is written under: same folder (so the rename is atomic), unique per
/// process, and never mistaken for the final name.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `path` through `write`, atomically: on any error nothing is left under `path` or the
/// temporary name.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        write(&mut file)?;
        file.flush().with_context(|| format!("writing {}", tmp.display()))?;
        commit(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Moves a finished temporary file (or folder) to its final name.
pub fn commit(tmp: &Path, path: &Path) -> Result<()> {
    fs::rename(tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Copies `from` to `to` atomically, keeping the permission bits.
pub fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    if holds_already(from, to) {
        return Ok(());
    }
    write_atomic(to, |out| {
        let mut input = File::open(from).with_context(|| format!("opening {}", from.display()))?;
        io::copy(&mut input, out)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        let perms = input.metadata()?.permissions();
        out.set_permissions(perms)?;
        Ok(())
    })
}

/// Whether `to` holds `from`'s bytes and permissions already: a copy would change nothing but
/// the file's identity, which a saved machine that loaded it is fingerprinted by (a developer's
/// tree's kernel, made again by a `make` with nothing to do, stays the kernel a warm run restores).
fn holds_already(from: &Path, to: &Path) -> bool {
    use std::io::Read;
    let (Ok(a), Ok(b)) = (fs::metadata(from), fs::metadata(to)) else { return false };
    if a.len() != b.len() || a.permissions() != b.permissions() || !b.is_file() {
        return false;
    }
    let (Ok(a), Ok(b)) = (File::open(from), File::open(to)) else { return false };
    let (mut a, mut b) = (io::BufReader::new(a), io::BufReader::new(b));
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = match a.read(&mut x) {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 {
            return true;
        }
        if b.read_exact(&mut y[..n]).is_err() || x[..n] != y[..n] {
            return false;
        }
    }
}

/// The variable naming a file where the tool appends the times of its own steps, a JSON object
/// a line (`{"what":"checkout","seconds":15.2}`): what the bench reads, rather than the tool's
/// messages to people.
pub const TIMINGS: &str = "KARDEL_TIMINGS";

/// Appends `seconds` for `what` to the [`TIMINGS`] file, when there is one (a failed write
/// changes nothing of the run).
pub fn record_timing(what: &str, seconds: f64) {
    let Some(path) = std::env::var_os(TIMINGS) else { return };
    if let Ok(mut file) = fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(file, "{{\"what\":\"{what}\",\"seconds\":{seconds}}}");
    }
}

/// The sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A digest of everything one stage's output depends on. Keys keep two inputs from colliding
/// (`a`+`bc` vs `ab`+`c`).
#[derive(Clone, Default)]
pub struct Fingerprint {
    hasher: Sha256,
}

impl Fingerprint {
    pub fn new(stage: &str) -> Fingerprint {
        let mut fp = Fingerprint::default();
        fp.add("stage", stage.as_bytes());
        fp
    }

    pub fn add(&mut self, key: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        self.hasher.update((key.len() as u64).to_le_bytes());
        self.hasher.update(key.as_bytes());
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
        self
    }

    /// Adds a file's contents.
    pub fn add_file(&mut self, key: &str, path: &Path) -> Result<&mut Self> {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(self.add(key, bytes))
    }

    /// Adds a file's identity (path, size, modification time) without reading it: for inputs
    /// too large to hash on every run, such as a local kernel tarball.
    pub fn add_file_identity(&mut self, key: &str, path: &Path) -> Result<&mut Self> {
        let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let identity = format!("{}\0{}\0{mtime}", path.display(), meta.len());
        Ok(self.add(key, identity))
    }

    /// The identity of every file under `dir` ([`Fingerprint::add_file_identity`]'s: its
    /// path, size and time), hidden folders (`.git`, in-tree build folders) left out: any file
    /// written, added, removed or touched under it changes the fingerprint. What `make` would
    /// look at, without running it: a developer's tree that nothing touched needs no `make`.
    pub fn add_tree_identity(&mut self, key: &str, dir: &Path) -> Result<&mut Self> {
        use std::os::unix::fs::MetadataExt;
        let mut pending = vec![dir.to_path_buf()];
        let mut files = 0u64;
        while let Some(folder) = pending.pop() {
            let mut entries: Vec<fs::DirEntry> = fs::read_dir(&folder)
                .with_context(|| format!("reading {}", folder.display()))?
                .collect::<io::Result<_>>()?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let name = entry.file_name();
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    if !name.to_string_lossy().starts_with('.') {
                        pending.push(entry.path());
                    }
                    continue;
                }
                let meta = fs::symlink_metadata(entry.path())?;
                let path = entry.path();
                let relative = path.strip_prefix(dir).unwrap_or(&path);
                let identity = format!(
                    "{}\0{}\0{}.{}",
                    relative.display(),
                    meta.len(),
                    meta.mtime(),
                    meta.mtime_nsec()
                );
                self.hasher.update(identity.as_bytes());
                files += 1;
            }
        }
        Ok(self.add(key, format!("{} files", files)))
    }

    pub fn hex(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

/// A build stamp: the fingerprint a stage's outputs were last made from.
pub struct Stamp {
    path: PathBuf,
}

impl Stamp {
    pub fn new(path: impl Into<PathBuf>) -> Stamp {
        Stamp { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the stamp records `fingerprint` and every one of `outputs` exists.
    pub fn is_fresh(&self, fingerprint: &Fingerprint, outputs: &[&Path]) -> bool {
        let recorded = fs::read_to_string(&self.path).unwrap_or_default();
        recorded.trim() == fingerprint.hex() && outputs.iter().all(|p| p.exists())
    }

    /// Forgets the stamp before outputs are rebuilt, so an interrupted rebuild is never fresh.
    pub fn invalidate(&self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => {
                Err(err).with_context(|| format!("removing {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Records `fingerprint`: call only after every output is complete.
    pub fn record(&self, fingerprint: &Fingerprint) -> Result<()> {
        let text = format!("{}\n", fingerprint.hex());
        write_atomic(&self.path, |f| Ok(f.write_all(text.as_bytes())?))
    }
}

/// An exclusive lock on a file, held until drop: two runs on one checkout take turns on a build
/// folder instead of running two `make`s in it. The kernel releases it when the holder exits,
/// however it exits, so a killed run never leaves a lock that blocks the next one.
pub struct Lock {
    _file: File,
}

/// How long a run waits for another to free what it needs: longer than any build here (a
/// defconfig kernel takes about 12 minutes on two cores), short of a night in CI.
pub const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60 * 60);

impl Lock {
    /// Locks `path` (created if needed), waiting for another holder (saying who holds it first)
    /// for at most [`LOCK_PATIENCE`], naming `what` is locked.
    pub fn acquire(path: &Path, what: &str) -> Result<Lock> {
        Lock::acquire_within(path, what, LOCK_PATIENCE)
    }

    /// [`Lock::acquire`], giving up after `patience`.
    pub fn acquire_within(path: &Path, what: &str, patience: std::time::Duration) -> Result<Lock> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        let started = std::time::Instant::now();
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    // read when said, not on every poll
                    let holder = || match fs::read_to_string(path).unwrap_or_default().trim() {
                        "" => String::new(),
                        who => format!(", held by {who}"),
                    };
                    if started.elapsed() >= patience {
                        let holder = holder();
                        anyhow::bail!(
                            "gave up after {}s waiting for another run to finish with {what} \
                             (lock {}{holder})",
                            patience.as_secs(),
                            path.display()
                        );
                    }
                    if !said {
                        let holder = holder();
                        eprintln!(
                            "blocking: waiting for another run to finish with {what} (lock {}{holder}; \
                             at most {} min)",
                            path.display(),
                            patience.as_secs() / 60
                        );
                        said = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(fs::TryLockError::Error(err)) => {
                    return Err(err).with_context(|| format!("locking {}", path.display()));
                }
            }
        }
        // who holds it, for a run that waits: this process and its command line
        let argv: Vec<String> = std::env::args().collect();
        let _ = file.set_len(0);
        let _ = writeln!(file, "pid {} ({})", std::process::id(), argv.join(" "));
        Ok(Lock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("artifact-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_trees_identity_changes_with_any_file_but_hidden_folders() {
        let dir = scratch("tree-identity");
        fs::create_dir_all(dir.join("lib")).unwrap();
        fs::create_dir_all(dir.join(".git")).unwrap();
        fs::write(dir.join("lib/list-test.c"), "a").unwrap();
        fs::write(dir.join("Makefile"), "m").unwrap();
        let identity = || {
            let mut fp = Fingerprint::new("tree");
            fp.add_tree_identity("tree", &dir).unwrap();
            fp.hex()
        };
        let first = identity();
        assert_eq!(identity(), first, "nothing touched");
        fs::write(dir.join(".git/index"), "i").unwrap();
        assert_eq!(identity(), first, "a hidden folder is not the tree's");
        fs::write(dir.join("lib/list-test.c"), "b").unwrap();
        let edited = identity();
        assert_ne!(edited, first, "an edit");
        fs::write(dir.join("lib/new.c"), "n").unwrap();
        assert_ne!(identity(), edited, "a file added");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_copy_of_the_same_bytes_leaves_the_file_as_it_was() {
        use std::os::unix::fs::MetadataExt;
        let dir = scratch("copy-same");
        let (from, to) = (dir.join("bzImage"), dir.join("out"));
        fs::write(&from, vec![7u8; 200_000]).unwrap();
        copy_atomic(&from, &to).unwrap();
        let inode = fs::metadata(&to).unwrap().ino();
        // the same bytes again (a make with nothing to do): the copy keeps its identity
        copy_atomic(&from, &to).unwrap();
        assert_eq!(fs::metadata(&to).unwrap().ino(), inode);
        // one byte different, far in: a new file
        let mut changed = vec![7u8; 200_000];
        changed[150_000] = 8;
        fs::write(&from, &changed).unwrap();
        copy_atomic(&from, &to).unwrap();
        assert_ne!(fs::metadata(&to).unwrap().ino(), inode);
        assert_eq!(fs::read(&to).unwrap(), changed);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_held_lock_names_its_holder_and_a_waiter_gives_up() {
        let dir = scratch("lock-bound");
        let path = dir.join("build.lock");
        let _held = Lock::acquire(&path, "the build folder").unwrap();
        let waited =
            Lock::acquire_within(&path, "the build folder", std::time::Duration::from_millis(300));
        let err = format!("{:#}", waited.err().expect("a second holder"));
        assert!(
            err.contains(
                "gave up after 0s waiting for another run to finish with the build folder"
            ),
            "{err}"
        );
        assert!(err.contains(&format!("held by pid {}", std::process::id())), "{err}");
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = scratch("fail");
        let path = dir.join("out.img");
        let err = write_atomic(&path, |f| {
            f.write_all(b"half")?;
            anyhow::bail!("interrupted")
        });
        assert!(err.is_err());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "left something behind");
    }

    #[test]
    fn stamp_freshness_follows_fingerprint_and_outputs() {
        let dir = scratch("stamp");
        let out = dir.join("bzImage");
        let stamp = Stamp::new(dir.join("kernel.stamp"));
        let mut fp = Fingerprint::new("kernel");
        fp.add("profile", "tiny");
        assert!(!stamp.is_fresh(&fp, &[&out]));
        fs::write(&out, b"k").unwrap();
        stamp.record(&fp).unwrap();
        assert!(stamp.is_fresh(&fp, &[&out]));
        let mut other = Fingerprint::new("kernel");
        other.add("profile", "default");
        assert!(!stamp.is_fresh(&other, &[&out]));
        fs::remove_file(&out).unwrap();
        assert!(!stamp.is_fresh(&fp, &[&out]));
        stamp.invalidate().unwrap();
        stamp.invalidate().unwrap();
        assert!(!stamp.path().exists());
    }

    #[test]
    fn a_lock_waits_for_its_holder_and_a_dead_holder_frees_it() {
        let dir = scratch("lock");
        let path = dir.join("build.lock");
        let held = Lock::acquire(&path, "the build").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let _lock = Lock::acquire(&path, "the build").unwrap();
                tx.send(()).unwrap();
            })
        };
        assert!(rx.recv_timeout(std::time::Duration::from_millis(300)).is_err(), "not exclusive");
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(5)).expect("released on drop");
        waiter.join().unwrap();
        // a holder killed by SIGKILL: flock(1) takes the lock in another process, then is killed
        let mut holder = std::process::Command::new("flock")
            // -o: the lock stays with flock itself, not with the command it starts
            .arg("-o")
            .arg(&path)
            .args(["sleep", "5"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        holder.kill().unwrap();
        holder.wait().unwrap();
        let start = std::time::Instant::now();
        let _again = Lock::acquire(&path, "the build").unwrap();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn fingerprint_keys_separate_values() {
        let a = Fingerprint::new("s").add("x", "ab").add("y", "c").hex();
        let b = Fingerprint::new("s").add("x", "a").add("y", "bc").hex();
        assert_ne!(a, b);
    }
}
