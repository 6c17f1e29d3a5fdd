//! gdb on a guest's kernel: the command line that attaches to QEMU's stub with the kernel's own
//! scripts, and whether a stub waits.

use std::{ffi::OsString, path::Path};

use arch::Arch;

/// gdb on `build`'s vmlinux, attached to the stub on 127.0.0.1:`port`, with `extra` arguments.
pub fn argv(arch: &Arch, build: &Path, port: u16, extra: &[String]) -> Vec<OsString> {
    let ex = |command: String| ["-ex".into(), command.into()];
    // the host's gdb reads only the host's instruction set
    let program = if arch.is_host() { "gdb" } else { "gdb-multiarch" };
    let mut argv: Vec<OsString> = vec![program.into(), "-q".into()];
    // gdb loads vmlinux-gdb.py (lx-dmesg, lx-symbols) beside vmlinux only from a safe path
    argv.extend(["-iex".into(), format!("add-auto-load-safe-path {}", build.display()).into()]);
    argv.extend(ex(format!("file {}", build.join("vmlinux").display())));
    argv.extend(ex(format!("target remote 127.0.0.1:{port}")));
    argv.extend(extra.iter().map(Into::into));
    argv
}

/// Whether something listens on TCP `port` of 127.0.0.1 (or every address), read from the
/// kernel's table: no connection is made, so a waiting gdb stub sees nothing.
pub fn stub_listening(port: u16) -> bool {
    const LISTEN: &str = "0A";
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let wanted = [format!("0100007F:{port:04X}"), format!("00000000:{port:04X}")];
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3 && wanted.iter().any(|w| w == fields[1]) && fields[3] == LISTEN
    })
}
