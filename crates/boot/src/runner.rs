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
    io::{IsTerminal, Read, Write},
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
use stages::Context;

use crate::protocol::{self, command_line, parse_status, RUNNER_STARTED};

/// The exit code of a run whose guest failed (panic, no init, silence, the timeout, a broken
/// build): as vng's 255 and vmtest's 69, one code the tool keeps for itself.
pub const GUEST_FAILED: u8 = 125;

/// The exit code of a run whose stdout or stderr reader went away: a shell's for SIGPIPE.
pub const READER_GONE: u8 = 141;

/// How long the console may stay silent before the runner starts: a kernel that prints nothing
/// for this long is hung (a quiet TCG boot prints its first line within about a second).
const BOOT_SILENCE: Duration = Duration::from_secs(15);

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
}

impl Options {
    /// A command's run as `run -- CMD` makes it: its stdout this process's, the console in the
    /// `command` log.
    pub fn for_command(ctx: &Context, timeout: Duration) -> Options {
        Options {
            timeout,
            verbose: false,
            waits_for_debugger: false,
            console_log: ctx.layout.log("command"),
            stdout: Box::new(std::io::stdout()),
            console_copy: None,
        }
    }
}

/// Boots `machine` (whose init is [`protocol::RUNNER_INIT`]) with `argv` as its command, streams
/// the command's output to `options.stdout` and this process's stderr, and this process's stdin
/// to it, and returns its exit code. An error is a failure of the machine (or of the tool).
pub fn run(ctx: &Context, mut machine: Machine, argv: &[String], options: Options) -> Result<u8> {
    sweep_dead_runs(&ctx.layout.runs());
    let dir = RunDir::create(&ctx.layout.runs())?;
    let (stdout_file, stderr_file) = (dir.0.join("stdout"), dir.0.join("stderr"));
    for file in [&stdout_file, &stderr_file] {
        File::create(file).with_context(|| format!("creating {}", file.display()))?;
    }
    machine.devices.extend(devices::virtio_serial(&ctx.arch.virtio));
    for (port, file) in [(protocol::STDOUT, &stdout_file), (protocol::STDERR, &stderr_file)] {
        machine.devices.extend(devices::virtio_port(port.id, port.name, PortBackend::File(file)));
    }
    // the status on a connection, not a file: a share of the target folder could replace a file
    let status_listener = socket_port(&mut machine, &dir.0, protocol::STATUS)?;
    // a person typing gets no stdin in the guest: the console is not theirs to type to
    let listener = match std::io::stdin().is_terminal() {
        true => None,
        false => Some(socket_port(&mut machine, &dir.0, protocol::STDIN)?),
    };
    let command_listener = socket_port(&mut machine, &dir.0, protocol::COMMAND)?;

    let started = Instant::now();
    let silence = if options.waits_for_debugger { options.timeout } else { BOOT_SILENCE };
    let limits = Limits { whole_session: options.timeout, silence };
    let log = options.console_log.clone();
    let mut session = Session::spawn_with_limits(&machine, &log, limits)?;
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
        pump(&stdout_file, options.stdout).start(),
        pump(&stderr_file, Box::new(std::io::stderr())).start(),
    ];
    if options.verbose {
        pumps.push(pump(&log, Box::new(std::io::stderr())).start());
    }
    // the command's and stdin's connections, handed back to be closed only once QEMU is gone:
    // closing one earlier could make QEMU drop what the guest has not read yet
    let (connection_back, connections) = mpsc::channel();
    if let Some(listener) = listener {
        let back = connection_back.clone();
        thread::spawn(move || stream_stdin(listener, back));
    }
    let line = command_line(argv);
    thread::spawn(move || send_command(command_listener, &line, connection_back));
    let (status_sent, status_received) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        if let Ok((mut connection, _)) = status_listener.accept() {
            // until QEMU closes the connection, as it exits
            let _ = connection.read_to_string(&mut text);
        }
        let _ = status_sent.send(text);
    });

    let result = session.wait_for(RUNNER_STARTED, options.timeout).and_then(|()| {
        session.console_is_the_guests();
        session.wait_for_exit(options.timeout.saturating_sub(started.elapsed()))
    });
    done.store(true, Ordering::SeqCst);
    if let Some(copy) = &options.console_copy {
        *copy.lock().expect("the console copy's lock") = session.transcript();
    }
    for pump in pumps {
        let _ = pump.join();
    }
    drop(connections);
    // QEMU is gone, so its connection is closed: what it held is all there is
    let status = status_received.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
    match (parse_status(&status), result) {
        (Some(code), _) => Ok(code),
        (None, _) if reader_gone.load(Ordering::SeqCst) => Ok(READER_GONE),
        (None, Err(_)) if started.elapsed() >= options.timeout => Err(anyhow::anyhow!(
            "the guest did not finish `{}` within --timeout {}s\n{}",
            argv.join(" "),
            options.timeout.as_secs(),
            session.console_report()
        )),
        (None, Err(err)) => {
            Err(err.context(format!("the guest failed running `{}`", argv.join(" "))))
        }
        (None, Ok(_)) => {
            // a panic under the command (a module's, say) is the usual reason: say so first
            let transcript = session.transcript();
            let why = qemu::panic_line(&transcript).map(|l| format!(": {l}")).unwrap_or_default();
            Err(anyhow::anyhow!(
                "the guest ended without the command's exit status{why}\n{}",
                session.console_report()
            ))
        }
    }
}

/// `port`, its host side a Unix socket in the run's folder that QEMU connects to as it starts.
fn socket_port(machine: &mut Machine, dir: &Path, port: protocol::Port) -> Result<UnixListener> {
    let path = dir.join(port.id);
    let shown = path.display().to_string();
    if shown.len() > MAX_SOCKET_PATH {
        bail!("{shown}: too long for a Unix socket (the target folder is too deep)");
    }
    let listener = UnixListener::bind(&path).with_context(|| format!("listening on {shown}"))?;
    machine.devices.extend(devices::virtio_port(port.id, port.name, PortBackend::Socket(&path)));
    Ok(listener)
}

/// Writes the command to QEMU's connection, then shuts its sending side: the runner reads to end
/// of file. The connection goes back to the run, as stdin's does.
fn send_command(listener: UnixListener, line: &str, back: mpsc::Sender<UnixStream>) {
    let Ok((mut connection, _)) = listener.accept() else { return };
    if let Ok(kept) = connection.try_clone() {
        let _ = back.send(kept);
    }
    let _ = connection.write_all(line.as_bytes());
    let _ = connection.shutdown(std::net::Shutdown::Write);
}

/// Copies this process's stdin to QEMU's connection as it arrives, then shuts the connection's
/// sending side: the guest reads end of file after the last byte. The connection goes back to
/// the run, which closes it once QEMU is gone.
fn stream_stdin(listener: UnixListener, back: mpsc::Sender<UnixStream>) {
    let Ok((mut connection, _)) = listener.accept() else { return };
    if let Ok(kept) = connection.try_clone() {
        let _ = back.send(kept);
    }
    // a guest that stops reading (or exits) ends this with an error: nothing more to send
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut connection);
    let _ = connection.shutdown(std::net::Shutdown::Write);
}

/// A folder of this run's own, named by its process: two runs at once never share ports' files.
/// It goes when the run ends.
struct RunDir(PathBuf);

impl RunDir {
    fn create(base: &Path) -> Result<RunDir> {
        std::fs::create_dir_all(base).with_context(|| format!("creating {}", base.display()))?;
        for n in 0.. {
            let dir = base.join(format!("{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(RunDir(dir)),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err).with_context(|| format!("creating {}", dir.display())),
            }
        }
        unreachable!("a free run folder exists")
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
        // SAFETY: kill(2) with signal 0 only asks whether the process exists
        let gone = unsafe { libc::kill(pid, 0) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
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
