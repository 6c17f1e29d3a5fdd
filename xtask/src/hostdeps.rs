//! Host packages: what each stage needs from the host, found without running anything when it is
//! there, and named with the install command for the host's package manager when it is not.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stage {
    Kernel,
    Busybox,
    Images,
    Qemu,
}

pub const ALL_STAGES: [Stage; 4] = [Stage::Kernel, Stage::Busybox, Stage::Images, Stage::Qemu];

enum Probe {
    Program(&'static str),
    /// a header under a system include folder
    Header(&'static str),
    /// a static library under a system library folder
    StaticLib(&'static str),
}

struct Need {
    what: &'static str,
    probe: Probe,
    stages: &'static [Stage],
    /// package names: Debian/Ubuntu, Fedora, Arch
    debian: &'static str,
    fedora: &'static str,
    arch: &'static str,
}

use Stage::*;

const NEEDS: &[Need] = &[
    Need {
        what: "C compiler",
        probe: Probe::Program("gcc"),
        stages: &[Kernel, Busybox, Images],
        debian: "gcc",
        fedora: "gcc",
        arch: "gcc",
    },
    Need {
        what: "make",
        probe: Probe::Program("make"),
        stages: &[Kernel, Busybox],
        debian: "make",
        fedora: "make",
        arch: "make",
    },
    Need {
        what: "flex",
        probe: Probe::Program("flex"),
        stages: &[Kernel],
        debian: "flex",
        fedora: "flex",
        arch: "flex",
    },
    Need {
        what: "bison",
        probe: Probe::Program("bison"),
        stages: &[Kernel],
        debian: "bison",
        fedora: "bison",
        arch: "bison",
    },
    // the tiny profile's kernel is LZ4-compressed by the lz4 program
    Need {
        what: "lz4",
        probe: Probe::Program("lz4"),
        stages: &[Kernel],
        debian: "lz4",
        fedora: "lz4",
        arch: "lz4",
    },
    Need {
        what: "bc",
        probe: Probe::Program("bc"),
        stages: &[Kernel],
        debian: "bc",
        fedora: "bc",
        arch: "bc",
    },
    Need {
        what: "libelf headers",
        probe: Probe::Header("libelf.h"),
        stages: &[Kernel],
        debian: "libelf-dev",
        fedora: "elfutils-libelf-devel",
        arch: "libelf",
    },
    Need {
        what: "OpenSSL headers",
        probe: Probe::Header("openssl/opensslv.h"),
        stages: &[Kernel],
        debian: "libssl-dev",
        fedora: "openssl-devel",
        arch: "openssl",
    },
    Need {
        what: "static C library",
        probe: Probe::StaticLib("libc.a"),
        stages: &[Busybox, Images],
        debian: "libc6-dev",
        fedora: "glibc-static",
        arch: "glibc",
    },
    Need {
        what: "mke2fs",
        probe: Probe::Program("mke2fs"),
        stages: &[Images],
        debian: "e2fsprogs",
        fedora: "e2fsprogs",
        arch: "e2fsprogs",
    },
    Need {
        what: "debugfs",
        probe: Probe::Program("debugfs"),
        stages: &[Images],
        debian: "e2fsprogs",
        fedora: "e2fsprogs",
        arch: "e2fsprogs",
    },
    Need {
        what: "e2fsck",
        probe: Probe::Program("e2fsck"),
        stages: &[Images],
        debian: "e2fsprogs",
        fedora: "e2fsprogs",
        arch: "e2fsprogs",
    },
    Need {
        what: "QEMU (x86_64)",
        probe: Probe::Program("qemu-system-x86_64"),
        stages: &[Qemu],
        debian: "qemu-system-x86",
        fedora: "qemu-system-x86-core",
        arch: "qemu-system-x86",
    },
];

const INCLUDE_DIRS: &[&str] =
    &["/usr/include", "/usr/include/x86_64-linux-gnu", "/usr/local/include"];
const LIB_DIRS: &[&str] =
    &["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib64", "/usr/local/lib"];

/// e2fsprogs lives in sbin, which an ordinary user's PATH often lacks.
pub fn path_with_sbin() -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    for sbin in ["/usr/sbin", "/sbin"] {
        if !dirs.iter().any(|d| d == Path::new(sbin)) {
            dirs.push(PathBuf::from(sbin));
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|dir| is_executable(&dir.join(program))))
        .unwrap_or(false)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn present(sh: &Shell, probe: &Probe) -> bool {
    match probe {
        Probe::Program(name) => on_path(name),
        Probe::Header(name) => {
            INCLUDE_DIRS.iter().any(|dir| Path::new(dir).join(name).exists()) || {
                // a compiler with other include folders (a cross or custom toolchain)
                let source = format!("#include <{name}>\n");
                cmd!(sh, "gcc -E -x c - -o /dev/null")
                    .stdin(source)
                    .quiet()
                    .ignore_stderr()
                    .run()
                    .is_ok()
            }
        }
        Probe::StaticLib(name) => {
            LIB_DIRS.iter().any(|dir| Path::new(dir).join(name).exists())
                || cmd!(sh, "gcc -print-file-name={name}")
                    .quiet()
                    .ignore_stderr()
                    .read()
                    .map(|path| Path::new(path.trim()).is_absolute())
                    .unwrap_or(false)
        }
    }
}

#[derive(Clone, Copy)]
enum PackageManager {
    Apt,
    Dnf,
    Pacman,
}

impl PackageManager {
    fn detect() -> Option<PackageManager> {
        if on_path("apt-get") {
            Some(PackageManager::Apt)
        } else if on_path("dnf") {
            Some(PackageManager::Dnf)
        } else if on_path("pacman") {
            Some(PackageManager::Pacman)
        } else {
            None
        }
    }

    fn package(self, need: &Need) -> &'static str {
        match self {
            PackageManager::Apt => need.debian,
            PackageManager::Dnf => need.fedora,
            PackageManager::Pacman => need.arch,
        }
    }

    fn install_argv(self, packages: &[&str]) -> Vec<String> {
        let mut argv: Vec<String> = match self {
            PackageManager::Apt => vec!["apt-get", "install", "-y", "--no-install-recommends"],
            PackageManager::Dnf => vec!["dnf", "install", "-y"],
            PackageManager::Pacman => vec!["pacman", "-S", "--needed", "--noconfirm"],
        }
        .into_iter()
        .map(String::from)
        .collect();
        argv.extend(packages.iter().map(|p| p.to_string()));
        argv
    }
}

/// Fails naming what is missing for `stages`, with the command that installs it; with
/// `install`, runs that command instead (as root, or through sudo).
pub fn ensure(sh: &Shell, stages: &[Stage], install: bool) -> Result<()> {
    let missing: Vec<&Need> = NEEDS
        .iter()
        .filter(|need| need.stages.iter().any(|s| stages.contains(s)))
        .filter(|need| !present(sh, &need.probe))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|n| n.what).collect();
    let Some(manager) = PackageManager::detect() else {
        bail!(
            "missing host tools: {} (no apt-get, dnf or pacman here to suggest packages)",
            names.join(", ")
        );
    };
    let mut packages: Vec<&str> = missing.iter().map(|n| manager.package(n)).collect();
    packages.dedup();
    let mut argv = manager.install_argv(&packages);
    let is_root = cmd!(sh, "id -u").quiet().read().map(|id| id.trim() == "0").unwrap_or(false);
    if !is_root {
        argv.insert(0, "sudo".into());
    }
    if !install {
        bail!(
            "missing host tools: {}\ninstall them with:\n  {}\nor run again with --install-deps",
            names.join(", "),
            argv.join(" ")
        );
    }
    eprintln!("installing: {}", argv.join(" "));
    let (program, args) = argv.split_first().expect("non-empty argv");
    cmd!(sh, "{program} {args...}").run()?;
    ensure(sh, stages, false)
}
