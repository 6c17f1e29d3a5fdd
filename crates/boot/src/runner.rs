//! A command run in the guest (`cargo xtask run -- CMD`): its stdout, stderr and exit status
//! come back over three named virtio serial ports, its stdin goes in over a fourth; the console
//! (kernel log and the runner's own lines) stays in the log, or on stderr with `--verbose`.
//!
//! The exit status travels on its own port, written by the guest's `/sbin/kardel-run` after the
//! command has exited: nothing the command prints, to any file or to the console, reaches it.

use std::{
    fs::File,
    io::{IsTerminal, Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use qemu::{
    devices::{self, PortBackend},
    Limits, Machine, Session,
};
use xshell::cmd;

use stages::Context;

use crate::protocol::{self, encode_command, parse_status, RUNNER_STARTED};

/// The exit code of a run whose guest failed (panic, no init, silence, the timeout, a broken
/// build): as vng's 255 and vmtest's 69, one code the tool keeps for itself.
pub const GUEST_FAILED: u8 = 125;

/// How long the console may stay silent before the runner starts: a kernel that prints nothing
/// for this long is hung (a quiet TCG boot prints its first line within about a second).
const BOOT_SILENCE: Duration = Duration::from_secs(15);

/// The kernel's command line is at most 2048 bytes on most architectures; the command gets what
/// the boot's own arguments leave, with room to spare.
const MAX_ENCODED_COMMAND: usize = 1400;

pub struct Options {
    pub timeout: Duration,
    pub verbose: bool,
    /// a guest stopped for a debugger is silent for as long as the person at gdb likes: only
    /// the timeout bounds it
    pub waits_for_debugger: bool,
}

/// Boots `machine` (whose init is [`protocol::RUNNER_INIT`]) with `argv` as its command, streams the
/// command's output to this process's, and returns its exit code.
pub fn run(
    ctx: &Context,
    mut machine: Machine,
    argv: &[String],
    options: &Options,
) -> Result<ExitCode> {
    let encoded = encode_command(argv);
    if encoded.len() > MAX_ENCODED_COMMAND {
        bail!(
            "the command is too long for the kernel's command line ({} bytes encoded, at most \
             {MAX_ENCODED_COMMAND}): put it in a script and run that",
            encoded.len()
        );
    }
    let dir = run_dir(ctx)?;
    let (stdout_file, stderr_file, status_file) =
        (dir.join("stdout"), dir.join("stderr"), dir.join("status"));
    for file in [&stdout_file, &stderr_file, &status_file] {
        File::create(file).with_context(|| format!("creating {}", file.display()))?;
    }
    machine.devices.extend(devices::virtio_serial(&ctx.arch.virtio));
    // the names /sbin/kardel-run looks the ports up by
    for (port, file) in [
        (protocol::STDOUT, &stdout_file),
        (protocol::STDERR, &stderr_file),
        (protocol::STATUS, &status_file),
    ] {
        machine.devices.extend(devices::virtio_port(port.id, port.name, PortBackend::File(file)));
    }
    let input = read_stdin()?;
    let fifo = dir.join("stdin");
    if !input.is_empty() {
        let sh = &ctx.sh;
        let (fifo_in, fifo_out) = (fifo.with_extension("in"), fifo.with_extension("out"));
        cmd!(sh, "mkfifo {fifo_in} {fifo_out}").quiet().run()?;
        let port = protocol::STDIN;
        machine.devices.extend(devices::virtio_port(port.id, port.name, PortBackend::Pipe(&fifo)));
        machine.append.push(protocol::kernel_arg(protocol::STDIN_LEN, input.len()));
    }
    machine.append.push(protocol::kernel_arg(protocol::COMMAND, &encoded));

    let started = Instant::now();
    let silence = if options.waits_for_debugger { options.timeout } else { BOOT_SILENCE };
    let limits = Limits { whole_session: options.timeout, silence };
    let log = ctx.layout.log("command");
    let mut session = Session::spawn_with_limits(&machine, &log, limits)?;
    let done = Arc::new(AtomicBool::new(false));
    let mut pumps = vec![
        pump(stdout_file.clone(), Box::new(std::io::stdout()), &done),
        pump(stderr_file.clone(), Box::new(std::io::stderr()), &done),
    ];
    if options.verbose {
        pumps.push(pump(log.clone(), Box::new(std::io::stderr()), &done));
    }
    if !input.is_empty() {
        let fifo_in = fifo.with_extension("in");
        // QEMU holds the FIFO open for reading and writing; this blocks only while the guest
        // has not read what came before
        thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo_in) {
                let _ = f.write_all(&input);
            }
        });
    }

    let result = session
        .wait_for(RUNNER_STARTED, options.timeout)
        .and_then(|()| session.wait_for_exit(options.timeout.saturating_sub(started.elapsed())));
    done.store(true, Ordering::SeqCst);
    for pump in pumps {
        let _ = pump.join();
    }
    let outcome = match result {
        Err(err) => Err(err.context(format!("the guest failed running `{}`", argv.join(" ")))),
        Ok(_) => {
            let status = std::fs::read_to_string(&status_file).unwrap_or_default();
            match parse_status(&status) {
                Some(code) => Ok(ExitCode::from(code)),
                None => Err(anyhow::anyhow!(
                    "the guest ended without the command's exit status\n{}",
                    session.console_report()
                )),
            }
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// A folder of this run's own: two runs at once never share ports' files.
fn run_dir(ctx: &Context) -> Result<PathBuf> {
    let base = ctx.layout.runs();
    for n in 0.. {
        let dir = base.join(format!("{}-{n}", std::process::id()));
        std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err).with_context(|| format!("creating {}", dir.display())),
        }
    }
    unreachable!("a free run folder exists")
}

/// Standard input, read whole, unless it is a terminal (a person typing gets no stdin in the
/// guest: the console is not theirs to type to).
fn read_stdin() -> Result<Vec<u8>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(Vec::new());
    }
    let mut input = Vec::new();
    stdin.lock().read_to_end(&mut input).context("reading standard input")?;
    Ok(input)
}

/// Copies what is appended to `path` to `out` as it arrives, until `done` and the file is drained.
fn pump(
    path: PathBuf,
    mut out: Box<dyn Write + Send>,
    done: &Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    let done = Arc::clone(done);
    thread::spawn(move || {
        let Ok(mut file) = open_when_there(&path) else { return };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let finished = done.load(Ordering::SeqCst);
            match file.read(&mut buf) {
                Ok(0) if finished => break,
                Ok(0) => thread::sleep(Duration::from_millis(10)),
                Ok(n) => {
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
                Err(_) => break,
            }
        }
    })
}

fn open_when_there(path: &Path) -> std::io::Result<File> {
    for _ in 0..500 {
        if let Ok(file) = File::open(path) {
            return Ok(file);
        }
        thread::sleep(Duration::from_millis(10));
    }
    File::open(path)
}
