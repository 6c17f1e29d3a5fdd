//! A command in the guest, on both images and the tiny kernel: its output and exit code are the
//! run's, quoting survives, the status cannot be faked by what it prints, stdout and stderr stay
//! apart, stdin passes through, a broken boot fails fast.
//!
//! An end-to-end binary (see `common/mod.rs`): runs when `CI=true` or `KARDEL_E2E=1`. It boots
//! what `e2e_1_chain` built, and builds it itself (`all`) when run alone.

mod common;

use std::{io::Write, time::Duration};

use common::{all_built, enabled, run, xtask};

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
    let split = run(xtask(&["run", "--", "sh", "-c", "echo out; echo err >&2"])).ok();
    assert_eq!(split.stdout(), "out\n");
    assert!(split.stderr().contains("err\n"), "{}", split.stderr());
    let mut piped = xtask(&["run", "--", "sh", "-c", "tr a-z A-Z; echo done"]);
    piped.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = piped.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"from the host\n").unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&piped.stdout), "FROM THE HOST\ndone\n");
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
