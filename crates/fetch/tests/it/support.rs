//! Temporary folders and in-memory tarballs for the tests.

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// Set in a child started by [`spawn_child_test`] to the name of the test it is to run.
const CHILD_VARIABLE: &str = "FETCH_IT_CHILD";

/// Runs the test `name` (`module::test`) of this test binary alone in a child process, with
/// `env` added, stdout discarded and stderr piped. For what a test cannot do in-process: read
/// stderr as a user sees it (the harness captures the parent's own) or interrupt a run with a
/// signal. The child test does its part only when [`is_child`] says so.
pub fn spawn_child_test(name: &str, env: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command.args(child_test_args(name));
    with_child_env(&mut command, name, env);
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    command.spawn().unwrap()
}

/// What runs the test `name` alone, output not captured.
pub fn child_test_args(name: &str) -> [&str; 4] {
    [name, "--exact", "--nocapture", "--test-threads=1"]
}

/// The environment of a child test: `env`, and the variable that makes [`is_child`] true.
pub fn with_child_env(command: &mut Command, name: &str, env: &[(&str, String)]) {
    command.env(CHILD_VARIABLE, name);
    for (key, value) in env {
        command.env(key, value);
    }
}

/// True in the child [`spawn_child_test`] started for `name`; an ordinary test run skips the
/// child's part (the test passes, doing nothing).
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD_VARIABLE).as_deref() == Ok(name)
}

/// An environment variable a child test was given.
pub fn child_env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} not set for the child test"))
}

/// Reads a child's stderr on a thread: each line with when it arrived, measured from `started`.
pub fn timed_lines(child: &mut Child, started: Instant) -> JoinHandle<Vec<(Duration, String)>> {
    let stderr = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        BufReader::new(stderr).lines().map(|line| (started.elapsed(), line.unwrap())).collect()
    })
}

/// A folder removed when dropped, unique per test even with tests running in parallel.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("fetch-it-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every name in `dir`, hidden ones (temporary names) included, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => {
            entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
        }
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    artifact::hex(&sha2::Sha256::digest(bytes))
}

/// One entry of a test archive. Paths and link targets are written as given, without the
/// checks `tar::Builder` makes, so that hostile archives can be built too.
pub enum Entry<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_700_000_000);
        let (path, data): (&str, &[u8]) = match entry {
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                (path, data)
            }
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                (path, &[])
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_link_name(target).unwrap();
                (path, &[])
            }
            Entry::HardLink(path, target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o644);
                header.set_link_name(target).unwrap();
                (path, &[])
            }
        };
        let name = &mut header.as_old_mut().name;
        assert!(path.len() < name.len(), "test path too long: {path}");
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = xz2::write::XzEncoder::new(Vec::new(), 1);
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn bzip2(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A small, ordinary source tarball: `demo-1.0/` with a script, a file in a subfolder and a
/// symlink inside the tree.
pub fn demo_tar_gz() -> Vec<u8> {
    gzip(&demo_tar())
}

pub fn demo_tar() -> Vec<u8> {
    tar(&[
        Entry::Dir("demo-1.0/"),
        Entry::File("demo-1.0/configure", b"#!/bin/sh\necho configured\n", 0o755),
        Entry::File("demo-1.0/src/main.c", b"int main(void) { return 0; }\n", 0o644),
        Entry::Symlink("demo-1.0/src/link.c", "main.c"),
    ])
}
