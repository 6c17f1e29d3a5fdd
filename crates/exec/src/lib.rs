//! The one way this project runs long external programs (`make`, `mke2fs`, ...).
//!
//! Commands are built with `xshell::cmd!`. Short ones run through xshell directly (its errors name
//! the command line). Long ones go through [`run_logged`]: the whole output goes to a log file, the
//! terminal shows only the latest line and the elapsed time, and a failure carries the command line,
//! the log's path and its last lines, so a red run always explains itself.

use std::{
    io::{BufRead, BufReader, IsTerminal, Write},
    path::Path,
    process::{Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

/// How many log lines a failure shows.
pub const TAIL_LINES: usize = 40;

/// Runs `cmd` with stdout and stderr appended to `log` (created fresh), showing progress as `label`.
/// Returns the elapsed time.
/// A log that already exists is appended to, so one stage's steps share one log.
pub fn run_logged(cmd: xshell::Cmd<'_>, log: &Path, label: &str) -> Result<Duration> {
    run_logged_with_input(cmd, &[], log, label)
}

/// [`run_logged`] with `input` written to the command's stdin (then closed).
pub fn run_logged_with_input(
    cmd: xshell::Cmd<'_>,
    input: &[u8],
    log: &Path,
    label: &str,
) -> Result<Duration> {
    let cmdline = cmd.to_string();
    let mut command = Command::from(cmd);
    run_command_logged(&mut command, &cmdline, input, log, label)
}

/// Makes the kernel send `signal` to the command when the thread that started it dies, so that
/// not even a `kill -9` of this program leaves it running: a `make` must not go on in a build
/// folder whose lock was let go (SIGTERM, which make passes on to its jobs), nor a QEMU outlive
/// its session (SIGKILL). Spawn from a thread that outlives the command.
pub fn ends_with_this_thread(command: &mut Command, signal: i32) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

fn run_command_logged(
    command: &mut Command,
    cmdline: &str,
    input: &[u8],
    log: &Path,
    label: &str,
) -> Result<Duration> {
    let display = Display::new(label, log);
    let ran = run_into_log(command, cmdline, input, log, |line| display.line(line))?;
    display.finish(ran.status.success(), ran.elapsed);
    if !ran.status.success() {
        bail!(
            "`{cmdline}` failed ({}) after {:.1}s\nlast lines of {}:\n{}",
            ran.status,
            ran.elapsed.as_secs_f64(),
            log.display(),
            tail_from(log, ran.log_start, TAIL_LINES)
        );
    }
    Ok(ran.elapsed)
}

/// How a command followed by [`run_following`] ended.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub elapsed: Duration,
    /// where its output starts in the log
    pub log_start: u64,
}

/// Runs `cmd` with stdout and stderr appended to `log`, each line handed to `on_line` as it
/// arrives (a dispatcher's progress, say). A non-zero exit is returned, not an error: the
/// caller knows what it means (a LAVA job that failed is a result).
pub fn run_following(cmd: xshell::Cmd<'_>, log: &Path, on_line: impl FnMut(&str)) -> Result<Ran> {
    let cmdline = cmd.to_string();
    let mut command = Command::from(cmd);
    run_into_log(&mut command, &cmdline, &[], log, on_line)
}

fn run_into_log(
    command: &mut Command,
    cmdline: &str,
    input: &[u8],
    log: &Path,
    mut on_line: impl FnMut(&str),
) -> Result<Ran> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening log file {}", log.display()))?;
    let log_start = log_file.metadata().map(|m| m.len()).unwrap_or(0);
    writeln!(log_file, "$ {cmdline}")?;

    let (reader, writer) = std::io::pipe().context("creating a pipe")?;
    let stdin = if input.is_empty() { Stdio::null() } else { Stdio::piped() };
    command.stdout(writer.try_clone()?).stderr(writer).stdin(stdin);
    ends_with_this_thread(command, libc::SIGTERM);
    let start = Instant::now();
    let mut child = command.spawn().with_context(|| format!("cannot start `{cmdline}`"))?;
    // Drop our copies of the write end so that EOF arrives when the child exits.
    drop(std::mem::replace(command, Command::new("true")));
    let feeder = child.stdin.take().map(|mut stdin| {
        let input = input.to_vec();
        // A command that stops reading early closes the pipe: that is not an error.
        std::thread::spawn(move || drop(stdin.write_all(&input)))
    });

    for line in BufReader::new(reader).split(b'\n') {
        let line = line.context("reading command output")?;
        log_file.write_all(&line)?;
        log_file.write_all(b"\n")?;
        on_line(&String::from_utf8_lossy(&line));
    }
    let status = child.wait().with_context(|| format!("waiting for `{cmdline}`"))?;
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    log_file.flush()?;
    Ok(Ran { status, elapsed: start.elapsed(), log_start })
}

/// The last `n` lines of a text file, or a note saying why there are none.
pub fn tail(path: &Path, n: usize) -> String {
    tail_from(path, 0, n)
}

/// The last `n` lines of a text file after byte `offset` (where this command's output starts).
fn tail_from(path: &Path, offset: u64, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
            let text = String::from_utf8_lossy(&bytes[start..]);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

/// Progress for one long command: a spinner on a terminal, a start and an end line otherwise.
struct Display {
    bar: Option<indicatif::ProgressBar>,
    label: String,
}

impl Display {
    fn new(label: &str, log: &Path) -> Display {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {prefix} [{elapsed}] {wide_msg}",
                )
                .expect("static template"),
            );
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            Display { bar: Some(bar), label: label.to_string() }
        } else {
            eprintln!("{label}: started (log: {})", log.display());
            Display { bar: None, label: label.to_string() }
        }
    }

    fn line(&self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(line.trim().to_string());
        }
    }

    fn finish(&self, ok: bool, elapsed: Duration) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let outcome = if ok { "done" } else { "FAILED" };
        eprintln!("{}: {outcome} in {:.1}s", self.label, elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_writes_whole_output_to_log() {
        let sh = xshell::Shell::new().unwrap();
        let dir = sh.create_temp_dir().unwrap();
        let log = dir.path().join("ok.log");
        run_logged(xshell::cmd!(sh, "sh -c 'echo out; echo err >&2'"), &log, "test").unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.starts_with("$ sh -c"), "{text}");
        assert!(text.contains("out\n") && text.contains("err\n"), "{text}");
    }

    #[test]
    fn failure_names_command_log_and_tail() {
        let sh = xshell::Shell::new().unwrap();
        let dir = sh.create_temp_dir().unwrap();
        let log = dir.path().join("bad.log");
        let script = "for i in $(seq 1 100); do echo line$i; done; exit 3";
        let err = run_logged(xshell::cmd!(sh, "sh -c {script}"), &log, "test").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("sh -c"), "{msg}");
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains(&log.display().to_string()), "{msg}");
        assert!(msg.contains("line100") && !msg.contains("line10\n"), "{msg}");
    }

    #[test]
    fn missing_program_is_named() {
        let sh = xshell::Shell::new().unwrap();
        let dir = sh.create_temp_dir().unwrap();
        let err =
            run_logged(xshell::cmd!(sh, "no-such-program-here"), &dir.path().join("x.log"), "test")
                .unwrap_err();
        assert!(format!("{err:#}").contains("no-such-program-here"));
    }

    #[test]
    fn input_reaches_stdin_and_logs_append() {
        let sh = xshell::Shell::new().unwrap();
        let dir = sh.create_temp_dir().unwrap();
        let log = dir.path().join("in.log");
        run_logged(xshell::cmd!(sh, "echo first"), &log, "test").unwrap();
        run_logged_with_input(
            xshell::cmd!(sh, "sh -c 'read a; read b; echo got $a$b'"),
            b"x\ny\n",
            &log,
            "test",
        )
        .unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("first\n") && text.contains("got xy\n"), "{text}");
    }
}
