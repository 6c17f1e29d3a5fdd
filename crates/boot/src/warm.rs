//! Warm starts: a command run from a saved machine instead of a boot. The first run of a machine
//! boots it with [`protocol::WARM`] and its RAM in a shared file, and saves it once its runner
//! waits for a command ([`protocol::RUNNER_READY`]): the devices by QMP `migrate` to a `state`
//! file, the RAM as a copy of its file, `ram`, both in the machine's folder; then goes on. Every
//! later run of exactly that machine starts QEMU with the `ram` mapped copy-on-write (nothing to
//! load: pages come as the guest touches them, and the file stays as saved), loads the `state`,
//! and sends the command, the host's time and fresh randomness. "Exactly" is a fingerprint of
//! QEMU's arguments (the run's own folder left out), the kernel, the image, the firmware and QEMU
//! itself: any change is a new save, never a stale guest.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};
use artifact::Fingerprint;
use qemu::Machine;

use crate::protocol;

/// How many saved machines an architecture keeps (about 45 MB each): the last used.
const KEPT_STATES: usize = 8;

/// Copies the RAM file `from` (a running machine's, stopped) to `to`, only the parts the guest
/// touched: the file is as large as the guest's memory, most of it never written.
pub fn copy_ram(from: &Path, to: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let context = || format!("copying {} to {}", from.display(), to.display());
    let source = std::fs::File::open(from).with_context(context)?;
    let target = std::fs::File::create(to).with_context(context)?;
    let length = source.metadata().with_context(context)?.len();
    target.set_len(length).with_context(context)?;
    let (fd_in, fd_out) = (source.as_raw_fd(), target.as_raw_fd());
    let mut at: i64 = 0;
    while (at as u64) < length {
        // SAFETY: lseek on descriptors this function owns
        let data = unsafe { libc::lseek(fd_in, at, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: only a hole is left
        }
        // SAFETY: as above; there is always a hole at the end of a file
        let hole = unsafe { libc::lseek(fd_in, data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(std::io::Error::last_os_error()).with_context(context);
        }
        let (mut from_at, mut to_at) = (data, data);
        while from_at < hole {
            // SAFETY: offsets are this function's; the kernel copies between the two files
            let copied = unsafe {
                libc::copy_file_range(
                    fd_in,
                    &mut from_at,
                    fd_out,
                    &mut to_at,
                    (hole - from_at) as usize,
                    0,
                )
            };
            if copied < 0 {
                let err = std::io::Error::last_os_error();
                // another file system (EXDEV on kernels from 5.19 on), or one that has no
                // copy_file_range: the bytes read and written here instead
                if matches!(
                    err.raw_os_error(),
                    Some(libc::EXDEV | libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL)
                ) {
                    copy_range(&source, &target, from_at as u64, (hole - from_at) as u64)
                        .with_context(context)?;
                    break;
                }
                return Err(err).with_context(context);
            }
            if copied == 0 {
                bail!("{}: copy_file_range copied nothing at {from_at}", context());
            }
        }
        at = hole;
    }
    Ok(())
}

/// Copies `length` bytes at `at` from one file to the other, by reads and writes.
fn copy_range(
    from: &std::fs::File,
    to: &std::fs::File,
    at: u64,
    length: u64,
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buffer = vec![0u8; 1 << 20];
    let mut done = 0;
    while done < length {
        let want = buffer.len().min((length - done) as usize);
        let got = from.read_at(&mut buffer[..want], at + done)?;
        if got == 0 {
            break;
        }
        to.write_all_at(&buffer[..got], at + done)?;
        done += got as u64;
    }
    Ok(())
}

/// The RAM file a restore of `saved` maps: the saved one, which QEMU opens for reading and
/// writing even to map it copy-on-write; or, when that cannot be opened so (a read-only folder
/// or mount), a copy in the run's folder `run_dir`, with the reason to say.
pub fn ram_to_map(saved: &Path, run_dir: &Path) -> Result<(PathBuf, Option<String>)> {
    let ram = ram_of(saved);
    match std::fs::OpenOptions::new().read(true).write(true).open(&ram) {
        Ok(_) => Ok((ram, None)),
        Err(err) => {
            let copy = run_dir.join("ram");
            copy_ram(&ram, &copy)?;
            let why = format!(
                "{} cannot be opened for writing ({err}), which QEMU 7.2 needs even for a \
                 copy-on-write map: restored from a copy",
                ram.display()
            );
            Ok((copy, Some(why)))
        }
    }
}

/// Marks the saved machine `saved` used now: the machines kept are the last used, not the
/// last saved (a read-only folder keeps its times).
pub fn mark_used(saved: &Path) {
    if let Ok(dir) = std::fs::File::open(saved) {
        let _ = dir.set_modified(std::time::SystemTime::now());
    }
}

/// Why a run cannot start warm, if it cannot: what a saved machine cannot carry over from one
/// run to the next (`reaches_host`: [`crate::Options::reaches_host`]).
pub fn cannot(reaches_host: Option<&str>, waits_for_debugger: bool) -> Option<String> {
    if waits_for_debugger {
        return Some("a guest stopped for gdb boots".into());
    }
    // a share's folder and a network are this run's host's, set up as the guest boots
    reaches_host.map(|what| format!("the guest reaches the host's ({what}), set up as it boots"))
}

/// The fingerprint of `machine` (the warm runner's, with its ports in `run_dir`): its QEMU
/// arguments with the run's folder left out, and the identities of the files it loads and of
/// QEMU.
pub fn fingerprint(machine: &Machine, run_dir: &Path) -> Result<String> {
    // "2": a save holds its boot's console too; saves made before are another machine's
    let mut fp = Fingerprint::new("warm 2");
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

/// The devices' state of the saved machine `saved` (a folder: [`Layout::warm_state`]).
///
/// [`Layout::warm_state`]: stages::layout::Layout::warm_state
pub fn state_file(saved: &Path) -> PathBuf {
    saved.join("state")
}

/// The RAM of the saved machine `saved`, which a restore maps copy-on-write.
pub fn ram_of(saved: &Path) -> PathBuf {
    saved.join("ram")
}

/// The console of the boot a saved machine was saved in, kept beside it.
fn console_of(saved: &Path) -> PathBuf {
    saved.join("console")
}

/// Writes the boot's `console` into the folder of a save being made.
pub fn keep_console(saving: &Path, console: &str) -> Result<()> {
    let path = console_of(saving);
    std::fs::write(&path, console).with_context(|| format!("writing {}", path.display()))
}

/// The console of the boot `saved` was saved in: what a restored run's console starts with.
pub fn saved_console(saved: &Path) -> Result<String> {
    let path = console_of(saved);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// The sizes, times and inodes of a saved machine's two files, written beside them once the save
/// is whole: a file written into, truncated or replaced since no longer matches, and is not
/// restored (a restore of a changed RAM would hang until the restore's limit).
fn identities(saved: &Path) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let mut text = String::new();
    for file in [state_file(saved), ram_of(saved)] {
        let meta =
            std::fs::metadata(&file).with_context(|| format!("reading {}", file.display()))?;
        text.push_str(&format!(
            "{} {} {} {}\n",
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino()
        ));
    }
    Ok(text)
}

fn identity_file(saved: &Path) -> PathBuf {
    saved.join("identity")
}

/// Records what the saved machine in `saved` (a complete temporary folder) is on disk.
pub fn record_identity(saved: &Path) -> Result<()> {
    let path = identity_file(saved);
    std::fs::write(&path, identities(saved)?).with_context(|| format!("writing {}", path.display()))
}

/// Whether the saved machine `saved` is as it was saved; why not, if it is not.
pub fn intact(saved: &Path) -> std::result::Result<(), String> {
    let recorded = std::fs::read_to_string(identity_file(saved))
        .map_err(|_| "the saved machine has no record of its files (an older save)".to_string())?;
    match identities(saved) {
        Ok(now) if now == recorded => Ok(()),
        Ok(_) => Err(format!("{} changed since it was saved", saved.display())),
        Err(err) => Err(format!("{err:#}")),
    }
}

/// Whether `saved` holds a whole saved machine.
pub fn is_saved(saved: &Path) -> bool {
    state_file(saved).is_file() && ram_of(saved).is_file() && console_of(saved).is_file()
}

/// Where a save to `saved` writes first: a folder of this process's, renamed when complete (the
/// state and its RAM in one rename), so that a save cut short (a kill) is never restored and no
/// restore pairs one save's state with another's RAM.
pub fn temporary(saved: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(saved.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    saved.with_file_name(name)
}

/// Makes the save in `temporary` the saved machine `saved` (when another run saved the same
/// machine first, theirs stays and this one goes), then keeps the newest [`KEPT_STATES`] and
/// drops the saves cut short by runs that are gone.
pub fn keep(temporary: &Path, saved: &Path) -> Result<()> {
    if let Err(err) = std::fs::rename(temporary, saved) {
        if !is_saved(saved) {
            return Err(err).with_context(|| format!("renaming {}", temporary.display()));
        }
        let _ = std::fs::remove_dir_all(temporary);
    }
    let Some(dir) = saved.parent() else { return Ok(()) };
    let mut states = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if let Some(pid) = name.rsplit_once(".tmp-").and_then(|(_, p)| p.parse::<i32>().ok()) {
            if !process_exists(pid) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        } else if is_dir {
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            states.push((modified, entry.path()));
        } else {
            // a file of an older tool's saves: no restore reads one
            let _ = std::fs::remove_file(entry.path());
        }
    }
    states.sort();
    let excess = states.len().saturating_sub(KEPT_STATES);
    for (_, old) in &states[..excess] {
        forget(old);
    }
    Ok(())
}

/// Removes the saved machine `saved` (a restore that has it open keeps what it has).
pub fn forget(saved: &Path) {
    let _ = std::fs::remove_dir_all(saved);
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
        let mut options = crate::Options::plain(qemu::AccelChoice::Auto);
        assert_eq!(cannot(options.reaches_host().as_deref(), false), None);
        assert!(cannot(options.reaches_host().as_deref(), true).unwrap().contains("gdb"));
        options.net = true;
        assert!(cannot(options.reaches_host().as_deref(), false).unwrap().contains("(net)"));
        options.net = false;
        let dir = "/srv".into();
        options.shares.push(crate::machine::Share { tag: None, dir, read_only: true });
        assert_eq!(
            cannot(options.reaches_host().as_deref(), false).unwrap(),
            "the guest reaches the host's (share), set up as it boots"
        );
    }

    #[test]
    fn a_save_becomes_the_saved_machine_whole_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("kardel-keep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let save = |saved: &Path, what: &str| {
            let temporary = temporary(saved);
            std::fs::create_dir_all(&temporary).unwrap();
            std::fs::write(state_file(&temporary), what).unwrap();
            std::fs::write(ram_of(&temporary), what).unwrap();
            keep_console(&temporary, &format!("{what} boot\n")).unwrap();
            record_identity(&temporary).unwrap();
            keep(&temporary, saved).unwrap();
        };
        let saved = dir.join("fp");
        std::fs::write(dir.join("old.state"), "an older tool's").unwrap();
        save(&saved, "first");
        assert!(is_saved(&saved));
        assert!(intact(&saved).is_ok());
        assert_eq!(saved_console(&saved).unwrap(), "first boot\n", "the boot's console kept");
        // a RAM written into after the save is not restored
        std::fs::write(ram_of(&saved), "fIrst").unwrap();
        assert!(intact(&saved).unwrap_err().contains("changed since it was saved"));
        std::fs::write(ram_of(&saved), "first").unwrap();
        // the same machine saved again by another run: the first stays, whole
        save(&saved, "second");
        assert_eq!(std::fs::read_to_string(ram_of(&saved)).unwrap(), "first");
        let left: Vec<_> =
            std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, ["fp"], "no temporary folder, no older file");
        forget(&saved);
        assert!(!is_saved(&saved));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_saved_ram_is_a_copy_of_what_the_guest_touched() {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let dir = std::env::temp_dir().join(format!("kardel-ram-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (live, saved) = (dir.join("ram"), dir.join("saved.ram"));
        let ram = std::fs::File::create(&live).unwrap();
        ram.set_len(64 << 20).unwrap();
        ram.write_all_at(b"kernel", 4096).unwrap();
        ram.write_all_at(b"runner", 40 << 20).unwrap();
        copy_ram(&live, &saved).unwrap();
        let copy = std::fs::read(&saved).unwrap();
        assert_eq!(copy, std::fs::read(&live).unwrap());
        // the untouched 64 MiB stay holes: a few blocks on disk, not the guest's whole memory
        assert!(std::fs::metadata(&saved).unwrap().blocks() * 512 < 1 << 20);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_ram_on_another_file_system_is_copied_all_the_same() {
        use std::os::unix::fs::FileExt;
        let shm = Path::new("/dev/shm");
        if !shm.is_dir() {
            eprintln!("skipped: no /dev/shm, so no second file system to copy from");
            return;
        }
        let live = shm.join(format!("kardel-ram-{}", std::process::id()));
        let dir = std::env::temp_dir().join(format!("kardel-xdev-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ram = std::fs::File::create(&live).unwrap();
        ram.set_len(8 << 20).unwrap();
        ram.write_all_at(&[7u8; 3 << 20], 1 << 20).unwrap();
        copy_ram(&live, &dir.join("ram")).unwrap();
        assert_eq!(std::fs::read(dir.join("ram")).unwrap(), std::fs::read(&live).unwrap());
        // the fallback on its own, as EXDEV takes it
        let out = std::fs::File::create(dir.join("by-hand")).unwrap();
        out.set_len(8 << 20).unwrap();
        copy_range(&std::fs::File::open(&live).unwrap(), &out, 1 << 20, 3 << 20).unwrap();
        assert_eq!(std::fs::read(dir.join("by-hand")).unwrap(), std::fs::read(&live).unwrap());
        std::fs::remove_file(&live).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_machines_kept_are_the_last_used() {
        let dir = std::env::temp_dir().join(format!("kardel-evict-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let save = |name: &str| {
            let saved = dir.join(name);
            let temporary = temporary(&saved);
            std::fs::create_dir_all(&temporary).unwrap();
            std::fs::write(state_file(&temporary), name).unwrap();
            std::fs::write(ram_of(&temporary), name).unwrap();
            keep_console(&temporary, name).unwrap();
            keep(&temporary, &saved).unwrap();
            // folder times apart
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        save("default");
        for n in 0..KEPT_STATES - 1 {
            save(&format!("variant-{n}"));
        }
        // the first machine is used again, then one more is saved: the oldest unused goes
        mark_used(&dir.join("default"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        save("one-more");
        assert!(is_saved(&dir.join("default")), "the machine just used was evicted");
        assert!(!is_saved(&dir.join("variant-0")), "the least recently used stayed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_fingerprint_is_the_machines_not_the_runs() {
        let dir = std::env::temp_dir().join(format!("kardel-warm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
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
