//! The images end to end, offline: a fake BusyBox install (a stand-in binary and BusyBox's
//! symlinks) made into the tutorial rootfs, then into cpio and ext4 images, read back with the
//! host's own tools (GNU cpio, e2fsprogs).

use std::{
    fs,
    os::unix::fs::{symlink, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use expect_test::expect;
use rootfs::{Compression, Kind, Tree};
use xshell::{cmd, Shell};

const MTIME: u64 = 1_700_000_000;

/// A folder shaped like BusyBox's `make install` output: bin/busybox, applet symlinks in bin,
/// sbin, usr/bin and usr/sbin, and linuxrc. `applets_per_dir` 0 gives the few the tutorial
/// uses; about 100 gives a full BusyBox's ~400 entries. `reversed` creates everything in the
/// opposite order, so the host's directory order differs between two such folders.
fn fake_busybox(root: &Path, applets_per_dir: usize, reversed: bool) {
    let mut links: Vec<(String, &str)> = vec![
        ("bin/sh".into(), "busybox"),
        ("bin/ls".into(), "busybox"),
        ("bin/mount".into(), "busybox"),
        ("bin/umount".into(), "busybox"),
        ("sbin/init".into(), "../bin/busybox"),
        ("sbin/poweroff".into(), "../bin/busybox"),
        ("usr/bin/env".into(), "../../bin/busybox"),
        ("usr/sbin/chroot".into(), "../../bin/busybox"),
        ("linuxrc".into(), "bin/busybox"),
    ];
    for (dir, target) in [
        ("bin", "busybox"),
        ("sbin", "../bin/busybox"),
        ("usr/bin", "../../bin/busybox"),
        ("usr/sbin", "../../bin/busybox"),
    ] {
        links.extend((0..applets_per_dir).map(|i| (format!("{dir}/applet{i:03}"), target)));
    }
    if reversed {
        links.reverse();
    }
    for dir in ["bin", "sbin", "usr/bin", "usr/sbin"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    let busybox = root.join("bin/busybox");
    fs::write(&busybox, fake_binary(1_200_000)).unwrap();
    // group-writable as under a loose umask: the tree must not keep that
    fs::set_permissions(&busybox, fs::Permissions::from_mode(0o775)).unwrap();
    for (link, target) in links {
        symlink(target, root.join(link)).unwrap();
    }
}

/// Deterministic bytes that compress like a binary does, with a run of zeros (which debugfs
/// leaves as a hole).
fn fake_binary(len: usize) -> Vec<u8> {
    let mut state = 0x2545f491u32;
    let mut bytes: Vec<u8> = (0..len)
        .map(|i| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            if i % 7 == 0 {
                (state >> 24) as u8
            } else {
                (i % 13) as u8
            }
        })
        .collect();
    bytes[len / 2..len / 2 + 65536].fill(0);
    bytes
}

fn scratch(sh: &Shell) -> xshell::TempDir {
    sh.create_temp_dir().unwrap()
}

fn tutorial_tree(dir: &Path, applets_per_dir: usize, reversed: bool) -> Tree {
    let install = dir.join("_install");
    fake_busybox(&install, applets_per_dir, reversed);
    rootfs::tutorial_rootfs(&install).unwrap()
}

fn gunzip(gz: &Path, out: &Path) {
    let mut input = flate2::read::GzDecoder::new(fs::File::open(gz).unwrap());
    std::io::copy(&mut input, &mut fs::File::create(out).unwrap()).unwrap();
}

/// What `debugfs -R request` prints, untrimmed (file contents end in their own newline).
fn debugfs(sh: &Shell, image: &Path, request: &str) -> String {
    let output = cmd!(sh, "debugfs -R {request} {image}").quiet().ignore_stderr().output().unwrap();
    String::from_utf8(output.stdout).unwrap()
}

#[track_caller]
fn check_contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "expected {needle:?} in:\n{haystack}");
}

#[test]
fn cpio_listing() {
    let sh = Shell::new().unwrap();
    let dir = scratch(&sh);
    let tree = tutorial_tree(dir.path(), 0, false);
    let mut archive = Vec::new();
    rootfs::write_cpio(&tree, MTIME, &mut archive).unwrap();
    let listing = rootfs::list_cpio(&archive).unwrap();
    assert!(listing.iter().all(|entry| entry.mtime == MTIME as u32));
    let text: String = listing.iter().map(|entry| format!("{entry}\n")).collect();
    expect![[r#"
        040755 0:0       0    - bin
        100755 0:0 1200000    - bin/busybox
        120777 0:0       7    - bin/ls -> busybox
        120777 0:0       7    - bin/mount -> busybox
        120777 0:0       7    - bin/sh -> busybox
        120777 0:0       7    - bin/umount -> busybox
        040755 0:0       0    - dev
        020600 0:0       0  5,1 dev/console
        020666 0:0       0  1,3 dev/null
        040755 0:0       0    - etc
        100644 0:0     160    - etc/fstab
        040755 0:0       0    - etc/init.d
        100755 0:0     454    - etc/init.d/rcS
        100644 0:0     448    - etc/inittab
        120777 0:0      11    - linuxrc -> bin/busybox
        040755 0:0       0    - mnt
        040755 0:0       0    - proc
        040755 0:0       0    - sbin
        120777 0:0      14    - sbin/init -> ../bin/busybox
        100755 0:0    3335    - sbin/kardel-root
        100755 0:0    3806    - sbin/kardel-run
        100755 0:0     834    - sbin/kardel-setup
        120777 0:0      14    - sbin/poweroff -> ../bin/busybox
        040755 0:0       0    - sys
        040755 0:0       0    - tmp
        040755 0:0       0    - usr
        040755 0:0       0    - usr/bin
        120777 0:0      17    - usr/bin/env -> ../../bin/busybox
        040755 0:0       0    - usr/sbin
        120777 0:0      17    - usr/sbin/chroot -> ../../bin/busybox
    "#]]
    .assert_eq(&text);
}

/// GNU cpio reads the archive as we do: same names in the same order, all owned by 0:0, the
/// console a character device 5,1.
#[test]
fn gnu_cpio_agrees() {
    let sh = Shell::new().unwrap();
    let dir = scratch(&sh);
    let tree = tutorial_tree(dir.path(), 3, false);
    let archive = dir.path().join("rootfs.cpio");
    let mut bytes = Vec::new();
    rootfs::write_cpio(&tree, MTIME, &mut bytes).unwrap();
    fs::write(&archive, &bytes).unwrap();

    let ours: Vec<String> =
        rootfs::list_cpio(&bytes).unwrap().into_iter().map(|e| e.name).collect();
    let theirs = cmd!(sh, "cpio -it --quiet -F {archive}").quiet().read().unwrap();
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(ours, theirs);

    let verbose =
        cmd!(sh, "cpio -itv --quiet --numeric-uid-gid -F {archive}").quiet().read().unwrap();
    for line in verbose.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&fields[2..4], ["0", "0"], "{line}");
    }
    let console = verbose.lines().find(|l| l.ends_with(" dev/console")).unwrap();
    assert!(console.starts_with("crw-------"), "{console}");
    check_contains(console, " 5,   1 ");
    check_contains(&verbose, "sbin/init -> ../bin/busybox");
}

#[test]
fn initramfs_reads_back_in_both_compressions() {
    let sh = Shell::new().unwrap();
    let dir = scratch(&sh);
    let tree = tutorial_tree(dir.path(), 0, false);
    for compression in [Compression::Gzip, Compression::Zstd] {
        let out = dir.path().join(format!("rootfs.cpio.{}", compression.extension()));
        rootfs::write_initramfs(&tree, MTIME, compression, &out).unwrap();
        let listing = rootfs::read_initramfs(&out).unwrap();
        assert_eq!(listing.len(), tree.len(), "{compression}");
    }
    // the host's tools agree that these are plain gzip and zstd
    let gz = dir.path().join("rootfs.cpio.gz");
    let zst = dir.path().join("rootfs.cpio.zst");
    cmd!(sh, "gzip -t {gz}").quiet().run().unwrap();
    if sh.cmd("zstd").arg("--version").quiet().ignore_stdout().run().is_ok() {
        cmd!(sh, "zstd -tq {zst}").quiet().run().unwrap();
    }
}

/// The ext4 image as e2fsprogs sees it: clean, every entry where the tree puts it with the
/// tree's mode and owner 0:0, the tutorial's files inside, /sbin/init a symlink, the console a
/// character device 5,1.
#[test]
fn ext4_image_holds_the_tree() {
    build_and_check_ext4();
}

/// The tutorial's image: 32 MiB, gzip, every time `MTIME`.
#[track_caller]
fn default_ext4(tree: &Tree, out: &Path, work: &Path) {
    rootfs::write_ext4(tree, out, rootfs::DEFAULT_EXT4_SIZE, MTIME, rootfs::Compression::Gzip, work)
        .unwrap()
}

/// Checks `image` against `tree` with e2fsprogs alone.
#[track_caller]
fn check_ext4(sh: &Shell, image: &Path, tree: &Tree) {
    cmd!(sh, "e2fsck -fn {image}").quiet().ignore_stdout().ignore_stderr().run().unwrap();

    // `ls -p` prints /inode/mode/uid/gid/name/size/ for each entry of one folder
    let mut dirs = vec![PathBuf::new()];
    dirs.extend(tree.iter().filter(|(_, e)| e.is_dir()).map(|(p, _)| p.to_owned()));
    let mut seen = Vec::new();
    for dir in &dirs {
        let listing = debugfs(sh, image, &format!("ls -p /{}", dir.display()));
        for line in listing.lines().filter(|l| !l.is_empty()) {
            let fields: Vec<&str> = line.split('/').collect();
            let (mode, uid, gid, name) = (fields[2], fields[3], fields[4], fields[5]);
            if name == "." || name == ".." || (dir.as_os_str().is_empty() && name == "lost+found") {
                assert_eq!((uid, gid), ("0", "0"), "{line}");
                continue;
            }
            let path = dir.join(name);
            let entry =
                tree.get(&path).unwrap_or_else(|| panic!("{} not in the tree", path.display()));
            let expected = format!("{:06o}", entry.type_bits() | entry.mode);
            assert_eq!((mode, uid, gid), (expected.as_str(), "0", "0"), "{}", path.display());
            seen.push(path);
        }
    }
    seen.sort();
    let all: Vec<PathBuf> = tree.iter().map(|(p, _)| p.to_owned()).collect();
    assert_eq!(seen, all);

    let inittab = debugfs(sh, image, "cat /etc/inittab");
    assert_eq!(inittab, fs::read_to_string(files().join("etc/inittab")).unwrap());
    let stat = debugfs(sh, image, "stat /etc/inittab");
    check_contains(&stat, "User:     0   Group:     0");
    check_contains(&stat, "Mode:  0644");
    check_contains(&stat, &format!("mtime: {MTIME:#x}:00000000"));
    let init = debugfs(sh, image, "stat /sbin/init");
    check_contains(&init, "Type: symlink");
    check_contains(&init, "Fast link dest: \"../bin/busybox\"");
    let console = debugfs(sh, image, "stat /dev/console");
    check_contains(&console, "Type: character special");
    check_contains(&console, "Device major/minor number: 05:01");
    let rcs = debugfs(sh, image, "stat /etc/init.d/rcS");
    check_contains(&rcs, "Mode:  0755");
    let busybox = debugfs(sh, image, "stat /bin/busybox");
    check_contains(&busybox, "Mode:  0755");
}

fn files() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("files")
}

/// Two builds from two folders, with the install tree created in opposite orders and a clock
/// that has moved on, give the same bytes for every image.
#[test]
fn images_are_reproducible_across_folders() {
    let sh = Shell::new().unwrap();
    let build = |reversed: bool| -> Vec<String> {
        let dir = scratch(&sh);
        let tree = tutorial_tree(dir.path(), 20, reversed);
        let out = dir.path().join("out");
        let mut hashes = Vec::new();
        for compression in [Compression::Gzip, Compression::Zstd] {
            let path = out.join(format!("rootfs.cpio.{}", compression.extension()));
            rootfs::write_initramfs(&tree, MTIME, compression, &path).unwrap();
            hashes.push(artifact::sha256_file(&path).unwrap());
        }
        let img = out.join("rootfs.img.gz");
        default_ext4(&tree, &img, &dir.path().join("w"));
        hashes.push(artifact::sha256_file(&img).unwrap());
        hashes
    };
    let first = build(false);
    // e2fsprogs stamps times to the second: make sure the wall clock differs between builds
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = build(true);
    assert_eq!(first, second, "cpio.gz, cpio.zst, img.gz");
}

#[test]
fn tree_too_big_says_how_much_it_needs() {
    let sh = Shell::new().unwrap();
    let dir = scratch(&sh);
    let mut tree = Tree::new();
    tree.add_file_bytes("big", fake_binary(6 << 20), 0o644).unwrap();
    let out = dir.path().join("small.img.gz");
    let err =
        rootfs::write_ext4(&tree, &out, 4 << 20, MTIME, rootfs::Compression::Gzip, dir.path())
            .unwrap_err();
    let msg = format!("{err:#}");
    check_contains(&msg, "does not fit in a 4 MiB ext4 image: it needs ");
    assert!(!out.exists(), "a failed build left {}", out.display());
    // ... and the size it names is enough
    let needed: u64 =
        msg.split("it needs ").nth(1).unwrap().split(" MiB").next().unwrap().parse().unwrap();
    rootfs::write_ext4(&tree, &out, needed << 20, MTIME, rootfs::Compression::Gzip, dir.path())
        .unwrap();

    let err =
        rootfs::write_ext4(&tree, &out, 128 << 20, MTIME, rootfs::Compression::Gzip, dir.path())
            .unwrap_err();
    check_contains(&err.to_string(), "does not fit the kernel's ram disk");
}

#[test]
fn hello_initramfs() {
    let sh = Shell::new().unwrap();
    let (a, b) = (scratch(&sh), scratch(&sh));
    let gz = a.path().join("hello.cpio.gz");
    rootfs::build_hello(&sh, "gcc", a.path(), MTIME, rootfs::Compression::Gzip, &gz).unwrap();
    let text: String =
        rootfs::read_initramfs(&gz).unwrap().iter().map(|entry| format!("{entry}\n")).collect();
    let init_size = fs::metadata(a.path().join("hello/init")).unwrap().len();
    assert_eq!(
        text,
        format!(
            "040755 0:0       0    - dev\n\
             020600 0:0       0  5,1 dev/console\n\
             100755 0:0 {init_size:>7}    - init\n"
        )
    );
    let again = b.path().join("hello.cpio.gz");
    rootfs::build_hello(&sh, "gcc", b.path(), MTIME, rootfs::Compression::Gzip, &again).unwrap();
    assert_eq!(artifact::sha256_file(&gz).unwrap(), artifact::sha256_file(&again).unwrap());

    // it greets, then keeps running
    let mut child = Command::new(a.path().join("hello/init"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "Hello world!\n");
    assert!(child.try_wait().unwrap().is_none(), "init exited");
    child.kill().unwrap();
    child.wait().unwrap();

    let err =
        rootfs::build_hello(&sh, "no-such-cc", a.path(), MTIME, rootfs::Compression::Gzip, &gz)
            .unwrap_err();
    check_contains(&format!("{err:#}"), "no-such-cc -static -O2 -s");
}

/// Time and size of each image for a tree the size of a full BusyBox install (~400 entries).
#[test]
fn full_size_tree_timings() {
    let sh = Shell::new().unwrap();
    let dir = scratch(&sh);
    let tree = tutorial_tree(dir.path(), 100, false);
    let out = dir.path().join("out");
    let mut report = format!("{} entries\n", tree.len());
    let mut time = |what: &str, path: &Path, build: &dyn Fn()| {
        let start = Instant::now();
        build();
        let size = fs::metadata(path).unwrap().len();
        report += &format!("  {what}: {:.2}s, {size} bytes\n", start.elapsed().as_secs_f64());
    };
    for compression in [Compression::Gzip, Compression::Zstd] {
        let path = out.join(format!("rootfs.cpio.{}", compression.extension()));
        time(&format!("cpio.{}", compression.extension()), &path, &|| {
            rootfs::write_initramfs(&tree, MTIME, compression, &path).unwrap()
        });
    }
    let img = out.join("rootfs.img.gz");
    time("img.gz", &img, &|| default_ext4(&tree, &img, &dir.path().join("w")));
    eprint!("{report}");
    assert!(matches!(tree.get("bin/busybox").unwrap().kind, Kind::File(_)));
}

// -- the ext4 step as an ordinary user ---------------------------------------------------------

const CHILD_TEST: &str = "ext4_unprivileged_child";
const CHILD_ENV: &str = "ROOTFS_TEST_EXPECT_UNPRIVILEGED";

fn uid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap() // the effective uid
}

/// The image step needs no privilege: run as root, this test re-runs [`ext4_unprivileged_child`]
/// as uid 65534 through `setpriv`; run as anyone else, that is already the case.
#[test]
fn ext4_builds_as_unprivileged_user() {
    if uid() != 0 {
        build_and_check_ext4();
        return;
    }
    let sh = Shell::new().unwrap();
    if sh.cmd("setpriv").arg("--version").quiet().ignore_stdout().run().is_err() {
        eprintln!("skipped: running as root and setpriv is missing, so no unprivileged run");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        // root's TMPDIR, if any, may not be writable for nobody
        .env("TMPDIR", "/tmp")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "unprivileged run failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
#[ignore = "run as uid 65534 by ext4_builds_as_unprivileged_user"]
fn ext4_unprivileged_child() {
    if std::env::var_os(CHILD_ENV).is_some() {
        assert_eq!(uid(), 65534, "setpriv did not drop privileges");
    }
    build_and_check_ext4();
}

fn build_and_check_ext4() {
    let sh = Shell::new().unwrap();
    let dir = scratch(&sh);
    let tree = tutorial_tree(dir.path(), 5, false);
    let gz = dir.path().join("rootfs.img.gz");
    default_ext4(&tree, &gz, &dir.path().join("work"));
    let image = dir.path().join("rootfs.img");
    gunzip(&gz, &image);
    assert_eq!(fs::metadata(&image).unwrap().len(), 32 << 20);
    check_ext4(&sh, &image, &tree);
    eprintln!("built and checked the ext4 image as uid {}", uid());
}
