//! A command run in the guest (`cargo xtask run -- CMD`): its stdout, stderr and exit status
//! come back over three named virtio serial ports, its stdin streams in over a fourth; the console
//! (kernel log and the runner's own lines) stays in the log, or on stderr with `--verbose`.
//!
//! What is guaranteed, and how:
//! - The exit status travels on its own port, which the guest's `/sbin/kardel-run` (init, pid 1)
//!   opens before the command starts and holds until it writes `exit N` after the command has
//!   exited. A virtio port has one opener at a time, and the command does not inherit the
//!   runner's descriptor: the command cannot write to it, so nothing it prints, to any file, port
//!   or the console, can change the run's exit code.
//! - Once the runner has started the command, the console is the command's: text on it that
//!   looks like a failure ("Kernel panic") does not end the run. A real panic still does (QEMU
//!   exits by itself: `panic=-1`, `-no-reboot`), with no status: exit code 125.
//! - A guest that reaches nothing of the host's (no share, no network) ends when its status is in:
//!   QEMU is killed there, its output all on the host (a guest's write to a port returns once QEMU
//!   has taken it); a guest with a share or a network powers off, flushing its writes.
//! - Whenever the status arrived, it is the verdict. It comes on a connection, not a file, so
//!   a share of the target folder cannot replace it; the last `exit N` counts.
//! - stdin streams as it arrives, with bounded memory (a Unix socket QEMU reads from only as the
//!   guest reads); the guest sees end of file when the host's stdin ends.
//! - When the reader of stdout or stderr goes away (`run -- yes | head -1`), QEMU is killed at
//!   once and the run ends with exit code 141 (unless the status had arrived), as a shell
//!   reports a process killed by SIGPIPE. What was copied out is punched out of the ports'
//!   files, so a command that prints without end does not fill the disk.
//! - The run's folder (its ports' files) goes on every way out of this function; a run killed
//!   outright leaves it for the next run, which removes the folders of runs that are gone.

use std::{
    fs::File,
    io::{BufRead, IsTerminal, Read, Write},
    os::{
        fd::AsRawFd,
        unix::net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use qemu::{
    devices::{self, PortBackend},
    Killer, Limits, Machine, Session,
};
use stages::{
    layout::{Layout, RunFiles},
    Site,
};

use crate::{
    protocol::{self, command_line_in, parse_status, RUNNER_STARTED},
    warm,
};

/// The exit code of a run whose guest failed (panic, no init, silence, the timeout, a broken
/// build): as vng's 255 and vmtest's 69, one code the tool keeps for itself.
pub const GUEST_FAILED: u8 = 125;

/// The exit code of a run whose stdout or stderr reader went away: a shell's for SIGPIPE.
pub const READER_GONE: u8 = 141;

/// How long the console may stay silent before the runner starts: a kernel that prints nothing
/// for this long is hung (a quiet TCG boot prints its first line within about a second).
pub const BOOT_SILENCE: Duration = Duration::from_secs(15);

/// The longest path a Unix socket can have (`sun_path`, less its terminating zero).
const MAX_SOCKET_PATH: usize = 107;

pub struct Options {
    pub timeout: Duration,
    pub verbose: bool,
    /// a guest stopped for a debugger is silent for as long as the person at gdb likes: only
    /// the timeout bounds it
    pub waits_for_debugger: bool,
    /// where the console (the kernel's log, the runner's lines) is written
    pub console_log: PathBuf,
    /// where the command's stdout goes, as it arrives
    pub stdout: Box<dyn Write + Send>,
    /// filled with the whole console when the run ends, however it ends (the log file is a
    /// transcript for people, which two runs at once would share)
    pub console_copy: Option<Arc<std::sync::Mutex<String>>>,
    /// start from the saved machine when there is one, and save it when there is none
    /// ([`warm`]): for commands only (KUnit's suites run as the kernel boots)
    pub warm: bool,
    /// what of the host's the guest reaches ([`crate::Options::reaches_host`]), if anything
    pub reaches_host: Option<String>,
    /// the guest's folder the command starts in (`/` when none): the caller's, inside a root of
    /// theirs ([`crate::user_root::guest_folder`])
    pub folder: Option<String>,
    /// what the command reads on stdin, instead of this process's stdin (test modules sent to a
    /// saved machine, whose image cannot hold them)
    pub stdin_bytes: Option<Vec<u8>>,
}

impl Options {
    /// A command's run as `run -- CMD` makes it, on a machine made with `machine`'s options:
    /// its stdout this process's, the console in the `command` log.
    pub fn for_command(site: Site<'_>, machine: &crate::Options, timeout: Duration) -> Options {
        Options {
            reaches_host: machine.reaches_host(),
            timeout,
            verbose: false,
            waits_for_debugger: false,
            console_log: site.layout.log("command"),
            stdout: Box::new(std::io::stdout()),
            console_copy: None,
            warm: false,
            folder: None,
            stdin_bytes: None,
        }
    }
}

/// How a command run ended: what `run`, `test` and `bisect` read (never an error's text).
#[derive(Debug)]
pub enum Outcome {
    /// the command's exit status, as the runner wrote it
    Exited(u8),
    /// the reader of the run's stdout or stderr went away first
    ReaderGone,
    /// the machine (or the tool around it) failed under the command
    Failed(Failure),
}

/// Why a run has no exit status, and what to tell a person.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    /// the reason, the console's last lines and where its whole log is
    pub message: String,
}

/// The kinds of [`Failure`] a caller may act on (the bisect's `--panic skip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// the kernel panicked: its panic line
    Panic(String),
    /// the console showed a boot that cannot go on (no init, no root, no console)
    Boot(qemu::FailureKind),
    /// `--timeout` passed
    Timeout,
    /// the guest (or QEMU) ended without the command's status, with no panic on its console
    NoStatus,
    /// anything else: silence before the runner started, QEMU gone, a port or folder that
    /// could not be made
    Machine,
}

impl Outcome {
    /// The run's exit code: the command's, [`READER_GONE`] or [`GUEST_FAILED`].
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Exited(code) => *code,
            Outcome::ReaderGone => READER_GONE,
            Outcome::Failed(_) => GUEST_FAILED,
        }
    }

    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Outcome::Failed(failure) => Some(failure),
            _ => None,
        }
    }

    /// A failure of the run's own making from an error: a [`qemu::BootFailure`] keeps its kind
    /// (and its panic line), anything else is the machine's.
    fn from_error(err: anyhow::Error) -> Outcome {
        let kind = match err.downcast_ref::<qemu::BootFailure>() {
            Some(boot) => match (&boot.panic_line, boot.kind) {
                (Some(line), _) => FailureKind::Panic(line.clone()),
                (None, kind) => FailureKind::Boot(kind),
            },
            None => FailureKind::Machine,
        };
        Outcome::Failed(Failure { kind, message: format!("{err:#}") })
    }
}

/// How the wait for the guest to end went.
enum Waited {
    /// QEMU ended (or was stopped at the status)
    Ended,
    /// `--timeout` passed first
    TimedOut(Duration),
    /// the session failed otherwise (its error)
    Failed(anyhow::Error),
}

/// The verdict of a run, pure: a status that arrived always decides; then a reader that went
/// away; then why the guest ended without one. `panic_line` is the kernel's, if its console
/// shows one; `report` the console's last lines.
fn verdict(
    status: Option<u8>,
    reader_gone: bool,
    waited: Waited,
    panic_line: Option<&str>,
    command: &str,
    report: impl FnOnce() -> String,
) -> Outcome {
    match (status, waited) {
        (Some(code), _) => Outcome::Exited(code),
        (None, _) if reader_gone => Outcome::ReaderGone,
        (None, Waited::TimedOut(limit)) => Outcome::Failed(Failure {
            kind: FailureKind::Timeout,
            message: format!(
                "the guest did not finish `{command}` within --timeout {}s\n{}",
                limit.as_secs(),
                report()
            ),
        }),
        (None, Waited::Failed(err)) => {
            Outcome::from_error(err.context(format!("the guest failed running `{command}`")))
        }
        (None, Waited::Ended) => {
            // a panic under the command (a module's, say) is the usual reason: say so first
            let why = panic_line.map(|l| format!(": {l}")).unwrap_or_default();
            let kind = match panic_line {
                Some(line) => FailureKind::Panic(line.to_string()),
                None => FailureKind::NoStatus,
            };
            let message =
                format!("the guest ended without the command's exit status{why}\n{}", report());
            Outcome::Failed(Failure { kind, message })
        }
    }
}

/// Boots `machine` (whose init is [`protocol::RUNNER_INIT`]) with `argv` as its command, streams
/// the command's output to `options.stdout` and this process's stderr, and this process's stdin
/// to it, and returns its exit code. An error is a failure of the machine (or of the tool). With
/// `options.warm`, the machine starts from its saved state when there is one ([`warm`]), and is
/// saved when there is none; a restore that fails falls back to a boot, once. Every way the
/// run ends is an [`Outcome`]: a failure of the machine or of the tool around it too.
pub fn run(site: Site<'_>, machine: Machine, argv: &[String], options: Options) -> Outcome {
    try_run(site, machine, argv, options).unwrap_or_else(Outcome::from_error)
}

fn try_run(site: Site<'_>, machine: Machine, argv: &[String], options: Options) -> Result<Outcome> {
    sweep_dead_runs(&site.layout.runs());
    // a guest that reaches nothing of the host's is done once its status is in: its poweroff
    // (a tenth of a second under TCG) would change nothing anyone sees
    let ends_at_status = options.reaches_host.is_none();
    let finish = |started, options| finish(started, argv, options, ends_at_status);
    let cold_because = match options.warm {
        false => Some("not asked for (--cold, or a command that needs a boot)".to_string()),
        true if !site.arch.warm_starts => {
            Some(format!("not on {} (arches.toml says why)", site.arch.name))
        }
        true => warm::cannot(options.reaches_host.as_deref(), options.waits_for_debugger),
    };
    if let Some(why) = cold_because {
        say(&options, &format!("warm start: none, a boot ({why})"));
        let mut machine = machine;
        let ports = Ports::add(site, &mut machine, false, &options)?;
        let started = boot(machine, ports, argv, None, &options)?;
        return finish(started, options);
    }
    // the run's own ports in the machine: the fingerprint is of exactly what QEMU is given
    let mut warm_machine = machine.clone();
    let ports = Ports::add(site, &mut warm_machine, true, &options)?;
    let state = site.layout.warm_state(&warm::fingerprint(&warm_machine, &ports.dir.0.dir)?);
    if !warm::is_saved(&state) {
        let started = boot(warm_machine, ports, argv, Some(&state), &options)?;
        return finish(started, options);
    }
    if let Err(why) = warm::intact(&state) {
        eprintln!("warm start: {why}: booting, and saving the machine anew");
        warm::forget(&state);
        let started = boot(warm_machine, ports, argv, Some(&state), &options)?;
        return finish(started, options);
    }
    match restore(warm_machine, ports, argv, &state, &options) {
        Ok(restored) => {
            let took = restored.session.arrived(RUNNER_STARTED).unwrap_or_default();
            artifact::record_timing("restore", took.as_secs_f64());
            let took = format!("{:.3} s from QEMU's start to the command's", took.as_secs_f64());
            say(&options, &format!("warm start: restored the saved machine ({took})"));
            finish(restored, options)
        }
        Err(why) => {
            // said without --verbose: every later run would pay the boot otherwise, unseen
            eprintln!("warm start: the restore failed, booting instead: {}", first_line(&why));
            say(&options, &format!("{why:#}"));
            // a state that does not load is of no use to the next run either
            warm::forget(&state);
            let mut machine = machine;
            let ports = Ports::add(site, &mut machine, true, &options)?;
            let started = boot(machine, ports, argv, Some(&state), &options)?;
            finish(started, options)
        }
    }
}

/// An error's first line, for a line on stderr that does not need `--verbose`.
fn first_line(err: &anyhow::Error) -> String {
    format!("{err:#}").lines().next().unwrap_or_default().to_string()
}

fn say(options: &Options, line: &str) {
    if options.verbose {
        eprintln!("{line}");
    }
}

/// A run's folder and the ports' host sides in it, added to a machine.
struct Ports {
    dir: RunDir,
    stdout_file: PathBuf,
    stderr_file: PathBuf,
    status: UnixListener,
    stdin: Option<UnixListener>,
    command: UnixListener,
}

impl Ports {
    /// A new run folder, and the runner's ports in `machine`; `warm`: stdin always (a saved
    /// machine has one set of devices), and the runner asked to wait for its command after a
    /// first line ([`protocol::WARM`]).
    fn add(site: Site<'_>, machine: &mut Machine, warm: bool, options: &Options) -> Result<Ports> {
        let dir = RunDir::create(site.layout)?;
        let (stdout_file, stderr_file) = (dir.0.stdout.clone(), dir.0.stderr.clone());
        for file in [&stdout_file, &stderr_file] {
            File::create(file).with_context(|| format!("creating {}", file.display()))?;
        }
        machine.devices.extend(devices::virtio_serial(&site.arch.virtio));
        for (port, file) in [(protocol::STDOUT, &stdout_file), (protocol::STDERR, &stderr_file)] {
            machine.devices.extend(devices::virtio_port(
                port.id,
                port.name,
                PortBackend::File(file),
            ));
        }
        // the status on a connection, not a file: a share of the target folder could replace a
        // file
        let status = socket_port(machine, &dir.0, protocol::STATUS)?;
        // a person typing gets no stdin in the guest: the console is not theirs to type to
        let given = options.stdin_bytes.is_some();
        let stdin = match warm || given || !std::io::stdin().is_terminal() {
            true => Some(socket_port(machine, &dir.0, protocol::STDIN)?),
            false => None,
        };
        let command = socket_port(machine, &dir.0, protocol::COMMAND)?;
        if warm {
            machine.append.push(protocol::kernel_arg(protocol::WARM, 1));
        }
        Ok(Ports { dir, stdout_file, stderr_file, status, stdin, command })
    }
}

/// A QEMU whose runner has the command (or is about to get it), and what the rest of the run
/// needs of it.
struct Started {
    session: Session,
    ports: Ports,
    /// the command's and stdin's connections come back on this, to be closed once QEMU is gone:
    /// closing one earlier could make QEMU drop what the guest has not read yet
    connections: mpsc::Receiver<UnixStream>,
    connection_back: mpsc::Sender<UnixStream>,
    /// opened when the command may be sent and stdin may stream: at once for a boot, after the
    /// save for a machine being saved (nothing of this run's may be in the saved state)
    gate: Gate,
    /// the runner printed its start line already (a restore waits for it)
    runner_started: bool,
    /// the console before this QEMU's: a restored machine's boot, which printed what ran as it
    /// booted (KUnit's built-in suites)
    console_before: String,
    began: Instant,
}

/// From the saved machine `state`: QEMU loads it, the command is sent at once, and the runner's
/// start line must come within [`RESTORE_LIMIT`], or the restore failed.
fn restore(
    mut machine: Machine,
    ports: Ports,
    argv: &[String],
    state: &Path,
    options: &Options,
) -> Result<Started> {
    let timeout = options.timeout;
    let qmp = ports.dir.0.qmp.clone();
    let ram = match warm::ram_to_map(state, &ports.dir.0.dir) {
        Ok((ram, None)) => ram,
        Ok((ram, Some(why))) => {
            eprintln!("warm start: {why}");
            ram
        }
        Err(err) => return Err(err),
    };
    warm::mark_used(state);
    machine.devices.extend(devices::memory_file(machine.memory_mib, &ram, false));
    machine.devices.extend(devices::monitor_socket(&qmp, devices::MonitorKind::Qmp));
    machine.extra_args.extend(qemu::qmp::restore_args());
    let limits = Limits { whole_session: timeout, silence: BOOT_SILENCE };
    let session = Session::spawn_with_limits(&machine, &options.console_log, limits)?;
    let loaded = qemu::qmp::Qmp::connect(&qmp, RESTORE_LIMIT, || session.output_closed())
        .and_then(|mut monitor| monitor.restore_from(&warm::state_file(state)));
    if let Err(err) = loaded {
        let report = session.console_report();
        bail!("QEMU did not take the saved machine: {err:#}\n{report}");
    }
    let mut started = Started::new(session, ports);
    started.console_before = warm::saved_console(state)?;
    // at once: the runner's start line, which tells a restore that worked, comes after it
    started.gate.open();
    started.send_command(command_line_in(options.folder.as_deref(), argv), true)?;
    started.session.wait_for(RUNNER_STARTED, RESTORE_LIMIT.min(timeout))?;
    started.runner_started = true;
    Ok(started)
}

/// How long a restored machine may take to start its command: a restore takes a tenth of a
/// second here; one that does not load fails at once.
const RESTORE_LIMIT: Duration = Duration::from_secs(10);

/// A boot of `machine` (with `ports` in it); with `saving`, the machine saved there once its
/// runner waits for its command.
fn boot(
    mut machine: Machine,
    ports: Ports,
    argv: &[String],
    saving: Option<&Path>,
    options: &Options,
) -> Result<Started> {
    let (qmp, ram) = (ports.dir.0.qmp.clone(), ports.dir.0.ram.clone());
    if saving.is_some() {
        machine.devices.extend(devices::memory_file(machine.memory_mib, &ram, true));
        machine.devices.extend(devices::monitor_socket(&qmp, devices::MonitorKind::Qmp));
    }
    let silence = if options.waits_for_debugger { options.timeout } else { BOOT_SILENCE };
    let limits = Limits { whole_session: options.timeout, silence };
    let session = Session::spawn_with_limits(&machine, &options.console_log, limits)?;
    let mut started = Started::new(session, ports);
    started.send_command(command_line_in(options.folder.as_deref(), argv), saving.is_some())?;
    match saving {
        None => started.gate.open(),
        Some(state) => {
            // a guest that fails before it is ready fails the run as a boot's does
            if let Err(err) = started.session.wait_for(protocol::RUNNER_READY, options.timeout) {
                return Err(err.context(format!("the guest failed running `{}`", argv.join(" "))));
            }
            // the boot's console goes with the machine: KUnit's built-in suites ran in it
            match save(&qmp, &ram, state, &started.session.transcript()) {
                Ok(()) => {
                    say(options, &format!("warm start: saved the machine as {}", state.display()))
                }
                Err(why) => eprintln!("warm start: the machine was not saved: {why:#}"),
            }
            started.gate.open();
        }
    }
    Ok(started)
}

/// Saves the machine to the folder `saved`: the devices' state, its RAM (the file `ram`, shared
/// with the guest) copied beside it and its boot's `console`, in a temporary folder renamed when
/// complete; and lets
/// it go on, whatever happened to the save. The RAM is copied while the machine is stopped (a
/// completed save leaves it so): from then on this run's guest writes to its own file only. The
/// saved state is a running machine's, which a restore starts at once, where a stopped one's
/// would wait for a `cont`.
fn save(qmp: &Path, ram: &Path, saved: &Path, console: &str) -> Result<()> {
    let mut monitor = qemu::qmp::Qmp::connect(qmp, Duration::from_secs(5), || false)?;
    let temporary = warm::temporary(saved);
    let done = (|| {
        std::fs::create_dir_all(&temporary)
            .with_context(|| format!("creating {}", temporary.display()))?;
        monitor.save_to(&warm::state_file(&temporary), Duration::from_secs(30))?;
        warm::copy_ram(ram, &warm::ram_of(&temporary))?;
        warm::keep_console(&temporary, console)?;
        warm::record_identity(&temporary)?;
        warm::keep(&temporary, saved)
    })();
    if done.is_err() {
        let _ = std::fs::remove_dir_all(&temporary);
    }
    if monitor.execute("query-status", serde_json::json!({}))?["running"] != true {
        monitor.execute("cont", serde_json::json!({}))?;
    }
    done
}

impl Started {
    fn new(session: Session, ports: Ports) -> Started {
        let (connection_back, connections) = mpsc::channel();
        Started {
            session,
            ports,
            connections,
            connection_back,
            gate: Gate::default(),
            runner_started: false,
            console_before: String::new(),
            began: Instant::now(),
        }
    }

    /// The command to QEMU's connection once the gate opens; for a warm runner, the time and
    /// fresh randomness first, taken as it is sent.
    fn send_command(&mut self, line: String, warm: bool) -> Result<()> {
        let listener = self.ports.command.try_clone()?;
        let back = self.connection_back.clone();
        let gate = self.gate.clone();
        thread::spawn(move || {
            let Ok((mut connection, _)) = listener.accept() else { return };
            if let Ok(kept) = connection.try_clone() {
                let _ = back.send(kept);
            }
            gate.wait();
            let header = if warm { warm::header().unwrap_or_default() } else { String::new() };
            let _ = connection.write_all(header.as_bytes());
            let _ = connection.write_all(line.as_bytes());
            let _ = connection.shutdown(std::net::Shutdown::Write);
        });
        Ok(())
    }
}

/// Streams, the status, the wait for the command's end, and its exit code.
fn finish(
    started: Started,
    argv: &[String],
    options: Options,
    ends_at_status: bool,
) -> Result<Outcome> {
    let Started {
        mut session,
        ports,
        connections,
        connection_back,
        gate,
        runner_started,
        console_before,
        began,
    } = started;
    let (done, reader_gone) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let killer = session.killer();
    let pump = |path: &Path, out: Box<dyn Write + Send>| Pump {
        path: path.to_path_buf(),
        out,
        done: Arc::clone(&done),
        reader_gone: Arc::clone(&reader_gone),
        killer: killer.clone(),
    };
    let mut pumps = vec![
        pump(&ports.stdout_file, options.stdout).start(),
        pump(&ports.stderr_file, Box::new(std::io::stderr())).start(),
    ];
    if options.verbose {
        pumps.push(pump(session.log_path(), Box::new(std::io::stderr())).start());
    }
    if let Some(listener) = ports.stdin.as_ref().map(UnixListener::try_clone).transpose()? {
        let (back, gate) = (connection_back.clone(), gate.clone());
        let input = match options.stdin_bytes {
            Some(bytes) => Input::Bytes(bytes),
            // a terminal's stdin is not the guest's: end of file at once
            None if std::io::stdin().is_terminal() => Input::Nothing,
            None => Input::Host,
        };
        thread::spawn(move || stream_stdin(listener, back, gate, input));
    }
    drop(connection_back);
    let status_listener = ports.status.try_clone()?;
    let (status_sent, status_received) = mpsc::channel();
    let status_killer = killer.clone();
    thread::spawn(move || {
        let mut text = String::new();
        if let Ok((connection, _)) = status_listener.accept() {
            // until QEMU closes the connection, as it exits (or is killed: `ends_at_status`).
            // The command's output is all in its ports' files by then: a guest's write to a
            // port returns once QEMU has taken it
            let mut lines = std::io::BufReader::new(connection);
            while matches!(lines.read_line(&mut text), Ok(n) if n > 0) {
                if ends_at_status && text.ends_with('\n') && parse_status(&text).is_some() {
                    status_killer.kill();
                }
            }
        }
        let _ = status_sent.send(text);
    });

    let timeout = options.timeout;
    let to_start = match runner_started {
        true => Ok(()),
        false => session.wait_for(RUNNER_STARTED, timeout.saturating_sub(began.elapsed())),
    };
    let result = to_start.and_then(|()| {
        session.console_is_the_guests();
        session.wait_for_exit(timeout.saturating_sub(began.elapsed()))
    });
    done.store(true, Ordering::SeqCst);
    if let Some(copy) = &options.console_copy {
        *copy.lock().expect("the console copy's lock") = console_before + &session.transcript();
    }
    for pump in pumps {
        let _ = pump.join();
    }
    drop(connections);
    // QEMU is gone, so its connection is closed: what it held is all there is
    let status = status_received.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
    drop(ports);
    let waited = match result {
        Ok(_) => Waited::Ended,
        Err(_) if began.elapsed() >= timeout => Waited::TimedOut(timeout),
        Err(err) => Waited::Failed(err),
    };
    let transcript = session.transcript();
    let command = argv.join(" ");
    let outcome = verdict(
        parse_status(&status),
        reader_gone.load(Ordering::SeqCst),
        waited,
        qemu::panic_line(&transcript),
        &command,
        || session.console_report(),
    );
    Ok(outcome)
}

/// Opened once; waited on by the threads that must not send before it opens.
#[derive(Clone, Default)]
struct Gate(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn open(&self) {
        let (open, changed) = &*self.0;
        *open.lock().expect("the gate's lock") = true;
        changed.notify_all();
    }

    fn wait(&self) {
        let (open, changed) = &*self.0;
        let mut is_open = open.lock().expect("the gate's lock");
        while !*is_open {
            is_open = changed.wait(is_open).expect("the gate's lock");
        }
    }
}

/// `port`, its host side a Unix socket in the run's folder that QEMU connects to as it starts.
fn socket_port(
    machine: &mut Machine,
    run: &RunFiles,
    port: protocol::Port,
) -> Result<UnixListener> {
    let path = run.port(port.id);
    let shown = path.display().to_string();
    if shown.len() > MAX_SOCKET_PATH {
        bail!("{shown}: too long for a Unix socket (the target folder is too deep)");
    }
    let listener = UnixListener::bind(&path).with_context(|| format!("listening on {shown}"))?;
    machine.devices.extend(devices::virtio_port(port.id, port.name, PortBackend::Socket(&path)));
    Ok(listener)
}

/// What the guest's stdin streams.
enum Input {
    /// this process's stdin, as it arrives
    Host,
    /// these bytes ([`Options::stdin_bytes`])
    Bytes(Vec<u8>),
    /// end of file at once
    Nothing,
}

/// Copies `input` to QEMU's connection (once `gate` opens), then shuts the connection's sending
/// side: the guest reads end of file after the last byte. The connection goes back to the run,
/// which closes it once QEMU is gone.
fn stream_stdin(listener: UnixListener, back: mpsc::Sender<UnixStream>, gate: Gate, input: Input) {
    let Ok((mut connection, _)) = listener.accept() else { return };
    if let Ok(kept) = connection.try_clone() {
        let _ = back.send(kept);
    }
    gate.wait();
    // a guest that stops reading (or exits) ends a copy with an error: nothing more to send
    match input {
        Input::Host => drop(std::io::copy(&mut std::io::stdin().lock(), &mut connection)),
        Input::Bytes(bytes) => drop(connection.write_all(&bytes)),
        Input::Nothing => {}
    }
    let _ = connection.shutdown(std::net::Shutdown::Write);
}

/// A folder of this run's own, named by its process: two runs at once never share ports' files.
/// It goes when the run ends.
struct RunDir(RunFiles);

impl RunDir {
    fn create(layout: &Layout) -> Result<RunDir> {
        let base = layout.runs();
        std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
        for n in 0.. {
            let run = layout.run(n);
            match std::fs::create_dir(&run.dir) {
                Ok(()) => return Ok(RunDir(run)),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("creating {}", run.dir.display()))
                }
            }
        }
        unreachable!("a free run folder exists")
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0.dir);
    }
}

/// Removes the folders of runs whose process is gone (killed outright: no way out ran).
fn sweep_dead_runs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !warm::process_exists(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Copies what QEMU appends to a port's file to one of this process's outputs as it arrives,
/// until the run is done and the file is drained. A reader that went away ends the run.
struct Pump {
    path: PathBuf,
    out: Box<dyn Write + Send>,
    done: Arc<AtomicBool>,
    reader_gone: Arc<AtomicBool>,
    killer: Killer,
}

impl Pump {
    fn start(mut self) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            let Ok(mut file) = open_when_there(&self.path) else { return };
            let mut buf = vec![0u8; 64 * 1024];
            let mut read = 0u64;
            loop {
                let finished = self.done.load(Ordering::SeqCst);
                match file.read(&mut buf) {
                    Ok(0) if finished => break,
                    Ok(0) => thread::sleep(Duration::from_millis(10)),
                    Ok(n) => {
                        read += n as u64;
                        let written = self.out.write_all(&buf[..n]).and_then(|()| self.out.flush());
                        // what was copied out leaves the disk: a command that prints without
                        // end keeps only what is not yet read
                        // SAFETY: fallocate on a file this thread owns; an error is harmless
                        unsafe {
                            let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
                            libc::fallocate(file.as_raw_fd(), mode, 0, read as libc::off_t);
                        }
                        if written.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
                            self.reader_gone.store(true, Ordering::SeqCst);
                            self.killer.kill();
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        })
    }
}

/// The file open for reading and writing (holes are punched behind what was read).
fn open_when_there(path: &Path) -> std::io::Result<File> {
    let open = || std::fs::OpenOptions::new().read(true).write(true).open(path);
    for _ in 0..500 {
        if let Ok(file) = open() {
            return Ok(file);
        }
        thread::sleep(Duration::from_millis(10));
    }
    open()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdict of one way a run can end: its exit code and the failure's kind, if any.
    fn judged(
        status: Option<u8>,
        reader_gone: bool,
        waited: Waited,
        panic: Option<&str>,
    ) -> (u8, Option<FailureKind>) {
        let outcome = verdict(status, reader_gone, waited, panic, "cmd", || "console".into());
        (outcome.exit_code(), outcome.failure().map(|f| f.kind.clone()))
    }

    #[test]
    fn a_status_that_arrived_always_decides() {
        let panic = Some("Kernel panic - not syncing: printed by the command");
        assert_eq!(judged(Some(3), false, Waited::Ended, None), (3, None));
        assert_eq!(judged(Some(0), true, Waited::Ended, panic), (0, None));
        let late = Waited::TimedOut(Duration::from_secs(4));
        assert_eq!(judged(Some(7), false, late, None), (7, None));
        let failed = Waited::Failed(anyhow::anyhow!("qemu exited"));
        assert_eq!(judged(Some(0), false, failed, None), (0, None));
    }

    #[test]
    fn without_a_status_the_reader_then_the_machine_decide() {
        assert_eq!(judged(None, true, Waited::Ended, None), (READER_GONE, None));
        let timeout = Waited::TimedOut(Duration::from_secs(4));
        assert_eq!(judged(None, false, timeout, None), (GUEST_FAILED, Some(FailureKind::Timeout)));
        let line = "Kernel panic - not syncing: Attempted to kill init!";
        assert_eq!(
            judged(None, false, Waited::Ended, Some(line)),
            (GUEST_FAILED, Some(FailureKind::Panic(line.into())))
        );
        assert_eq!(
            judged(None, false, Waited::Ended, None),
            (GUEST_FAILED, Some(FailureKind::NoStatus))
        );
        let silent = Waited::Failed(anyhow::anyhow!("the console printed nothing for 15s"));
        assert_eq!(judged(None, false, silent, None), (GUEST_FAILED, Some(FailureKind::Machine)));
    }

    #[test]
    fn a_boot_failure_keeps_its_kind_and_its_panic_line() {
        let boot = |kind, panic_line: Option<&str>| {
            Waited::Failed(anyhow::anyhow!(qemu::BootFailure {
                kind,
                panic_line: panic_line.map(String::from),
                waiting_for: "the runner".into(),
                report: "console".into(),
            }))
        };
        let no_init = boot(qemu::FailureKind::NoWorkingInit, None);
        assert_eq!(
            judged(None, false, no_init, None),
            (GUEST_FAILED, Some(FailureKind::Boot(qemu::FailureKind::NoWorkingInit)))
        );
        let line = "Kernel panic - not syncing: No working init found.";
        let panicked = boot(qemu::FailureKind::NoWorkingInit, Some(line));
        assert_eq!(
            judged(None, false, panicked, None),
            (GUEST_FAILED, Some(FailureKind::Panic(line.into())))
        );
    }

    #[test]
    fn a_timeout_says_the_limit_given() {
        let outcome = verdict(
            None,
            false,
            Waited::TimedOut(Duration::from_secs(4)),
            None,
            "sleep 60",
            || "the console's tail".into(),
        );
        let message = &outcome.failure().unwrap().message;
        assert!(message.starts_with("the guest did not finish `sleep 60` within --timeout 4s\n"));
        assert!(message.ends_with("the console's tail"));
    }
}
