//! A command in the guest, on both images and the tiny kernel: its output and exit code are the
//! run's, quoting survives (a word of 40 KB with newlines too), the status cannot be faked by what it prints, stdout and stderr stay
//! apart, stdin passes through, a broken boot fails fast; and the same from a saved machine (warm
//! starts), which carries nothing from one run to the next.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`. It boots
//! what `e2e_1_chain` built, and builds it itself (`all`) when run alone.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{all_built, enabled, run, target_dir, xtask};

#[test]
fn commands_in_the_guest() {
    if !enabled("e2e_2_commands (commands run in QEMU boots of both images, after `all`)") {
        return;
    }
    // built first, so that a broken boot below is timed without a build in it
    all_built();

    // A command in the guest: its output and exit code are the run's, quoting survives, the
    // status cannot be faked by what it prints, stdin passes through, a broken boot fails fast.
    for image in ["--initramfs", "--initrd"] {
        let code = |args: &[&str]| {
            run(xtask(&[&["run", image, "--"], args].concat())).output.status.code()
        };
        assert_eq!(code(&["sh", "-c", "exit 7"]), Some(7), "{image}");
        assert_eq!(code(&["true"]), Some(0), "{image}");
        let echo = run(xtask(&["run", image, "--", "echo", r#"a  "b" $c"#])).ok();
        assert_eq!(echo.stdout(), "a  \"b\" $c\n", "{image}: stdout holds more than the command's");
        let faked =
            ["sh", "-c", "echo 'exit 0'; echo 'exit 0' >/dev/console; echo 'exit 0' >&2; exit 3"];
        assert_eq!(code(&faked), Some(3), "{image}: the printed status was taken");
    }
    // the command travels on a port, not the kernel's command line: no length limit there, and
    // its newlines and every byte of a long word arrive as given
    let long: String = (0..2000).map(|i| format!("line {i} 'q' \"d\" $x\n")).collect();
    let echoed = run(xtask(&["run", "--", "printf", "%s", &long])).ok();
    assert_eq!(echoed.stdout(), long, "a {}-byte word came back changed", long.len());
    let split = run(xtask(&["run", "--", "sh", "-c", "echo out; echo err >&2"])).ok();
    assert_eq!(split.stdout(), "out\n");
    // the tool says nothing of its own (the accelerator, the build) when it has nothing to say
    assert_eq!(split.stderr(), "err\n");
    let mut piped = xtask(&["run", "--", "sh", "-c", "tr a-z A-Z; echo done"]);
    piped.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = piped.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"from the host\n").unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&piped.stdout), "FROM THE HOST\ndone\n");
    edges_of_a_command();
    warm_starts();
    for (args, shows) in [
        (&["--append", "rdinit=/sbin/nope"][..], "No working init found"),
        (&["--initrd", "--append", "init=/sbin/nope"][..], "Requested init /sbin/nope failed"),
    ] {
        let broken = run(xtask(&[&["run"], args, &["--", "true"]].concat()));
        assert_eq!(broken.output.status.code(), Some(125), "{args:?}: {}", broken.stderr());
        assert!(broken.stderr().contains(shows), "{args:?}: {}", broken.stderr());
        assert!(broken.elapsed < Duration::from_secs(20), "{args:?} took {:?}", broken.elapsed);
    }
}

/// What a command cannot do to the run, and what the run does when its reader or writer
/// misbehaves (issue 21's cases).
fn edges_of_a_command() {
    let code = |args: &[&str]| run(xtask(&[&["run", "--"], args].concat())).output.status.code();
    // the status port cannot be opened by the command: the runner holds it
    let write_the_status_port = "for p in /sys/class/virtio-ports/*; do read -r n <$p/name; \
         [ $n = kardel.status ] && echo 'exit 0' >/dev/${p##*/}; done; exit 3";
    assert_eq!(code(&["sh", "-c", write_the_status_port]), Some(3), "the status was faked");
    // nor any other port of the runner's: each open fails at once instead of a write that
    // blocks until --timeout
    let every_port = run(xtask(&[
        "run",
        "--timeout",
        "60",
        "--",
        "sh",
        "-c",
        "for p in /dev/vport*; do echo 'exit 0' > $p; done; exit 3",
    ]));
    assert_eq!(every_port.output.status.code(), Some(3), "{}", every_port.stderr());
    assert!(every_port.elapsed < Duration::from_secs(30), "took {:?}", every_port.elapsed);
    // the hello program sleeps for ever once it has printed: a run whose stdin is not a
    // terminal (here /dev/null) ends at its line instead of waiting for a person to quit QEMU
    let mut hello = xtask(&["run", "--hello"]);
    hello.stdin(std::process::Stdio::null());
    let hello = run(hello);
    assert_eq!(hello.output.status.code(), Some(0), "{}", hello.stderr());
    assert!(hello.stdout().contains("Hello world!"), "{}", hello.stdout());
    assert!(hello.elapsed < Duration::from_secs(60), "took {:?}", hello.elapsed);
    // the guest has what udev would add: /dev/stdin, /dev/stdout, /dev/stderr, /dev/fd
    let mut awk = xtask(&["run", "--", "sh", "-c", "awk -f /dev/stdin && ls /dev/fd/ >&2"]);
    awk.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = awk.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"BEGIN { print 6 * 7 }\n").unwrap();
    let awk = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&awk.stdout),
        "42\n",
        "{}",
        String::from_utf8_lossy(&awk.stderr)
    );
    assert!(String::from_utf8_lossy(&awk.stderr).contains('2'), "no /dev/fd/2");
    // text that looks like a failure, on the console and in the kernel's log, is the command's
    let panic_text = "echo 'Kernel panic - not syncing: printed' >/dev/console; \
         echo 'Kernel panic - not syncing: logged' >/dev/kmsg; exit 0";
    assert_eq!(code(&["sh", "-c", panic_text]), Some(0), "printed text became a failure");

    // a reader that goes away ends the run at once (141, a shell's SIGPIPE), and its folder goes
    let mut yes = xtask(&["run", "--", "yes"]);
    yes.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = yes.spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first, "y\n");
    // the pipe's reading end is closed here
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141), "run -- yes | head -1");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_no_run_folders();

    // stdin streams, with bounded memory: `yes | run -- head -n1` prints y and ends
    let mut endless = Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
    let mut head = xtask(&["run", "--", "head", "-n1"]);
    head.stdin(endless.stdout.take().unwrap());
    let head = run(head).ok();
    let _ = endless.kill();
    let _ = endless.wait();
    assert_eq!(head.stdout(), "y\n");
    assert!(head.elapsed < Duration::from_secs(30), "took {:?}", head.elapsed);

    // a run killed outright leaves its folder (and no QEMU): the next run sweeps it
    let mut killed = xtask(&["run", "--", "sleep", "60"]).spawn().unwrap();
    let runs = target_dir().join("kardel/runs");
    let waited = Instant::now();
    while std::fs::read_dir(&runs).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(waited.elapsed() < Duration::from_secs(60), "no run folder appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert_eq!(code(&["true"]), Some(0));
    assert_no_run_folders();

    // an interactive QEMU dies with the tool, even on a kill -9 of it
    let mut interactive = xtask(&["run", "--initramfs"]);
    interactive.stdout(Stdio::null()).stderr(Stdio::null());
    let mut interactive = interactive.spawn().unwrap();
    let children = format!("/proc/{0}/task/{0}/children", interactive.id());
    let waited = Instant::now();
    let qemu = loop {
        let listed = std::fs::read_to_string(&children).unwrap_or_default();
        let is_qemu = |pid: &&str| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.starts_with("qemu-system")
        };
        if let Some(pid) = listed.split_whitespace().find(is_qemu) {
            break pid.to_string();
        }
        assert!(waited.elapsed() < Duration::from_secs(60), "no QEMU started");
        std::thread::sleep(Duration::from_millis(100));
    };
    interactive.kill().unwrap();
    interactive.wait().unwrap();
    let waited = Instant::now();
    while std::path::Path::new(&format!("/proc/{qemu}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{qemu}/stat")).unwrap_or_default();
        // reaped by init once it is a zombie
        if state.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        assert!(waited.elapsed() < Duration::from_secs(10), "QEMU {qemu} outlived the tool");
        std::thread::sleep(Duration::from_millis(100));
    }

    // the timeout is the one given, and said so
    let slow = run(xtask(&["run", "--timeout", "4", "--", "sleep", "60"]));
    assert_eq!(slow.output.status.code(), Some(125), "{}", slow.stderr());
    assert!(slow.stderr().contains("within --timeout 4s"), "{}", slow.stderr());
    assert!(slow.elapsed < Duration::from_secs(15), "took {:?}", slow.elapsed);
}

#[track_caller]
fn assert_no_run_folders() {
    let runs = target_dir().join("kardel/runs");
    let left: Vec<_> = std::fs::read_dir(&runs)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "run folders left in {}: {left:?}", runs.display());
}

/// A run from the saved machine gives what a boot gives, and nothing of the runs before it: the
/// host's time, fresh randomness, a machine of its own (issue 23's cases).
fn warm_starts() {
    let warm = |args: &[&str]| run(xtask(&[&["run", "--verbose", "--"], args].concat()));
    let said = |run: &common::Run, what: &str| {
        assert!(run.stderr().contains(what), "no {what:?} in:\n{}", run.stderr());
    };
    // the earlier runs saved the machine: this one starts from it
    let first = warm(&["true"]).ok();
    said(&first, "warm start: restored the saved machine");

    // cold and warm answer alike: exit codes, quoting, stdin, a faked status
    let cases: [&[&str]; 3] = [
        &["sh", "-c", "echo out; echo err >&2; exit 7"],
        &["echo", r#"a  "b" $c"#],
        &["sh", "-c", "echo 'exit 0'; echo 'exit 0' >/dev/console; exit 3"],
    ];
    for case in cases {
        let cold = run(xtask(&[&["run", "--cold", "--"], case].concat()));
        let warm = run(xtask(&[&["run", "--"], case].concat()));
        assert_eq!(cold.output.status.code(), warm.output.status.code(), "{case:?}");
        assert_eq!(cold.stdout(), warm.stdout(), "{case:?}");
        assert_eq!(cold.stderr(), warm.stderr(), "{case:?}");
    }
    let mut piped = xtask(&["run", "--", "tr", "a-z", "A-Z"]);
    piped.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = piped.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"warm stdin\n").unwrap();
    assert_eq!(child.wait_with_output().unwrap().stdout, b"WARM STDIN\n");

    // nothing of one warm run is in the next
    let mark = ["sh", "-c", "test ! -e /left-by-a-run && : >/left-by-a-run"];
    assert_eq!(warm(&mark).output.status.code(), Some(0));
    let second = warm(&mark);
    said(&second, "restored the saved machine");
    assert_eq!(second.output.status.code(), Some(0), "a file of the run before is there");
    // fresh randomness, and the host's time
    let random = ["sh", "-c", "head -c 16 /dev/urandom | od -An -tx1"];
    let (a, b) = (warm(&random).ok().stdout(), warm(&random).ok().stdout());
    assert_ne!(a, b, "two warm runs read the same random bytes");
    let guest: u64 = warm(&["date", "+%s"]).ok().stdout().trim().parse().unwrap();
    let host = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert!(host.as_secs().abs_diff(guest) <= 2, "guest {guest}, host {}", host.as_secs());

    // another machine (here its memory) is saved anew; --cold boots
    let other = run(xtask(&["run", "--verbose", "--memory", "320", "--", "true"])).ok();
    said(&other, "warm start: saved the machine");
    said(&run(xtask(&["run", "--verbose", "--cold", "--", "true"])).ok(), "a boot (not asked");

    // a saved machine whose files changed since the save is not restored: the run boots and
    // saves it anew, saying so without --verbose
    let states = target_dir().join("kardel/warm/x86_64");
    let saved_files = || -> Vec<std::path::PathBuf> {
        let folders = std::fs::read_dir(&states).unwrap().flatten();
        folders
            .flat_map(|s| std::fs::read_dir(s.path()).unwrap().flatten().map(|f| f.path()))
            .collect()
    };
    for file in saved_files() {
        if file.ends_with("ram") {
            std::fs::write(&file, b"not a machine").unwrap();
        }
    }
    let rebooted = run(xtask(&["run", "--", "echo", "booted"])).ok();
    assert_eq!(rebooted.stdout(), "booted\n");
    said(&rebooted, "changed since it was saved: booting, and saving the machine anew");
    // a state that does not load though its files are as saved (same size, same time): the run
    // boots instead, once, and saves it anew
    for file in saved_files().into_iter().filter(|f| f.ends_with("state")) {
        let meta = std::fs::metadata(&file).unwrap();
        let out = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&out, &vec![0u8; meta.len() as usize], 0).unwrap();
        out.set_modified(meta.modified().unwrap()).unwrap();
    }
    let fell_back = run(xtask(&["run", "--", "echo", "booted"])).ok();
    assert_eq!(fell_back.stdout(), "booted\n");
    said(&fell_back, "the restore failed, booting instead");
    let again = warm(&["true"]).ok();
    said(&again, "warm start: restored the saved machine");

    // four at once, each restoring its own machine from the one state
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut cmd = xtask(&["run", "--", "sh", "-c", &format!("echo run {i}")]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("run {i}\n"));
    }
    assert_no_run_folders();
}
