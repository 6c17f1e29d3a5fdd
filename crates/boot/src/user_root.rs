//! A root file system of the user's (`run --rootfs DIR`): the host's own (`/`, virtme-ng's model)
//! or any tree (mmdebstrap's, Buildroot's, a container's). The guest mounts it read-only under an
//! overlay in RAM (`kardel-root`); here, what the host decides before any build: whether its
//! programs are the guest's architecture, and which folder of it a command starts in.

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use arch::Arch;

/// The programs looked at for the root's architecture, the first found deciding.
const PROGRAMS: [&str; 4] = ["bin/sh", "usr/bin/env", "bin/busybox", "sbin/init"];

/// `dir` as a root for `arch`: a folder whose programs (`bin/sh`, ...) are built for it. A root
/// with none of them is taken as it is (the guest's BusyBox still runs a command there).
pub fn check(dir: &Path, arch: &Arch) -> Result<PathBuf> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("--rootfs {}: no such folder", dir.display()))?;
    if !root.is_dir() {
        bail!("--rootfs {}: not a folder", dir.display());
    }
    for program in PROGRAMS {
        let Some(file) = resolve_inside(&root, Path::new(program)) else { continue };
        let Some(machine) = elf_machine(&file) else { continue };
        if machine != arch.elf_machine {
            let theirs = arch::names()
                .into_iter()
                .find(|name| Arch::get(name).is_ok_and(|a| a.elf_machine == machine))
                .map_or_else(|| format!("ELF machine {machine}"), |name| name.to_string());
            bail!(
                "--rootfs {}: its programs are built for {theirs} ({program}), the guest is {}: \
                 boot --arch {theirs}, or give a root built for {} (README, \"Your tests in the \
                 guest\", makes one with mmdebstrap)",
                dir.display(),
                arch.name,
                arch.name
            );
        }
        return Ok(root);
    }
    Ok(root)
}

/// The folder of the guest a command starts in: `cwd`'s place inside `root`, when it is there.
pub fn guest_folder(root: &Path, cwd: &Path) -> Option<String> {
    let inside = cwd.strip_prefix(root).ok()?;
    let mut folder = String::from("/");
    folder.push_str(inside.to_str()?);
    Some(folder)
}

/// `path` (relative) inside `root`, its symbolic links followed as the guest would: an absolute
/// target starts again at `root`, and `..` never leaves it. None when it does not exist.
fn resolve_inside(root: &Path, path: &Path) -> Option<PathBuf> {
    // the components still to walk, last first, owned: a link's target adds its own
    let mut todo: Vec<Step> = steps(path);
    let mut here = root.to_path_buf();
    let mut links = 0;
    while let Some(step) = todo.pop() {
        match step {
            Step::Root => here = root.to_path_buf(),
            Step::Up => {
                if here != root {
                    here.pop();
                }
            }
            Step::Down(name) => {
                let next = here.join(name);
                if std::fs::symlink_metadata(&next).ok()?.file_type().is_symlink() {
                    links += 1;
                    if links > 40 {
                        return None;
                    }
                    todo.extend(steps(&std::fs::read_link(&next).ok()?));
                } else {
                    here = next;
                }
            }
        }
    }
    here.is_file().then_some(here)
}

enum Step {
    Root,
    Up,
    Down(std::ffi::OsString),
}

/// `path`'s components as steps, last first (a stack).
fn steps(path: &Path) -> Vec<Step> {
    let mut steps: Vec<Step> = path
        .components()
        .filter_map(|component| match component {
            Component::RootDir => Some(Step::Root),
            Component::ParentDir => Some(Step::Up),
            Component::Normal(name) => Some(Step::Down(name.to_os_string())),
            Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    steps.reverse();
    steps
}

/// The `e_machine` of an ELF file, if it is one.
fn elf_machine(file: &Path) -> Option<u16> {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(file).ok()?.read_exact(&mut header).ok()?;
    if &header[..4] != b"\x7fELF" {
        return None;
    }
    let bytes = [header[18], header[19]];
    // EI_DATA: 1 little-endian, 2 big-endian
    Some(match header[5] {
        2 => u16::from_be_bytes(bytes),
        _ => u16::from_le_bytes(bytes),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("user-root-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.canonicalize().unwrap()
    }

    /// A root whose /bin/sh is an ELF header for `machine`, reached as Debian's is: /bin a link to
    /// usr/bin, sh an absolute link to dash.
    fn debian_like(name: &str, machine: u16) -> PathBuf {
        let root = scratch(name);
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        let mut header = b"\x7fELF\x02\x01\x01".to_vec();
        header.resize(18, 0);
        header.extend(machine.to_le_bytes());
        header.resize(64, 0);
        std::fs::write(root.join("usr/bin/dash"), header).unwrap();
        symlink("/usr/bin/../bin/dash", root.join("usr/bin/sh")).unwrap();
        root
    }

    #[test]
    fn a_root_of_the_guests_architecture_is_taken() {
        let root = debian_like("same", 62);
        assert_eq!(check(&root, Arch::get("x86_64").unwrap()).unwrap(), root);
    }

    #[test]
    fn a_root_of_another_architecture_is_refused_naming_both() {
        let root = debian_like("other", 243);
        let err = check(&root, Arch::get("x86_64").unwrap()).unwrap_err().to_string();
        assert!(
            err.contains("its programs are built for riscv64 (bin/sh), the guest is x86_64"),
            "{err}"
        );
        assert!(err.contains("--arch riscv64"), "{err}");
    }

    #[test]
    fn links_never_leave_the_root() {
        let root = scratch("escape");
        // ../../../bin/sh from the root is the root's own /bin/sh, which it lacks: never the host's
        symlink("../../../../bin/sh", root.join("sh")).unwrap();
        assert_eq!(resolve_inside(&root, Path::new("sh")), None);
        symlink("loop", root.join("loop")).unwrap();
        assert_eq!(resolve_inside(&root, Path::new("loop")), None);
        // a root with no program to read is taken as it is
        assert!(check(&root, Arch::get("riscv64").unwrap()).is_ok());
        let err = check(&root.join("absent"), Arch::get("x86_64").unwrap()).unwrap_err();
        assert!(format!("{err}").ends_with("absent: no such folder"), "{err}");
    }

    #[test]
    fn the_command_starts_where_the_caller_is_when_that_is_inside_the_root() {
        let folder = |root: &str, cwd: &str| guest_folder(Path::new(root), Path::new(cwd));
        assert_eq!(folder("/", "/work/main").as_deref(), Some("/work/main"));
        assert_eq!(folder("/", "/").as_deref(), Some("/"));
        assert_eq!(folder("/srv/root", "/srv/root/home/me").as_deref(), Some("/home/me"));
        assert_eq!(folder("/srv/root", "/srv/rootless"), None);
        assert_eq!(folder("/srv/root", "/home/me"), None);
    }
}
