//! Unpacking: complete trees under their final name, and hostile archives refused.

use std::{os::unix::fs::PermissionsExt, path::Path};

use fetch::unpack;

use crate::support::{
    bzip2, child_env, child_test_args, demo_tar, demo_tar_gz, gzip, is_child, names_in,
    spawn_child_test, tar, timed_lines, with_child_env, xz, Entry, TempDir,
};

#[track_caller]
fn check_demo_tree(top: &Path) {
    assert_eq!(top.file_name().unwrap(), "demo-1.0");
    let configure = top.join("configure");
    assert_eq!(std::fs::read_to_string(&configure).unwrap(), "#!/bin/sh\necho configured\n");
    assert_eq!(std::fs::metadata(&configure).unwrap().permissions().mode() & 0o777, 0o755);
    let main = top.join("src/main.c");
    assert_eq!(std::fs::metadata(&main).unwrap().permissions().mode() & 0o777, 0o644);
    assert_eq!(std::fs::read_link(top.join("src/link.c")).unwrap(), Path::new("main.c"));
    assert_eq!(
        std::fs::read_to_string(top.join("src/link.c")).unwrap(),
        "int main(void) { return 0; }\n"
    );
}

#[track_caller]
fn check_unpacks(archive_name: &str, bytes: &[u8]) {
    let dir = TempDir::new("unpack");
    let archive = dir.join(archive_name);
    std::fs::write(&archive, bytes).unwrap();
    let top = unpack(&archive, &dir.join("tree")).unwrap();
    assert_eq!(top, dir.join("tree/demo-1.0"));
    check_demo_tree(&top);
    assert_eq!(names_in(dir.path()), [archive_name, "tree"], "temporary folder left behind");
}

#[test]
fn every_compression_unpacks() {
    check_unpacks("demo-1.0.tar.gz", &demo_tar_gz());
    check_unpacks("demo-1.0.tar.xz", &xz(&demo_tar()));
    check_unpacks("demo-1.0.tar.bz2", &bzip2(&demo_tar()));
    check_unpacks("demo-1.0.tar", &demo_tar());
}

/// The archive must be refused with an error naming `entry` and the archive, and nothing may be
/// left beside it: no destination, no temporary folder, nothing written outside.
#[track_caller]
fn check_refused(entries: &[Entry], entry: &str, reason: &str) {
    let dir = TempDir::new("refuse");
    let archive = dir.join("evil.tar.gz");
    std::fs::write(&archive, gzip(&tar(entries))).unwrap();
    let err = unpack(&archive, &dir.join("unpacked/tree")).expect_err("archive should be refused");
    let message = format!("{err:#}");
    assert!(message.contains(&format!("`{entry}`")), "entry not named: {message}");
    assert!(message.contains(&archive.display().to_string()), "archive not named: {message}");
    assert!(message.contains(reason), "expected `{reason}` in: {message}");
    assert_eq!(names_in(dir.path()), ["evil.tar.gz", "unpacked"]);
    assert_eq!(names_in(&dir.join("unpacked")), Vec::<String>::new(), "left behind");
}

#[test]
fn parent_dir_entry_is_refused() {
    check_refused(
        &[Entry::Dir("top/"), Entry::File("top/../../escaped", b"x", 0o644)],
        "top/../../escaped",
        "contains `..`",
    );
}

#[test]
fn absolute_entry_is_refused() {
    check_refused(
        &[Entry::File("/tmp/fetch-it-absolute", b"x", 0o644)],
        "/tmp/fetch-it-absolute",
        "absolute",
    );
}

#[test]
fn escaping_symlink_is_refused() {
    check_refused(
        &[
            Entry::Dir("top/"),
            Entry::Symlink("top/out", "../../.."),
            Entry::File("top/out/escaped", b"x", 0o644),
        ],
        "top/out",
        "outside the top-level folder",
    );
    check_refused(
        &[Entry::Dir("top/"), Entry::Symlink("top/etc", "/etc")],
        "top/etc",
        "absolute path `/etc`",
    );
}

#[test]
fn writing_through_a_symlink_is_refused() {
    check_refused(
        &[
            Entry::Dir("top/"),
            Entry::Dir("top/sub/"),
            Entry::Symlink("top/s", "sub"),
            Entry::File("top/s/f", b"x", 0o644),
        ],
        "top/s/f",
        "written through the symlink `top/s`",
    );
}

#[test]
fn hard_link_outside_is_refused() {
    check_refused(
        &[Entry::Dir("top/"), Entry::HardLink("top/passwd", "/etc/passwd")],
        "top/passwd",
        "absolute",
    );
    check_refused(
        &[Entry::Dir("top/"), Entry::HardLink("top/x", "other/file")],
        "top/x",
        "outside the top-level folder",
    );
}

#[test]
fn two_top_level_folders_are_refused() {
    check_refused(
        &[Entry::File("a/x", b"x", 0o644), Entry::File("b/y", b"y", 0o644)],
        "b/y",
        "exactly one top-level folder",
    );
}

#[test]
fn hard_link_inside_is_kept() {
    let dir = TempDir::new("hardlink");
    let archive = dir.join("links.tar");
    std::fs::write(
        &archive,
        tar(&[Entry::File("top/a", b"same", 0o644), Entry::HardLink("top/b", "top/a")]),
    )
    .unwrap();
    let top = unpack(&archive, &dir.join("tree")).unwrap();
    assert_eq!(std::fs::read(top.join("b")).unwrap(), b"same");
}

#[test]
fn unknown_archive_type_is_named() {
    let dir = TempDir::new("zip");
    let archive = dir.join("demo-1.0.zip");
    std::fs::write(&archive, b"PK").unwrap();
    let message = format!("{:#}", unpack(&archive, &dir.join("tree")).unwrap_err());
    assert!(
        message.contains(&archive.display().to_string())
            && message.contains("unknown archive type"),
        "{message}"
    );
}

#[test]
fn corrupt_archive_leaves_nothing() {
    let dir = TempDir::new("corrupt");
    let archive = dir.join("demo-1.0.tar.gz");
    let mut bytes = demo_tar_gz();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&archive, bytes).unwrap();
    let message = format!("{:#}", unpack(&archive, &dir.join("tree")).unwrap_err());
    assert!(message.contains(&archive.display().to_string()), "{message}");
    assert_eq!(names_in(dir.path()), ["demo-1.0.tar.gz"]);
}

#[test]
fn half_unpacked_temp_folder_is_not_taken_as_finished() {
    let dir = TempDir::new("leftover");
    let archive = dir.join("demo-1.0.tar.gz");
    std::fs::write(&archive, demo_tar_gz()).unwrap();
    // What a run killed mid-unpack leaves: its temporary folder, named after a process that is
    // gone (above the kernel's largest pid), holding part of the tree.
    let leftover = dir.join(".tree.tmp-4194305");
    std::fs::create_dir_all(leftover.join("demo-1.0")).unwrap();
    std::fs::write(leftover.join("demo-1.0/configure"), "#!/bin/sh\n# cut he").unwrap();

    let top = unpack(&archive, &dir.join("tree")).unwrap();
    check_demo_tree(&top);
    assert_eq!(names_in(dir.path()), ["demo-1.0.tar.gz", "tree"]);
}

#[test]
fn finished_unpack_is_reused_without_work() {
    let dir = TempDir::new("reuse");
    let archive = dir.join("demo-1.0.tar.gz");
    std::fs::write(&archive, demo_tar_gz()).unwrap();
    let top = unpack(&archive, &dir.join("tree")).unwrap();
    std::fs::write(top.join("configure"), "edited").unwrap();
    std::fs::remove_file(&archive).unwrap();
    assert_eq!(unpack(&archive, &dir.join("tree")).unwrap(), top);
    assert_eq!(std::fs::read_to_string(top.join("configure")).unwrap(), "edited");
}

const UNPACK_CHILD: &str = "unpacking::child_of_unpack_ends_with_one_line";

#[test]
fn child_of_unpack_ends_with_one_line() {
    if !is_child(UNPACK_CHILD) {
        return;
    }
    unpack(Path::new(&child_env("ARCHIVE")), Path::new(&child_env("DEST"))).unwrap();
}

/// On a stderr that is not a terminal (a log, CI) an unpack draws no bar, and says when it is
/// done what it unpacked where, in one line.
#[test]
fn unpack_ends_with_one_line() {
    let dir = TempDir::new("unpack-line");
    let archive = dir.join("demo-1.0.tar.xz");
    std::fs::write(&archive, xz(&demo_tar())).unwrap();
    let mut child = spawn_child_test(
        UNPACK_CHILD,
        &[
            ("ARCHIVE", archive.display().to_string()),
            ("DEST", dir.join("tree").display().to_string()),
        ],
    );
    let lines = timed_lines(&mut child, std::time::Instant::now());
    let status = child.wait().unwrap();
    let lines: Vec<String> = lines.join().unwrap().into_iter().map(|(_, line)| line).collect();
    assert!(status.success(), "{lines:#?}");
    let expected_start = format!(
        "unpacked {} into {}: 4 entries, 0.0 MiB in ",
        archive.display(),
        dir.join("tree/demo-1.0").display()
    );
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].starts_with(&expected_start), "{lines:#?}");
    assert!(lines[0].ends_with('s') && !lines[0].contains('\x1b'), "{lines:#?}");
}

/// On a terminal the unpack draws a bar (`script` gives the child one), clears it, and ends with
/// the same line as in a log.
#[test]
fn unpack_shows_a_bar_on_a_terminal() {
    let script_works = std::process::Command::new("script")
        .args(["-qec", "true", "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !script_works {
        eprintln!("skipped: `script` (util-linux) is not available to give the unpack a terminal");
        return;
    }
    let dir = TempDir::new("unpack-terminal");
    let archive = dir.join("demo-1.0.tar.xz");
    std::fs::write(&archive, xz(&demo_tar())).unwrap();
    let typescript = dir.join("typescript");
    let exe = std::env::current_exe().unwrap();
    let child = format!("'{}' {}", exe.display(), child_test_args(UNPACK_CHILD).join(" "));
    let mut command = std::process::Command::new("script");
    command.args(["-qfec", &child]).arg(&typescript).stdin(std::process::Stdio::null());
    with_child_env(
        &mut command,
        UNPACK_CHILD,
        &[
            ("ARCHIVE", archive.display().to_string()),
            ("DEST", dir.join("tree").display().to_string()),
        ],
    );
    let output = command.output().unwrap();
    let seen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert!(output.status.success(), "{seen}");
    assert!(seen.contains("unpacking demo-1.0.tar.xz ["), "no bar drawn: {seen:?}");
    let done = format!(
        "unpacked {} into {}: 4 entries",
        archive.display(),
        dir.join("tree/demo-1.0").display()
    );
    assert!(seen.contains(&done), "no closing line: {seen:?}");
}
