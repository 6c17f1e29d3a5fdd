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
mod modules;
mod pipeline;
mod run;
mod runner;
mod sources;
mod stage;
mod summary;
mod tidy;
mod timeline;
mod uboot;

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::Cmd;

fn main() -> ExitCode {
    // e2fsprogs lives in sbin, which an ordinary user's PATH often lacks.
    std::env::set_var("PATH", hostdeps::path_with_sbin());
    let flags = flags::parse();
    match dispatch(flags.cmd) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Fetch(flags) => done(sources::fetch_command(flags)),
        Cmd::Kernel(flags) => done(pipeline::kernel_command(flags)),
        Cmd::Busybox(flags) => done(pipeline::busybox_command(flags)),
        Cmd::Uboot(flags) => done(pipeline::uboot_command(flags)),
        Cmd::Rootfs(flags) => done(pipeline::rootfs_command(flags)),
        Cmd::All(flags) => done(pipeline::all_command(flags)),
        Cmd::Run(flags) => run::run(flags),
        Cmd::Check(flags) => done(check::run(flags)),
        Cmd::Bench(flags) => done(bench::run(flags)),
        Cmd::Deps(flags) => done(hostdeps::deps_command(flags)),
        Cmd::Gdb(flags) => done(run::gdb(flags)),
        Cmd::Tidy => done(tidy::run()),
    }
}

fn done(result: Result<()>) -> Result<ExitCode> {
    result.map(|()| ExitCode::SUCCESS)
}
