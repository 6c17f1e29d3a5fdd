//! Booting the tutorial's images in QEMU: the command line, the accelerator, an automated
//! session on the serial console, and checks of what the guest shows.
//!
//! ```text
//! // the command line, pure: the crate knows QEMU, not the tutorial
//! enum Accel { Kvm, Tcg }                           enum AccelChoice { Auto, Kvm, Tcg }: FromStr
//! struct Machine { qemu, board, cpu, firmware, cpus, memory_mib, accel, kernel, initrd,
//!                  append, devices, extra_args, headless }
//! Machine::new(qemu, kernel) -> Machine             2 CPUs, 1 GiB, TCG, nothing else
//! fn qemu_args(&Machine) -> Vec<OsString>           fn command_line(&Machine) -> String
//! fn shell_line(&[OsString]) -> String              fn shell_quote(&str) -> String
//! mod devices: no_nic() user_net(&[Forward]) share_9p(..) gdb_stub(port) monitor_socket(..)
//!              memory_file(mib, file, shared)
//!              public_listeners(&argv)             each returns Vec<OsString>
//!
//! // KVM or TCG, probed and cached
//! fn resolve_accel(AccelChoice, &Machine, console, cache: &Path) -> Result<(Accel, String)>
//! fn probe_machine(&Machine, console) -> Machine    the probe's boot: its argv is qemu_args'
//!
//! // the console, pure
//! struct ConsoleWatcher    new() feed(&[u8]) -> &[Sighting] close() transcript() sightings() failure()
//! enum ConsoleEvent { InitStarted, PressEnter, ShellPrompt, PowerDown, Failure(FailureKind) }
//! enum FailureKind { CannotMountRoot, NoWorkingInit, RequestedInitFailed, NoInitialConsole, KernelPanic }
//! fn printable(&[u8]) -> String
//!
//! // an automated run (QEMU killed on any failed wait and on drop)
//! Session::spawn(&Machine, log: &Path) -> Result<Session>      spawn_with_limits(.., Limits)
//! struct Limits { whole_session: Duration, silence: Duration }   default 300 s, 30 s
//! session.wait_for(impl Into<Until> /* ConsoleEvent or &str */, timeout) -> Result<()>
//! session.wait_for_shell(timeout) -> Result<Duration>          spawn to first prompt
//! session.send_line(&str) -> Result<()>
//! session.run(cmd, timeout) -> Result<String>                   non-zero status is an error
//! session.run_status(cmd, timeout) -> Result<GuestOutput { status, output }>
//! session.poweroff_and_wait(timeout) -> Result<ExitStatus>
//! session.transcript() command_line() log_path() pid() elapsed() output_closed()
//!
//! // a machine saved and restored (the runner's warm starts)
//! mod qmp: Qmp::connect(path, timeout, gone) execute(cmd, args) save_to(file, timeout)
//!          restore_from(file)       restore_args() -> -incoming defer
//! struct BootFailure { kind, waiting_for, report }: the error when the guest shows a FailureKind
//!
//! // a person at the console
//! fn run_interactive(&Machine) -> Result<ExitStatus>
//! ```
//!
//! Invariants: nothing here leaves a QEMU running (sessions and the KVM probe kill and reap it on
//! every path, drop included; QEMU stays in the caller's process group, so Ctrl-C reaches it
//! too), and no automated wait is unbounded (only [`run_interactive`] waits for a person).
//! Sessions always run headless: a guest panic ends QEMU rather than hanging it.

mod accel;
mod args;
mod console;
pub mod devices;
mod interactive;
pub mod qmp;
mod session;

pub use accel::{probe_machine, resolve_accel, KVM_PROBE_TIMEOUT};

pub use args::{
    command_line, hardware_args, qemu_args, shell_line, shell_quote, Accel, AccelChoice, Machine,
};
pub use console::{panic_line, printable, ConsoleEvent, ConsoleWatcher, FailureKind, Sighting};
pub use interactive::run_interactive;
pub use session::{BootFailure, GuestOutput, Killer, Limits, Session, Until, REPORT_LINES};
