//! QEMU on the user's terminal, for `cargo xtask run`.

use std::process::{Command, ExitStatus};

use anyhow::{Context, Result};

use crate::{command_line, qemu_args, Machine};

/// Runs `machine` with QEMU on this terminal until it exits, and gives the terminal back as it
/// was: QEMU puts it in raw mode and restores it only when it exits cleanly, so a QEMU that is
/// killed would otherwise leave a terminal that neither echoes nor ends lines.
pub fn run_interactive(machine: &Machine) -> Result<ExitStatus> {
    eprintln!(
        "qemu: Ctrl-a x quits, `poweroff` in the guest shuts it down, Ctrl-a h lists more keys"
    );
    let _restore_on_drop = TerminalState::save();
    // QEMU ends with this program, even a `kill -9` of it: SIGTERM, on which QEMU puts the
    // terminal back itself
    exec::ends_with_this_thread(&mut Command::new(&machine.qemu), libc::SIGTERM)
        .args(qemu_args(machine))
        .status()
        .with_context(|| format!("cannot run `{}`", command_line(machine)))
}

/// Standard input's terminal settings and file flags (QEMU also makes it non-blocking), put
/// back on drop, so an error or a panic restores them as well.
struct TerminalState {
    termios: Option<libc::termios>,
    file_flags: Option<libc::c_int>,
}

impl TerminalState {
    fn save() -> TerminalState {
        let fd = libc::STDIN_FILENO;
        // SAFETY: isatty, tcgetattr and fcntl(F_GETFL) only read the state of an fd this
        // process owns, into memory it owns; a zeroed termios is a valid value to overwrite.
        unsafe {
            if libc::isatty(fd) != 1 {
                return TerminalState { termios: None, file_flags: None };
            }
            let mut termios: libc::termios = std::mem::zeroed();
            let termios = (libc::tcgetattr(fd, &mut termios) == 0).then_some(termios);
            let flags = libc::fcntl(fd, libc::F_GETFL);
            TerminalState { termios, file_flags: (flags >= 0).then_some(flags) }
        }
    }
}

impl Drop for TerminalState {
    fn drop(&mut self) {
        let fd = libc::STDIN_FILENO;
        // SAFETY: restores values read from the same fd by `save`.
        unsafe {
            if let Some(termios) = &self.termios {
                libc::tcsetattr(fd, libc::TCSANOW, termios);
            }
            if let Some(flags) = self.file_flags {
                libc::fcntl(fd, libc::F_SETFL, flags);
            }
        }
    }
}
