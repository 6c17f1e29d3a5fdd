//! `cargo xtask`: parses flags and wires the crates together. Logic lives in crates/.

mod busybox;
mod configure;
mod context;
mod flags;
mod hostdeps;
mod kernel;
mod sources;
mod summary;

use anyhow::Result;
use clap::Parser;

use crate::{context::Context, flags::Cmd, hostdeps::Stage, summary::Summary};

fn main() -> std::process::ExitCode {
    // e2fsprogs lives in sbin, which an ordinary user's PATH often lacks.
    std::env::set_var("PATH", hostdeps::path_with_sbin());
    let flags = flags::Xtask::parse();
    match run(flags.cmd) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Fetch(build) => sources::fetch_and_unpack(&Context::new(&build)?),
        Cmd::Kernel(build) => {
            let ctx = Context::new(&build)?;
            hostdeps::ensure(&ctx.sh, &[Stage::Kernel], build.install_deps)?;
            let mut summary = Summary::default();
            summary.stage("kernel", || kernel::build(&ctx), |k| vec![k.bzimage.clone()])?;
            eprint!("{}", summary.render());
            Ok(())
        }
        Cmd::Busybox(build) => {
            let ctx = Context::new(&build)?;
            hostdeps::ensure(&ctx.sh, &[Stage::Busybox], build.install_deps)?;
            let mut summary = Summary::default();
            summary.stage("busybox", || busybox::build(&ctx), |b| vec![b.binary.clone()])?;
            eprint!("{}", summary.render());
            Ok(())
        }
        Cmd::Deps(deps) => {
            let sh = xshell::Shell::new()?;
            hostdeps::ensure(&sh, &hostdeps::ALL_STAGES, deps.install)?;
            println!("host packages: everything the build, the images and QEMU need is installed");
            Ok(())
        }
        _ => anyhow::bail!("not yet wired"),
    }
}
