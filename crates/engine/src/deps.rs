//! `deps`: the host packages every step needs, checked (and installed when asked), said.

use anyhow::Result;
use stages::hostdeps::{self, Step};

/// What `deps` is asked.
pub struct Deps<'a> {
    pub arch: &'static arch::Arch,
    /// packages to install first, as given (`.ci/run`'s list)
    pub packages: &'a [String],
    /// install what is missing (else name it)
    pub install: bool,
    /// LAVA's dispatcher too
    pub lava: bool,
}

/// Installs `packages`, then checks every step's host needs (installing them when asked), and
/// says what is there.
pub fn deps(asked: &Deps) -> Result<()> {
    let sh = xshell::Shell::new()?;
    let arch = asked.arch;
    if !asked.packages.is_empty() {
        let packages: Vec<&str> =
            asked.packages.iter().flat_map(|p| p.split_whitespace()).collect();
        hostdeps::install_packages(&sh, &packages)?;
    }
    hostdeps::ensure(&sh, arch, &hostdeps::ALL_STEPS, asked.install)?;
    println!(
        "host packages: everything the build, the images and QEMU need for {} is installed",
        arch.name
    );
    if asked.lava {
        hostdeps::ensure(&sh, arch, &[Step::Lava, Step::LavaExt4], asked.install)?;
        println!(
            "LAVA: its dispatcher (lava-run), its schemas and libguestfs's kernel are installed"
        );
    }
    match stages::ccache::find_program() {
        Some(program) => println!("ccache: {} (every compile goes through it)", program.display()),
        None => println!(
            "ccache: not installed (optional: a compile cache, so that no build compiles the same \
             code twice; apt-get install ccache, dnf install ccache, pacman -S ccache)"
        ),
    }
    Ok(())
}
