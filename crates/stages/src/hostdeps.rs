//! Host packages: what each step needs from the host, found without running anything when it is
//! there, and named with the install command for the host's package manager when it is not. The
//! architecture's own needs (its QEMU, a cross compiler) come from its row of the table.

use std::{
    borrow::Cow,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};
use arch::Arch;
use xshell::{cmd, Shell};

/// What a step of the chain needs from the host.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Kernel,
    Busybox,
    Images,
    Qemu,
    /// U-Boot from source (`cargo xtask uboot`): its tools and the Python binding its device
    /// tree compiler builds
    Uboot,
    /// LAVA's dispatcher running a job here (`cargo xtask lava`), and its job schema
    Lava,
    /// LAVA putting its test scripts into an ext4 image: libguestfs boots a small appliance,
    /// which needs a kernel of the host's in /boot
    LavaExt4,
}

/// What `deps` checks: the whole chain. U-Boot's own needs are checked when it is built.
pub const ALL_STEPS: [Step; 4] = [Step::Kernel, Step::Busybox, Step::Images, Step::Qemu];

#[derive(Clone)]
enum Probe {
    Program(Cow<'static, str>),
    /// a header under a system include folder
    Header(&'static str),
    /// a static library the given compiler finds
    StaticLib(&'static str, Cow<'static, str>),
    /// a module the host's python3 imports
    PythonModule(&'static str),
    /// a file with this name in this folder, or one whose name starts so (`prefix*`)
    File(&'static str, &'static str),
}

/// One thing a step needs: the host's own tools are a table, an architecture's are made from its
/// row, so the texts are borrowed or owned.
#[derive(Clone)]
struct Need {
    what: Cow<'static, str>,
    probe: Probe,
    steps: &'static [Step],
    /// package names: Debian/Ubuntu, Fedora, Arch
    debian: &'static str,
    fedora: &'static str,
    arch: &'static str,
}

use Step::*;

/// What every architecture needs from the host (the build machine's own tools).
const HOST_NEEDS: &[Need] = &[
    Need {
        what: Cow::Borrowed("C compiler"),
        probe: Probe::Program(Cow::Borrowed("gcc")),
        steps: &[Kernel, Busybox, Images, Uboot],
        debian: "gcc",
        fedora: "gcc",
        arch: "gcc",
    },
    Need {
        what: Cow::Borrowed("make"),
        probe: Probe::Program(Cow::Borrowed("make")),
        steps: &[Kernel, Busybox, Uboot],
        debian: "make",
        fedora: "make",
        arch: "make",
    },
    Need {
        what: Cow::Borrowed("flex"),
        probe: Probe::Program(Cow::Borrowed("flex")),
        steps: &[Kernel, Uboot],
        debian: "flex",
        fedora: "flex",
        arch: "flex",
    },
    Need {
        what: Cow::Borrowed("bison"),
        probe: Probe::Program(Cow::Borrowed("bison")),
        steps: &[Kernel, Uboot],
        debian: "bison",
        fedora: "bison",
        arch: "bison",
    },
    // the tiny profile's kernel is LZ4-compressed by the lz4 program
    Need {
        what: Cow::Borrowed("lz4"),
        probe: Probe::Program(Cow::Borrowed("lz4")),
        steps: &[Kernel],
        debian: "lz4",
        fedora: "lz4",
        arch: "lz4",
    },
    Need {
        what: Cow::Borrowed("bc"),
        probe: Probe::Program(Cow::Borrowed("bc")),
        steps: &[Kernel],
        debian: "bc",
        fedora: "bc",
        arch: "bc",
    },
    Need {
        what: Cow::Borrowed("libelf headers"),
        probe: Probe::Header("libelf.h"),
        steps: &[Kernel],
        debian: "libelf-dev",
        fedora: "elfutils-libelf-devel",
        arch: "libelf",
    },
    Need {
        what: Cow::Borrowed("OpenSSL headers"),
        probe: Probe::Header("openssl/opensslv.h"),
        steps: &[Kernel, Uboot],
        debian: "libssl-dev",
        fedora: "openssl-devel",
        arch: "openssl",
    },
    Need {
        what: Cow::Borrowed("static C library"),
        probe: Probe::StaticLib("libc.a", Cow::Borrowed("gcc")),
        steps: &[Busybox, Images],
        debian: "libc6-dev",
        fedora: "glibc-static",
        arch: "glibc",
    },
    Need {
        what: Cow::Borrowed("mke2fs"),
        probe: Probe::Program(Cow::Borrowed("mke2fs")),
        steps: &[Images],
        debian: "e2fsprogs",
        fedora: "e2fsprogs",
        arch: "e2fsprogs",
    },
    Need {
        what: Cow::Borrowed("debugfs"),
        probe: Probe::Program(Cow::Borrowed("debugfs")),
        steps: &[Images],
        debian: "e2fsprogs",
        fedora: "e2fsprogs",
        arch: "e2fsprogs",
    },
    Need {
        what: Cow::Borrowed("e2fsck"),
        probe: Probe::Program(Cow::Borrowed("e2fsck")),
        steps: &[Images],
        debian: "e2fsprogs",
        fedora: "e2fsprogs",
        arch: "e2fsprogs",
    },
    // U-Boot's build makes pylibfdt, a Python binding of its device tree library, with swig:
    // without swig or Python's headers it stops in scripts/dtc/pylibfdt
    Need {
        what: Cow::Borrowed("swig"),
        probe: Probe::Program(Cow::Borrowed("swig")),
        steps: &[Uboot],
        debian: "swig",
        fedora: "swig",
        arch: "swig",
    },
    Need {
        what: Cow::Borrowed("Python headers"),
        probe: Probe::Program(Cow::Borrowed("python3-config")),
        steps: &[Uboot],
        debian: "python3-dev",
        fedora: "python3-devel",
        arch: "python",
    },
    Need {
        what: Cow::Borrowed("Python setuptools"),
        probe: Probe::PythonModule("setuptools"),
        steps: &[Uboot],
        debian: "python3-setuptools",
        fedora: "python3-setuptools",
        arch: "python-setuptools",
    },
    // mkimage and mkeficapsule, U-Boot's host tools
    Need {
        what: Cow::Borrowed("GnuTLS headers"),
        probe: Probe::Header("gnutls/gnutls.h"),
        steps: &[Uboot],
        debian: "libgnutls28-dev",
        fedora: "gnutls-devel",
        arch: "gnutls",
    },
    Need {
        what: Cow::Borrowed("libuuid headers"),
        probe: Probe::Header("uuid/uuid.h"),
        steps: &[Uboot],
        debian: "uuid-dev",
        fedora: "libuuid-devel",
        arch: "util-linux-libs",
    },
    // lava-run imports libguestfs's binding even when unused; Debian's package pulls it in
    Need {
        what: Cow::Borrowed("LAVA's dispatcher (lava-run)"),
        probe: Probe::File("/usr/bin", "lava-run"),
        steps: &[Lava],
        debian: "lava-dispatcher",
        fedora: "",
        arch: "",
    },
    // the schema checker's module, which Debian's lava-common only recommends
    Need {
        what: Cow::Borrowed("LAVA's schemas (lava-common, voluptuous)"),
        probe: Probe::File("/usr/lib/python3/dist-packages/voluptuous", "__init__.py"),
        steps: &[Lava],
        debian: "lava-common python3-voluptuous",
        fedora: "",
        arch: "",
    },
];

/// The host's header folders: the plain ones and Debian's multiarch one for this machine.
fn include_dirs() -> Vec<PathBuf> {
    let multiarch = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    ["/usr/include", &multiarch, "/usr/local/include"].iter().map(PathBuf::from).collect()
}

fn lib_dirs() -> Vec<PathBuf> {
    let multiarch = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
    [multiarch.as_str(), "/usr/lib64", "/usr/lib", "/lib64", "/usr/local/lib"]
        .iter()
        .map(PathBuf::from)
        .collect()
}

/// Every need for building for and booting `arch` here: the host's own tools, then the
/// architecture's QEMU, and its cross compiler and static libc when it is not the host's.
fn needs(arch: &'static Arch) -> Vec<Need> {
    let mut needs = HOST_NEEDS.to_vec();
    let packages =
        |p: &'static arch::Packages| (p.debian.as_str(), p.fedora.as_str(), p.arch.as_str());
    let (debian, fedora, arch_pkg) = packages(&arch.qemu_packages);
    needs.push(Need {
        what: format!("QEMU ({})", arch.name).into(),
        probe: Probe::Program(arch.qemu.as_str().into()),
        steps: &[Qemu],
        debian,
        fedora,
        arch: arch_pkg,
    });
    if let Some(host) = Arch::host() {
        let (debian, fedora, arch_pkg) = packages(&host.host_kernel_packages);
        needs.push(Need {
            what: "a kernel in /boot for libguestfs (LAVA's overlay in an ext4 image)".into(),
            probe: Probe::File("/boot", "vmlinuz-*"),
            steps: &[LavaExt4],
            debian,
            fedora,
            arch: arch_pkg,
        });
    }
    if !arch.is_host() {
        let cc = format!("{}gcc", arch.cross_compile);
        let (debian, fedora, arch_pkg) = packages(&arch.cross_packages);
        needs.push(Need {
            what: format!("C cross compiler for {} ({cc})", arch.name).into(),
            probe: Probe::Program(cc.clone().into()),
            steps: &[Kernel, Busybox, Images, Uboot],
            debian,
            fedora,
            arch: arch_pkg,
        });
        // the libc package is only "recommended" by the compiler's: an install without
        // recommends links no static BusyBox
        needs.push(Need {
            what: format!("static C library for {}", arch.name).into(),
            probe: Probe::StaticLib("libc.a", cc.into()),
            steps: &[Busybox, Images],
            debian,
            fedora,
            arch: arch_pkg,
        });
    }
    needs
}

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

pub fn on_path(program: &str) -> bool {
    find_on_path(program).is_some()
}

/// Where `program` is on the PATH, if it is.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn present(sh: &Shell, probe: &Probe) -> bool {
    match probe {
        Probe::Program(name) => on_path(name),
        Probe::Header(name) => {
            include_dirs().iter().any(|dir| dir.join(name).exists()) || {
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
        Probe::StaticLib(name, cc) if cc == "gcc" => {
            lib_dirs().iter().any(|dir| dir.join(name).exists()) || compiler_finds(sh, cc, name)
        }
        // a cross compiler's libc is in its own sysroot, which only it knows
        Probe::StaticLib(name, cc) => compiler_finds(sh, cc, name),
        Probe::PythonModule(name) => {
            let import = format!("import {name}");
            cmd!(sh, "python3 -c {import}").quiet().ignore_stderr().run().is_ok()
        }
        Probe::File(dir, name) => match name.strip_suffix('*') {
            None => Path::new(dir).join(name).exists(),
            Some(prefix) => std::fs::read_dir(dir).is_ok_and(|entries| {
                entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with(prefix))
            }),
        },
    }
}

fn compiler_finds(sh: &Shell, cc: &str, name: &str) -> bool {
    // gcc prints the bare name back when it does not find the file
    cmd!(sh, "{cc} -print-file-name={name}")
        .quiet()
        .ignore_stderr()
        .read()
        .map(|path| Path::new(path.trim()).is_absolute())
        .unwrap_or(false)
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
/// `install`, installs it (as root, or through sudo).
pub fn ensure(sh: &Shell, arch: &'static Arch, steps: &[Step], install: bool) -> Result<()> {
    let Some((names, install_missing)) = missing_and_install(sh, arch, steps)? else {
        return Ok(());
    };
    let argv = install_missing.argv();
    if !install && !asked_yes(&names, &argv) {
        bail!(
            "missing host tools: {}\ninstall them with:\n  {}\nor run again with --install-deps \
             (KARDEL_INSTALL_DEPS=1)",
            names.join(", "),
            argv.join(" ")
        );
    }
    install_missing.run(sh)?;
    ensure(sh, arch, steps, false)
}

/// Installs these packages by name (`deps --install --packages`), through the same install as
/// the tool's own needs.
pub fn install_packages(sh: &Shell, packages: &[&str]) -> Result<()> {
    let Some(manager) = PackageManager::detect() else {
        bail!("no apt-get, dnf or pacman here to install {}", packages.join(" "));
    };
    let packages = packages.iter().map(|p| p.to_string()).collect();
    Install { manager, packages, root: is_root(sh) }.run(sh)
}

/// An install of packages with the host's package manager, as root or through sudo.
struct Install {
    manager: PackageManager,
    packages: Vec<String>,
    root: bool,
}

impl Install {
    /// The command that installs the packages, as the user would type it.
    fn argv(&self) -> Vec<String> {
        let packages: Vec<&str> = self.packages.iter().map(String::as_str).collect();
        install_command(self.manager, &packages, self.root)
    }

    /// Runs it: apt's through `apt::install` (package lists read when there are none, a newer
    /// package of the same family that blocks the install put back), the others as they are.
    fn run(&self, sh: &Shell) -> Result<()> {
        if let PackageManager::Apt = self.manager {
            let packages: Vec<&str> = self.packages.iter().map(String::as_str).collect();
            return crate::apt::install(sh, &packages, self.root);
        }
        let argv = self.argv();
        eprintln!("installing: {}", argv.join(" "));
        let (program, args) = argv.split_first().expect("non-empty argv");
        cmd!(sh, "{program} {args...}").run()?;
        Ok(())
    }
}

/// The install command for `packages`, through sudo unless `root`.
fn install_command(manager: PackageManager, packages: &[&str], root: bool) -> Vec<String> {
    let mut argv = manager.install_argv(packages);
    if !root {
        argv.insert(0, "sudo".into());
    }
    argv
}

/// The needs of `steps`, in the table's order.
fn needed_for<'a>(needs: &'a [Need], steps: &[Step]) -> Vec<&'a Need> {
    needs.iter().filter(|need| need.steps.iter().any(|s| steps.contains(s))).collect()
}

/// The packages that install `missing` with `manager`: each once, sorted (a need may name
/// several, and several needs one).
fn packages_for(manager: PackageManager, missing: &[&Need]) -> Vec<&'static str> {
    let mut packages: Vec<&str> =
        missing.iter().flat_map(|n| manager.package(n).split_whitespace()).collect();
    packages.sort_unstable();
    packages.dedup();
    packages
}

/// What `steps` lack on this host, said in one line, if anything: a probe that neither asks nor
/// installs (the bench's, for rows it may not be able to measure).
pub fn missing(sh: &Shell, arch: &'static Arch, steps: &[Step]) -> Option<String> {
    match missing_and_install(sh, arch, steps) {
        Ok(None) => None,
        Ok(Some((names, _))) => Some(format!("missing host tools: {}", names.join(", "))),
        Err(err) => Some(err.to_string()),
    }
}

/// What `steps` lack, and the command that installs it (through sudo when not root).
fn missing_and_install(
    sh: &Shell,
    arch: &'static Arch,
    steps: &[Step],
) -> Result<Option<(Vec<String>, Install)>> {
    let needs = needs(arch);
    let missing: Vec<&Need> =
        needed_for(&needs, steps).into_iter().filter(|need| !present(sh, &need.probe)).collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let names: Vec<String> = missing.iter().map(|n| n.what.to_string()).collect();
    let Some(manager) = PackageManager::detect() else {
        bail!(
            "missing host tools: {} (no apt-get, dnf or pacman here to suggest packages)",
            names.join(", ")
        );
    };
    // a need this package manager has no package for (LAVA's, off Debian) is the user's to meet
    let unpackaged: Vec<&str> = missing
        .iter()
        .filter(|n| manager.package(n).trim().is_empty())
        .map(|n| n.what.as_ref())
        .collect();
    if !unpackaged.is_empty() {
        bail!(
            "missing host tools: {} (this system's package manager has no package for {}: \
             install it by hand)",
            names.join(", "),
            unpackaged.join(", ")
        );
    }
    let packages = packages_for(manager, &missing).into_iter().map(String::from).collect();
    Ok(Some((names, Install { manager, packages, root: is_root(sh) })))
}

/// Whether this program runs as root.
pub fn is_root(sh: &Shell) -> bool {
    cmd!(sh, "id -u").quiet().read().map(|id| id.trim() == "0").unwrap_or(false)
}

/// On a terminal, whether the person there wants `argv` run now (Enter says yes); never without
/// one (CI, a script): `--install-deps` says it there.
fn asked_yes(names: &[String], argv: &[String]) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    eprint!(
        "missing host tools: {}\ninstall them now with `{}`? [Y/n] ",
        names.join(", "),
        argv.join(" ")
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "" | "y" | "yes")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn need(what: &str) -> &'static Need {
        HOST_NEEDS.iter().find(|n| n.what == what).unwrap()
    }

    fn whats(needs: &[&Need]) -> String {
        needs.iter().map(|n| n.what.as_ref()).collect::<Vec<_>>().join(", ")
    }

    /// The command that installs `missing` with `manager`, as a user reads it.
    fn install(manager: PackageManager, missing: &[&Need], root: bool) -> String {
        install_command(manager, &packages_for(manager, missing), root).join(" ")
    }

    #[test]
    fn each_step_needs_its_own_host_tools() {
        let shown = [
            ("kernel", &[Kernel][..]),
            ("busybox", &[Busybox]),
            ("images", &[Images]),
            ("u-boot", &[Uboot]),
            ("lava", &[Lava]),
            ("deps", &ALL_STEPS),
        ]
        .map(|(name, steps)| format!("{name}: {}", whats(&needed_for(HOST_NEEDS, steps))))
        .join("\n");
        expect![[r#"
            kernel: C compiler, make, flex, bison, lz4, bc, libelf headers, OpenSSL headers
            busybox: C compiler, make, static C library
            images: C compiler, static C library, mke2fs, debugfs, e2fsck
            u-boot: C compiler, make, flex, bison, OpenSSL headers, swig, Python headers, Python setuptools, GnuTLS headers, libuuid headers
            lava: LAVA's dispatcher (lava-run), LAVA's schemas (lava-common, voluptuous)
            deps: C compiler, make, flex, bison, lz4, bc, libelf headers, OpenSSL headers, static C library, mke2fs, debugfs, e2fsck"#]]
        .assert_eq(&shown);
    }

    #[test]
    fn apt_installs_each_package_once_without_recommends_through_sudo() {
        let missing = [need("mke2fs"), need("debugfs"), need("e2fsck"), need("static C library")];
        assert_eq!(
            install(PackageManager::Apt, &missing, false),
            "sudo apt-get install -y --no-install-recommends e2fsprogs libc6-dev"
        );
        assert_eq!(
            install(PackageManager::Apt, &missing, true),
            "apt-get install -y --no-install-recommends e2fsprogs libc6-dev"
        );
    }

    #[test]
    fn dnf_and_pacman_install_their_own_package_names() {
        let missing = [need("OpenSSL headers"), need("libelf headers"), need("static C library")];
        assert_eq!(
            install(PackageManager::Dnf, &missing, true),
            "dnf install -y elfutils-libelf-devel glibc-static openssl-devel"
        );
        assert_eq!(
            install(PackageManager::Pacman, &missing, false),
            "sudo pacman -S --needed --noconfirm glibc libelf openssl"
        );
    }

    #[test]
    fn a_need_of_several_packages_installs_them_all() {
        let missing = [need("LAVA's schemas (lava-common, voluptuous)")];
        assert_eq!(
            install(PackageManager::Apt, &missing, true),
            "apt-get install -y --no-install-recommends lava-common python3-voluptuous"
        );
    }

    #[test]
    fn the_qemu_step_needs_the_architectures_qemu_from_its_row() {
        let needs = needs(Arch::get("x86_64").unwrap());
        let qemu = needed_for(&needs, &[Qemu]);
        assert_eq!(whats(&qemu), "QEMU (x86_64)");
        assert_eq!(
            install(PackageManager::Dnf, &qemu, true),
            "dnf install -y qemu-system-x86-core"
        );
        let needs = crate::hostdeps::needs(Arch::get("riscv64").unwrap());
        let qemu = needed_for(&needs, &[Qemu]);
        assert_eq!(
            install(PackageManager::Pacman, &qemu, true),
            "pacman -S --needed --noconfirm qemu-system-riscv qemu-system-riscv-firmware"
        );
    }

    #[test]
    fn a_foreign_architecture_needs_its_cross_compiler_and_static_libc() {
        let expected = [
            (
                "aarch64",
                "C cross compiler for aarch64 (aarch64-linux-gnu-gcc), static C library for aarch64",
                "apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
            ),
            (
                "riscv64",
                "C cross compiler for riscv64 (riscv64-linux-gnu-gcc), static C library for riscv64",
                "apt-get install -y --no-install-recommends gcc-riscv64-linux-gnu libc6-dev-riscv64-cross",
            ),
        ];
        for (name, what, apt) in expected {
            let arch = Arch::get(name).unwrap();
            let needs = needs(arch);
            let cross: Vec<&Need> = needed_for(&needs, &[Busybox])
                .into_iter()
                .filter(|n| n.what.contains(name))
                .collect();
            if arch.is_host() {
                assert!(cross.is_empty(), "the host's own architecture needs no cross compiler");
                continue;
            }
            assert_eq!(whats(&cross), what);
            assert_eq!(install(PackageManager::Apt, &cross, true), apt);
        }
    }
}
