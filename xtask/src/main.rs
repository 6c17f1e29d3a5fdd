//! `cargo xtask`: parses flags and wires the crates together. Logic lives in crates/; each arm
//! below is one call.

mod bench;
mod boot;
mod boots;
mod busybox;
mod check;
mod context;
mod features;
mod flags;
mod hostdeps;
mod images;
mod kbuild;
mod kernel;
mod layout;
mod pipeline;
mod run;
mod sources;
mod stage;
mod summary;
mod tidy;

use anyhow::Result;

use crate::flags::Cmd;

fn main() -> std::process::ExitCode {
    // e2fsprogs lives in sbin, which an ordinary user's PATH often lacks.
    std::env::set_var("PATH", hostdeps::path_with_sbin());
    let flags = flags::parse();
    match dispatch(flags.cmd) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Fetch(flags) => sources::fetch_command(flags),
        Cmd::Kernel(flags) => pipeline::kernel_command(flags),
        Cmd::Busybox(flags) => pipeline::busybox_command(flags),
        Cmd::Rootfs(flags) => pipeline::rootfs_command(flags),
        Cmd::All(flags) => pipeline::all_command(flags),
        Cmd::Run(flags) => run::run(flags),
        Cmd::Check(flags) => check::run(flags),
        Cmd::Bench(flags) => bench::run(flags),
        Cmd::Deps(flags) => hostdeps::deps_command(flags),
        Cmd::Tidy => tidy::run(),
    }
}
