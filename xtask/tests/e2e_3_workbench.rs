//! The author's workbench and your code in the guest, each on the kernel flavour it needs (the
//! tiny profile gets modules, 9p and networking, and debug info, in folders of their own): your
//! modules and the char device's test, a module that does not compile, an overlay in both images
//! and from two folders, a host folder shared both ways and read-only, networking both ways, a
//! gdb session on the debug kernel.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`. Four
//! tests, one at a time ([`serial`]); each starts from `all` (a no-op after `e2e_1_chain`) and
//! builds its own flavour.

mod common;

use std::{
    io::Write,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use common::{
    all_built, enabled, free_port, repo, run, serial, sha256, target_dir, tempdir, xtask, IMAGES,
};

#[test]
fn your_modules_built_loaded_and_refused() {
    if !enabled("e2e_3_workbench, your modules (the tiny+workbench kernel built, QEMU boots)") {
        return;
    }
    let _one = serial();
    all_built();
    let scratch = tempdir("kardel-e2e-modules");
    let repo = repo();

    // your modules: built against the booted kernel, loaded and unloaded, the test program passes
    let hello = repo.join("examples/modules/hello");
    let echodev = repo.join("examples/modules/echodev");
    let script = "modprobe hello who=e2e && rmmod hello && dmesg | grep 'hello: ' && \
                  modprobe echodev && echodev-test";
    let loaded = run(xtask(&[
        "run",
        "--module",
        hello.to_str().unwrap(),
        "--module",
        echodev.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]))
    .ok();
    let out = loaded.stdout();
    for line in ["hello: hello, e2e", "hello: goodbye, e2e", "echodev-test: ok"] {
        assert!(out.contains(line), "no {line:?} in:\n{out}\n{}", loaded.stderr());
    }
    // two folders that both build hello.ko are refused, naming both
    let other = scratch.join("other-hello");
    let cp = Command::new("cp").arg("-r").arg(&hello).arg(&other).status().unwrap();
    assert!(cp.success());
    let twice = run(xtask(&[
        "all",
        "--module",
        hello.to_str().unwrap(),
        "--module",
        other.to_str().unwrap(),
    ]))
    .fails();
    for shown in [hello.to_str().unwrap(), other.to_str().unwrap(), "both build hello.ko"] {
        assert!(twice.stderr().contains(shown), "no {shown:?} in:\n{}", twice.stderr());
    }
    // a module that does not compile names your file and line
    let broken = scratch.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("Kbuild"), "obj-m := broken.o\n").unwrap();
    std::fs::write(
        broken.join("broken.c"),
        "#include <linux/module.h>\nMODULE_LICENSE(\"GPL\");\nstatic int x = ;\n",
    )
    .unwrap();
    let failed = run(xtask(&["all", "--module", broken.to_str().unwrap()])).fails();
    let shown = format!("{}:3", broken.join("broken.c").display());
    assert!(failed.stderr().contains(&shown), "no {shown} in:\n{}", failed.stderr());
}

#[test]
fn an_overlay_in_both_images_and_from_two_folders() {
    if !enabled("e2e_3_workbench, an overlay (images made, BusyBox in another folder, QEMU boots)")
    {
        return;
    }
    let _one = serial();
    all_built();
    let scratch = tempdir("kardel-e2e-overlay");
    let plain_images = target_dir().join("images/x86_64");
    // variants of earlier runs of this test (each in a folder of another name) go first
    let _ = std::fs::remove_dir_all(plain_images.join("variants"));
    let plain: Vec<String> = IMAGES.iter().map(|name| sha256(&plain_images.join(name))).collect();

    // an overlay: in both images with its modes, the images the same bytes from two folders
    let overlay = scratch.join("overlay");
    std::fs::create_dir_all(overlay.join("usr/bin")).unwrap();
    std::fs::create_dir_all(overlay.join("etc")).unwrap();
    std::fs::write(overlay.join("etc/motd"), "from the overlay\n").unwrap();
    std::fs::write(overlay.join("usr/bin/greet"), "#!/bin/sh\necho greetings\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(overlay.join("usr/bin/greet"), std::fs::Permissions::from_mode(0o755))
        .unwrap();
    std::os::unix::fs::symlink("motd", overlay.join("etc/motd.link")).unwrap();
    for image in ["--initramfs", "--initrd"] {
        let args = ["run", image, "--overlay", overlay.to_str().unwrap(), "--"];
        let seen = run(xtask(
            &[
                &args[..],
                &["sh", "-c", "cat /etc/motd.link; greet; stat -c %a:%u:%g /usr/bin/greet"],
            ]
            .concat(),
        ))
        .ok();
        assert_eq!(seen.stdout(), "from the overlay\ngreetings\n755:0:0\n", "{image}");
    }
    // the overlay's images are a variant of their own: the plain ones are as they were
    let images = variant(&target_dir(), "overlay");
    let with_overlay: Vec<String> = IMAGES.iter().map(|name| sha256(&images.join(name))).collect();
    let after: Vec<String> = IMAGES.iter().map(|name| sha256(&plain_images.join(name))).collect();
    assert_eq!(plain, after, "an overlay run changed the plain images");
    let copy = scratch.join("overlay-copy");
    let cp = Command::new("cp").arg("-r").arg(&overlay).arg(&copy).status().unwrap();
    assert!(cp.success());
    let other = scratch.join("overlay-target");
    let mut rootfs = xtask(&["rootfs", "--overlay", copy.to_str().unwrap()]);
    rootfs.env("CARGO_TARGET_DIR", &other);
    run(rootfs).ok();
    let elsewhere = variant(&other, "overlay-copy");
    let elsewhere: Vec<String> = IMAGES.iter().map(|name| sha256(&elsewhere.join(name))).collect();
    assert_eq!(with_overlay, elsewhere, "an overlay's images differ between folders");

    // an overlay too big for the initrd: the initramfs boots it, the initrd boot says why not
    let big = scratch.join("big");
    std::fs::create_dir_all(&big).unwrap();
    // 40 MiB: more than the 32 MiB initrd. Not zeros, which e2fsprogs would leave as holes; one
    // repeated byte, quick to compress
    std::fs::write(big.join("blob"), vec![0x5a_u8; 40 << 20]).unwrap();
    let big = big.to_str().unwrap();
    let listed = run(xtask(&["run", "--overlay", big, "--", "sh", "-c", "wc -c < /blob"])).ok();
    assert_eq!(listed.stdout().trim(), (40u64 << 20).to_string());
    let refused = run(xtask(&["run", "--initrd", "--overlay", big, "--", "true"])).fails();
    assert!(refused.stderr().contains("was not made"), "{}", refused.stderr());
    assert!(!variant(&target_dir(), "big").join("rootfs.img.gz").exists());
}

/// The one image-set folder of variant `name` (its folders' names, then a digest) under a target
/// folder.
#[track_caller]
fn variant(target: &Path, name: &str) -> std::path::PathBuf {
    let variants = target.join("images/x86_64/variants");
    let found: Vec<_> = std::fs::read_dir(&variants)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            file.strip_prefix(&format!("{name}-")).is_some_and(|d| d.len() == 8)
        })
        .collect();
    assert_eq!(found.len(), 1, "variant {name} in {}: {found:?}", variants.display());
    found[0].clone()
}

#[test]
fn a_share_and_the_network_both_ways() {
    if !enabled(
        "e2e_3_workbench, a share and networking (the tiny+workbench kernel, built for the modules, QEMU boots)",
    ) {
        return;
    }
    let _one = serial();
    all_built();
    let scratch = tempdir("kardel-e2e-share");

    // a host folder both ways, networking both ways: the guest serves a page through a forward
    // on 127.0.0.1 and fetches one from a server on the host's loopback through 10.0.2.2
    let share = scratch.join("share");
    std::fs::create_dir_all(share.join("www")).unwrap();
    std::fs::write(share.join("note"), "written by the host\n").unwrap();
    std::fs::write(share.join("www/index.html"), "served by the guest\n").unwrap();
    let _ends_the_guest = Done(&share);
    let host_server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host_server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in host_server.incoming().flatten() {
            let mut stream = stream;
            let mut request = [0u8; 1024];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = stream
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 16\r\n\r\nserved by host!\n\n");
        }
    });
    let forward_port = free_port();
    let guest = format!(
        "cat /mnt/note; echo from-guest > /mnt/written; wget -q -O - http://10.0.2.2:{host_port}/; \
         httpd -p 80 -h /mnt/www; while [ ! -e /mnt/done ]; do sleep 0.2; done"
    );
    let mut serving = xtask(&[
        "run",
        "--share",
        share.to_str().unwrap(),
        "--forward",
        &format!("{forward_port}:80"),
        "--",
        "sh",
        "-c",
        &guest,
    ]);
    serving.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut serving = serving.spawn().unwrap();
    let page = fetch_when_up(forward_port, Duration::from_secs(900), &mut serving);
    std::fs::write(share.join("done"), "").unwrap();
    let served = serving.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&served.stdout);
    assert!(served.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&served.stderr));
    assert!(page.ends_with("served by the guest\n"), "{page}");
    assert!(stdout.starts_with("written by the host\nserved by host!\n"), "{stdout}");
    assert_eq!(std::fs::read_to_string(share.join("written")).unwrap(), "from-guest\n");
    let read_only = run(xtask(&[
        "run",
        // --net only to boot the workbench flavour (tiny+workbench), not build another
        "--net",
        "--share-ro",
        share.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cat /mnt/note && echo no > /mnt/refused",
    ]));
    assert_eq!(read_only.output.status.code(), Some(1), "{}", read_only.stderr());
    assert!(read_only.stderr().contains("Read-only file system"), "{}", read_only.stderr());
    assert!(!share.join("refused").exists());
}

/// `run --rootfs /`: the host's own dynamically linked programs on the tiny workbench kernel,
/// started in the caller's folder, with stdin, a share and a module of the kernel under test;
/// what the guest writes under `/` is not on the host afterwards.
#[test]
fn the_hosts_programs_in_the_guest() {
    if !enabled("e2e_3_workbench, run --rootfs / (the tiny+workbench kernel, QEMU boots)") {
        return;
    }
    let _one = serial();
    all_built();
    let scratch = tempdir("kardel-e2e-rootfs");
    std::fs::write(scratch.join("note"), "shared\n").unwrap();
    let probe = format!("/kardel-e2e-rootfs-probe-{}", std::process::id());
    let script = format!(
        "ldd --version | head -1; python3 -c 'print(6*7)'; pwd; echo written > {probe}; cat {probe}; \
         cat /mnt/data/note; modprobe hello who=root && dmesg | grep -o 'hello: hello, root'; \
         read line; echo \"stdin: $line\"; exit 7"
    );
    let hello = repo().join("examples/modules/hello");
    let mut cmd = xtask(&[
        "run",
        "--rootfs",
        "/",
        "--share-ro",
        &format!("data={}", scratch.display()),
        "--module",
        hello.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    // the caller's folder, inside the root: the command's
    let here = repo().join("crates");
    cmd.current_dir(&here).stdin(std::process::Stdio::piped());
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"from the host\n").unwrap();
    let done = child.wait_with_output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&done.stdout), String::from_utf8_lossy(&done.stderr));
    assert_eq!(done.status.code(), Some(7), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("ldd ("), "the host's C library: {stdout}\n{stderr}");
    assert_eq!(
        &lines[1..],
        [
            "42",
            here.to_str().unwrap(),
            "written",
            "shared",
            "hello: hello, root",
            "stdin: from the host"
        ],
        "{stderr}"
    );
    assert!(!Path::new(&probe).exists(), "the guest's write reached the host's {probe}");
}

#[test]
fn gdb_on_the_debug_kernel() {
    if !enabled("e2e_3_workbench, gdb (the tiny+debug kernel built, a QEMU boot)") {
        return;
    }
    let _one = serial();
    all_built();

    // gdb: a paused guest, a breakpoint in start_kernel, the banner of the kernel that was built
    let port = free_port();
    let mut paused = xtask(&["run", &format!("--gdb={port}"), "--", "true"]);
    paused.stderr(std::process::Stdio::piped());
    let mut paused = paused.spawn().unwrap();
    wait_for_listener(port, Duration::from_secs(1200), &mut paused);
    let session = run(xtask(&[
        "gdb",
        "--port",
        &port.to_string(),
        "--",
        "-batch",
        "-ex",
        "hbreak start_kernel",
        "-ex",
        "continue",
        "-ex",
        "print linux_banner",
        "-ex",
        // the kernel's own gdb scripts are loaded
        "lx-version",
        "-ex",
        "detach",
    ]))
    .ok();
    let release =
        std::fs::read_to_string(target_dir().join("images/x86_64/tiny+debug/kernel.release"))
            .unwrap();
    let gdb_out = session.stdout();
    assert!(gdb_out.contains("start_kernel"), "{gdb_out}");
    let banner = format!("Linux version {}", release.trim());
    assert_eq!(gdb_out.matches(&banner).count(), 2, "print and lx-version: {gdb_out}");
    let paused = paused.wait_with_output().unwrap();
    assert!(paused.status.success(), "{}", String::from_utf8_lossy(&paused.stderr));

    // Ctrl-C at gdb (SIGINT to its whole process group, as a terminal sends it) stops the guest
    // and gives gdb's prompt back: the tool, which became gdb, does not die of it
    let port = free_port();
    let mut running = xtask(&["run", &format!("--gdb={port}"), "--", "sleep", "20"]);
    running.stderr(std::process::Stdio::piped());
    let mut running = running.spawn().unwrap();
    wait_for_listener(port, Duration::from_secs(120), &mut running);
    let mut gdb = xtask(&[
        "gdb",
        "--port",
        &port.to_string(),
        "--",
        "-batch",
        "-ex",
        "continue",
        "-ex",
        "print 6*7",
        "-ex",
        "detach",
    ]);
    std::os::unix::process::CommandExt::process_group(&mut gdb, 0);
    gdb.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut gdb = gdb.spawn().unwrap();
    // Ctrl-C once gdb has attached (it shows where the stopped CPU is, `0x... in ?? ()`) and
    // let the guest run a while, as a person would press it
    let mut said = String::new();
    let mut lines = std::io::BufReader::new(gdb.stdout.take().unwrap());
    while !said.contains(" in ") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut lines, &mut line).unwrap() == 0 {
            break;
        }
        said.push_str(&line);
    }
    std::thread::sleep(Duration::from_secs(4));
    let interrupt = Command::new("kill").args(["-INT", "--", &format!("-{}", gdb.id())]).status();
    assert!(interrupt.unwrap().success());
    std::io::Read::read_to_string(&mut lines, &mut said).unwrap();
    let gdb = gdb.wait_with_output().unwrap();
    assert!(
        gdb.status.success(),
        "gdb ended ({}):\n{said}\n{}",
        gdb.status,
        String::from_utf8_lossy(&gdb.stderr)
    );
    assert!(said.contains("$1 = 42"), "no prompt back after Ctrl-C:\n{said}");
    let running = running.wait_with_output().unwrap();
    assert!(running.status.success(), "{}", String::from_utf8_lossy(&running.stderr));
}

/// Lets the serving guest's loop end however the test ends (it waits for `/mnt/done`), so that a
/// failure leaves no guest running beside the next test.
struct Done<'a>(&'a Path);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("done"), "");
    }
}

fn wait_for_listener(port: u16, limit: Duration, server: &mut std::process::Child) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.try_wait().unwrap() {
            panic!("the run ended ({status}) before anything listened on 127.0.0.1:{port}");
        }
        assert!(start.elapsed() < limit, "nothing listens on 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// GET / from 127.0.0.1:`port` once something answers there (the first run builds a kernel),
/// failing at once if the run that should serve it has ended.
fn fetch_when_up(port: u16, limit: Duration, server: &mut std::process::Child) -> String {
    let start = Instant::now();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = server.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            panic!("the serving run ended ({status}) before its page was fetched:\n{stderr}");
        }
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut page = String::new();
            if std::io::Read::read_to_string(&mut stream, &mut page).is_ok() && page.contains("200")
            {
                return page;
            }
        }
        assert!(start.elapsed() < limit, "no page on 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(300));
    }
}
