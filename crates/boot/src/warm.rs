//! Warm starts: a command run from a saved machine instead of a boot. The first run of a machine
//! boots it with [`protocol::WARM`], saves it (QMP `migrate` to a file) once its runner waits
//! for a command ([`protocol::RUNNER_READY`]), and goes on; every later run of exactly that
//! machine starts QEMU from the file (`-incoming`) and sends the command, the host's time and
//! fresh randomness. "Exactly" is a fingerprint of QEMU's arguments (the run's own folder left
//! out), the kernel, the image, the firmware and QEMU itself: any change is a new save, never a
//! stale guest.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use anyhow::Result;
use artifact::Fingerprint;
use qemu::Machine;

use crate::protocol;

/// How many saved machines an architecture keeps (about 25 MB each): the newest.
const KEPT_STATES: usize = 8;

/// Why `machine` (the runner's, before its ports) cannot start warm, if it cannot: what a saved
/// machine cannot carry over from one run to the next.
pub fn cannot(machine: &Machine, waits_for_debugger: bool) -> Option<String> {
    if waits_for_debugger {
        return Some("a guest stopped for gdb boots".into());
    }
    let arg = |variable: &str| {
        let prefix = format!("{variable}=");
        machine.append.iter().any(|a| a.starts_with(&prefix))
    };
    if arg(protocol::SHARES) || arg(protocol::NET) {
        // a share's folder and a network are this run's host's, set up as the guest boots
        return Some("shares and networking are set up as the guest boots".into());
    }
    None
}

/// The fingerprint of `machine` (the warm runner's, with its ports in `run_dir`): its QEMU
/// arguments with the run's folder left out, and the identities of the files it loads and of
/// QEMU.
pub fn fingerprint(machine: &Machine, run_dir: &Path) -> Result<String> {
    let mut fp = Fingerprint::new("warm");
    let run_dir = run_dir.to_string_lossy();
    let machine = Machine { headless: true, ..machine.clone() };
    for arg in qemu::qemu_args(&machine) {
        fp.add("arg", arg.to_string_lossy().replace(run_dir.as_ref(), "RUN"));
    }
    let mut files: Vec<PathBuf> = vec![machine.kernel.clone()];
    files.extend(machine.initrd.clone());
    // a firmware may be a name QEMU knows (`-bios default`): its QEMU's identity covers it
    files.extend(machine.firmware.clone().filter(|f| f.is_file()));
    files.extend(match machine.qemu.components().count() {
        1 => stages::hostdeps::find_on_path(&machine.qemu.to_string_lossy()),
        _ => Some(machine.qemu.clone()),
    });
    for file in files {
        fp.add_file_identity("file", &file)?;
    }
    Ok(fp.hex())
}

/// Where a save to `state` writes first: a name of this process's, renamed when complete, so
/// that a save cut short (a kill) is never restored.
pub fn temporary(state: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(state.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    state.with_file_name(name)
}

/// Makes `temporary`'s state the saved one, then keeps the newest [`KEPT_STATES`] and drops
/// the saves cut short by runs that are gone.
pub fn keep(temporary: &Path, state: &Path) -> Result<()> {
    std::fs::rename(temporary, state)?;
    let Some(dir) = state.parent() else { return Ok(()) };
    let mut states = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.rsplit_once(".tmp-").and_then(|(_, p)| p.parse::<i32>().ok()) {
            if !process_exists(pid) {
                let _ = std::fs::remove_file(entry.path());
            }
        } else if name.ends_with(".state") {
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            states.push((modified, entry.path()));
        }
    }
    states.sort();
    let excess = states.len().saturating_sub(KEPT_STATES);
    for (_, old) in &states[..excess] {
        let _ = std::fs::remove_file(old);
    }
    Ok(())
}

/// Whether process `pid` still runs (the owner of a run's folder, of a save cut short).
pub fn process_exists(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only asks whether the process exists
    let gone = unsafe { libc::kill(pid, 0) } == -1
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    !gone
}

/// The first line a warm runner reads: the host's time now and 64 fresh random bytes.
pub fn header() -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut seed = [0u8; 64];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut seed)?;
    Ok(protocol::warm_header(now, &seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_with_a_share_or_a_network_or_a_debugger_boots() {
        let mut machine = Machine::new("qemu-system-x86_64", "/k/bzImage");
        assert_eq!(cannot(&machine, false), None);
        assert!(cannot(&machine, true).unwrap().contains("gdb"));
        machine.append.push(protocol::kernel_arg(protocol::NET, 1));
        assert!(cannot(&machine, false).unwrap().contains("networking"));
    }

    #[test]
    fn the_fingerprint_is_the_machines_not_the_runs() {
        let dir = std::env::temp_dir().join(format!("kardel-warm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kernel = dir.join("bzImage");
        std::fs::write(&kernel, "k").unwrap();
        let with_port = |run: &str| {
            let mut machine = Machine::new("/bin/true", &kernel);
            machine.devices.push(format!("path={run}/kin").into());
            machine
        };
        let a = fingerprint(&with_port("/t/runs/1-0"), Path::new("/t/runs/1-0")).unwrap();
        let b = fingerprint(&with_port("/t/runs/2-0"), Path::new("/t/runs/2-0")).unwrap();
        assert_eq!(a, b, "the run's folder is not the machine");
        let mut more = with_port("/t/runs/1-0");
        more.memory_mib = 512;
        assert_ne!(a, fingerprint(&more, Path::new("/t/runs/1-0")).unwrap());
        // a rebuilt kernel is another machine
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&kernel, "k2").unwrap();
        assert_ne!(a, fingerprint(&with_port("/t/runs/1-0"), Path::new("/t/runs/1-0")).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
