//! One automated QEMU run: spawn, read the console, type commands, power off.
//!
//! Every wait is bounded three ways: by its own timeout, by the session's deadline, and by the
//! console's silence. A wait that fails for any reason kills QEMU at once and returns an error
//! carrying the end of the console transcript and the path of the whole log, so a red run
//! explains itself; a known guest failure (a panic, no init) is a [`BootFailure`] a caller can
//! tell apart. Dropping a [`Session`] kills QEMU too: no QEMU outlives its session.

use std::{
    fs::{self, File},
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};

use crate::{
    console::{last_lines, printable, ConsoleEvent, ConsoleWatcher, FailureKind},
    qemu_args, shell_line, Machine,
};

/// How many console lines an error shows; the log has them all.
pub const REPORT_LINES: usize = 200;

/// How long a failing guest is given to finish printing (a panic's trace follows its first line)
/// before QEMU is killed.
const FAILURE_GRACE: Duration = Duration::from_secs(2);

/// How long one attempt to reach the shell waits for its answer before typing again.
const SHELL_SYNC_ATTEMPT: Duration = Duration::from_secs(3);

/// Bounds on a whole session.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No wait goes past this much time after spawning.
    pub whole_session: Duration,
    /// A wait fails when the console has printed nothing for this long.
    pub silence: Duration,
}

impl Default for Limits {
    /// Generous for TCG, where a distribution kernel reaches a shell in 3-10 s.
    fn default() -> Limits {
        Limits { whole_session: Duration::from_secs(300), silence: Duration::from_secs(30) }
    }
}

/// What [`Session::wait_for`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until<'a> {
    Event(ConsoleEvent),
    Text(&'a str),
}

impl From<ConsoleEvent> for Until<'_> {
    fn from(event: ConsoleEvent) -> Self {
        Until::Event(event)
    }
}

impl<'a> From<&'a str> for Until<'a> {
    fn from(text: &'a str) -> Self {
        Until::Text(text)
    }
}

/// The guest's console showed a known failure. Downcast an error from a [`Session`] method to
/// this to tell a broken image from a broken host.
#[derive(Debug, thiserror::Error)]
#[error("{kind} while waiting for {waiting_for}\n{report}")]
pub struct BootFailure {
    pub kind: FailureKind,
    /// the kernel's panic line on the console, when it panicked
    pub panic_line: Option<String>,
    pub waiting_for: String,
    /// The end of the console transcript and where the whole log is.
    pub report: String,
}

/// A command's exit status and output, as [`Session::run_status`] returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestOutput {
    pub status: i32,
    /// Everything the command printed (stdout and stderr share the console), with the
    /// terminal's `\r\n` turned back into `\n`.
    pub output: String,
}

/// A running QEMU whose serial console this program reads and types into.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    console: Arc<Console>,
    /// Transcript offset up to which waits have consumed output: each wait looks after it.
    cursor: usize,
    started: Instant,
    deadline: Instant,
    limits: Limits,
    log_path: PathBuf,
    command_line: String,
    markers_used: u32,
    /// Set once QEMU has been killed or has exited: why, for any later call.
    ended: Option<String>,
    /// Whether a failure on the console (a panic, no init) ends the session: not once the guest
    /// runs a command that owns the console (see [`Session::console_is_the_guests`]).
    watch_failures: bool,
    /// False from the moment QEMU is reaped or about to be: a [`Killer`] never signals a pid
    /// that may have been reused.
    alive: Arc<Mutex<bool>>,
}

/// Kills a session's QEMU from another thread (a reader of the guest's output that went away).
#[derive(Clone)]
pub struct Killer {
    pid: u32,
    alive: Arc<Mutex<bool>>,
}

impl Killer {
    pub fn kill(&self) {
        let alive = self.alive.lock().unwrap();
        if *alive {
            // SAFETY: kill(2) on our own child, not yet reaped (the lock keeps it so)
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

struct Console {
    state: Mutex<ConsoleState>,
    changed: Condvar,
}

struct ConsoleState {
    watcher: ConsoleWatcher,
    /// When each of the watcher's sightings arrived, index for index.
    seen_at: Vec<Instant>,
    /// (transcript length after a chunk, when the chunk arrived), chunk by chunk
    arrivals: Vec<(usize, Instant)>,
    last_output: Instant,
    /// stdout and stderr: both closed means QEMU is gone.
    open_streams: usize,
    log: Option<File>,
    log_error: Option<String>,
}

impl Session {
    /// Starts `machine` headless (see [`Machine::headless`]) with its console written to
    /// `log_path` as it arrives, under the default [`Limits`].
    pub fn spawn(machine: &Machine, log_path: &Path) -> Result<Session> {
        Session::spawn_with_limits(machine, log_path, Limits::default())
    }

    pub fn spawn_with_limits(
        machine: &Machine,
        log_path: &Path,
        limits: Limits,
    ) -> Result<Session> {
        let machine = Machine { headless: true, ..machine.clone() };
        let args = qemu_args(&machine);
        let mut argv = vec![machine.qemu.clone().into_os_string()];
        argv.extend(args.iter().cloned());
        let command_line = shell_line(&argv);

        if let Some(dir) = log_path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut log = File::create(log_path)
            .with_context(|| format!("creating console log {}", log_path.display()))?;
        writeln!(log, "$ {command_line}")
            .with_context(|| format!("writing {}", log_path.display()))?;

        let mut child =
            exec::ends_with_this_thread(&mut Command::new(&machine.qemu), libc::SIGKILL)
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("cannot start `{command_line}`"))?;
        let started = Instant::now();
        let console = Arc::new(Console {
            state: Mutex::new(ConsoleState {
                watcher: ConsoleWatcher::new(),
                seen_at: Vec::new(),
                arrivals: Vec::new(),
                last_output: started,
                open_streams: 2,
                log: Some(log),
                log_error: None,
            }),
            changed: Condvar::new(),
        });
        // The readers are never joined: a QEMU that is killed closes its pipes and they end,
        // and waiting for them could only add a way to hang.
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        for stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
            let console = Arc::clone(&console);
            let log_path = log_path.to_path_buf();
            thread::spawn(move || pump(stream, &console, &log_path));
        }
        Ok(Session {
            stdin: child.stdin.take(),
            child,
            console,
            cursor: 0,
            started,
            deadline: started + limits.whole_session,
            limits,
            log_path: log_path.to_path_buf(),
            command_line,
            markers_used: 0,
            ended: None,
            watch_failures: true,
            alive: Arc::new(Mutex::new(true)),
        })
    }

    /// The QEMU command line, quoted for a shell.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// QEMU's process id, for diagnostics.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What kills this session's QEMU from another thread.
    pub fn killer(&self) -> Killer {
        Killer { pid: self.child.id(), alive: Arc::clone(&self.alive) }
    }

    /// From now on the console is the guest's: text that looks like a failure (a command that
    /// prints "Kernel panic") no longer ends the session. A real panic still does, as QEMU exits
    /// by itself on one (`panic=-1`, `-no-reboot`).
    pub fn console_is_the_guests(&mut self) {
        self.watch_failures = false;
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// When `text` first reached the console, counted from QEMU's start: for splitting a boot
    /// into its phases.
    pub fn arrived(&self, text: &str) -> Option<Duration> {
        let state = self.lock();
        let at = find(state.watcher.transcript(), 0, text.as_bytes())? + text.len();
        let (_, when) = state.arrivals.iter().find(|(length, _)| *length >= at)?;
        Some(when.duration_since(self.started))
    }

    /// Whether QEMU closed its output (it exited, or is exiting): nothing more will come.
    pub fn output_closed(&self) -> bool {
        self.lock().open_streams == 0
    }

    /// The whole console so far, terminal controls removed.
    pub fn transcript(&self) -> String {
        printable(self.lock().watcher.transcript())
    }

    /// Waits for an event or a text to appear after everything earlier waits consumed.
    pub fn wait_for<'a>(&mut self, until: impl Into<Until<'a>>, timeout: Duration) -> Result<()> {
        let until = until.into();
        let waiting_for = match until {
            Until::Event(event) => format!("{event:?}"),
            Until::Text(text) => format!("{text:?}"),
        };
        let give_up = Instant::now() + timeout;
        let found = self.poll(&waiting_for, give_up, |state, cursor| match until {
            Until::Event(event) => next_event(state, cursor, &[event]).map(|(_, at, _)| ((), at)),
            Until::Text(text) => find(state.watcher.transcript(), cursor, text.as_bytes())
                .map(|at| ((), at + text.len())),
        })?;
        found.ok_or_else(|| self.fail_timed_out(&waiting_for, timeout))
    }

    /// Waits for whichever of `texts` appears first after everything earlier waits consumed, and
    /// returns its index: for telling a boot that goes on from one that stops or starts over.
    pub fn wait_for_first(&mut self, texts: &[&str], timeout: Duration) -> Result<usize> {
        let waiting_for = texts.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(" or ");
        let give_up = Instant::now() + timeout;
        let found = self.poll(&waiting_for, give_up, |state, cursor| {
            let transcript = state.watcher.transcript();
            texts
                .iter()
                .enumerate()
                .filter_map(|(index, text)| {
                    find(transcript, cursor, text.as_bytes()).map(|at| (at, index, text.len()))
                })
                .min()
                .map(|(at, index, length)| (index, at + length))
        })?;
        found.ok_or_else(|| self.fail_timed_out(&waiting_for, timeout))
    }

    /// Waits until a shell reads commands, pressing Enter for BusyBox's askfirst when asked,
    /// and returns the time from spawning QEMU to the first prompt (askfirst's or the shell's).
    ///
    /// The shell counts as ready only once it has run a command typed here: the first line
    /// typed may go to askfirst rather than to a shell, and is then lost.
    pub fn wait_for_shell(&mut self, timeout: Duration) -> Result<Duration> {
        let waiting_for = "a shell prompt or \"Please press Enter to activate this console\"";
        let give_up = Instant::now() + timeout;
        let prompts = [ConsoleEvent::PressEnter, ConsoleEvent::ShellPrompt];
        let prompt = self.poll(waiting_for, give_up, |state, cursor| {
            next_event(state, cursor, &prompts).map(|(event, at, seen)| ((event, seen), at))
        })?;
        let Some((event, seen)) = prompt else {
            return Err(self.fail_timed_out(waiting_for, timeout));
        };
        let time_to_prompt = seen.duration_since(self.started);
        if event == ConsoleEvent::PressEnter {
            self.send_line("")?;
        }
        loop {
            let marker = self.next_marker("R");
            self.send_line(&format!("printf '@@%s\\n' {marker}"))?;
            let answer = format!("@@{marker}");
            let attempt_until = give_up.min(Instant::now() + SHELL_SYNC_ATTEMPT);
            let answered = self.poll("the shell to answer", attempt_until, |state, cursor| {
                find(state.watcher.transcript(), cursor, answer.as_bytes())
                    .map(|at| ((), at + answer.len()))
            })?;
            if answered.is_some() {
                return Ok(time_to_prompt);
            }
            if Instant::now() >= give_up {
                return Err(self.fail_timed_out("a shell to run a command", timeout));
            }
        }
    }

    /// Types `line` and Enter on the console.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.check_not_ended()?;
        let stdin = self.stdin.as_mut().expect("stdin is kept while the session lives");
        let written = stdin.write_all(format!("{line}\n").as_bytes()).and_then(|_| stdin.flush());
        if let Err(err) = written {
            return Err(self.fail(&format!("cannot type into qemu's console ({err})")));
        }
        Ok(())
    }

    /// Runs `command` in the guest's shell and returns its output; a non-zero exit status is
    /// an error showing the output (the session goes on).
    pub fn run(&mut self, command: &str, timeout: Duration) -> Result<String> {
        let GuestOutput { status, output } = self.run_status(command, timeout)?;
        if status != 0 {
            bail!(
                "`{command}` failed in the guest with exit status {status}; its output:\n{output}"
            );
        }
        Ok(output)
    }

    /// Runs `command` in the guest's shell and returns its exit status and output.
    ///
    /// The output is framed by two markers that the command line prints with `printf '@@%s'`,
    /// so the console's echo of the typed line, which has `%s` where the output has the
    /// marker's name, never matches. The command runs as `(eval '...')`: a syntax error inside
    /// `eval` would make an interactive shell drop the rest of the line, closing marker and
    /// all, and an `exit` would end the shell; in a subshell both just set the status. So `cd`
    /// and variables do not carry over from one command to the next.
    pub fn run_status(&mut self, command: &str, timeout: Duration) -> Result<GuestOutput> {
        let begin = self.next_marker("B");
        let end = self.next_marker("E");
        let quoted = command.replace('\'', r"'\''");
        self.send_line(&format!(
            "printf '@@%s\\n' {begin}; (eval '{quoted}'); printf '@@%s:%d\\n' {end} $?"
        ))?;
        let waiting_for = format!("the output of `{command}`");
        let give_up = Instant::now() + timeout;
        let (begin_marker, end_marker) = (format!("@@{begin}"), format!("@@{end}:"));
        let found = self.poll(&waiting_for, give_up, |state, cursor| {
            let transcript = state.watcher.transcript();
            let output_start = find_line(transcript, cursor, &begin_marker)?;
            let end_at = find(transcript, output_start, end_marker.as_bytes())?;
            let status_start = end_at + end_marker.len();
            let status_len = transcript[status_start..].iter().position(|&b| b == b'\n')?;
            let status =
                String::from_utf8_lossy(&transcript[status_start..status_start + status_len]);
            let output =
                String::from_utf8_lossy(&transcript[output_start..end_at]).replace('\r', "");
            let guest_output = GuestOutput { status: status.trim().parse().unwrap_or(-1), output };
            Some((guest_output, status_start + status_len + 1))
        })?;
        found.ok_or_else(|| self.fail_timed_out(&waiting_for, timeout))
    }

    /// Types `poweroff` and waits for QEMU to exit by itself after the guest says
    /// `reboot: Power down`; anything else is an error.
    pub fn poweroff_and_wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.send_line("poweroff")?;
        let waiting_for = "qemu to exit after poweroff";
        let give_up = Instant::now() + timeout;
        let closed = self.poll(waiting_for, give_up, |state, cursor| {
            (state.open_streams == 0).then_some(((), cursor))
        })?;
        if closed.is_none() {
            return Err(self.fail_timed_out(waiting_for, timeout));
        }
        let status = self.reap(Duration::from_secs(5));
        let powered_down = {
            let state = self.lock();
            state.watcher.sightings().iter().any(|s| s.event == ConsoleEvent::PowerDown)
        };
        match status {
            Some(status) if status.success() && powered_down => {
                self.ended = Some("the guest powered off".to_string());
                Ok(status)
            }
            Some(status) if !powered_down => Err(self.fail(&format!(
                "qemu exited ({status}) without the guest printing \"reboot: Power down\""
            ))),
            Some(status) => Err(self.fail(&format!("qemu exited with {status} after poweroff"))),
            None => Err(self.fail("qemu closed its output after poweroff but did not exit")),
        }
    }

    /// Waits for QEMU to exit by itself (a guest that powers off), however quiet its console is
    /// meanwhile: for a guest running a command that prints elsewhere. A guest failure on the
    /// console (a panic) or the timeout kills QEMU and is an error.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let waiting_for = "qemu to exit";
        let give_up = Instant::now() + timeout;
        // a year: silence is not a failure here, and the sum with an Instant must not overflow
        self.limits.silence = Duration::from_secs(365 * 24 * 3600);
        self.deadline = self.deadline.max(give_up);
        let closed = self.poll(waiting_for, give_up, |state, cursor| {
            (state.open_streams == 0).then_some(((), cursor))
        })?;
        if closed.is_none() {
            return Err(self.fail_timed_out(waiting_for, timeout));
        }
        match self.reap(Duration::from_secs(5)) {
            Some(status) => {
                self.ended = Some(format!("qemu exited ({status})"));
                Ok(status)
            }
            None => Err(self.fail("qemu closed its output but did not exit")),
        }
    }

    /// The last lines of the console and where the whole log is, as errors show them.
    pub fn console_report(&self) -> String {
        self.report()
    }

    /// The core of every wait: returns `Ok(Some)` once `found` finds something after the cursor
    /// (moving the cursor past it), `Ok(None)` at `give_up`, and an error (QEMU killed) on a
    /// guest failure, QEMU exiting, silence, or the session's deadline.
    fn poll<T>(
        &mut self,
        waiting_for: &str,
        give_up: Instant,
        mut found: impl FnMut(&ConsoleState, usize) -> Option<(T, usize)>,
    ) -> Result<Option<T>> {
        self.check_not_ended()?;
        let console = Arc::clone(&self.console);
        let mut state = console.state.lock().unwrap();
        loop {
            if let Some((value, cursor)) = found(&state, self.cursor) {
                self.cursor = cursor;
                return Ok(Some(value));
            }
            if let Some(kind) = state.watcher.failure().filter(|_| self.watch_failures) {
                drop(state);
                return Err(self.fail_on_guest_failure(kind, waiting_for));
            }
            if state.open_streams == 0 {
                drop(state);
                let status = self.reap(Duration::from_secs(1));
                let how =
                    status.map_or("closed its output".to_string(), |s| format!("exited ({s})"));
                return Err(self.fail(&format!("qemu {how} while waiting for {waiting_for}")));
            }
            let now = Instant::now();
            if now >= self.deadline {
                drop(state);
                let limit = self.limits.whole_session.as_secs_f64();
                return Err(self.fail(&format!(
                    "the session's {limit:.0}s deadline passed while waiting for {waiting_for}"
                )));
            }
            let silent_until = state.last_output + self.limits.silence;
            if now >= silent_until {
                drop(state);
                let silence = self.limits.silence.as_secs_f64();
                return Err(self.fail(&format!(
                    "the console printed nothing for {silence:.0}s while waiting for {waiting_for}"
                )));
            }
            if now >= give_up {
                return Ok(None);
            }
            let wake = give_up.min(self.deadline).min(silent_until);
            state = console.changed.wait_timeout(state, wake - now).unwrap().0;
        }
    }

    fn fail_timed_out(&mut self, waiting_for: &str, timeout: Duration) -> anyhow::Error {
        self.fail(&format!(
            "timed out after {:.0}s waiting for {waiting_for}",
            timeout.as_secs_f64()
        ))
    }

    fn fail_on_guest_failure(&mut self, kind: FailureKind, waiting_for: &str) -> anyhow::Error {
        // let the panic's trace arrive and QEMU exit by itself (-no-reboot, panic=-1)
        let grace_until = Instant::now() + FAILURE_GRACE;
        {
            let mut state = self.lock();
            while state.open_streams > 0 {
                let now = Instant::now();
                if now >= grace_until {
                    break;
                }
                state = self.console.changed.wait_timeout(state, grace_until - now).unwrap().0;
            }
        }
        self.kill(&format!("{kind}"));
        let panic_line = crate::panic_line(&self.transcript()).map(String::from);
        let waiting_for = waiting_for.to_string();
        anyhow!(BootFailure { kind, panic_line, waiting_for, report: self.report() })
    }

    /// Kills QEMU and returns `message` with the console report.
    fn fail(&mut self, message: &str) -> anyhow::Error {
        self.kill(message);
        anyhow!("{message}\n{}", self.report())
    }

    fn check_not_ended(&self) -> Result<()> {
        match &self.ended {
            Some(why) => bail!("the qemu session has already ended: {why}"),
            None => Ok(()),
        }
    }

    /// The end of the console and where the rest is.
    fn report(&self) -> String {
        let state = self.lock();
        let text = printable(state.watcher.transcript());
        let shown = last_lines(&text, REPORT_LINES);
        let whole = shown.len() == text.len();
        let log_note = match &state.log_error {
            Some(err) => format!("; the log is incomplete: {err}"),
            None => String::new(),
        };
        let heading = if whole { "console" } else { "last console lines" };
        format!(
            "--- {heading} (whole log: {}{log_note}; command: {}) ---\n{}\n--- end of console ---",
            self.log_path.display(),
            self.command_line,
            shown.trim_end()
        )
    }

    fn kill(&mut self, why: &str) {
        if self.ended.is_none() {
            self.ended = Some(why.to_string());
        }
        *self.alive.lock().unwrap() = false;
        // kill() does nothing for a child already reaped, so this never hits a reused pid
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `patience` for QEMU to exit by itself.
    fn reap(&mut self, patience: Duration) -> Option<ExitStatus> {
        *self.alive.lock().unwrap() = false;
        let give_up = Instant::now() + patience;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < give_up => thread::sleep(Duration::from_millis(20)),
                _ => return None,
            }
        }
    }

    fn next_marker(&mut self, kind: &str) -> String {
        self.markers_used += 1;
        format!("{kind}{}", self.markers_used)
    }

    fn lock(&self) -> MutexGuard<'_, ConsoleState> {
        self.console.state.lock().unwrap()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // closing stdin first is polite; the kill is what guarantees QEMU is gone
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies one of QEMU's output streams into the watcher and the log until it closes.
fn pump(mut stream: impl Read, console: &Console, log_path: &Path) {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap_or(0);
        let mut state = console.state.lock().unwrap();
        if n == 0 {
            state.open_streams -= 1;
            if state.open_streams == 0 {
                let now = Instant::now();
                let new = state.watcher.close().len();
                state.seen_at.extend(std::iter::repeat_n(now, new));
            }
            console.changed.notify_all();
            return;
        }
        let now = Instant::now();
        let new = state.watcher.feed(&buf[..n]).len();
        state.seen_at.extend(std::iter::repeat_n(now, new));
        let length = state.watcher.transcript().len();
        state.arrivals.push((length, now));
        state.last_output = now;
        if let Some(log) = state.log.as_mut() {
            if let Err(err) = log.write_all(&buf[..n]) {
                state.log_error = Some(format!("writing {}: {err}", log_path.display()));
                state.log = None;
            }
        }
        console.changed.notify_all();
    }
}

/// The first of `events` sighted after `cursor`: the event, where it ends, when it arrived.
fn next_event(
    state: &ConsoleState,
    cursor: usize,
    events: &[ConsoleEvent],
) -> Option<(ConsoleEvent, usize, Instant)> {
    let sightings = state.watcher.sightings();
    let index = sightings.iter().position(|s| s.offset > cursor && events.contains(&s.event))?;
    Some((sightings[index].event, sightings[index].offset, state.seen_at[index]))
}

/// Where `needle` starts in `haystack[from..]`, as an offset into `haystack`.
fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return (from <= haystack.len()).then_some(from);
    }
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| from + i)
}

/// Where the next line starts after an occurrence of `marker` that ends its line (in `\n`, or
/// `\r\n` from a terminal): `@@B1` must not match the start of `@@B12`.
fn find_line(haystack: &[u8], from: usize, marker: &str) -> Option<usize> {
    let mut search = from;
    loop {
        let at = find(haystack, search, marker.as_bytes())?;
        let after = at + marker.len();
        for ending in [&b"\r\n"[..], b"\n"] {
            if haystack[after..].starts_with(ending) {
                return Some(after + ending.len());
            }
        }
        search = at + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_searches_from_an_offset() {
        assert_eq!(find(b"abcabc", 0, b"bc"), Some(1));
        assert_eq!(find(b"abcabc", 2, b"bc"), Some(4));
        assert_eq!(find(b"abc", 3, b""), Some(3));
        assert_eq!(find(b"abc", 4, b"a"), None);
    }

    #[test]
    fn find_line_needs_the_whole_marker_line() {
        assert_eq!(find_line(b"@@B12\r\n@@B1\r\nout", 0, "@@B1"), Some(13));
        assert_eq!(find_line(b"@@B1\nout", 0, "@@B1"), Some(5));
        // the line break has not arrived yet
        assert_eq!(find_line(b"@@B1\r", 0, "@@B1"), None);
    }
}
