//! What the end-to-end test binaries (`e2e_*.rs`) share: the switch that turns them on, the
//! selection every run uses, running the tool and reading what it left.
//!
//! Each binary holds one area, so that a failure names it; cargo runs the binaries one after
//! another, in the order of their names, and the numbers in those names keep the order of the
//! chain: what an earlier binary built, a later one finds built (the build is incremental), and
//! each still builds what it needs when run alone. The tests inside one binary would run on
//! parallel threads: a binary with more than one takes [`serial`] first, so that no two kernel
//! builds or TCG boots run at once (the machine has two cores).

// each binary uses some of these
#![allow(dead_code)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

pub const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

/// The images `all` leaves in `images/<arch>/`.
pub const IMAGES: [&str; 3] = ["rootfs.img.gz", "rootfs.cpio.gz", "hello.cpio.gz"];

/// Whether the slow tests run: when `CI=true` or `KARDEL_E2E=1`. Otherwise says that `test`
/// skipped, with what it would have done, and why.
pub fn enabled(test: &str) -> bool {
    let on = |name: &str| std::env::var(name).is_ok_and(|v| v == "1" || v == "true");
    if on("CI") || on("KARDEL_E2E") {
        return true;
    }
    // straight to stderr, past the test harness's capture, so the skip is always seen
    let _ =
        writeln!(std::io::stderr(), "skipped: end-to-end test {test}; set KARDEL_E2E=1 to run it");
    false
}

/// One test at a time in a binary that holds several: they share build folders and the
/// machine's two cores. A test that failed holding it does not stop the next.
pub fn serial() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The selection every run uses, from the environment or the offline defaults.
pub fn selection_env() -> Vec<(String, String)> {
    let var = |name: &str, default: &str| {
        (name.to_string(), std::env::var(name).unwrap_or_else(|_| default.to_string()))
    };
    vec![
        var("KARDEL_KERNEL_SOURCE", "/usr/src/linux-source-6.1.tar.xz"),
        var("KARDEL_BUSYBOX_VERSION", "1.35.0"),
        var("KARDEL_MIRRORS", "file:///var/cache/offline-mirror"),
        var("KARDEL_PROFILE", "tiny"),
        var("KARDEL_ACCEL", "auto"),
        // Debian's U-Boot 2023.01, whose 32-bit board boots the 64-bit kernel (its 64-bit one
        // resets at zboot: README, "Through U-Boot")
        var("KARDEL_UBOOT_SOURCE", "/var/cache/offline-mirror/debian-u-boot-2023.01.tar.xz"),
        var("KARDEL_UBOOT_BOARD", "qemu-x86"),
    ]
}

pub struct Run {
    pub output: Output,
    pub elapsed: Duration,
    pub line: String,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    #[track_caller]
    pub fn ok(self) -> Run {
        assert!(
            self.output.status.success(),
            "`{}` failed ({})\n--- stdout\n{}\n--- stderr\n{}",
            self.line,
            self.output.status,
            self.stdout(),
            self.stderr()
        );
        self
    }
    #[track_caller]
    pub fn fails(self) -> Run {
        assert!(
            !self.output.status.success(),
            "`{}` succeeded but should fail\n{}",
            self.line,
            self.stderr()
        );
        self
    }
}

pub fn xtask(args: &[&str]) -> Command {
    let mut cmd = Command::new(XTASK);
    cmd.args(args).envs(selection_env()).stdin(std::process::Stdio::null());
    cmd
}

pub fn run(mut cmd: Command) -> Run {
    let line = format!("{cmd:?}");
    eprintln!("$ {line}");
    let start = Instant::now();
    let output = cmd.output().expect("start xtask");
    Run { output, elapsed: start.elapsed(), line }
}

/// `cargo xtask all`, which must succeed: the tiny kernel, BusyBox and the images a test starts
/// from. A no-op when an earlier binary built them; when the test runs alone, a build that
/// fails is reported as such rather than as the first boot's wrong answer.
#[track_caller]
pub fn all_built() -> Run {
    run(xtask(&["all"])).ok()
}

/// The repository's root folder.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

pub fn target_dir() -> PathBuf {
    // the test binary lives in <target>/debug/deps/
    let exe = PathBuf::from(XTASK);
    exe.parent().and_then(Path::parent).expect("xtask in <target>/debug").to_path_buf()
}

pub fn sha256(path: &Path) -> String {
    artifact::sha256_file(path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// A fresh folder of this name (and the process's id) in the temporary folder.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // the unprivileged phase walks into it
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

/// Runs `cmd` as uid/gid 65534 when the test runs as root (CI does), giving it `dir`. A
/// checkout that user cannot read (under a private home, say) runs it as this user instead, and
/// says so.
pub fn unprivileged(cmd: Command, dir: &Path) -> Command {
    let is_root =
        Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if !is_root {
        return cmd;
    }
    let status = Command::new("chown").args(["-R", "65534:65534"]).arg(dir).status().unwrap();
    assert!(status.success());
    let as_nobody = |program: &std::ffi::OsStr| {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(program);
        c
    };
    let repo = repo();
    let readable = as_nobody("test".as_ref())
        .arg("-r")
        .arg(repo.join("busybox-config/static.config"))
        .arg("-a")
        .arg("-x")
        .arg(XTASK)
        .status()
        .is_ok_and(|s| s.success());
    if !readable {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: running the image step as uid 65534: it cannot read {} (running it as root in another folder instead)",
            repo.display()
        );
        return cmd;
    }
    let mut wrapped = as_nobody(cmd.get_program());
    wrapped.args(cmd.get_args()).env("HOME", dir).stdin(std::process::Stdio::null());
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    wrapped
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The commands of the first `sh` block under README's `## heading`, each as the words a shell
/// would give (`cargo xtask` and `sudo target/debug/xtask` left off, comments dropped): the
/// examples a test runs as written.
pub fn readme_examples(heading: &str) -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme.split(&format!("\n## {heading}\n")).nth(1).expect("the README's section");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    block
        .lines()
        .filter_map(|l| {
            l.strip_prefix("cargo xtask ").or_else(|| l.strip_prefix("sudo target/debug/xtask "))
        })
        .map(shell_words)
        .collect()
}

/// A line's words as a POSIX shell splits them: single and double quotes, and a `#` that starts
/// a word starting a comment (enough for README's examples).
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut in_word) = (Vec::new(), String::new(), false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    word.push(q);
                }
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Runs README's `examples` as written in `dir` (with `examples/` there, as in the checkout),
/// each expected to end with its code in `codes`.
pub fn run_readme_examples(examples: &[Vec<String>], codes: &[i32], dir: &Path) {
    assert_eq!(examples.len(), codes.len(), "README's examples changed: {examples:?}");
    let link = dir.join("examples");
    if !link.exists() {
        std::os::unix::fs::symlink(repo().join("examples"), &link).unwrap();
    }
    for (words, code) in examples.iter().zip(codes) {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let mut command = xtask(&words);
        command.current_dir(dir);
        let ran = run(command);
        assert_eq!(
            ran.output.status.code(),
            Some(*code),
            "README's `cargo xtask {}`:\n{}\n{}",
            words.join(" "),
            ran.stdout(),
            ran.stderr()
        );
    }
}
