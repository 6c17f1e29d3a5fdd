//! Sessions against shell scripts standing in for QEMU: fast, and able to misbehave on cue.

mod common;

use std::time::{Duration, Instant};

use common::{process_is_gone, Scratch};
use qemu::{BootFailure, ConsoleEvent, FailureKind, GuestOutput, Limits, Machine, Session};

/// A guest that behaves like BusyBox on a serial console, minus the echo: askfirst, a `/ # `
/// prompt, commands run by a shell, and `poweroff` printing the kernel's last words and exiting.
const FAKE_GUEST: &str = r#"
# a guest's stderr is the console too; QEMU's own stderr is another stream, read separately
exec 2>&1
echo 'Run /sbin/init as init process'
printf '\nPlease press Enter to activate this console. '
read -r _
printf '/ # '
while IFS= read -r line; do
    if [ "$line" = poweroff ]; then echo 'reboot: Power down'; exit 0; fi
    eval "$line"
    printf '/ # '
done
"#;

fn machine(scratch: &Scratch, script: &str) -> Machine {
    let mut machine = common::machine("bzImage", "rootfs.cpio.gz", common::INITRAMFS_APPEND);
    machine.qemu = scratch.fake_qemu(script);
    machine
}

fn limits(whole_session: u64, silence: u64) -> Limits {
    Limits {
        whole_session: Duration::from_secs(whole_session),
        silence: Duration::from_secs(silence),
    }
}

const LONG: Duration = Duration::from_secs(60);

#[test]
fn commands_return_exactly_their_output_and_status() {
    let scratch = Scratch::new();
    let mut session =
        Session::spawn(&machine(&scratch, FAKE_GUEST), &scratch.path("console.log")).unwrap();
    session.wait_for_shell(LONG).unwrap();
    assert_eq!(session.run("echo hello; echo world", LONG).unwrap(), "hello\nworld\n");
    assert_eq!(session.run("printf 'no newline'", LONG).unwrap(), "no newline");
    assert_eq!(session.run("true", LONG).unwrap(), "");
    assert_eq!(session.run("echo \"it's\" '$HOME'", LONG).unwrap(), "it's $HOME\n");
    assert_eq!(
        session.run_status("echo gone; exit_code() { return 3; }; exit_code", LONG).unwrap(),
        GuestOutput { status: 3, output: "gone\n".to_string() }
    );
    let err = session.run("echo before; false", LONG).unwrap_err().to_string();
    assert!(err.contains("exit status 1") && err.contains("before"), "{err}");
    // a syntax error is the command's failure, not a lost session
    assert_eq!(session.run_status("if then", LONG).unwrap().status, 2);
    // nor is an exit: it ends the command's subshell, not the guest's shell
    assert_eq!(session.run_status("exit 4", LONG).unwrap().status, 4);
    assert_eq!(session.run("echo still here", LONG).unwrap(), "still here\n");
    let status = session.poweroff_and_wait(LONG).unwrap();
    assert!(status.success());
    let log = std::fs::read_to_string(scratch.path("console.log")).unwrap();
    assert!(log.starts_with("$ ") && log.contains("still here"), "{log}");
}

#[test]
fn a_hanging_qemu_is_killed_at_the_deadline() {
    let scratch = Scratch::new();
    let machine = machine(&scratch, "exec sleep 1000");
    let started = Instant::now();
    let mut session =
        Session::spawn_with_limits(&machine, &scratch.path("console.log"), limits(2, 60)).unwrap();
    let pid = session.pid();
    let err = session.wait_for_shell(LONG).unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    assert!(err.contains("2s deadline passed"), "{err}");
    assert!(process_is_gone(pid), "qemu {pid} still alive after the deadline");
    // the session is over for good, and says so
    let again = session.run("true", LONG).unwrap_err().to_string();
    assert!(again.contains("already ended"), "{again}");
}

#[test]
fn a_silent_console_fails_fast() {
    let scratch = Scratch::new();
    let machine = machine(&scratch, "echo 'SeaBIOS'; exec sleep 1000");
    let started = Instant::now();
    let mut session =
        Session::spawn_with_limits(&machine, &scratch.path("console.log"), limits(60, 1)).unwrap();
    let pid = session.pid();
    let err = session.wait_for("Hello world!", LONG).unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert!(err.contains("printed nothing for 1s") && err.contains("SeaBIOS"), "{err}");
    assert!(process_is_gone(pid));
}

#[test]
fn a_timeout_names_what_was_awaited_and_shows_the_console() {
    let scratch = Scratch::new();
    let machine = machine(&scratch, "while :; do echo tick; sleep 0.2; done");
    let mut session = Session::spawn(&machine, &scratch.path("console.log")).unwrap();
    let err = session.wait_for("Hello world!", Duration::from_secs(1)).unwrap_err().to_string();
    assert!(err.starts_with("timed out after 1s waiting for \"Hello world!\""), "{err}");
    assert!(err.contains("tick") && err.contains("console.log"), "{err}");
}

#[test]
fn qemu_failing_at_once_shows_its_stderr() {
    let scratch = Scratch::new();
    let machine = machine(&scratch, "echo 'qemu-system-x86_64: could not load kernel' >&2; exit 1");
    let mut session = Session::spawn(&machine, &scratch.path("console.log")).unwrap();
    let err = session.wait_for_shell(LONG).unwrap_err().to_string();
    assert!(err.contains("qemu exited (exit status: 1)"), "{err}");
    assert!(err.contains("could not load kernel"), "{err}");
}

#[test]
fn a_missing_qemu_is_named() {
    let scratch = Scratch::new();
    let mut machine = machine(&scratch, "");
    machine.qemu = scratch.path("no-such-qemu");
    let err = Session::spawn(&machine, &scratch.path("console.log")).err().unwrap();
    assert!(format!("{err:#}").contains("no-such-qemu"), "{err:#}");
}

#[test]
fn a_guest_panic_is_a_boot_failure_with_its_trace() {
    let scratch = Scratch::new();
    let script = "echo 'Kernel panic - not syncing: No working init found.'; \
                  echo 'Call Trace:'; sleep 0.2; echo ' dump_stack_lvl+0x44/0x5c'; exec sleep 1000";
    let started = Instant::now();
    let mut session =
        Session::spawn(&machine(&scratch, script), &scratch.path("console.log")).unwrap();
    let pid = session.pid();
    let err = session.wait_for_shell(LONG).unwrap_err();
    let failure = err.downcast_ref::<BootFailure>().expect("a BootFailure");
    assert_eq!(failure.kind, FailureKind::NoWorkingInit);
    assert!(failure.report.contains("dump_stack_lvl"), "{}", failure.report);
    // the grace period for the trace is bounded even when QEMU does not exit by itself
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    assert!(process_is_gone(pid));
}

#[test]
fn a_panic_can_be_waited_for() {
    let scratch = Scratch::new();
    let script = "echo 'Kernel panic - not syncing: Attempted to kill init!'; exec sleep 1000";
    let mut session =
        Session::spawn(&machine(&scratch, script), &scratch.path("console.log")).unwrap();
    session.wait_for(ConsoleEvent::Failure(FailureKind::KernelPanic), LONG).unwrap();
}

#[test]
fn drop_kills_qemu() {
    let scratch = Scratch::new();
    let session =
        Session::spawn(&machine(&scratch, "exec sleep 1000"), &scratch.path("console.log"))
            .unwrap();
    let pid = session.pid();
    assert!(!process_is_gone(pid));
    drop(session);
    assert!(process_is_gone(pid), "qemu {pid} outlived its session");
}

#[test]
fn qemu_exiting_without_power_down_is_an_error() {
    let scratch = Scratch::new();
    let script = "printf '/ # '; read -r _; exit 0";
    let mut session =
        Session::spawn(&machine(&scratch, script), &scratch.path("console.log")).unwrap();
    session.wait_for(ConsoleEvent::ShellPrompt, LONG).unwrap();
    let err = session.poweroff_and_wait(LONG).unwrap_err().to_string();
    assert!(err.contains("without the guest printing \"reboot: Power down\""), "{err}");
}

#[test]
fn poweroff_that_never_ends_qemu_times_out() {
    let scratch = Scratch::new();
    let script = "printf '/ # '; read -r _; echo 'The system is going down NOW!'; \
                  while :; do echo still running; sleep 0.2; done";
    let mut session =
        Session::spawn(&machine(&scratch, script), &scratch.path("console.log")).unwrap();
    let pid = session.pid();
    session.wait_for(ConsoleEvent::ShellPrompt, LONG).unwrap();
    let err = session.poweroff_and_wait(Duration::from_secs(1)).unwrap_err().to_string();
    assert!(err.contains("waiting for qemu to exit after poweroff"), "{err}");
    assert!(process_is_gone(pid));
}

#[test]
fn qemu_dies_with_the_thread_that_started_it_even_without_drop() {
    // what a `kill -9` of the tool looks like to QEMU: its parent gone, no Drop run
    let scratch = Scratch::new();
    let machine = machine(&scratch, "exec sleep 1000");
    let log = scratch.path("console.log");
    let pid = std::thread::spawn(move || {
        let session = Session::spawn(&machine, &log).unwrap();
        let pid = session.pid();
        std::mem::forget(session);
        pid
    })
    .join()
    .unwrap();
    // nobody reaps it here (the Child was forgotten), so dead means gone or a zombie
    let dead = |pid: u32| {
        process_is_gone(pid)
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'))
            })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dead(pid) {
        assert!(Instant::now() < deadline, "qemu {pid} outlived the thread that started it");
        std::thread::sleep(Duration::from_millis(50));
    }
}
