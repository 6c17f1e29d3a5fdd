//! A new user's bad input: each refused at once (well under 2 s), naming the flag or the variable
//! that set it, with nothing fetched and nothing written.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

/// A fresh target folder, an empty cache, no mirror, none of the user's KARDEL_* variables.
struct Fresh {
    dir: PathBuf,
}

impl Fresh {
    fn new(name: &str) -> Fresh {
        let dir =
            std::env::temp_dir().join(format!("kardel-bad-input-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Fresh { dir }
    }

    fn xtask(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(XTASK);
        for (key, _) in std::env::vars() {
            if key.starts_with("KARDEL_") {
                cmd.env_remove(key);
            }
        }
        cmd.args(args)
            // a new user's: no settings file of this machine's
            .env("KARDEL_CONFIG", "")
            .env("CARGO_TARGET_DIR", self.dir.join("target"))
            .env("KARDEL_CACHE_DIR", self.dir.join("cache"))
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs and expects a quick failure whose stderr holds every one of `expected`, and nothing
    /// written.
    #[track_caller]
    fn refuses(&self, args: &[&str], env: &[(&str, &str)], expected: &[&str]) {
        let start = Instant::now();
        let out = self.xtask(args, env).output().unwrap();
        let elapsed = start.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} {env:?} succeeded:\n{stderr}");
        for text in expected {
            assert!(stderr.contains(text), "{args:?} {env:?}: no {text:?} in:\n{stderr}");
        }
        assert!(elapsed < Duration::from_secs(2), "{args:?} took {elapsed:?}");
        for written in ["target", "cache"] {
            assert!(!self.dir.join(written).exists(), "{args:?} wrote {written}/");
        }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn bad_flags_are_refused_before_any_work() {
    let fresh = Fresh::new("flags");
    fresh.refuses(&["check", "--accel", "banana"], &[], &["--accel", "banana", "auto, kvm, tcg"]);
    fresh.refuses(&["check", "--cpus", "0"], &[], &["--cpus", "0"]);
    fresh.refuses(&["run", "--initramfs", "--memory", "1"], &[], &["--memory", "64"]);
    fresh.refuses(&["all", "--jobs", "0"], &[], &["--jobs", "0"]);
    fresh.refuses(&["all", "-j", "0"], &[], &["--jobs", "0"]);
    fresh.refuses(&["all", "--image-size-mib", "100000"], &[], &["--image-size-mib", "1..=64"]);
    fresh.refuses(&["rootfs", "--image-size-mib", "0"], &[], &["--image-size-mib"]);
    fresh.refuses(&["all", "--compress", "lzma"], &[], &["--compress", "gzip, zstd"]);
    fresh.refuses(&["all", "--profile", "huge"], &[], &["--profile", "default", "tiny"]);
    fresh.refuses(&["all", "--arch", "sparc"], &[], &["--arch", "x86_64"]);
    fresh.refuses(
        &["all", "--ccache-remote", "ftp://cache/k"],
        &[],
        &["--ccache-remote", "ftp://cache/k", "redis://"],
    );
    fresh.refuses(
        &["all", "--no-ccache", "--ccache-remote", "redis://127.0.0.1:6379"],
        &[],
        &["--ccache-remote", "--no-ccache turns ccache off"],
    );
}

#[test]
fn a_test_run_without_a_suite_or_with_nowhere_to_report_is_refused() {
    let fresh = Fresh::new("test");
    fresh.refuses(&["test"], &[], &["--kunit"]);
    fresh.refuses(&["test", "--kunit", "list *"], &[], &["--kunit", "one kernel argument"]);
    fresh.refuses(
        &["test", "--kunit", "--junit", "/nonexistent/results/kunit.xml"],
        &[],
        &["--junit /nonexistent/results/kunit.xml: no folder /nonexistent/results"],
    );
    fresh.refuses(&["run", "--json", "/nonexistent/r.json", "--", "true"], &[], &["--json"]);
    fresh.refuses(&["run", "--initramfs", "--tap"], &[], &["--tap", "give one after --"]);
}

/// A report path that cannot be written is named once, before anything is built or booted.
#[test]
fn a_report_path_that_cannot_be_written_is_refused_once_before_any_work() {
    let fresh = Fresh::new("report-paths");
    for (flag, path, says) in [
        ("--junit", "/proc/version", "cannot write in /proc"),
        ("--json", "/proc", "is a folder"),
        ("--junit", "/nonexistent/r.xml", "no folder /nonexistent"),
    ] {
        // the files other commands write for a user: check's picture, the bench's figures
        let (other, other_flag) = match flag {
            "--junit" => ("check", "--timeline"),
            _ => ("bench", "--json"),
        };
        for (command, flag) in [
            (&["run", "--tap", flag, path, "--", "true"][..], flag),
            (&["test", "--kunit", flag, path], flag),
            (&[other, other_flag, path], other_flag),
        ] {
            let out = fresh.xtask(command, &[]).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{command:?}");
            assert_eq!(stderr.matches(says).count(), 1, "{command:?} said it not once:\n{stderr}");
            assert!(stderr.contains(&format!("{flag} {path}")), "{command:?}:\n{stderr}");
            assert!(!fresh.dir.join("target").exists(), "{command:?} built");
        }
    }
}

#[test]
fn a_boot_through_uboot_is_refused_where_it_cannot_work() {
    let fresh = Fresh::new("uboot");
    fresh.refuses(&["check", "--uboot", "--arch", "riscv64"], &[], &["not set up for riscv64"]);
    fresh.refuses(&["uboot", "--uboot-board", "sandbox"], &[], &["--uboot-board", "qemu-x86"]);
    fresh.refuses(
        &["uboot", "--uboot-version", "1999.01"],
        &[],
        &["no pinned u-boot version 1999.01", "2024.04 (default)"],
    );
    fresh.refuses(
        &["check", "--uboot", "--uboot-source", "/nonexistent/u-boot.tar.bz2"],
        &[],
        &["--uboot-source /nonexistent/u-boot.tar.bz2: no such file"],
    );
    fresh.refuses(
        &["uboot", "--uboot-fragment", "/nonexistent.config"],
        &[],
        &["/nonexistent.config"],
    );
    fresh.refuses(&["run", "--uboot", "--", "true"], &[], &["not to a command"]);
    fresh.refuses(&["run", "--uboot", "--initrd", "--fast"], &[], &["--fast", "U-Boot"]);
    fresh.refuses(
        &["check", "--uboot", "--uboot-rom", "/usr/bin/env"],
        &[],
        &["--uboot-rom", "cannot be used with"],
    );
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    let fresh = Fresh::new("env");
    fresh.refuses(&["all"], &[("KARDEL_JOBS", "abc")], &["--jobs", "KARDEL_JOBS=\"abc\""]);
    fresh.refuses(&["check"], &[("KARDEL_ACCEL", "banana")], &["KARDEL_ACCEL"]);
    // the same value on the command line is the flag's, not the variable's
    let out = fresh.xtask(&["all", "--jobs", "abc"], &[("KARDEL_JOBS", "3")]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("KARDEL_JOBS"));
}

#[test]
fn an_empty_variable_is_unset() {
    let fresh = Fresh::new("empty");
    // were the empty KARDEL_KERNEL_SOURCE a value, clap would refuse it first ("a value is
    // required"); unset, the run gets as far as the next check, of the BusyBox source
    let missing = fresh.dir.join("no-such-busybox.tar.bz2");
    fresh.refuses(
        &["fetch"],
        &[
            ("KARDEL_KERNEL_SOURCE", ""),
            ("KARDEL_MIRRORS", "  "),
            ("KARDEL_PROFILE", ""),
            ("KARDEL_BUSYBOX_SOURCE", missing.to_str().unwrap()),
        ],
        &["--busybox-source", "no-such-busybox.tar.bz2: no such file or folder"],
    );
}

#[test]
fn a_missing_fragment_is_named_before_any_work() {
    let fresh = Fresh::new("fragment");
    fresh.refuses(
        &["kernel", "--kernel-fragment", "/nonexistent/my.config"],
        &[],
        &["/nonexistent/my.config"],
    );
    let bad = fresh.dir.join("bad.config");
    std::fs::write(&bad, "CONFIG_EXT4_FS=maybe\n").unwrap();
    fresh.refuses(&["all", "--kernel-fragment", bad.to_str().unwrap()], &[], &["bad.config:1"]);
}

#[test]
fn subcommands_show_only_their_flags() {
    let help = |sub: &str| {
        let out = Command::new(XTASK).args([sub, "--help"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(!help("fetch").contains("--accel"));
    assert!(!help("all").contains("--configure-only"));
    assert!(help("kernel").contains("--configure-only"));
    let check = help("check");
    assert!(
        check.contains("--accel") && check.contains("[possible values: auto, kvm, tcg]"),
        "{check}"
    );
    assert!(help("all").contains("tiny:"), "profiles are listed with what they are");
}

#[test]
fn something_that_is_not_a_kernel_tree_is_named_as_such() {
    let fresh = Fresh::new("not-a-kernel");
    let empty = fresh.dir.join("empty-tree");
    std::fs::create_dir_all(&empty).unwrap();
    let out = fresh
        .xtask(&["kernel", "--configure-only", "--kernel-source", empty.to_str().unwrap()], &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is not a Linux kernel tree"), "{stderr}");
    assert!(!stderr.contains("No rule to make target"), "{stderr}");
    let busybox = Path::new("/var/cache/offline-mirror/busybox-1.35.0.tar.bz2");
    if !busybox.is_file() {
        eprintln!(
            "skipped: a BusyBox tarball as the kernel source ({} is absent)",
            busybox.display()
        );
        return;
    }
    let out = fresh
        .xtask(&["kernel", "--configure-only", "--kernel-source", busybox.to_str().unwrap()], &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a Linux kernel tree"), "{stderr}");
}

#[test]
fn with_no_source_reachable_the_error_says_the_ways_forward() {
    let fresh = Fresh::new("offline");
    let start = Instant::now();
    let out = fresh.xtask(&["fetch", "kernel"], &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    if !stderr.contains("no source could be reached") {
        // a machine with network access fetched or failed otherwise: nothing to check here
        eprintln!("skipped: the offline error, this machine reaches a download server");
        return;
    }
    for way in ["--mirror", "--kernel-source", "--cache-dir", "Offline use"] {
        assert!(stderr.contains(way), "no {way} in:\n{stderr}");
    }
    assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
}

/// Paths QEMU would make sockets at, shares that would hide or collide, a timeout no clock
/// honours, gdb with no guest: each refused up front, and the user's file still there.
#[test]
fn what_would_hurt_the_users_files_or_another_run_is_refused() {
    let fresh = Fresh::new("edges");
    let note = fresh.dir.join("notes.txt");
    std::fs::write(&note, "mine\n").unwrap();
    let note_arg = note.to_str().unwrap();
    for flag in ["--monitor", "--qmp"] {
        fresh.refuses(&["run", "--initramfs", flag, note_arg], &[], &[flag, "is not a socket"]);
    }
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "mine\n", "QEMU's socket took the file");
    let same = fresh.dir.join("mon.sock");
    let same = same.to_str().unwrap();
    fresh.refuses(
        &["run", "--initramfs", "--monitor", same, "--qmp", same],
        &[],
        &["--monitor and --qmp are the same path"],
    );
    let comma = fresh.dir.join("a,b.sock");
    fresh.refuses(&["run", "--initramfs", "--qmp", comma.to_str().unwrap()], &[], &["comma"]);

    let (one, two) = (fresh.dir.join("one"), fresh.dir.join("two"));
    for dir in [&one, &two] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let tagged = |tag: &str, dir: &Path| format!("{tag}={}", dir.display());
    fresh.refuses(
        &["run", "--share", &tagged("x", &one), "--share-ro", &tagged("x", &two), "--", "true"],
        &[],
        &["two shares are tagged x", one.to_str().unwrap(), two.to_str().unwrap()],
    );
    // a folder whose name holds `=` is a folder when its path says so
    let odd = fresh.dir.join("a=b");
    std::fs::create_dir_all(&odd).unwrap();
    fresh.refuses(&["run", "--share", "a=b", "--", "true"], &[], &["b is not a folder", "./NAME"]);

    fresh.refuses(
        &["run", "--timeout", "18446744073709551615", "--", "true"],
        &[],
        &["--timeout", "1..=31536000"],
    );
    fresh.refuses(
        &["gdb", "--port", "1"],
        &[],
        &["no guest waits for gdb on 127.0.0.1:1", "cargo xtask run --gdb=1"],
    );
}

#[test]
fn a_bisect_without_a_history_or_with_a_commit_it_lacks_is_refused() {
    let fresh = Fresh::new("bisect");
    fresh.refuses(&["bisect", "--bad", "HEAD"], &[], &["--good"]);
    // a flag a variable set is not shown as required
    fresh.refuses(
        &["bisect", "--bad", "HEAD"],
        &[("KARDEL_KERNEL_SOURCE", "/usr/src")],
        &["Usage: cargo xtask bisect [OPTIONS] --kernel-source DIR (--good REV --bad REV | --replay LOG)"],
    );
    fresh.refuses(&["bisect", "--good", "v1", "--bad", "v2"], &[], &["--kernel-source DIR"]);
    let plain = fresh.dir.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let plain_arg = plain.display().to_string();
    fresh.refuses(
        &["bisect", "--kernel-source", &plain_arg, "--good", "v1", "--bad", "v2"],
        &[],
        &["--kernel-source", "not a git work tree"],
    );
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .arg("-C")
            .arg(&plain)
            .args(args)
            .env("GIT_AUTHOR_NAME", "a")
            .env("GIT_AUTHOR_EMAIL", "a@example.invalid")
            .env("GIT_COMMITTER_NAME", "a")
            .env("GIT_COMMITTER_EMAIL", "a@example.invalid")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "one"]);
    fresh.refuses(
        &["bisect", "--kernel-source", &plain_arg, "--good", "no-such-tag", "--bad", "HEAD"],
        &[],
        &["--good no-such-tag: not a commit"],
    );
    git(&["commit", "-q", "--allow-empty", "-m", "two"]);
    fresh.refuses(
        &["bisect", "--kernel-source", &plain_arg, "--good", "HEAD", "--bad", "HEAD~0"],
        &[],
        &["--good HEAD and --bad HEAD~0 are the same commit", "nothing to bisect"],
    );
    fresh.refuses(
        &["bisect", "--kernel-source", &plain_arg, "--good", "HEAD", "--bad", "HEAD~1"],
        &[],
        &["is not an ancestor of --bad"],
    );
}

/// `run --target NAME` that no settings file has, and a target with a key no flag has.
#[test]
fn a_named_target_that_is_not_there_is_refused() {
    let fresh = Fresh::new("targets");
    let file = fresh.dir.join("kardel.toml");
    std::fs::write(&file, "[target.rv]\narch = \"riscv64\"\ncommand = [\"true\"]\n").unwrap();
    let config = [("KARDEL_CONFIG", file.to_str().unwrap())];
    fresh.refuses(&["run", "--target", "rv5"], &config, &["--target rv5", "they have rv"]);
    std::fs::write(&file, "[target.rv]\narhc = \"riscv64\"\n").unwrap();
    fresh.refuses(
        &["run", "--target", "rv"],
        &config,
        &["in [target.rv]", "kardel.toml:2", "`arch`"],
    );
    fresh.refuses(&["run", "--all-targets"], &config, &["kardel.toml:2", "`arhc`"]);
    std::fs::remove_file(&file).unwrap();
}

/// `run --rootfs DIR`: a folder that is not there, or whose programs are another architecture's
/// (the host's own `/` for a riscv64 guest), is refused naming both, before any build.
#[test]
fn a_root_the_guest_cannot_run_is_refused() {
    let fresh = Fresh::new("rootfs");
    let host = std::env::consts::ARCH;
    let other = if host == "riscv64" { "x86_64" } else { "riscv64" };
    fresh.refuses(
        &["run", "--arch", other, "--rootfs", "/", "--", "true"],
        &[],
        &["--rootfs /", &format!("built for {host} (bin/sh), the guest is {other}")],
    );
    fresh.refuses(
        &["run", "--rootfs", "/no/such/root", "--", "true"],
        &[],
        &["--rootfs /no/such/root", "no such folder"],
    );
    fresh.refuses(
        &["run", "--share", "kardelroot=/tmp", "--rootfs", "/", "--", "true"],
        &[],
        &["kardelroot", "--rootfs's own tag"],
    );
}

#[test]
fn a_lava_job_that_cannot_be_written_or_run_here_is_refused() {
    let fresh = Fresh::new("lava");
    let job = fresh.dir.join("job.yaml");
    let job_arg = job.display().to_string();
    fresh.refuses(&["check", "--lava-job", &job_arg], &[], &["--lava-job", "--initramfs"]);
    fresh.refuses(&["check", "--hello", "--lava-job", &job_arg], &[], &["hello", "log in"]);
    fresh.refuses(
        &["check", "--initramfs", "--lava-job", &job_arg, "--share", "/tmp"],
        &[],
        &["--share", "LAVA job"],
    );
    fresh.refuses(
        &["check", "--initramfs", "--lava-job", &job_arg, "--artifact-url", "ftp://lab/k"],
        &[],
        &["--artifact-url", "ftp://lab/k", "http"],
    );
    fresh.refuses(&["check", "--artifact-url", "https://lab/k"], &[], &["--lava-job"]);
    fresh.refuses(&["run", "--lava-job", &job_arg], &[], &["--lava-job", "after --"]);
    // a job file that cannot be written is said before the build
    for command in [&["check", "--initramfs"][..], &["test", "--kunit"], &["run", "--initramfs"]] {
        let mut args = command.to_vec();
        args.extend(["--lava-job", "/no/such/folder/job.yaml"]);
        if command[0] == "run" {
            args.extend(["--", "true"]);
        }
        fresh.refuses(&args, &[], &["--lava-job /no/such/folder/job.yaml"]);
    }
    fresh.refuses(
        &["run", "--lava-job", &job_arg, "--rootfs", "/", "--", "true"],
        &[],
        &["--lava-job", "`root`"],
    );
    fresh.refuses(&["lava", &job_arg], &[], &["job.yaml", "not a file"]);
    let write = |text: &str| std::fs::write(&job, text).unwrap();
    write("device_type: beaglebone-black\ncontext: {arch: arm}\n");
    fresh.refuses(&["lava", &job_arg], &[], &["job.yaml", "beaglebone-black"]);
    write("device_type: qemu\ncontext: {arch: mips}\n");
    fresh.refuses(&["lava", &job_arg], &[], &["job.yaml", "\"mips\"", "x86_64"]);
    write("- not: a job\n");
    fresh.refuses(&["lava", &job_arg], &[], &["job.yaml", "not a LAVA job"]);
}

/// `lava JOB` runs lava-run as root: a job that would reach past its guest and its own images,
/// an image that is not there or whose server does not answer, and an output folder holding
/// someone else's files are each refused before any package check, naming the job file and
/// what is wrong, with the user's files left as they were.
#[test]
fn a_lava_job_reaching_past_its_guest_or_its_folder_is_refused() {
    let fresh = Fresh::new("lava-trust");
    for image in ["bzImage", "rootfs.cpio.gz"] {
        std::fs::write(fresh.dir.join(image), "").unwrap();
    }
    let job = fresh.dir.join("job.yaml");
    let job_arg = job.display().to_string();
    let write = |kernel_url: &str, rootfs_arg: &str| {
        let text = format!(
            "device_type: qemu\njob_name: t\ncontext: {{arch: x86_64, no_kvm: true}}\nactions:\n\
             - deploy:\n    to: tmpfs\n    images:\n      kernel:\n        url: {kernel_url}\n        \
             image_arg: -kernel {{kernel}} -append 'console=ttyS0'\n      rootfs:\n        \
             url: file://{}\n        image_arg: {rootfs_arg}\n",
            fresh.dir.join("rootfs.cpio.gz").display()
        );
        std::fs::write(&job, text).unwrap();
    };
    let kernel = format!("file://{}", fresh.dir.join("bzImage").display());

    // QEMU options that write files here: refused by name, the file not made
    let log = fresh.dir.join("qemu.log");
    write(&kernel, &format!("-initrd {{rootfs}} -D {}", log.display()));
    fresh.refuses(&["lava", &job_arg], &[], &["job.yaml", "-D", "--trust-job"]);
    write(&kernel, "-initrd {rootfs} -serial file:/tmp/x -drive file=/etc/shadow,format=raw");
    fresh.refuses(&["lava", &job_arg], &[], &["job.yaml", "-serial file:/tmp/x", "/etc/shadow"]);
    assert!(!log.exists());

    // an output folder with a file of the user's: refused, the file kept
    write(&kernel, "-initrd {rootfs}");
    let mine = fresh.dir.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("keep"), "mine\n").unwrap();
    let mine_arg = mine.display().to_string();
    fresh.refuses(
        &["lava", &job_arg, "--output-dir", &mine_arg],
        &[],
        &[&mine_arg, "keep", "did not make"],
    );
    assert_eq!(std::fs::read_to_string(mine.join("keep")).unwrap(), "mine\n");

    // images that are not there: refused at once rather than retried by LAVA for minutes
    let missing = format!("file://{}", fresh.dir.join("no-such-bzImage").display());
    write(&missing, "-initrd {rootfs}");
    fresh.refuses(&["lava", &job_arg], &[], &["job.yaml", &missing, "no such file"]);
    write("http://127.0.0.1:1/x", "-initrd {rootfs}");
    fresh.refuses(
        &["lava", &job_arg],
        &[],
        &["job.yaml", "http://127.0.0.1:1/x", "does not answer"],
    );

    // --trust-job lets the options through, not a missing image
    write(&missing, "-initrd {rootfs} -D /tmp/kardel-trusted.log");
    fresh.refuses(&["lava", &job_arg, "--trust-job"], &[], &[&missing]);
}

/// A settings file's mistakes are named with the file, the line and the key before any work; a
/// flag's variable wins over the file; `config` says where each value came from.
#[test]
fn a_settings_file_is_read_as_the_flags_variables_and_its_mistakes_are_named() {
    let fresh = Fresh::new("settings");
    let file = fresh.dir.join("kardel.toml");
    let config = file.display().to_string();
    let write = |text: &str| std::fs::write(&file, text).unwrap();
    let with_file = [("KARDEL_CONFIG", config.as_str())];

    write("profile = \"tiny\"\nkernal-source = \"/usr/src\"\n");
    fresh.refuses(
        &["all"],
        &with_file,
        &[&format!("{config}:2: `kernal-source` is not a setting; did you mean `kernel-source`?")],
    );
    write("# mine\nprofile = \"huge\"\n");
    fresh.refuses(&["all"], &with_file, &["--profile", "huge", &format!("came from {config}:2")]);
    fresh.refuses(
        &["all"],
        &[("KARDEL_CONFIG", "/nonexistent/kardel.toml")],
        &["/nonexistent/kardel.toml"],
    );

    write("profile = \"tiny\"\nmemory = 256\n");
    let shown = fresh.xtask(&["config"], &with_file).output().unwrap();
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    let line = |key: &str| stdout.lines().find(|l| l.starts_with(&format!("{key} "))).unwrap_or("");
    assert!(
        line("profile").contains("\"tiny\"") && line("profile").ends_with(&format!("{config}:1")),
        "{stdout}"
    );
    assert!(
        line("memory").contains("\"256\"") && line("memory").ends_with(&format!("{config}:2")),
        "{stdout}"
    );
    assert!(line("accel").contains("\"auto\"") && line("accel").ends_with("default"), "{stdout}");
    // the variable wins over the file
    let shown = fresh
        .xtask(&["config"], &[("KARDEL_CONFIG", config.as_str()), ("KARDEL_PROFILE", "default")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&shown.stdout);
    let profile = stdout.lines().find(|l| l.starts_with("profile ")).unwrap_or("");
    assert!(
        profile.contains("\"default\"") && profile.ends_with("environment: KARDEL_PROFILE"),
        "{stdout}"
    );
}
