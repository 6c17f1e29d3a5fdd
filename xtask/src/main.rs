//! `cargo xtask`: parses flags and wires the crates together. Logic lives in crates/.

mod bench;
mod busybox;
mod check;
mod context;
mod flags;
mod hostdeps;
mod images;
mod kbuild;
mod kernel;
mod pipeline;
mod run;
mod sources;
mod summary;
#[cfg(test)]
mod tidy;

use anyhow::Result;
use clap::Parser;

use crate::{context::Context, flags::Cmd, hostdeps::Stage, summary::Summary};

fn main() -> std::process::ExitCode {
    // e2fsprogs lives in sbin, which an ordinary user's PATH often lacks.
    std::env::set_var("PATH", hostdeps::path_with_sbin());
    let flags = flags::Xtask::parse();
    match dispatch(flags.cmd) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<()> {
    let mut summary = Summary::default();
    match cmd {
        Cmd::Fetch(flags) => {
            return sources::fetch_and_unpack(&Context::new(&flags.build)?, &flags.packages)
        }
        Cmd::Kernel(build) => {
            let ctx = Context::new(&build)?;
            hostdeps::ensure(&ctx.sh, &[Stage::Kernel], build.install_deps)?;
            summary.stage("kernel", || kernel::build(&ctx), |k| vec![k.bzimage.clone()])?;
        }
        Cmd::Busybox(build) => {
            let ctx = Context::new(&build)?;
            hostdeps::ensure(&ctx.sh, &[Stage::Busybox], build.install_deps)?;
            summary.stage("busybox", || busybox::build(&ctx), |b| vec![b.binary.clone()])?;
        }
        Cmd::Rootfs(build) => {
            let ctx = Context::new(&build)?;
            hostdeps::ensure(&ctx.sh, &[Stage::Busybox, Stage::Images], build.install_deps)?;
            let busybox =
                summary.stage("busybox", || busybox::build(&ctx), |b| vec![b.binary.clone()])?;
            summary.stage("images", || images::build(&ctx, &busybox), images::Images::all)?;
        }
        Cmd::All(build) => {
            let ctx = Context::new(&build)?;
            pipeline::build_all(&ctx, build.install_deps, &[], &mut summary)?;
        }
        Cmd::Run(flags) => return run::run(flags),
        Cmd::Check(flags) => return check::run(flags),
        Cmd::Bench(flags) => return bench::run(flags),
        Cmd::Deps(deps) => {
            let sh = xshell::Shell::new()?;
            hostdeps::ensure(&sh, &hostdeps::ALL_STAGES, deps.install)?;
            println!("host packages: everything the build, the images and QEMU need is installed");
            return Ok(());
        }
    }
    eprint!("{}", summary.render());
    Ok(())
}
